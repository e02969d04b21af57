//! Throughput of the vision stages on a deterministic synthetic scene at three sizes.
//!
//! `cargo bench --bench vision`; compare with OpenCV using the same scene (see the
//! `scene` function) and `cv2.GaussianBlur(g, (0, 0), 1.0)` + `cv2.threshold(..,
//! THRESH_OTSU)`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use image::{GrayImage, RgbImage};
use mmprompt::vision::contours::find_contours;
use mmprompt::vision::preprocess::{binarize, gaussian_blur, to_gray, Invert, Threshold};
use mmprompt::vision::regions::{analyze, RegionOptions};
use std::hint::black_box;

const SIZES: [(u32, u32); 3] = [(640, 480), (1920, 1080), (3840, 2160)];

/// A gradient background with a grid of filled discs, boxes and triangles in several
/// colours, plus deterministic noise, so every stage has realistic work.
pub fn scene(w: u32, h: u32) -> RgbImage {
    let mut img = RgbImage::new(w, h);
    let mut seed = 0x2545_f491_u32;
    let cell = (w.min(h) / 6).max(8) as i64;
    let palette = [
        [220, 40, 40],
        [40, 160, 60],
        [40, 70, 200],
        [230, 200, 40],
        [30, 30, 30],
    ];
    for y in 0..h {
        for x in 0..w {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = ((seed >> 24) % 17) as i64 - 8;
            let (xi, yi) = (x as i64, y as i64);
            let (cx, cy) = (xi / cell, yi / cell);
            let (lx, ly) = (xi % cell - cell / 2, yi % cell - cell / 2);
            let r = cell * 3 / 10;
            let inside = match (cx + cy) % 3 {
                0 => lx * lx + ly * ly < r * r,
                1 => lx.abs() < r && ly.abs() < r * 2 / 3,
                _ => ly < r && ly > -r && 2 * lx.abs() < (r - ly),
            };
            let base = if inside {
                palette[((cx * 7 + cy * 3) % 5) as usize]
            } else {
                let g = 150 + (xi * 60 / w as i64) as i32;
                [g, g, g - 10]
            };
            let px = base.map(|c| (c as i64 + noise).clamp(0, 255) as u8);
            img.put_pixel(x, y, image::Rgb(px));
        }
    }
    img
}

fn bench(c: &mut Criterion) {
    for (w, h) in SIZES {
        let rgb = scene(w, h);
        let gray = to_gray(&rgb);
        let blurred = gaussian_blur(&gray, 1.0);
        let bin = binarize(&blurred, Threshold::Otsu, Invert::Auto);
        let contours = find_contours(&bin.mask);
        let id = format!("{w}x{h}");
        let mut g = c.benchmark_group("vision");
        g.throughput(Throughput::Elements(u64::from(w) * u64::from(h)));
        g.sample_size(20);
        g.bench_with_input(BenchmarkId::new("grayscale", &id), &rgb, |b, rgb| {
            b.iter(|| to_gray(black_box(rgb)))
        });
        g.bench_with_input(BenchmarkId::new("blur_sigma1", &id), &gray, |b, gray| {
            b.iter(|| gaussian_blur(black_box(gray), 1.0))
        });
        g.bench_with_input(BenchmarkId::new("otsu", &id), &blurred, |b, img| {
            b.iter(|| binarize(black_box(img), Threshold::Otsu, Invert::Auto))
        });
        g.bench_with_input(
            BenchmarkId::new("blur_plus_otsu", &id),
            &gray,
            |b, gray: &GrayImage| {
                b.iter(|| {
                    binarize(
                        &gaussian_blur(black_box(gray), 1.0),
                        Threshold::Otsu,
                        Invert::Auto,
                    )
                })
            },
        );
        let opts = RegionOptions::default();
        g.bench_with_input(BenchmarkId::new("analyze", &id), &contours, |b, cs| {
            b.iter(|| analyze(&rgb, &blurred, &bin.mask, black_box(cs), &opts))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
