//! The analyzer's frame features against librosa 0.11 on the same frames
//! (references made by tests/ref/make_audio_refs.py, which documents what each feature is).

use mmprompt::audio::{analyze, AnalyzerConfig};
use serde_json::Value;
use std::path::Path;

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/audio")
        .join(name)
}

fn read_f32_wav(path: &Path) -> Vec<f32> {
    let mut reader = hound::WavReader::open(path).expect("reference wav opens");
    assert_eq!(reader.spec().sample_rate, 16_000);
    reader
        .samples::<f32>()
        .map(|s| s.expect("sample"))
        .collect()
}

/// Relative error with an absolute floor for values that are (nearly) zero on both sides.
fn close(ours: f64, theirs: f64, rel: f64, abs: f64) -> bool {
    (ours - theirs).abs() <= rel * theirs.abs().max(ours.abs()) + abs
}

#[test]
fn features_match_librosa() {
    let refs: Value = serde_json::from_str(
        &std::fs::read_to_string(data("librosa_refs.json")).expect("refs exist"),
    )
    .expect("refs parse");
    assert_eq!(refs["n_fft"], 400);
    assert_eq!(refs["hop_length"], 160);
    let signals = refs["signals"].as_object().expect("signals");
    assert!(signals.len() >= 5);
    let mut worst = std::collections::BTreeMap::<&str, f64>::new();
    for (name, sig) in signals {
        let samples = read_f32_wav(&data(sig["wav"].as_str().expect("wav name")));
        let cfg = AnalyzerConfig {
            vad: false,
            ..AnalyzerConfig::default()
        };
        let (out, _) = analyze(&samples, cfg).expect("analysis");
        let n = sig["rms"].as_array().expect("rms").len();
        assert_eq!(out.frames.len(), n, "{name}: frame count");
        for feature in ["rms", "zcr", "centroid", "bandwidth", "flatness", "rolloff"] {
            let expected = sig[feature].as_array().expect("array");
            for (i, (frame, e)) in out.frames.iter().zip(expected).enumerate() {
                let e = e.as_f64().expect("number");
                let f = &frame.features;
                let (ours, rel, abs) = match feature {
                    "rms" => (f.rms, 1e-3, 1e-9),
                    // Exact counts over 400: only f32 rounding of k/400 may differ.
                    "zcr" => (f.zcr, 0.0, 1e-6),
                    "centroid" => (f.centroid_hz, 1e-3, 1e-6),
                    "bandwidth" => (f.bandwidth_hz, 1e-3, 1e-6),
                    "flatness" => (f.flatness, 1e-3, 1e-9),
                    _ => (f.rolloff_hz, 1e-3, 1e-6),
                };
                let ours = f64::from(ours);
                let err = (ours - e).abs() / e.abs().max(1e-12);
                let w = worst.entry(feature).or_insert(0.0);
                if e.abs() > 1e-9 && err > *w {
                    *w = err;
                }
                assert!(
                    close(ours, e, rel, abs),
                    "{name} frame {i} {feature}: ours {ours} librosa {e}"
                );
            }
        }
    }
    eprintln!("worst relative error per feature: {worst:?}");
}
