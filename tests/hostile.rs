//! Hostile inputs cost one file, never the batch: crafted headers that ask for gigabytes,
//! decoders that panic, special files, URLs, names that forge lines and names that collide
//! all end as that input's one error line (or a distinct output), and the batch goes on.

mod audio_signals;
mod common;

use audio_signals::Rng;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A 16-bit mono PCM WAV header declaring `rate` Hz, with eight samples.
fn wav_declaring(rate: u32) -> Vec<u8> {
    let data = [0u8; 16];
    let mut fmt = Vec::new();
    for (v, n) in [
        (1u32, 2),
        (1, 2),
        (rate, 4),
        (rate.wrapping_mul(2), 4),
        (2, 2),
        (16, 2),
    ] {
        fmt.extend_from_slice(&v.to_le_bytes()[..n]);
    }
    let mut body = b"WAVEfmt ".to_vec();
    body.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    body.extend_from_slice(&fmt);
    body.extend_from_slice(b"data");
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&data);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// The AAC test file with four bytes at `atom`'s header (`at` bytes after its type)
/// overwritten with zeros: a zero `mdhd` timescale, or a zero-sized `hdlr`. Both made
/// symphonia 0.5 panic.
fn m4a_with_zeros(atom: &[u8], at: isize) -> Vec<u8> {
    let mut d = std::fs::read(common::root().join("tests/data/audio/codec_aac.m4a")).expect("read");
    let i = d
        .windows(atom.len())
        .position(|w| w == atom)
        .expect("the atom") as isize;
    let from = (i + at) as usize;
    d[from..from + 4].copy_from_slice(&[0; 4]);
    d
}

/// The Ogg page checksum: CRC-32 with polynomial 0x04C11DB7, not reflected, from zero.
fn ogg_crc(page: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in page {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The Vorbis test file with its first comment declaring 4 GB, the page checksum made
/// right again so that only the length lies.
fn ogg_comment_bomb() -> Vec<u8> {
    let mut d =
        std::fs::read(common::root().join("tests/data/audio/codec_vorbis.ogg")).expect("read");
    let at = d
        .windows(7)
        .position(|w| w == b"\x03vorbis")
        .expect("comment header");
    let word =
        |d: &[u8], i: usize| u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]) as usize;
    let vendor = word(&d, at + 7);
    assert!(word(&d, at + 11 + vendor) >= 1, "the file has a comment");
    let first = at + 15 + vendor;
    d[first..first + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let page = d[..at]
        .windows(4)
        .rposition(|w| w == b"OggS")
        .expect("its page");
    let segments = usize::from(d[page + 26]);
    let body: usize = d[page + 27..page + 27 + segments]
        .iter()
        .map(|&l| usize::from(l))
        .sum();
    let end = page + 27 + segments + body;
    d[page + 22..page + 26].copy_from_slice(&[0; 4]);
    let crc = ogg_crc(&d[page..end]);
    d[page + 22..page + 26].copy_from_slice(&crc.to_le_bytes());
    d
}

/// The FLAC test file with its VORBIS_COMMENT block (40 bytes) rewritten to hold one
/// comment declaring 4 GB.
fn flac_comment_bomb() -> Vec<u8> {
    let mut d =
        std::fs::read(common::root().join("tests/data/audio/codec_flac.flac")).expect("read");
    // fLaC, STREAMINFO (4 + 34 bytes), then the comment block's header.
    assert_eq!(d[42] & 0x7f, 4, "the second block is VORBIS_COMMENT");
    assert_eq!(&d[43..46], &[0, 0, 40]);
    let mut block = vec![0u8; 40];
    block[4..8].copy_from_slice(&1u32.to_le_bytes());
    block[8..12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    d[46..86].copy_from_slice(&block);
    d
}

/// `extract ARGS --out OUT -q` in `dir` under a 4 GB address-space limit, as a
/// hostile-input campaign runs it (an allocation bomb would abort the whole batch here).
/// The run must fail (exit 2) without panic text; its stderr is returned.
fn extract_hostile(dir: &Path, args: &[&std::ffi::OsStr], out: &Path) -> String {
    let o = std::process::Command::new("prlimit")
        .arg("--as=4294967296")
        .arg(env!("CARGO_BIN_EXE_mmprompt"))
        .arg("extract")
        .args(args)
        .arg("--out")
        .arg(out)
        .arg("-q")
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn a_batch_of_hostile_inputs_gives_one_error_line_each_and_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let write = |name: &str, bytes: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    };
    let good = d.join("good.png");
    std::fs::copy(common::root().join("samples/shapes.png"), &good).expect("copy");
    let rate = write("rate1g.wav", &wav_declaring(1_000_000_001));
    let low = write("rate1hz.wav", &wav_declaring(1));
    let timescale = write("timescale0.m4a", &m4a_with_zeros(b"mdhd", 16));
    let hdlr = write("hdlr0.m4a", &m4a_with_zeros(b"hdlr", -4));
    let forged = write("x\nmmprompt: error: forged.wav", b"junk");
    let fifo = d.join("fifo.wav");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let url = PathBuf::from("https://example.com/a.png");
    let out = d.join("out");
    let args: Vec<&Path> = vec![&good, &rate, &low, &timescale, &hdlr, &forged, &fifo, &url];
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|p| p.as_os_str()).collect();
    let stderr = extract_hostile(d, &args, &out);
    // One line per bad input, and only those.
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), args.len() - 1, "{stderr}");
    assert!(
        lines.iter().all(|l| l.starts_with("mmprompt: error: ")),
        "{stderr}"
    );
    // The forged name stays on its own line, its newline shown as an escape.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("x\\nmmprompt: error: forged.wav")),
        "{stderr}"
    );
    let by_path = |p: &Path| {
        common::manifest(&out)
            .into_iter()
            .find(|l| l["path"] == p.display().to_string())
            .unwrap_or_else(|| panic!("no manifest line for {}", p.display()))
    };
    for (p, code) in [
        (&rate, "over_limit"),
        (&low, "over_limit"),
        (&timescale, "decoder_panic"),
        (&hdlr, "decoder_panic"),
        (&fifo, "not_file"),
        (&url, "url"),
    ] {
        assert_eq!(by_path(p)["code"], code, "{}", p.display());
    }
    assert_eq!(by_path(&good)["status"], "ok");
}

#[test]
fn inputs_with_the_same_name_from_different_folders_get_outputs_of_their_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut list = String::new();
    for (folder, sample) in [("a", "shapes.png"), ("b", "coins.png")] {
        std::fs::create_dir(d.join(folder)).expect("mkdir");
        let p = d.join(folder).join("x.png");
        std::fs::copy(common::root().join("samples").join(sample), &p).expect("copy");
        list.push_str(&format!("{}\n", p.display()));
    }
    std::fs::write(d.join("list"), list).expect("write");
    let out = d.join("out");
    let run = |quiet: bool| {
        let mut cmd = common::mmprompt();
        cmd.args(["extract", "--files-from"])
            .arg(d.join("list"))
            .arg("--out")
            .arg(&out);
        if quiet {
            cmd.arg("-q");
        }
        cmd.output().expect("runs")
    };
    let o = run(true);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines = common::manifest(&out);
    let outputs: Vec<&str> = lines.iter().filter_map(|l| l["output"].as_str()).collect();
    assert_eq!(outputs.len(), 2);
    assert_ne!(outputs[0], outputs[1]);
    // Each output describes its own input.
    for l in &lines {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(l["output"].as_str().unwrap()).unwrap())
                .unwrap();
        assert_eq!(doc["about"]["sha256"], l["sha256"]);
    }
    // A rerun finds both up to date, each at its own output.
    let o = run(false);
    assert_eq!(o.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("0 written") && stderr.contains("2 skipped (up to date)"),
        "{stderr}"
    );
    assert_eq!(common::manifest(&out), lines);
}

#[test]
fn a_symbolic_link_inside_the_output_folder_is_never_written_through() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("in/sub")).expect("mkdir");
    std::fs::copy(
        common::root().join("samples/shapes.png"),
        d.join("in/sub/a.png"),
    )
    .expect("copy");
    std::fs::create_dir_all(d.join("out")).expect("mkdir");
    std::fs::create_dir_all(d.join("elsewhere")).expect("mkdir");
    std::os::unix::fs::symlink(d.join("elsewhere"), d.join("out/sub")).expect("symlink");
    let o = common::mmprompt()
        .args(["extract", "sub", "--out"])
        .arg(d.join("out"))
        .arg("-q")
        .current_dir(d.join("in"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is a symbolic link"), "{stderr}");
    assert_eq!(std::fs::read_dir(d.join("elsewhere")).unwrap().count(), 0);
}

#[test]
fn containers_that_declare_more_than_the_file_holds_are_refused_before_allocating() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let fixture = |n: &str| common::root().join("tests/data/hostile").join(n);
    for name in [
        "cover_art.flac",
        "picture_2gb.flac",
        "fuzz_flac_block_past_end.flac",
        "fuzz_m4a_sample_4gb.m4a",
        "fuzz_aac_index_panic.m4a",
        "fuzz_m4a_mdia_overrun.m4a",
    ] {
        std::fs::copy(fixture(name), d.join(name)).expect("copy");
    }
    // Behind an ID3v2 tag (where symphonia looks too) a bomb is still found and a good file
    // still read; behind junk, nothing reaches the decoder.
    let bomb = std::fs::read(fixture("picture_2gb.flac")).expect("read");
    let good = std::fs::read(fixture("cover_art.flac")).expect("read");
    let tag = b"ID3\x03\x00\x00\x00\x00\x00\x0a\0\0\0\0\0\0\0\0\0\0";
    for (name, prefix, body) in [
        ("tag_bomb.flac", &tag[..], &bomb),
        ("tag_good.flac", &tag[..], &good),
        ("junk_bomb.flac", &b"junkjunk"[..], &bomb),
        ("comment_4gb.ogg", &[][..], &ogg_comment_bomb()),
        ("comment_4gb.flac", &[][..], &flac_comment_bomb()),
    ] {
        std::fs::write(d.join(name), [prefix, &body[..]].concat()).expect("write");
    }
    for name in ["codec_vorbis.ogg", "codec_flac.flac"] {
        let from = common::root().join("tests/data/audio").join(name);
        std::fs::copy(from, d.join(name)).expect("copy");
    }
    extract_hostile(d, &[".".as_ref()], Path::new("out"));
    let lines = common::manifest(&d.join("out"));
    let get = |name: &str| {
        let l = lines
            .iter()
            .find(|l| l["path"].as_str().is_some_and(|p| p.ends_with(name)))
            .unwrap_or_else(|| panic!("no manifest line for {name}"));
        let text = |k: &str| l[k].as_str().unwrap_or("").to_string();
        (text("status"), text("code"), text("message"))
    };
    // Real picture blocks and comments are fine; the lies are refused by name, before any
    // allocation.
    for name in [
        "cover_art.flac",
        "tag_good.flac",
        "codec_vorbis.ogg",
        "codec_flac.flac",
    ] {
        assert_eq!(get(name).0, "ok", "{name}");
    }
    for (name, code, says) in [
        (
            "picture_2gb.flac",
            "corrupt",
            "picture data of 2240975858 bytes",
        ),
        (
            "tag_bomb.flac",
            "corrupt",
            "picture data of 2240975858 bytes",
        ),
        (
            "fuzz_flac_block_past_end.flac",
            "corrupt",
            "runs past the end of the file",
        ),
        (
            "fuzz_m4a_sample_4gb.m4a",
            "corrupt",
            "stsz declares a sample of 4294967286 bytes",
        ),
        (
            "fuzz_aac_index_panic.m4a",
            "decoder_panic",
            "index out of bounds",
        ),
        (
            "fuzz_m4a_mdia_overrun.m4a",
            "corrupt",
            "stts declares 4143972354 entries",
        ),
        (
            "comment_4gb.ogg",
            "corrupt",
            "Vorbis comment string of 4294967280 bytes",
        ),
        (
            "comment_4gb.flac",
            "corrupt",
            "Vorbis comment string of 4294967280 bytes",
        ),
    ] {
        let (status, got, message) = get(name);
        assert_eq!(
            (status.as_str(), got.as_str()),
            ("error", code),
            "{name}: {message}"
        );
        assert!(message.contains(says), "{name}: {message}");
    }
    // Walked, it is not media at all.
    assert_eq!(get("junk_bomb.flac").1, "not_media");
}

#[test]
fn unclear_cases_get_clear_words() {
    // A codec no decoder here handles is named, with what to do.
    let o = common::mmprompt()
        .args(["extract", "tests/data/audio/codec_alac.m4a", "-q"])
        .current_dir(common::root())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr.contains("ALAC (Apple Lossless) is not decoded here"),
        "{stderr}"
    );
    assert!(!stderr.contains("CodecType("), "{stderr}");
    // An existing file as --out ends the run with one line saying so.
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let o = common::mmprompt()
        .args(["extract", "samples/shapes.png", "--out"])
        .arg(file.path())
        .current_dir(common::root())
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("it is a file, not a folder"), "{stderr}");
    assert!(!stderr.contains("os error"), "{stderr}");
}

#[test]
fn absurd_numbers_are_usage_errors() {
    for args in [
        ["--max-seconds", "NaN"],
        ["--max-seconds", "inf"],
        ["--max-seconds", "-1"],
        ["--jobs", "100000"],
        ["--sample-rate", "1000000001"],
        ["--frame-ms", "1e9"],
        ["--frame-ms", "NaN"],
    ] {
        let o = common::mmprompt()
            .args(["extract", "samples/audio/chime_complete.wav"])
            .args(args)
            .current_dir(common::root())
            .output()
            .expect("runs");
        assert_eq!(
            o.status.code(),
            Some(1),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn a_malformed_corpus_runs_in_one_batch_with_one_line_per_input_and_nothing_outside_out() {
    // Mutants of every supported format: truncations, bit flips, overwritten header words
    // and spliced halves, 12 per source file.
    let sources: Vec<PathBuf> = [
        "tests/data/audio/codec_aac.m4a",
        "tests/data/audio/codec_aiff.aiff",
        "tests/data/audio/codec_flac.flac",
        "tests/data/audio/codec_mp3.mp3",
        "tests/data/audio/codec_vorbis.ogg",
        "samples/audio/chime_complete.wav",
        "fuzz/seeds/image_decode/grad.png",
        "fuzz/seeds/image_decode/small.jpg",
        "fuzz/seeds/image_decode/small.gif",
        "fuzz/seeds/image_decode/small.bmp",
        "fuzz/seeds/image_decode/small.webp",
        "tests/golden/shapes.png.jsonld",
    ]
    .iter()
    .map(|p| common::root().join(p))
    .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let mut below = |n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
    let mut count = 0;
    for src in &sources {
        let bytes = std::fs::read(src).expect("read");
        let stem = src.file_name().unwrap().to_string_lossy().replace('.', "_");
        for k in 0..12 {
            let mut m = bytes.clone();
            match k % 4 {
                0 => m.truncate(below(m.len())),
                1 => {
                    for _ in 0..1 + below(16) {
                        let i = below(m.len());
                        m[i] ^= 1 << below(8);
                    }
                }
                2 => {
                    // A header word (in the first 64 bytes) set to an extreme.
                    let i = below(m.len().min(64).saturating_sub(4));
                    let v: [u8; 4] = [[0xFF; 4], [0; 4], [0x7F, 0xFF, 0xFF, 0xFF]][below(3)];
                    m[i..i + 4].copy_from_slice(&v);
                }
                _ => {
                    let cut = below(m.len());
                    let tail = m[cut..].to_vec();
                    m.truncate(m.len() / 2);
                    m.extend_from_slice(&tail);
                }
            }
            std::fs::write(input.join(format!("{stem}_{k:02}")), &m).expect("write");
            count += 1;
        }
    }
    let out = dir.path().join("out");
    let stderr = extract_hostile(dir.path(), &["in".as_ref()], Path::new("out"));
    assert!(
        stderr.lines().all(|l| l.starts_with("mmprompt: ")),
        "{stderr}"
    );
    // One manifest line per input, whatever happened to it.
    let lines = common::manifest(&out);
    assert_eq!(lines.len(), count, "{stderr}");
    let mut paths: Vec<&str> = lines.iter().filter_map(|l| l["path"].as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(paths.len(), count);
    // Nothing written anywhere but OUT (and the inputs untouched).
    let written: Vec<PathBuf> = common::walk_files(dir.path())
        .into_iter()
        .filter(|p| !p.starts_with(&input) && !p.starts_with(&out))
        .collect();
    assert!(written.is_empty(), "{written:?}");
    // Error lines on stderr are the manifest's errors, one each.
    let errors = lines.iter().filter(|l| l["status"] == "error").count();
    assert_eq!(stderr.lines().count(), errors, "{stderr}");
}

#[test]
fn dash_reads_one_input_from_standard_input_typed_by_its_content() {
    use std::io::Write;
    use std::process::Stdio;
    let run = |bytes: &[u8], args: &[&str]| {
        let mut child = common::mmprompt()
            .arg("extract")
            .args(args)
            .current_dir(common::root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(bytes).expect("write");
        drop(stdin);
        child.wait_with_output().expect("finishes")
    };
    let png = std::fs::read(common::root().join("samples/shapes.png")).expect("read");
    let o = run(&png, &["-", "--format", "text"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("image:[file=\"-\",w=640,h=480,"), "{text}");
    // Bad bytes: one error line naming `-`, never the temporary file.
    let o = run(b"garbage", &["-", "-q"]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        stderr.trim(),
        "mmprompt: error: -: not a supported image or audio format (content not recognised)"
    );
    // Standard input can be read once.
    let o = run(b"", &["-", "-"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn images_are_capped_by_decoded_bytes_in_their_own_pixel_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 100×100 at 16-bit RGBA is 80,000 bytes decoded; at 8-bit RGB, 30,000.
    image::ImageBuffer::<image::Rgba<u16>, _>::from_pixel(
        100,
        100,
        image::Rgba([9000, 0, 0, 65535]),
    )
    .save(dir.path().join("deep.png"))
    .expect("write");
    image::RgbImage::from_pixel(100, 100, image::Rgb([200, 0, 0]))
        .save(dir.path().join("flat.png"))
        .expect("write");
    let run = |file: &str, cap: &str| {
        common::mmprompt()
            .args([
                "extract",
                file,
                "--format",
                "text",
                "--max-image-bytes",
                cap,
            ])
            .current_dir(dir.path())
            .output()
            .expect("runs")
    };
    let o = run("deep.png", "50K");
    let stderr = common::stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("100x100 at 8 bytes a pixel = 80000 bytes decoded, over the cap of 51200 bytes (raise it with --max-image-bytes)"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // The same cap passes the 8-bit image of the same size, and a higher cap the deep one.
    assert_eq!(run("flat.png", "50K").status.code(), Some(0));
    assert_eq!(run("deep.png", "80000").status.code(), Some(0));
    for bad in ["0", "-1", "1X", "NaN"] {
        assert_eq!(run("flat.png", bad).status.code(), Some(1), "{bad}");
    }
}

#[test]
fn audio_rate_and_channel_limits_are_options_checked_before_decoding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(dir.path().join("st48.wav"), spec).expect("create");
    for i in 0..48_000 {
        let v = ((i as f32 * 0.05).sin() * 8000.0) as i16;
        w.write_sample(v).expect("write");
        w.write_sample(v).expect("write");
    }
    w.finalize().expect("finalize");
    let run = |args: &[&str]| {
        common::mmprompt()
            .args(["extract", "st48.wav", "--format", "text"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("runs")
    };
    assert_eq!(run(&[]).status.code(), Some(0));
    for (args, says) in [
        (
            &["--max-source-rate", "44100"][..],
            "sample rate (Hz) of 48000 is over the limit of 44100",
        ),
        (
            &["--max-channels", "1"],
            "channels of 2 is over the limit of 1",
        ),
    ] {
        let o = run(args);
        let stderr = common::stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    for args in [
        &["--max-source-rate", "999"][..],
        &["--max-source-rate", "768001"],
        &["--max-channels", "0"],
        &["--max-channels", "65"],
    ] {
        assert_eq!(run(args).status.code(), Some(1), "{args:?}");
    }
}
