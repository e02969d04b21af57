//! Analysis throughput on 16 kHz mono (features, labels and segments; decoding excluded).
//! The acceptance bar is 5000× realtime on one core: 60 s of audio in at most 12 ms.

use criterion::{criterion_group, Criterion, Throughput};
use mmprompt::audio::vad::{VoiceDetector, BLOCK};
use mmprompt::audio::{Analyzer, AnalyzerConfig, SegmentCollector};
use std::hint::black_box;

/// 60 s mixing what real recordings hold: room noise throughout, harmonic (voice- or
/// music-like) stretches with a gliding pitch, beeps, knocks and silence.
fn signal() -> Vec<f32> {
    let sr = 16_000usize;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let mut x = vec![0.0f32; 60 * sr];
    let mut phase = 0.0f64;
    for (i, s) in x.iter_mut().enumerate() {
        let t = i as f64 / sr as f64;
        let sec = t as usize % 10;
        *s = 0.004 * noise();
        if sec < 5 {
            // A harmonic sound with a slow pitch glide and syllable-rate amplitude.
            let f0 = 140.0 + 30.0 * (t * 0.7).sin();
            phase += std::f64::consts::TAU * f0 / sr as f64;
            let env = (0.5 + 0.5 * (t * std::f64::consts::TAU * 4.0).sin()).powi(2);
            let v: f64 = (1..=8).map(|k| (phase * k as f64).sin() / k as f64).sum();
            *s += (0.25 * env * v) as f32;
        } else if sec == 6 {
            *s += (0.3 * (std::f64::consts::TAU * 1000.0 * t).sin()) as f32;
        } else if sec == 8 && (t.fract() * 4.0).fract() < 0.02 {
            *s += 0.8 * noise();
        }
    }
    x
}

fn bench(c: &mut Criterion) {
    let x = signal();
    let mut group = c.benchmark_group("audio");
    group.throughput(Throughput::Elements(x.len() as u64));
    group.sample_size(20);
    for (name, vad) in [
        ("analyze_60s_with_vad", true),
        ("analyze_60s_no_vad", false),
    ] {
        let cfg = with_vad(vad);
        group.bench_function(name, |b| b.iter(|| black_box(analyze(&x, cfg))));
    }
    // The neural VAD alone, ours and earshot's own `Detector` (same network, earshot's front
    // end): the floor the with-VAD figure cannot go below, set by the model, not by us.
    group.bench_function("vad_only_ours", |b| b.iter(|| black_box(vad_ours(&x))));
    group.bench_function("vad_only_earshot", |b| {
        b.iter(|| black_box(vad_earshot(&x)))
    });
    group.finish();
}

/// One analysis of `x`; returns the segment count.
fn analyze(x: &[f32], cfg: AnalyzerConfig) -> usize {
    let mut analyzer = Analyzer::new(cfg).expect("config");
    let mut out = SegmentCollector::default();
    for chunk in x.chunks(4096) {
        analyzer.push(black_box(chunk), &mut out);
    }
    analyzer.finish(&mut out);
    out.0.len()
}

/// Our voice detector over every 16 ms block of `x`; returns the sum of the scores.
fn vad_ours(x: &[f32]) -> f32 {
    let mut vad = VoiceDetector::new();
    x.chunks_exact(BLOCK).map(|b| vad.score(black_box(b))).sum()
}

/// earshot's own `Detector` (its FFT and mel front end, the same predictor) over the same
/// blocks; returns the sum of the scores.
fn vad_earshot(x: &[f32]) -> f32 {
    let mut vad = earshot::Detector::default_boxed();
    x.chunks_exact(BLOCK)
        .map(|b| vad.predict_f32(black_box(b)))
        .sum()
}

/// `MMPROMPT_BENCH_QUICK=N`: instead of criterion, run each case N times and print the
/// minimum and median wall time and ×realtime. With machines shared by other builds, the
/// minimum of many runs is the steadiest figure to compare before and after a change.
/// `MMPROMPT_BENCH_SECONDS=S` shortens the signal to its first S seconds (e.g. under
/// callgrind); `MMPROMPT_BENCH_ONLY=with_vad|no_vad|vad_ours|vad_earshot` runs one case.
fn quick(runs: usize) {
    let mut x = signal();
    if let Some(s) = std::env::var("MMPROMPT_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        x.truncate(s * 16_000);
    }
    let secs = x.len() as f64 / 16_000.0;
    let only = std::env::var("MMPROMPT_BENCH_ONLY").unwrap_or_default();
    let cases: [(&str, &dyn Fn() -> f32); 4] = [
        ("with_vad", &|| analyze(&x, with_vad(true)) as f32),
        ("no_vad", &|| analyze(&x, with_vad(false)) as f32),
        ("vad_ours", &|| vad_ours(&x)),
        ("vad_earshot", &|| vad_earshot(&x)),
    ];
    for (name, case) in cases {
        if !only.is_empty() && only != name {
            continue;
        }
        let mut times: Vec<f64> = (0..runs.max(1))
            .map(|_| {
                let t = std::time::Instant::now();
                black_box(case());
                t.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let (min, med) = (times[0], times[times.len() / 2]);
        println!(
            "{name:>11}: min {:7.3} ms ({:6.0}x realtime)  median {:7.3} ms ({:6.0}x)",
            min * 1e3,
            secs / min,
            med * 1e3,
            secs / med
        );
    }
}

fn with_vad(vad: bool) -> AnalyzerConfig {
    AnalyzerConfig {
        vad,
        ..AnalyzerConfig::default()
    }
}

criterion_group!(benches, bench);

fn main() {
    match std::env::var("MMPROMPT_BENCH_QUICK")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(runs) => quick(runs),
        None => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
