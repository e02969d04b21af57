//! Border following on realistic masks (Otsu-thresholded synthetic shapes, rings,
//! speckle and noise) at 640x480, 1920x1080 and 3840x2160.
//!
//! `cargo bench --bench contours`; compare with OpenCV through
//! `python3 benches/contours_vs_opencv.py`, which times both sides on the same masks.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mmprompt::vision::contours::{find_contours, ContourFinder};
use std::hint::black_box;
use std::time::Duration;

// The mask generator lives in the example so the OpenCV comparison renders the very
// same images; its `main` is unused here.
#[path = "../examples/time_contours.rs"]
#[allow(dead_code)]
mod time_contours;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("contours");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for (w, h) in time_contours::DEFAULT_SIZES {
        let mask = time_contours::synthetic_mask(w, h);
        let size = format!("{w}x{h}");
        group.throughput(Throughput::Elements(u64::from(w) * u64::from(h)));
        let mut finder = ContourFinder::new();
        let mut out = Vec::new();
        group.bench_with_input(BenchmarkId::new("reused_finder", &size), &mask, |b, m| {
            b.iter(|| {
                finder.find_into(black_box(m), &mut out);
                black_box(out.len())
            })
        });
        group.bench_with_input(BenchmarkId::new("find_contours", &size), &mask, |b, m| {
            b.iter(|| find_contours(black_box(m)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
