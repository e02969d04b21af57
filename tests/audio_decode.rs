//! Decoding: every sample format and container detected from content, downmix and
//! resampling, streaming, and a typed error naming the file for every kind of bad input.

mod audio_signals;

use audio_signals::{pcm16, raw_wav};
use mmprompt::media::audio::{
    decode_file, decode_stream, decode_stream_pipelined, AudioDecodeOptions, AudioError, AudioInfo,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/audio")
        .join(name)
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Zero-crossing frequency estimate of a single sine.
fn zc_freq(x: &[f32], rate: f64) -> f64 {
    let n = x
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    n as f64 / 2.0 / (x.len() as f64 / rate)
}

fn hex_sha(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn write_wav(path: &Path, spec: hound::WavSpec, seconds: f64, freq: f64) {
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    let frames = (seconds * f64::from(spec.sample_rate)) as usize;
    for i in 0..frames {
        let v = 0.5 * (std::f64::consts::TAU * freq * i as f64 / f64::from(spec.sample_rate)).sin();
        for _ in 0..spec.channels {
            match (spec.sample_format, spec.bits_per_sample) {
                (hound::SampleFormat::Float, _) => w.write_sample(v as f32),
                (_, 8) => w.write_sample((v * 127.0).round() as i8),
                (_, 16) => w.write_sample((v * 32767.0).round() as i16),
                (_, 24) => w.write_sample((v * 8_388_607.0).round() as i32),
                _ => w.write_sample((v * 2_147_483_647.0).round() as i32),
            }
            .expect("write sample");
        }
    }
    w.finalize().expect("finalize");
}

fn spec(rate: u32, channels: u16, bits: u16, float: bool) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    }
}

#[test]
fn wav_of_every_sample_format_rate_and_channel_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (8000, 1, 8, false),
        (16000, 1, 16, false),
        (22050, 2, 16, false),
        (44100, 2, 24, false),
        (48000, 6, 32, false),
        (96000, 1, 32, true),
        (11025, 3, 32, true),
    ];
    for (rate, ch, bits, float) in cases {
        let path = dir.path().join(format!("t_{rate}_{ch}_{bits}_{float}.wav"));
        write_wav(&path, spec(rate, ch, bits, float), 0.75, 440.0);
        let (samples, info) =
            decode_file(&path, &AudioDecodeOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let what = format!("{rate} Hz {ch} ch {bits} bit float={float}");
        assert_eq!(
            (info.sample_rate, info.channels),
            (rate, u32::from(ch)),
            "{what}"
        );
        assert_eq!(info.mime, "audio/wav");
        assert_eq!(
            info.source_frames,
            (0.75 * f64::from(rate)) as u64,
            "{what}"
        );
        assert_eq!(samples.len() as u64, info.output_samples);
        let expect = (info.source_frames as f64 * 16_000.0 / f64::from(rate)).round() as usize;
        assert_eq!(samples.len(), expect, "{what}: 0.75 s at 16 kHz");
        assert!((info.duration_s - 0.75).abs() < 1e-3);
        let body = &samples[800..11_200];
        assert!(
            (rms(body) - 0.5 / 2f64.sqrt()).abs() < 0.01,
            "{what}: rms {}",
            rms(body)
        );
        assert!((zc_freq(body, 16_000.0) - 440.0).abs() < 3.0, "{what}");
        assert_eq!(info.sha256, hex_sha(&path));
    }
}

#[test]
fn codecs_are_detected_from_content_not_extension() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, mime, codec) in [
        ("codec_flac.flac", "audio/flac", "flac"),
        ("codec_vorbis.ogg", "audio/ogg", "vorbis"),
        ("codec_mp3.mp3", "audio/mpeg", "mp3"),
        ("codec_aiff.aiff", "audio/aiff", "pcm_s24be"),
    ] {
        // A misleading name must not matter.
        let renamed = dir.path().join(format!("{name}.wav.txt"));
        std::fs::copy(fixture(name), &renamed).expect("copy");
        let (samples, info) =
            decode_file(&renamed, &AudioDecodeOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.mime, mime, "{name}");
        assert_eq!(info.codec, codec, "{name}");
        assert_eq!((info.sample_rate, info.channels), (44_100, 2), "{name}");
        // Lossy codecs add encoder delay and padding.
        assert!(
            (info.duration_s - 0.5).abs() < 0.06,
            "{name}: {}",
            info.duration_s
        );
        // Left 440 Hz and right 660 Hz at 0.4 average to two 0.2 sines: rms 0.2.
        let body = &samples[1600..6400];
        assert!((rms(body) - 0.2).abs() < 0.02, "{name}: rms {}", rms(body));
        assert_eq!(info.sha256, hex_sha(&renamed));
    }
}

#[test]
fn aac_in_mp4_decodes_and_alac_is_an_unsupported_codec() {
    // Facts from mutagen's own tests of this file: AAC, 2 channels, 44.1 kHz, 3.7 s, a
    // 2914 bit/s stream (near-silence).
    let dir = tempfile::tempdir().expect("tempdir");
    let renamed = dir.path().join("codec_aac.mp3");
    std::fs::copy(fixture("codec_aac.m4a"), &renamed).expect("copy");
    let (samples, info) =
        decode_file(&renamed, &AudioDecodeOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((info.mime, info.codec.as_str()), ("audio/mp4", "aac"));
    assert_eq!((info.sample_rate, info.channels), (44_100, 2));
    assert!((info.duration_s - 3.7).abs() < 0.05, "{}", info.duration_s);
    assert_eq!(samples.len() as f64, (info.duration_s * 16_000.0).round());
    assert!(rms(&samples) < 1e-3, "rms {}", rms(&samples));

    let (e, _) = expect_err(&fixture("codec_alac.m4a"), &AudioDecodeOptions::default());
    assert_eq!(e.kind.code(), "unsupported", "{e}");
    assert!(e.to_string().contains("codec_alac.m4a"), "{e}");
}

#[test]
fn decoding_streams_in_bounded_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("long.wav");
    write_wav(&path, spec(44_100, 2, 16, false), 20.0, 300.0);
    let mut calls = 0usize;
    let mut total = 0usize;
    let mut largest = 0usize;
    let info = decode_stream(&path, &AudioDecodeOptions::default(), &mut |c| {
        calls += 1;
        total += c.len();
        largest = largest.max(c.len());
    })
    .expect("decodes");
    assert_eq!(total as u64, info.output_samples);
    assert_eq!(total, 320_000);
    assert!(
        calls > 100 && largest <= 4096,
        "{calls} calls, largest {largest}"
    );
}

#[test]
fn configurable_target_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.wav");
    write_wav(&path, spec(48_000, 1, 16, false), 1.0, 1000.0);
    let opts = AudioDecodeOptions {
        target_rate: 8000,
        ..AudioDecodeOptions::default()
    };
    let (samples, info) = decode_file(&path, &opts).expect("decodes");
    assert_eq!((samples.len(), info.output_rate), (8000, 8000));
    assert!((zc_freq(&samples[500..7500], 8000.0) - 1000.0).abs() < 5.0);
}

fn expect_err(path: &Path, opts: &AudioDecodeOptions) -> (AudioError, usize) {
    let mut got = 0usize;
    let err = decode_stream(path, opts, &mut |c| got += c.len()).expect_err("must fail");
    assert_eq!(err.path, path, "the error names the file");
    assert!(err.to_string().contains(&*path.to_string_lossy()));
    (err, got)
}

#[test]
fn bad_inputs_get_typed_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = AudioDecodeOptions::default();
    let put = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    };

    let (e, _) = expect_err(&put("empty.wav", b""), &opts);
    assert_eq!(e.kind.code(), "empty");

    let (e, _) = expect_err(
        &put(
            "text.mp3",
            &b"this is not audio at all, just text\n".repeat(50),
        ),
        &opts,
    );
    assert_eq!(e.kind.code(), "unknown_format", "{e}");

    let (e, _) = expect_err(
        &put(
            "zero_ch.wav",
            &raw_wav(0, 16_000, 16, 1, 3200, &pcm16(0.1, 16_000)),
        ),
        &opts,
    );
    assert!(
        matches!(e.kind.code(), "zero_channels" | "corrupt" | "unsupported"),
        "{e}"
    );

    let (e, _) = expect_err(
        &put(
            "zero_rate.wav",
            &raw_wav(1, 0, 16, 1, 3200, &pcm16(0.1, 16_000)),
        ),
        &opts,
    );
    assert!(
        matches!(
            e.kind.code(),
            "zero_sample_rate" | "corrupt" | "unsupported"
        ),
        "{e}"
    );

    let (e, _) = expect_err(
        &put("zero_len.wav", &raw_wav(1, 16_000, 16, 1, 0, &[])),
        &opts,
    );
    assert_eq!(e.kind.code(), "no_audio", "{e}");

    let (e, _) = expect_err(
        &put(
            "odd_codec.wav",
            &raw_wav(1, 16_000, 16, 0x55, 3200, &pcm16(0.1, 16_000)),
        ),
        &opts,
    );
    assert_eq!(e.kind.code(), "unsupported", "{e}");
}

#[test]
fn a_wav_header_claiming_more_data_than_there_is_is_a_partial_truncation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = pcm16(1.0, 16_000);
    let path = dir.path().join("liar.wav");
    std::fs::write(
        &path,
        raw_wav(1, 16_000, 16, 1, data.len() as u32 * 3, &data),
    )
    .expect("write");
    let (e, got) = expect_err(&path, &AudioDecodeOptions::default());
    assert_eq!(e.kind.code(), "truncated", "{e}");
    assert!(e.is_partial());
    let partial = e.partial.expect("partial info");
    assert_eq!(partial.source_frames, 16_000);
    assert_eq!(got as u64, partial.output_samples);
    assert!(
        got >= 15_000,
        "the sink got the audio before the damage: {got}"
    );
}

#[test]
fn a_stream_cut_half_way_yields_the_first_half_and_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["codec_flac.flac", "codec_aiff.aiff"] {
        let bytes = std::fs::read(fixture(name)).expect("fixture");
        let path = dir.path().join(format!("cut_{name}"));
        std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
        let (e, got) = expect_err(&path, &AudioDecodeOptions::default());
        assert!(
            matches!(e.kind.code(), "truncated" | "corrupt"),
            "{name}: {e}"
        );
        assert!(e.is_partial(), "{name}: {e}");
        assert!(got > 2000, "{name}: only {got} samples before the damage");
    }
}

#[test]
fn nan_samples_are_rejected_with_their_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nan.wav");
    let mut w = hound::WavWriter::create(&path, spec(16_000, 1, 32, true)).expect("create");
    for i in 0..16_000 {
        let v = if i == 12_000 { f32::NAN } else { 0.1 };
        w.write_sample(v).expect("write");
    }
    w.finalize().expect("finalize");
    let (e, got) = expect_err(&path, &AudioDecodeOptions::default());
    match e.kind {
        mmprompt::media::audio::AudioErrorKind::NonFinite { at_s } => {
            assert!((0.0..=0.75).contains(&at_s), "{at_s}")
        }
        other => panic!("{other}"),
    }
    assert!(got < 16_000);
}

/// A 16 kHz mono WAV of `seconds` as a writer into a pipe leaves it: RIFF and `data`
/// sizes of 0xFFFFFFFF, since it could not seek back to fill them in.
fn piped_wav(seconds: f64) -> Vec<u8> {
    let mut v = raw_wav(1, 16_000, 16, 1, 0, &pcm16(seconds, 16_000));
    v[4..8].copy_from_slice(&[0xFF; 4]);
    v[40..44].copy_from_slice(&[0xFF; 4]);
    v
}

#[test]
fn a_declared_length_over_the_cap_is_refused_before_decoding() {
    let opts = AudioDecodeOptions {
        max_seconds: 0.1,
        ..AudioDecodeOptions::default()
    };
    for name in [
        "codec_flac.flac",
        "codec_mp3.mp3",
        "codec_aac.m4a",
        "codec_vorbis.ogg",
    ] {
        let (e, got) = expect_err(&fixture(name), &opts);
        assert_eq!(e.kind.code(), "too_long", "{e}");
        assert!(e.to_string().contains("over the cap of 0.1 s"), "{e}");
        assert_eq!(got, 0, "{name}: nothing is decoded");
        assert!(!e.is_partial());
    }
}

#[test]
fn a_stream_of_unknown_length_decodes_whole_and_stops_at_the_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("piped.wav");
    std::fs::write(&path, piped_wav(2.0)).expect("write");
    // Its placeholder sizes are neither a truncation nor a length over the cap.
    let (samples, info) = decode_file(&path, &AudioDecodeOptions::default()).expect("decodes");
    assert_eq!((samples.len(), info.source_frames), (32_000, 32_000));
    // With no length declared, the cap stops decoding and keeps what was decoded.
    let opts = AudioDecodeOptions {
        max_seconds: 0.5,
        ..AudioDecodeOptions::default()
    };
    let (e, got) = expect_err(&path, &opts);
    assert_eq!(e.kind.code(), "too_long", "{e}");
    assert_eq!(got, 8000);
    assert!(e.is_partial());
}

#[test]
fn a_missing_file_is_an_io_error() {
    let path = Path::new("/nonexistent/dir/x.wav");
    let e = decode_file(path, &AudioDecodeOptions::default()).expect_err("missing");
    assert_eq!((e.kind.code(), e.partial.is_none()), ("io", true));
}

/// Peak resident memory of this process in kB (Linux).
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A one-hour file decodes and analyses in constant memory. Slow in debug builds, so run it
/// explicitly: `cargo test --release --test audio_decode -- --ignored one_hour`.
#[test]
#[ignore]
fn one_hour_streams_under_100_mb() {
    use mmprompt::audio::{Analyzer, AnalyzerConfig, SegmentCollector};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hour.wav");
    {
        let mut w = hound::WavWriter::create(&path, spec(16_000, 1, 16, false)).expect("create");
        let mut state = 1u32;
        for i in 0..3600 * 16_000u64 {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let tone = if (i / 16_000) % 7 == 0 {
                (i as f32 * 0.2).sin() * 8000.0
            } else {
                0.0
            };
            w.write_sample(((state >> 20) as i16 - 2048) / 8 + tone as i16)
                .expect("write");
        }
        w.finalize().expect("finalize");
    }
    let before = peak_rss_kb().unwrap_or(0);
    let mut analyzer = Analyzer::new(AnalyzerConfig::default()).expect("config");
    let mut segments = SegmentCollector::default();
    // The path `extract` takes, whose queue between decoder and analysis is bounded too.
    let info = decode_stream_pipelined(&path, &AudioDecodeOptions::default(), &mut |c| {
        analyzer.push(c, &mut segments)
    })
    .expect("decodes");
    let summary = analyzer.finish(&mut segments);
    assert_eq!(summary.samples, 3600 * 16_000);
    assert!((info.duration_s - 3600.0).abs() < 1e-6);
    let after = peak_rss_kb().unwrap_or(0);
    eprintln!(
        "peak RSS before {before} kB, after {after} kB, {} segments",
        segments.0.len()
    );
    assert!(after < 100 * 1024, "peak RSS {after} kB");
}

/// What a sink saw: every sample, as bits, in order.
type Decoded = (Vec<u32>, Result<AudioInfo, AudioError>);

fn decode_inline(path: &Path) -> Decoded {
    let mut got = Vec::new();
    let r = decode_stream(path, &AudioDecodeOptions::default(), &mut |c| {
        got.extend(c.iter().map(|x| x.to_bits()))
    });
    (got, r)
}

/// `decode_stream_pipelined` with a sink that does `work` rounds of arithmetic per sample,
/// so a slow sink makes the decoder wait for it or catch up itself. Also returns how many
/// of the sink's calls ran on a thread other than the caller's.
fn decode_pipelined(path: &Path, work: u32) -> (Decoded, usize) {
    let caller = std::thread::current().id();
    let mut got = Vec::new();
    let mut spent = 0.0f32;
    let mut elsewhere = 0usize;
    let r = decode_stream_pipelined(path, &AudioDecodeOptions::default(), &mut |c| {
        for &x in c {
            for k in 0..work {
                spent = std::hint::black_box(spent * 0.5 + x * k as f32);
            }
        }
        got.extend(c.iter().map(|x| x.to_bits()));
        elsewhere += usize::from(std::thread::current().id() != caller);
    });
    ((got, r), elsewhere)
}

#[test]
fn pipelined_decoding_hands_the_sink_what_inline_decoding_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 20 s of 44.1 kHz stereo resample to many more samples than the pipe holds, and the
    // cut copy ends in a partial-result error whose samples must all arrive too.
    let long = dir.path().join("long.wav");
    write_wav(&long, spec(44_100, 2, 16, false), 20.0, 440.0);
    let bytes = std::fs::read(&long).expect("read");
    let cut = dir.path().join("cut.wav");
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 5]).expect("write");
    let flac = fixture("codec_flac.flac");
    let pools: Vec<rayon::ThreadPool> = [1, 2, 4]
        .iter()
        .map(|&n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .expect("pool")
        })
        .collect();
    for path in [&long, &cut, &flac] {
        let want = decode_inline(path);
        assert!(
            want.0.len() > 100_000 || path == &flac,
            "{}",
            path.display()
        );
        for pool in &pools {
            for work in [0, 40] {
                let (got, _) = pool.install(|| decode_pipelined(path, work));
                assert!(
                    got.0 == want.0,
                    "{} in a pool of {}, work {work}: {} samples, want {}",
                    path.display(),
                    pool.current_num_threads(),
                    got.0.len(),
                    want.0.len()
                );
                assert_eq!(got.1, want.1, "{}", path.display());
            }
        }
    }
    assert!(decode_inline(&cut).1.is_err_and(|e| e.is_partial()));
}

#[test]
fn pipelined_decoding_finishes_alone_when_no_worker_is_free() {
    let dir = tempfile::tempdir().expect("tempdir");
    let long = dir.path().join("long.wav");
    write_wav(&long, spec(44_100, 1, 16, false), 20.0, 440.0);
    let want = decode_inline(&long);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool");
    // Hold one of the two workers until the decoding is over, so the sink's side can only
    // run on the decoding thread: the decoder must consume the queue itself.
    let (started_tx, started) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    pool.spawn(move || {
        started_tx.send(()).expect("test alive");
        let _ = release_rx.recv();
    });
    started.recv().expect("the held worker started");
    // Were the decoder to wait for a consumer that never comes, this would hang.
    let path = long.clone();
    let got = bounded("decoding without a free worker", move || {
        pool.install(|| decode_pipelined(&path, 40).0)
    });
    release.send(()).expect("held worker alive");
    assert!(
        got.0 == want.0,
        "{} samples, want {}",
        got.0.len(),
        want.0.len()
    );
    assert_eq!(got.1, want.1);
}

/// Runs `f` on a fresh thread and waits at most two minutes for it: the failure these tests
/// look for is a hang, which must fail the test instead of stalling the suite.
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("{what} did not finish"))
}

#[test]
fn pipelined_decoding_runs_the_sink_beside_the_decoder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let long = dir.path().join("long.wav");
    write_wav(&long, spec(44_100, 2, 16, false), 20.0, 440.0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .expect("pool");
    // Whether an idle worker picks the sink's task up in time is the scheduler's business, so
    // a few attempts are allowed; a version that never overlaps fails them all.
    let overlapped = (0..5).any(|_| {
        let ((_, result), elsewhere) = pool.install(|| decode_pipelined(&long, 40));
        result.expect("decodes");
        elsewhere > 0
    });
    assert!(overlapped, "the sink never ran beside the decoder");
}

#[test]
fn a_panicking_sink_fails_the_file_alike_on_any_pool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let long = dir.path().join("long.wav");
    write_wav(&long, spec(44_100, 1, 16, false), 20.0, 440.0);
    // Panics on its third call, however the samples are grouped into calls.
    fn sink_failing_on_call(n: usize) -> impl FnMut(&[f32]) + Send {
        let mut calls = 0usize;
        move |_: &[f32]| {
            calls += 1;
            if calls == n {
                panic!("sink failed on call {n}");
            }
        }
    }
    let inline = decode_stream(
        &long,
        &AudioDecodeOptions::default(),
        &mut sink_failing_on_call(3),
    )
    .expect_err("a panicking sink fails the file");
    assert!(
        inline.to_string().contains("sink failed on call 3"),
        "{inline}"
    );
    for threads in [1usize, 2, 4] {
        let path = long.clone();
        let got = bounded("decoding with a panicking sink", move || {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                decode_stream_pipelined(
                    &path,
                    &AudioDecodeOptions::default(),
                    &mut sink_failing_on_call(3),
                )
            })
        });
        let e = got.expect_err("a panicking sink fails the file");
        assert_eq!(e, inline, "pool of {threads}");
    }
}

/// Runs a tool an AIFF test writes its files with. These tests need sox, ffmpeg and python3
/// (`make test` installs them): a missing tool fails the test, it does not skip it.
fn run_tool(program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is required for the AIFF tests (apt-get install {program}): {e}")
        });
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Interleaved big-endian signed PCM of `bits` bits as the decoder's mono f32: symphonia's
/// conversion (a division by 2^(bits-1), exact in f64), then the channels averaged in f32.
fn pcm_be_to_mono(raw: &[u8], bits: usize, channels: usize) -> Vec<f32> {
    let width = bits / 8;
    assert_eq!(raw.len() % (width * channels), 0, "whole frames");
    let value = |b: &[u8]| {
        let mut word = [0u8; 4];
        word[..width].copy_from_slice(b);
        // Left-justified in an i32, then shifted back down with its sign.
        let v = i32::from_be_bytes(word) >> (32 - bits);
        (f64::from(v) / 2f64.powi(bits as i32 - 1)) as f32
    };
    raw.chunks_exact(width * channels)
        .map(|frame| {
            let s: Vec<f32> = frame.chunks_exact(width).map(value).collect();
            match channels {
                1 => s[0],
                2 => (s[0] + s[1]) * 0.5,
                _ => unreachable!("the tests write mono and stereo"),
            }
        })
        .collect()
}

/// Least-squares fit of a `freq` Hz sine of any phase to `x`: its amplitude, and the rms of
/// what it leaves unexplained relative to the rms of `x`.
fn sine_fit(x: &[f32], rate: f64, freq: f64) -> (f64, f64) {
    let w = std::f64::consts::TAU * freq / rate;
    let (mut ss, mut sc, mut cc, mut xs, mut xc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let (s, c) = (w * i as f64).sin_cos();
        let v = f64::from(v);
        (ss, sc, cc, xs, xc) = (ss + s * s, sc + s * c, cc + c * c, xs + v * s, xc + v * c);
    }
    let det = ss * cc - sc * sc;
    let (a, b) = ((xs * cc - xc * sc) / det, (xc * ss - xs * sc) / det);
    let residual: Vec<f32> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (s, c) = (w * i as f64).sin_cos();
            (f64::from(v) - a * s - b * c) as f32
        })
        .collect();
    (a.hypot(b), rms(&residual) / rms(x))
}

/// Decodes `aiff` at its own rate (no resampling) and checks it against `raw`, the same
/// frames as headerless big-endian PCM written by the tool that wrote the file: the frame
/// count and the duration exactly, every sample exactly, and the 440 Hz sine they hold.
fn check_aiff_sine(aiff: &Path, raw: &Path, rate: u32, channels: u32, bits: usize, frames: u64) {
    let what = format!("{} ({channels} ch, {bits} bit)", aiff.display());
    let opts = AudioDecodeOptions {
        target_rate: rate,
        ..AudioDecodeOptions::default()
    };
    let (samples, info) = decode_file(aiff, &opts).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(info.mime, "audio/aiff", "{what}");
    assert_eq!(
        (info.sample_rate, info.channels),
        (rate, channels),
        "{what}"
    );
    assert_eq!(info.source_frames, frames, "{what}: every frame, no more");
    assert_eq!(info.duration_s, frames as f64 / f64::from(rate), "{what}");
    assert_eq!(info.sha256, hex_sha(aiff), "{what}");
    let want = pcm_be_to_mono(&std::fs::read(raw).expect("raw"), bits, channels as usize);
    assert_eq!(want.len() as u64, frames, "{what}: the tool's own raw copy");
    let first_diff = samples
        .iter()
        .zip(&want)
        .position(|(a, b)| a.to_bits() != b.to_bits());
    assert!(
        samples.len() == want.len() && first_diff.is_none(),
        "{what}: {} samples, want {}; first difference at {first_diff:?}",
        samples.len(),
        want.len()
    );
    // ffmpeg's sine is at 1/8 of full scale, and its stereo copies are 3 dB down.
    let (amplitude, residual) = sine_fit(&samples, f64::from(rate), 440.0);
    assert!(
        amplitude > 0.05 && residual < 0.01,
        "{what}: 440 Hz amplitude {amplitude}, residual {residual}"
    );
}

#[test]
fn aiff_written_by_sox_decodes_every_frame_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 16 and 24 bits failed before (symphonia's reader counted the SSND chunk's offset and
    // block-size words as 8 bytes of samples); 8 and 32 bits are AIFF's other integer sizes.
    for (channels, bits) in [(1, 16), (2, 16), (1, 24), (2, 24), (1, 8), (2, 32)] {
        let aiff = dir.path().join(format!("sox_{channels}ch_{bits}.aiff"));
        let raw = dir.path().join(format!("sox_{channels}ch_{bits}.raw"));
        sox_sine_aiff(&aiff, channels, bits);
        // sox reads its own file back as headerless big-endian samples: the truth.
        run_tool(
            "sox",
            &[
                path_str(&aiff),
                "-t",
                "raw",
                "-e",
                "signed-integer",
                "-B",
                path_str(&raw),
            ],
        );
        check_aiff_sine(&aiff, &raw, 16_000, channels, bits as usize, 16_000);
    }
}

#[test]
fn aiff_written_by_ffmpeg_decodes_every_frame_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    // ffmpeg's sine source runs at 44.1 kHz: one second is 44 100 frames.
    for (channels, codec, raw_format, bits) in [
        (1, "pcm_s16be", "s16be", 16),
        (2, "pcm_s16be", "s16be", 16),
        (1, "pcm_s24be", "s24be", 24),
    ] {
        let aiff = dir.path().join(format!("ff_{channels}ch_{codec}.aiff"));
        let raw = dir.path().join(format!("ff_{channels}ch_{codec}.raw"));
        let ac = channels.to_string();
        let quiet = ["-nostdin", "-loglevel", "error", "-y"];
        let write = [
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=1",
            "-ac",
            &ac,
            "-c:a",
            codec,
            path_str(&aiff),
        ];
        run_tool("ffmpeg", &[&quiet[..], &write[..]].concat());
        let read = ["-i", path_str(&aiff), "-f", raw_format, path_str(&raw)];
        run_tool("ffmpeg", &[&quiet[..], &read[..]].concat());
        check_aiff_sine(&aiff, &raw, 44_100, channels, bits, 44_100);
    }
}

/// Writes a 16 kHz 16-bit AIFF with Python's `aifc` module, frame `i` holding `ramp(i, c)`
/// on channel `c` (the same formula as [`ramp`]).
fn write_aifc_ramp(path: &Path, channels: u32, frames: u32) {
    let script = r#"
import struct, sys, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # aifc is deprecated since 3.11
import aifc
path, channels, frames = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
w = aifc.open(path, "wb")
w.setnchannels(channels)
w.setsampwidth(2)
w.setframerate(16000)
w.writeframes(b"".join(
    struct.pack(">h", (i * 37 + c * 20000) % 65536 - 32768)
    for i in range(frames) for c in range(channels)))
w.close()
"#;
    let (c, n) = (channels.to_string(), frames.to_string());
    run_tool("python3", &["-c", script, path_str(path), &c, &n]);
}

/// The 16-bit sample `write_aifc_ramp` and `write_aiff_by_hand` put at frame `i`, channel `c`.
fn ramp(i: u32, c: u32) -> i16 {
    (((i * 37 + c * 20_000) % 65_536) as i32 - 32_768) as i16
}

/// The mono f32 the decoder makes of `frames` frames of [`ramp`].
fn ramp_mono(channels: u32, frames: u32) -> Vec<u32> {
    let f = |i, c| f32::from(ramp(i, c)) / 32_768.0;
    (0..frames)
        .map(|i| match channels {
            1 => f(i, 0),
            _ => (f(i, 0) + f(i, 1)) * 0.5,
        })
        .map(f32::to_bits)
        .collect()
}

fn decode_16k(path: &Path) -> Result<(Vec<u32>, AudioInfo), AudioError> {
    decode_file(path, &AudioDecodeOptions::default())
        .map(|(s, info)| (s.iter().map(|x| x.to_bits()).collect(), info))
}

#[test]
fn aiff_written_by_python_aifc_decodes_to_the_exact_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    for channels in [1, 2] {
        let path = dir.path().join(format!("aifc_{channels}ch.aiff"));
        write_aifc_ramp(&path, channels, 16_000);
        let (samples, info) = decode_16k(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((info.channels, info.source_frames), (channels, 16_000));
        assert_eq!(info.duration_s, 1.0);
        assert!(
            samples == ramp_mono(channels, 16_000),
            "{channels} ch: the written ramp, sample for sample"
        );
    }
}

/// Writes a 16 kHz 16-bit mono AIFF of `frames` frames of [`ramp`] by hand: its COMM chunk
/// declares `declared` frames, its SSND chunk has `offset` bytes of 0x7f before the samples,
/// it comes first when `sound_first`, and a 10-byte ANNO chunk follows the chunks when
/// `trailing` (bytes a reader that runs past the sound data would decode as samples).
fn write_aiff_by_hand(
    path: &Path,
    frames: u32,
    declared: u32,
    offset: u32,
    sound_first: bool,
    trailing: bool,
) {
    let script = r#"
import struct, sys
path, frames, declared, offset, sound_first, trailing = sys.argv[1], *map(int, sys.argv[2:])
# 16000 as an 80-bit extended float: exponent 13, mantissa 16000 << 50.
rate = bytes.fromhex("400cfa00000000000000")
comm = b"COMM" + struct.pack(">IhIh", 18, 1, declared, 16) + rate
data = b"".join(struct.pack(">h", (i * 37) % 65536 - 32768) for i in range(frames))
body = struct.pack(">II", offset, 0) + b"\x7f" * offset + data
ssnd = b"SSND" + struct.pack(">I", len(body)) + body + b"\0" * (len(body) % 2)
chunks = ssnd + comm if sound_first else comm + ssnd
if trailing:
    chunks += b"ANNO" + struct.pack(">I", 10) + b"\x7f\xff" * 5
open(path, "wb").write(b"FORM" + struct.pack(">I", 4 + len(chunks)) + b"AIFF" + chunks)
"#;
    let args: Vec<String> = [frames, declared, offset]
        .iter()
        .map(u32::to_string)
        .chain([u8::from(sound_first), u8::from(trailing)].map(|b| b.to_string()))
        .collect();
    let mut argv = vec!["-c", script, path_str(path)];
    argv.extend(args.iter().map(String::as_str));
    run_tool("python3", &argv);
}

#[test]
fn aiff_sound_data_is_read_from_its_offset_and_not_past_its_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (offset, sound_first, trailing) in [
        (4, false, false),
        (4, false, true),
        (0, false, true),
        (6, true, true),
    ] {
        let what = format!("offset {offset}, SSND first {sound_first}, trailing {trailing}");
        let path = dir
            .path()
            .join(format!("hand_{offset}_{sound_first}_{trailing}.aiff"));
        write_aiff_by_hand(&path, 1601, 1601, offset, sound_first, trailing);
        let (samples, info) = decode_16k(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(info.source_frames, 1601, "{what}");
        assert!(
            samples == ramp_mono(1, 1601),
            "{what}: the ramp, no pad bytes"
        );
        assert_eq!(info.sha256, hex_sha(&path), "{what}");
    }
}

/// Writes one second of a 440 Hz sine at 16 kHz as an AIFF file, with sox.
fn sox_sine_aiff(path: &Path, channels: u32, bits: u32) {
    let (c, b) = (channels.to_string(), bits.to_string());
    run_tool(
        "sox",
        &[
            "-n",
            "-r",
            "16000",
            "-c",
            &c,
            "-b",
            &b,
            path_str(path),
            "synth",
            "1",
            "sine",
            "440",
        ],
    );
}

#[test]
fn a_cut_aiff_is_still_a_truncation_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let whole = dir.path().join("whole.aiff");
    sox_sine_aiff(&whole, 1, 16);
    let bytes = std::fs::read(&whole).expect("read");
    // The header still declares 16 000 frames; 1000 bytes are 500 frames, and a cut inside
    // a frame loses that frame too.
    for (cut, decoded) in [(1000, 15_500), (1001, 15_499)] {
        let path = dir.path().join(format!("cut_{cut}.aiff"));
        std::fs::write(&path, &bytes[..bytes.len() - cut]).expect("write");
        let (e, got) = expect_err(&path, &AudioDecodeOptions::default());
        assert_eq!(
            e.kind,
            mmprompt::media::audio::AudioErrorKind::Truncated {
                declared: 16_000,
                decoded
            },
            "{e}"
        );
        assert!(e.is_partial());
        assert_eq!(
            got, decoded as usize,
            "the frames before the cut reach the sink"
        );
    }
    // A COMM chunk declaring more frames than the SSND chunk holds is the same lie.
    let liar = dir.path().join("liar.aiff");
    write_aiff_by_hand(&liar, 1600, 3200, 0, false, true);
    let (e, _) = expect_err(&liar, &AudioDecodeOptions::default());
    assert_eq!(
        e.kind,
        mmprompt::media::audio::AudioErrorKind::Truncated {
            declared: 3200,
            decoded: 1600
        },
        "{e}"
    );
}
