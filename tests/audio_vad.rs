//! Our voice-detector front end against earshot's own `Detector`: the same network fed by a
//! different FFT must give the same scores, block by block, on real recordings and on
//! synthetic extremes. This is the test that guards an earshot upgrade.

mod audio_signals;

use audio_signals::Rng;
use mmprompt::audio::vad::{VoiceDetector, BLOCK};
use mmprompt::media::audio::{decode_file, AudioDecodeOptions};
use std::path::Path;

/// What scoring every block of a signal with both detectors found.
struct Comparison {
    max_diff: f32,
    /// Blocks on different sides of 0.5, where earshot's score is not within 0.01 of it.
    flips: usize,
    blocks: usize,
    /// Blocks our detector calls voiced.
    voiced: usize,
}

fn compare(x: &[f32]) -> Comparison {
    let mut ours = VoiceDetector::new();
    let mut theirs = earshot::Detector::default_boxed();
    let mut max_diff = 0.0f32;
    let mut flips = 0;
    let mut blocks = 0;
    let mut voiced = 0;
    for block in x.chunks_exact(BLOCK) {
        let clamped: Vec<f32> = block.iter().map(|s| s.clamp(-1.0, 1.0)).collect();
        let a = ours.score(&clamped);
        let b = theirs.predict_f32(&clamped);
        assert!((0.0..=1.0).contains(&a), "score {a} out of range");
        max_diff = max_diff.max((a - b).abs());
        if (a >= 0.5) != (b >= 0.5) && (b - 0.5).abs() > 0.01 {
            flips += 1;
        }
        voiced += usize::from(a >= 0.5);
        blocks += 1;
    }
    Comparison {
        max_diff,
        flips,
        blocks,
        voiced,
    }
}

#[test]
fn scores_equal_earshot_on_the_sample_recordings() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/audio");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("samples/audio")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 8,
        "expected the sample recordings in {dir:?}"
    );
    let mut voiced = 0;
    for path in &files {
        let (x, _) = decode_file(path, &AudioDecodeOptions::default()).expect("decodes");
        let Comparison {
            max_diff,
            flips,
            blocks,
            voiced: v,
        } = compare(&x);
        eprintln!(
            "{}: {blocks} blocks, max |diff| {max_diff:.2e}",
            path.display()
        );
        assert!(blocks > 50, "{}: too short", path.display());
        assert!(
            max_diff < 1e-3,
            "{}: scores differ by {max_diff}",
            path.display()
        );
        assert_eq!(flips, 0, "{}: decisions differ", path.display());
        voiced += v;
    }
    // The speech recordings must actually exercise the voiced side of the network.
    assert!(voiced > 100, "only {voiced} voiced blocks over the samples");
}

#[test]
fn scores_equal_earshot_on_synthetic_extremes() {
    let sr = 16_000usize;
    let mut rng = Rng::new(7);
    let mut noise = move || rng.uniform() as f32 - 0.5;
    let mut x = vec![0.0f32; 4 * sr];
    for (i, s) in x.iter_mut().enumerate() {
        let t = i as f32 / sr as f32;
        *s = match i / sr {
            0 => 0.0,                                              // digital silence
            1 => 1e-6 * noise(),                                   // near-silence
            2 => 2.0 * noise(),                                    // clipped full-scale noise
            _ => (std::f32::consts::TAU * 440.0 * t).sin() * 0.99, // loud tone
        };
    }
    let c = compare(&x);
    assert!(c.max_diff < 1e-3, "scores differ by {}", c.max_diff);
    assert_eq!(c.flips, 0);
}
