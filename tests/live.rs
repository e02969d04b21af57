//! `mmprompt live` end to end on a virtual FIFO microphone (see tests/vmic): parity with
//! `extract`, clean shutdown on a signal, a missing device, a device that goes quiet, and
//! device listing. Every wait is bounded and polls for a condition.

mod common;
mod vmic;

use mmprompt::extract::{extract_file, ExtractOptions};
use serde_json::Value;
use std::time::Duration;
use vmic::{wait_for, LiveRun, Tail, VirtualMic, RATE};

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
    let mut schema: Value = serde_json::from_str(mmprompt::jsonld::SCHEMA).expect("schema");
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
    let lines_handle = std::sync::Arc::clone(&run.lines);
    let (code, stderr) = run.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
    let got: Vec<Value> = lines_handle
        .lock()
        .expect("lines")
        .iter()
        .map(|(_, l)| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
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
    let lines = std::sync::Arc::clone(&run.lines);
    let (code, stderr) = run.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
    let got: Vec<Value> = lines
        .lock()
        .expect("lines")
        .iter()
        .map(|(_, l)| serde_json::from_str(l).expect("JSON"))
        .collect();
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
fn a_missing_device_is_named_with_the_ones_that_exist() {
    let mic = VirtualMic::start(vec![0.0; secs(1.0)], 2, Tail::Silence);
    let run = LiveRun::start(&mic, &["--device", "nonexistent"]);
    let (code, stderr) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("no input device named 'nonexistent'") && stderr.contains("vmic"),
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
    let lines = std::sync::Arc::clone(&run.lines);
    let (code, stderr) = run.wait(Duration::from_secs(15));
    assert_eq!(code, Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("no audio from 'default'"),
        "stderr:\n{stderr}"
    );
    // What came before the silence is still written, the open tone segment included.
    let got = lines.lock().expect("lines").len();
    assert!(
        got >= 2,
        "expected the silence and the flushed tone, got {got} lines"
    );
}

#[test]
fn list_devices_names_the_virtual_mic_and_the_default() {
    let mic = VirtualMic::start(vec![0.0; secs(1.0)], 2, Tail::Silence);
    let run = LiveRun::start(&mic, &["--list-devices"]);
    let lines = std::sync::Arc::clone(&run.lines);
    let (code, stderr) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
    let out: Vec<String> = lines
        .lock()
        .expect("lines")
        .iter()
        .map(|(_, l)| l.clone())
        .collect();
    let text = out.join("\n");
    assert!(text.contains("vmic - Virtual mic (FIFO)"), "{text}");
    assert!(text.contains("default (default)"), "{text}");
    assert!(text.contains("48000 Hz"), "{text}");
}
