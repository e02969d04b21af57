//! Analysis throughput on 16 kHz mono (features, labels and segments; decoding excluded).
//! The acceptance bar is 5000× realtime on one core: 60 s of audio in at most 12 ms.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
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
        let cfg = AnalyzerConfig {
            vad,
            ..AnalyzerConfig::default()
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut analyzer = Analyzer::new(cfg).expect("config");
                let mut out = SegmentCollector::default();
                for chunk in x.chunks(4096) {
                    analyzer.push(black_box(chunk), &mut out);
                }
                analyzer.finish(&mut out);
                black_box(out.0.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
