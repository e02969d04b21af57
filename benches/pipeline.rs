//! Decode, serialisation and the whole per-image path (decode → regions → JSON-LD text) at
//! 640×480, 1920×1080 and 3840×2160, on a real photo (samples/rocket.jpg) scaled to size.
//!
//! `cargo bench --bench pipeline`. `benches/vs_opencv.py` runs the same path beside the
//! OpenCV pipeline in one run and prints the ratio.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use image::{imageops::FilterType, ImageFormat, RgbImage};
use mmprompt::doc::{image_document, ContextMode, SourceInfo};
use mmprompt::media::image::{decode_bytes, DecodeOptions};
use mmprompt::vision::pipeline::{analyze_image, ImageParams};
use std::hint::black_box;
use std::io::Cursor;

const SIZES: [(u32, u32); 3] = [(640, 480), (1920, 1080), (3840, 2160)];

fn photo(w: u32, h: u32) -> RgbImage {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/rocket.jpg");
    let src = image::open(path)
        .expect("samples/rocket.jpg decodes")
        .into_rgb8();
    image::imageops::resize(&src, w, h, FilterType::Triangle)
}

fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format)
        .expect("encodes");
    out
}

fn source(bytes: &[u8], mime: &str) -> SourceInfo {
    SourceInfo {
        content_url: "bench.png".into(),
        mime: mime.into(),
        sha256: mmprompt::media::image::sha256_hex(bytes),
        byte_len: bytes.len() as u64,
    }
}

fn bench(c: &mut Criterion) {
    let params = ImageParams::default();
    let opts = DecodeOptions::default();
    for (w, h) in SIZES {
        let img = photo(w, h);
        let png = encode(&img, ImageFormat::Png);
        let jpg = encode(&img, ImageFormat::Jpeg);
        let size = format!("{w}x{h}");
        let mut g = c.benchmark_group("decode");
        g.throughput(Throughput::Elements(u64::from(w * h)));
        g.sample_size(10);
        g.bench_with_input(BenchmarkId::new("png", &size), &png, |b, bytes| {
            b.iter(|| decode_bytes(black_box(bytes), &opts).expect("decodes"))
        });
        g.bench_with_input(BenchmarkId::new("jpeg", &size), &jpg, |b, bytes| {
            b.iter(|| decode_bytes(black_box(bytes), &opts).expect("decodes"))
        });
        g.finish();

        let analysis = analyze_image(&img, &params).expect("the Rust backend cannot fail");
        let src = source(&png, "image/png");
        let mut g = c.benchmark_group("serialize");
        g.throughput(Throughput::Elements(analysis.regions.len() as u64));
        g.bench_function(BenchmarkId::new("jsonld", &size), |b| {
            b.iter(|| {
                let doc =
                    image_document(&src, black_box(&analysis), &params, ContextMode::Reference);
                serde_json::to_string_pretty(&doc).expect("serialises")
            })
        });
        g.finish();

        let mut g = c.benchmark_group("whole");
        g.throughput(Throughput::Elements(u64::from(w * h)));
        g.sample_size(10);
        g.bench_with_input(
            BenchmarkId::new("png_to_jsonld", &size),
            &png,
            |b, bytes| {
                b.iter(|| {
                    let decoded = decode_bytes(black_box(bytes), &opts).expect("decodes");
                    let analysis =
                        analyze_image(&decoded.rgb, &params).expect("the Rust backend cannot fail");
                    let doc = image_document(&src, &analysis, &params, ContextMode::Reference);
                    serde_json::to_string_pretty(&doc).expect("serialises")
                })
            },
        );
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
