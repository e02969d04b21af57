//! `mmprompt live` end to end on a virtual FIFO microphone (see tests/vmic): parity with
//! `extract`, clean shutdown on a signal, a missing device, a device that goes quiet, and
//! device listing. Every wait is bounded and polls for a condition.

mod common;
mod vmic;

use mmprompt::jobs::extract::{extract_file, ExtractOptions};
use serde_json::Value;
use std::time::Duration;
use vmic::{wait_for, Exit, LiveRun, Tail, VirtualMic, RATE};

/// Analysis hop in seconds (the default 10 ms).
const HOP_S: f64 = 0.010;

fn secs(n: f64) -> usize {
    (n * f64::from(RATE)) as usize
}

/// A 16 kHz mono sample from samples/audio, at 48 kHz (linear interpolation: the exact
/// method does not matter, extract and live get the same samples).
fn sample_48k(name: &str) -> Vec<f32> {
    let path = common::root().join("samples/audio").join(name);
    let mut reader = hound::WavReader::open(&path).expect("sample opens");
    let x: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.expect("sample reads")) / 32768.0)
        .collect();
    let mut out = Vec::with_capacity(x.len() * 3);
    for (i, &a) in x.iter().enumerate() {
        let b = x.get(i + 1).copied().unwrap_or(a);
        for k in 0..3 {
            out.push(a + (b - a) * k as f32 / 3.0);
        }
    }
    out
}

fn tone(seconds: f64, freq: f64, amp: f64) -> Vec<f32> {
    (0..secs(seconds))
        .map(|i| (amp * (std::f64::consts::TAU * freq * i as f64 / f64::from(RATE)).sin()) as f32)
        .collect()
}

fn write_wav_48k(path: &std::path::Path, signal: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav creates");
    for &s in signal {
        w.write_sample(s).expect("wav writes");
    }
    w.finalize().expect("wav finalizes");
}

/// `(label, start, end)` of an annotation.
fn span(a: &Value) -> (String, f64, f64) {
    let sel = &a["target"]["selector"][0];
    (
        a["body"]["value"].as_str().expect("label").to_owned(),
        sel["startOffset"].as_f64().expect("start"),
        sel["endOffset"].as_f64().expect("end"),
    )
}

/// Panics unless `line` validates against the schema's `liveAnnotation`.
fn assert_valid_line(line: &Value) {
    let mut schema: Value = serde_json::from_str(mmprompt::doc::SCHEMA).expect("schema");
    let defs = schema["$defs"].take();
    let wrapper = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": "#/$defs/liveAnnotation",
        "$defs": defs,
    });
    let validator = jsonschema::validator_for(&wrapper).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(line)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "live line violates the schema:\n{}",
        errors.join("\n")
    );
}

#[test]
fn live_segments_match_extract_on_the_same_recording() {
    let gap = vec![0.0f32; secs(0.5)];
    let mut signal = gap.clone();
    for name in [
        "speech_front_center.wav",
        "chime_complete.wav",
        "impact_camera_shutter.wav",
        "speech_front_left.wav",
    ] {
        signal.extend(sample_48k(name));
        signal.extend(&gap);
    }
    signal.extend(vec![0.0f32; secs(0.5)]);
    let tmp = tempfile::tempdir().expect("temp dir");
    let wav = tmp.path().join("parity.wav");
    write_wav_48k(&wav, &signal);
    let reference =
        extract_file(&wav, "parity.wav", &ExtractOptions::default()).expect("extract succeeds");
    let want: Vec<_> = reference.document["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(span)
        .collect();
    assert!(
        want.len() >= 5,
        "the recording should give several segments: {want:?}"
    );

    let n = signal.len() as u64;
    let mic = VirtualMic::start(signal, 2, Tail::Silence);
    let run = LiveRun::start(&mic, &["--context", "inline"]);
    // All of the recording and half a second of silence have reached the device, and every
    // segment but the still-open last one has come out.
    wait_for(Duration::from_secs(40), "the recording to play", || {
        mic.written() >= n + secs(0.5) as u64
    });
    wait_for(Duration::from_secs(10), "the segments to close", || {
        run.lines.lock().expect("lines").len() >= want.len() - 1
    });
    run.signal("INT");
    let exit = run.wait(Duration::from_secs(10));
    assert_eq!(exit.code, Some(0), "stderr:\n{}", exit.stderr);
    let got = exit.json();
    let spans: Vec<_> = got.iter().map(span).collect();
    let labels = |v: &[(String, f64, f64)]| v.iter().map(|s| s.0.clone()).collect::<Vec<_>>();
    assert_eq!(
        labels(&spans),
        labels(&want),
        "live {spans:?}\nextract {want:?}"
    );
    for (i, (g, w)) in spans.iter().zip(&want).enumerate() {
        assert!(
            (g.1 - w.1).abs() <= 2.0 * HOP_S + 1e-9,
            "s{}: start {g:?} vs {w:?}",
            i + 1
        );
        if i + 1 < want.len() {
            assert!(
                (g.2 - w.2).abs() <= 2.0 * HOP_S + 1e-9,
                "s{}: end {g:?} vs {w:?}",
                i + 1
            );
        }
    }

    // Each line stands alone: it validates and expands with nothing dropped.
    let mut files = Vec::new();
    for (i, line) in got.iter().enumerate() {
        assert_valid_line(line);
        let p = tmp.path().join(format!("line{i}.jsonld"));
        std::fs::write(&p, serde_json::to_vec(line).expect("serialises")).expect("writes");
        files.push(p);
    }
    common::assert_expands(&files);
}

#[test]
fn sigint_mid_segment_flushes_it_and_finalizes_the_recording() {
    let mut signal = vec![0.0f32; secs(0.5)];
    signal.extend(tone(30.0, 440.0, 0.3));
    let mic = VirtualMic::start(signal, 2, Tail::Silence);
    let tmp = tempfile::tempdir().expect("temp dir");
    let wav = tmp.path().join("rec.wav");
    let wav_arg = wav.to_string_lossy().into_owned();
    let run = LiveRun::start(&mic, &["--record", &wav_arg]);
    // The leading silence has closed (the tone took over) and the tone has run a while.
    wait_for(Duration::from_secs(20), "the first segment", || {
        !run.lines.lock().expect("lines").is_empty() && mic.written() >= secs(2.0) as u64
    });
    run.signal("INT");
    let exit = run.wait(Duration::from_secs(10));
    assert_eq!(exit.code, Some(0), "stderr:\n{}", exit.stderr);
    let got = exit.json();
    let last = span(got.last().expect("a final line"));
    assert_eq!(
        last.0, "event:tone",
        "the open tone segment is flushed: {got:?}"
    );
    assert!(
        last.2 >= 1.9,
        "the flushed segment runs to the stop: {last:?}"
    );

    let reader = hound::WavReader::open(&wav).expect("the recording is a valid WAV");
    let spec = reader.spec();
    assert_eq!((spec.sample_rate, spec.channels), (RATE, 2));
    let frames = reader.len() / u32::from(spec.channels);
    let wav_s = f64::from(frames) / f64::from(RATE);
    // The recording holds everything analysed: the last segment ends where it ends.
    assert!(
        (wav_s - last.2).abs() <= 0.002,
        "recording {wav_s} s, analysed to {} s",
        last.2
    );
}

#[test]
fn sigterm_ends_cleanly_and_out_gets_every_line() {
    let mut signal = vec![0.0f32; secs(0.5)];
    signal.extend(tone(30.0, 440.0, 0.3));
    let mic = VirtualMic::start(signal, 2, Tail::Silence);
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("session.ndjson");
    let out_arg = out.to_string_lossy().into_owned();
    let run = LiveRun::start(&mic, &["--out", &out_arg]);
    let line_count = || {
        std::fs::read_to_string(&out)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    // Each line is flushed as it closes, so the file has the silence before the stop.
    wait_for(Duration::from_secs(20), "the first line in --out", || {
        line_count() >= 1
    });
    run.signal("TERM");
    let exit = run.wait(Duration::from_secs(10));
    assert_eq!(exit.code, Some(0), "stderr:\n{}", exit.stderr);
    let text = std::fs::read_to_string(&out).expect("--out written");
    let spans: Vec<_> = text
        .lines()
        .map(|l| span(&serde_json::from_str(l).expect("JSON")))
        .collect();
    let labels: Vec<&str> = spans.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(labels, ["ambient:silence", "event:tone"], "{spans:?}");
}

#[test]
fn a_missing_device_is_named_with_the_ones_that_exist() {
    let mic = VirtualMic::start(vec![0.0; secs(1.0)], 2, Tail::Silence);
    let run = LiveRun::start(&mic, &["--device", "nonexistent"]);
    let Exit { code, stderr, .. } = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("no input device named 'nonexistent'") && stderr.contains("vmic"),
        "stderr:\n{stderr}"
    );
    assert!(!stderr.contains("ALSA lib"), "ALSA noise leaked:\n{stderr}");
}

#[test]
fn a_default_that_exists_but_cannot_open_says_so() {
    // ALSA's `default` exists on any machine, sound card or not; here it names a card
    // that is not there.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("alsa")).expect("alsa dir");
    std::fs::write(
        dir.path().join("alsa/asoundrc"),
        "pcm.!default { type hw; card 7; device 0 }\n",
    )
    .expect("asoundrc");
    let mut child = common::mmprompt()
        .arg("live")
        .env("XDG_CONFIG_HOME", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mmprompt runs");
    wait_for(Duration::from_secs(20), "mmprompt to exit", || {
        child.try_wait().ok().flatten().is_some()
    });
    let out = child.wait_with_output().expect("output");
    let stderr = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("the default input device 'default' exists but cannot be opened"),
        "stderr:\n{stderr}"
    );
    assert!(!stderr.contains("ALSA lib"), "ALSA noise leaked:\n{stderr}");
}

#[test]
fn a_device_that_goes_quiet_ends_the_session_with_a_clear_error() {
    let mut signal = vec![0.0f32; secs(0.5)];
    signal.extend(tone(1.0, 440.0, 0.3));
    let mic = VirtualMic::start(signal, 2, Tail::Stall);
    let run = LiveRun::start(&mic, &["--no-data-timeout", "1"]);
    let Exit {
        code,
        stderr,
        lines,
    } = run.wait(Duration::from_secs(15));
    assert_eq!(code, Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("no audio from 'default'"),
        "stderr:\n{stderr}"
    );
    // What came before the silence is still written, the open tone segment included.
    let got = lines.len();
    assert!(
        got >= 2,
        "expected the silence and the flushed tone, got {got} lines"
    );
}

#[test]
fn list_devices_names_the_virtual_mic_and_the_default() {
    let mic = VirtualMic::start(vec![0.0; secs(1.0)], 2, Tail::Silence);
    let run = LiveRun::start(&mic, &["--list-devices"]);
    let exit = run.wait(Duration::from_secs(20));
    assert_eq!(exit.code, Some(0), "stderr:\n{}", exit.stderr);
    let out: Vec<String> = exit.lines.into_iter().map(|(_, l)| l).collect();
    let text = out.join("\n");
    assert!(text.contains("vmic - Virtual mic (FIFO)"), "{text}");
    assert!(text.contains("default (default)"), "{text}");
    assert!(text.contains("48000 Hz"), "{text}");
}

#[test]
fn realtime_replay_of_a_file_gives_extracts_segments() {
    let rel = "samples/audio/speech_front_center.wav";
    let path = common::root().join(rel);
    let reference = extract_file(&path, rel, &ExtractOptions::default()).expect("extract succeeds");
    let want: Vec<_> = reference.document["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(span)
        .collect();
    let started = std::time::Instant::now();
    let out = common::mmprompt()
        .args(["live", "--input", &path.to_string_lossy(), "--realtime"])
        .output()
        .expect("mmprompt runs");
    let took = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "stderr:\n{}", common::stderr(&out));
    let got: Vec<_> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| span(&serde_json::from_str(l).expect("JSON")))
        .collect();
    // Same samples through the same analyzer: the same segments, to the millisecond.
    assert_eq!(got, want);
    assert!(
        took >= 1.3,
        "a 1.43 s file replayed in {took:.2} s is not real time"
    );
}

#[test]
fn a_source_failing_mid_stream_flushes_records_and_exits_non_zero() {
    // A stream that breaks part-way (here a replayed file cut in half; on a device, an
    // unplugged microphone) takes the same exit path: everything before the break is
    // analysed and written, the recording is finalized, and the exit code says it failed.
    let tmp = tempfile::tempdir().expect("temp dir");
    let wav = std::fs::read(common::root().join("tests/data/audio/ref_mixed.wav"))
        .expect("reference audio");
    let cut = tmp.path().join("cut.wav");
    std::fs::write(&cut, &wav[..wav.len() / 2]).expect("writes");
    let rec = tmp.path().join("rec.wav");
    let out = common::mmprompt()
        .args(["live", "--realtime", "--input"])
        .arg(&cut)
        .arg("--record")
        .arg(&rec)
        .output()
        .expect("mmprompt runs");
    let stderr = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("capture stopped") && stderr.contains("[device_lost]"),
        "{stderr}"
    );
    let lines: Vec<_> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| span(&serde_json::from_str(l).expect("JSON")))
        .collect();
    let last = lines.last().expect("segments before the break are written");
    let reader = hound::WavReader::open(&rec).expect("the recording is finalized");
    let rec_s = f64::from(reader.duration()) / f64::from(reader.spec().sample_rate);
    assert!(
        (rec_s - last.2).abs() <= 0.002,
        "recording {rec_s} s, analysed to {}",
        last.2
    );
}

/// Benchmark, not a timed test: run with
/// `cargo test --release --test live -- --ignored --nocapture live_latency_and_cpu`.
///
/// Latency of each line: from the instant its segment's end was due on the virtual device
/// (the feeder writes each sample at most 20 ms before it is due, as a device with 20 ms
/// of buffering would) to the line's arrival on our end of the pipe; and the same from the
/// instant the sample that closed it was due, which leaves out the segmenter's hangover.
/// CPU: user + system time of the process over 20 s of 48 kHz stereo capture.
#[test]
#[ignore]
fn live_latency_and_cpu() {
    let mut signal = Vec::new();
    for _ in 0..20 {
        signal.extend(vec![0.0f32; secs(1.0)]);
        signal.extend(tone(0.5, 1000.0, 0.3));
    }
    let mic = VirtualMic::start(signal, 2, Tail::Silence);
    let run = LiveRun::start(&mic, &["--verbose"]);
    let pid = run.child.id();
    let cpu_ticks = || -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let after = &stat[stat.rfind(')').expect("comm") + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
    };
    wait_for(Duration::from_secs(20), "capture to settle", || {
        mic.written() >= secs(3.0) as u64
    });
    let (t0, c0) = (std::time::Instant::now(), cpu_ticks());
    wait_for(Duration::from_secs(40), "20 s of capture", || {
        mic.written() >= secs(23.0) as u64
    });
    let (t1, c1) = (std::time::Instant::now(), cpu_ticks());
    let tck = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    let cpu_pct = (c1 - c0) as f64 / tck / (t1 - t0).as_secs_f64() * 100.0;
    run.signal("INT");
    let Exit {
        code,
        stderr,
        lines,
    } = run.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
    // "s3 event:tone 2.5-3.0 s, closed at 3.3 s" lines give each segment's closing point.
    let closed: Vec<f64> = stderr
        .lines()
        .filter(|l| l.contains(", closed at "))
        .filter_map(|l| l.rsplit(' ').nth(1)?.parse().ok())
        .collect();
    // Signed milliseconds from the instant audio time `s` was due to `at`.
    let since_due = |at: std::time::Instant, s: f64| {
        let due = mic.due((s * f64::from(RATE)).round() as u64);
        match at.checked_duration_since(due) {
            Some(d) => d.as_secs_f64() * 1000.0,
            None => -(due - at).as_secs_f64() * 1000.0,
        }
    };
    let (mut total, mut hangover, mut excess) = (Vec::new(), Vec::new(), Vec::new());
    // The last line is the flush at the signal, not a segment closing on its own.
    for (i, (arrived, text)) in lines.iter().enumerate().take(lines.len().saturating_sub(1)) {
        let v: Value = serde_json::from_str(text).expect("JSON");
        let (_, _, end) = span(&v);
        total.push(since_due(*arrived, end));
        if let Some(&c) = closed.get(i) {
            hangover.push((c - end) * 1000.0);
            excess.push(since_due(*arrived, c));
        }
    }
    let stat = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        (q(0.5), q(0.99), v.len())
    };
    let (m, p99, n) = stat(&mut total);
    let (hm, hp99, _) = stat(&mut hangover);
    let (em, ep99, en) = stat(&mut excess);
    println!("segments: {n}; segment end due -> line: median {m:.1} ms, p99 {p99:.1} ms");
    println!("segmenter hangover (closing point - end): median {hm:.1} ms, p99 {hp99:.1} ms");
    println!(
        "closing sample due -> line (hangover excluded): median {em:.1} ms, p99 {ep99:.1} ms \
         over {en} (the sample was written up to 20 ms before it was due: add 20 ms for the \
         time from its write)"
    );
    println!("CPU at 48 kHz stereo f32: {cpu_pct:.2}% of one core");
}
