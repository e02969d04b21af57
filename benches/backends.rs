//! Each pipeline stage with the Rust and the OpenCV backend on the same images.
//!
//! `cargo bench --features opencv --bench backends`; `benches/backend_ratios.py` then
//! prints the median time of each stage per backend and their ratio. Images: the PNG
//! and JPEG samples and a generated 1080p scene. The OpenCV stages run on Mats, as
//! inside the backend; `pipeline` is the whole analysis from RGB pixels to regions,
//! including the OpenCV backend's copies between Mats and Rust buffers.

use criterion::{criterion_group, criterion_main, Criterion};
use image::RgbImage;
use mmprompt::media::image::{decode_bytes, DecodeOptions};
use mmprompt::vision::backend::opencv as cvb;
use mmprompt::vision::contours::find_contours;
use mmprompt::vision::pipeline::{analyze_image, Backend, ImageParams};
use mmprompt::vision::preprocess::{binarize, gaussian_blur, to_gray, Invert, Threshold};
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

/// A 1920x1080 scene: gradient, a grid of discs and boxes with holes, light noise.
fn scene() -> RgbImage {
    let (w, h) = (1920u32, 1080u32);
    let mut seed = 0x2545_f491_u32;
    RgbImage::from_fn(w, h, |x, y| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = ((seed >> 24) % 17) as i32 - 8;
        let (lx, ly) = ((x % 180) as i32 - 90, (y % 180) as i32 - 90);
        let d = lx * lx + ly * ly;
        let inside = if (x / 180 + y / 180) % 2 == 0 {
            d < 60 * 60 && d > 25 * 25
        } else {
            lx.abs() < 55 && ly.abs() < 40
        };
        let g = if inside {
            40
        } else {
            150 + (x * 60 / w) as i32
        };
        let v = (g + noise).clamp(0, 255) as u8;
        image::Rgb([v, v, v.saturating_sub(10)])
    })
}

/// (name, encoded bytes) of every benchmarked image.
fn images() -> Vec<(String, Vec<u8>)> {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut out = Vec::new();
    for name in ["shapes.png", "coins.png", "chelsea.png", "rocket.jpg"] {
        if let Ok(bytes) = std::fs::read(samples.join(name)) {
            out.push((name.to_owned(), bytes));
        }
    }
    let mut png = Vec::new();
    scene()
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("PNG encodes");
    out.push(("scene-1080p.png".to_owned(), png));
    out
}

fn bench(c: &mut Criterion) {
    let options = DecodeOptions::default();
    let params = thresholded();
    let cv_params = ImageParams {
        backend: Backend::Opencv,
        ..thresholded()
    };
    for (name, bytes) in images() {
        let rgb = decode_bytes(&bytes, &options).expect("decodes").rgb;
        let gray = to_gray(&rgb);
        let blurred = gaussian_blur(&gray, 1.0);
        let bin = binarize(&blurred, Threshold::Otsu, Invert::Auto);
        let color = cvb::rgb_to_mat(&rgb).expect("Mat");
        let cv_gray = cvb::to_gray(&color).expect("gray");
        let cv_blurred = cvb::gaussian_blur(&cv_gray, 1.0).expect("blur");
        let cv_bin = cvb::binarize(&cv_blurred, Threshold::Otsu, Invert::Auto).expect("bin");

        let mut g = c.benchmark_group(format!("decode/{name}"));
        g.bench_function("rust", |b| {
            b.iter(|| decode_bytes(black_box(&bytes), &options))
        });
        g.bench_function("opencv", |b| {
            b.iter(|| cvb::decode_bytes(black_box(&bytes), &options))
        });
        g.finish();

        let mut g = c.benchmark_group(format!("gray/{name}"));
        g.bench_function("rust", |b| b.iter(|| to_gray(black_box(&rgb))));
        g.bench_function("opencv", |b| b.iter(|| cvb::to_gray(black_box(&color))));
        g.finish();

        let mut g = c.benchmark_group(format!("blur/{name}"));
        g.bench_function("rust", |b| b.iter(|| gaussian_blur(black_box(&gray), 1.0)));
        g.bench_function("opencv", |b| {
            b.iter(|| cvb::gaussian_blur(black_box(&cv_gray), 1.0))
        });
        g.finish();

        let mut g = c.benchmark_group(format!("threshold/{name}"));
        g.bench_function("rust", |b| {
            b.iter(|| binarize(black_box(&blurred), Threshold::Otsu, Invert::Auto))
        });
        g.bench_function("opencv", |b| {
            b.iter(|| cvb::binarize(black_box(&cv_blurred), Threshold::Otsu, Invert::Auto))
        });
        g.finish();

        let mut g = c.benchmark_group(format!("contours/{name}"));
        g.bench_function("rust", |b| b.iter(|| find_contours(black_box(&bin.mask))));
        g.bench_function("opencv", |b| {
            b.iter(|| cvb::find_contours(black_box(&cv_bin.mask)))
        });
        g.finish();

        let mut g = c.benchmark_group(format!("pipeline/{name}"));
        g.bench_function("rust", |b| {
            b.iter(|| analyze_image(black_box(&rgb), &params))
        });
        g.bench_function("opencv", |b| {
            b.iter(|| analyze_image(black_box(&rgb), &cv_params))
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);

/// The threshold mode, the one the OpenCV comparisons and these exact boxes are about.
fn thresholded() -> ImageParams {
    ImageParams {
        segment: mmprompt::vision::params::SegmentMode::Threshold,
        ..ImageParams::default()
    }
}
