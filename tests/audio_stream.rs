//! Chunk size never changes the analyzer's output: frames and segments are bit-identical
//! whether samples arrive one at a time, in odd chunks, or all at once.

mod audio_signals;

use audio_signals::*;
use mmprompt::audio::{analyze, AnalysisSink, Analyzer, AnalyzerConfig, Collector};
use proptest::prelude::*;

/// A few seconds exercising every label: silence, noise, a harmonic sound, a beep, clicks.
fn busy_signal(seconds: f64) -> Vec<f32> {
    let mut x = white(seconds, 0.002, 11);
    mix_at(&mut x, &harmonic(0.8, 180.0, 8, 0.4), 0.3);
    mix_at(&mut x, &sine(0.4, 1500.0, 0.3), 1.4);
    mix_at(&mut x, &pink(0.5, 0.05, 12), 2.0);
    clicks(&mut x, &[1.1, 2.7, 3.3], 0.7);
    mix_at(&mut x, &knock(0.6, 13), 3.5);
    x
}

fn run_chunked(x: &[f32], cfg: AnalyzerConfig, sizes: &[usize]) -> Collector {
    let mut analyzer = Analyzer::new(cfg).expect("config");
    let mut out = Collector::default();
    let mut rest = x;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        let (now, later) = rest.split_at(n);
        analyzer.push(now, &mut out);
        rest = later;
        i += 1;
    }
    analyzer.finish(&mut out);
    out
}

#[test]
fn chunk_sizes_give_identical_output() {
    let x = busy_signal(4.0);
    for vad in [true, false] {
        let cfg = AnalyzerConfig {
            vad,
            ..AnalyzerConfig::default()
        };
        let (whole, summary) = analyze(&x, cfg).expect("analysis");
        assert_eq!(summary.samples, x.len() as u64);
        assert!(whole.segments.len() >= 4, "{:?}", whole.segments);
        for size in [1usize, 7, 160, 4096] {
            let chunked = run_chunked(&x, cfg, &[size]);
            assert!(
                chunked == whole,
                "vad={vad}: chunks of {size} differ from one push"
            );
        }
    }
}

#[test]
fn empty_pushes_change_nothing() {
    let x = busy_signal(1.0);
    let cfg = AnalyzerConfig::default();
    let (whole, _) = analyze(&x, cfg).expect("analysis");
    let mut analyzer = Analyzer::new(cfg).expect("config");
    let mut out = Collector::default();
    for chunk in x.chunks(333) {
        analyzer.push(&[], &mut out);
        analyzer.push(chunk, &mut out);
    }
    analyzer.finish(&mut out);
    assert!(out == whole);
}

/// Segments reach the sink as soon as they close, before the stream ends.
#[test]
fn segments_close_while_streaming() {
    struct Count(usize);
    impl AnalysisSink for Count {
        fn on_segment(&mut self, _: mmprompt::audio::Segment) {
            self.0 += 1;
        }
    }
    // Labels come out `lookahead_s` (1 s) after their frame, so the stream runs on past the
    // last event (at 3.5 s) long enough for the segments before it to be decided.
    let x = busy_signal(6.0);
    let mut analyzer = Analyzer::new(AnalyzerConfig::default()).expect("config");
    let mut sink = Count(0);
    analyzer.push(&x, &mut sink);
    let before_finish = sink.0;
    analyzer.finish(&mut sink);
    assert!(before_finish >= 3 && sink.0 == before_finish + 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn any_chunking_is_invariant(sizes in proptest::collection::vec(1usize..2000, 1..12), seed in 0u64..1000) {
        let mut x = white(1.2, 0.003, seed);
        mix_at(&mut x, &sine(0.3, 700.0 + seed as f64, 0.4), 0.4);
        clicks(&mut x, &[0.9], 0.8);
        let cfg = AnalyzerConfig::default();
        let (whole, _) = analyze(&x, cfg).expect("analysis");
        let chunked = run_chunked(&x, cfg, &sizes);
        prop_assert!(chunked == whole);
    }
}
