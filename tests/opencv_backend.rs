//! Differential tests: the OpenCV backend against the Rust one on a generated corpus.
//!
//! Every stage that both implement bit-exactly (grayscale, blur, Otsu, fixed and
//! adaptive thresholds, border following) is compared pixel for pixel and point for
//! point, and whole documents are compared minus the `generator` block. Canny is the
//! one stage that differs (see `mmprompt::vision::backend::opencv`): for it both backends are
//! fed OpenCV's edge mask and must agree from there on. JPEG decoding differs too, so
//! for JPEG the comparison starts from the decoded pixels.
#![cfg(feature = "opencv")]

mod common;

use common::{png_bytes, root, sample_images};
use image::{GrayImage, Rgb, RgbImage};
use mmprompt::doc::{self, ContextMode, SourceInfo};
use mmprompt::media::image::{decode_bytes, DecodeOptions};
use mmprompt::vision::backend::opencv as cvb;
use mmprompt::vision::contours::find_contours;
use mmprompt::vision::pipeline::{analyze_image, Backend, ImageAnalysis, ImageParams};
use mmprompt::vision::preprocess::{binarize, gaussian_blur, to_gray, Invert, Threshold};
use mmprompt::vision::regions::{analyze, MinArea, RegionOptions};
use serde_json::Value;

/// xorshift64*: a seeded generator, so the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n.max(1))) as u32
    }
    fn color(&mut self) -> Rgb<u8> {
        Rgb([
            self.below(256) as u8,
            self.below(256) as u8,
            self.below(256) as u8,
        ])
    }
}

/// One generated picture: a background, then rectangles, discs and rings (holes with
/// islands inside), some hanging over the edges, then salt-and-pepper noise.
fn picture(rng: &mut Rng) -> RgbImage {
    let (w, h) = (16 + rng.below(180), 12 + rng.below(140));
    let mut img = RgbImage::from_pixel(w, h, rng.color());
    for _ in 0..1 + rng.below(7) {
        let c = rng.color();
        let (cx, cy) = (rng.below(w + 20) as i64 - 10, rng.below(h + 20) as i64 - 10);
        let r = 2 + i64::from(rng.below(w.min(h) / 2 + 2));
        match rng.below(3) {
            0 => {
                let (rw, rh) = (r, 1 + i64::from(rng.below(h)));
                for y in cy.max(0)..(cy + rh).min(i64::from(h)) {
                    for x in cx.max(0)..(cx + rw).min(i64::from(w)) {
                        img.put_pixel(x as u32, y as u32, c);
                    }
                }
            }
            kind => {
                // A disc, or a ring whose hole holds a smaller disc (nested holes).
                let inner = r / 2;
                let island = r / 5;
                let hole = rng.color();
                for y in (cy - r).max(0)..(cy + r + 1).min(i64::from(h)) {
                    for x in (cx - r).max(0)..(cx + r + 1).min(i64::from(w)) {
                        let d = (x - cx) * (x - cx) + (y - cy) * (y - cy);
                        let p = if d > r * r {
                            continue;
                        } else if kind == 2 && d <= island * island {
                            c
                        } else if kind == 2 && d <= inner * inner {
                            hole
                        } else {
                            c
                        };
                        img.put_pixel(x as u32, y as u32, p);
                    }
                }
            }
        }
    }
    let noise = rng.below(4) * (w * h) / 40;
    for _ in 0..noise {
        let (x, y) = (rng.below(w), rng.below(h));
        let c = if rng.below(2) == 0 { 0 } else { 255 };
        img.put_pixel(x, y, Rgb([c, c, c]));
    }
    img
}

/// The corpus: generated pictures plus degenerate sizes and flat images.
fn corpus() -> Vec<(String, RgbImage)> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out: Vec<(String, RgbImage)> = (0..24)
        .map(|i| (format!("random-{i}"), picture(&mut rng)))
        .collect();
    for (w, h) in [(1, 1), (1, 9), (9, 1), (2, 3), (3, 3)] {
        out.push((
            format!("tiny-{w}x{h}"),
            RgbImage::from_fn(w, h, |x, y| Rgb([(x * 90 + y * 40) as u8, 80, 200])),
        ));
    }
    out.push((
        "flat".into(),
        RgbImage::from_pixel(30, 20, Rgb([90, 90, 90])),
    ));
    out.push((
        "all-edge".into(),
        RgbImage::from_fn(30, 20, |x, y| {
            let inside = (3..27).contains(&x) && (3..17).contains(&y);
            Rgb(if inside { [255; 3] } else { [0; 3] })
        }),
    ));
    out
}

fn thresholds() -> Vec<Threshold> {
    vec![
        Threshold::Otsu,
        Threshold::Fixed(0),
        Threshold::Fixed(100),
        Threshold::Fixed(200),
        Threshold::Fixed(255),
        Threshold::Adaptive { block: 3, c: 0.0 },
        Threshold::Adaptive { block: 15, c: 5.0 },
        Threshold::Adaptive { block: 31, c: -3.5 },
        Threshold::Adaptive { block: 301, c: 2.2 },
        Threshold::Canny {
            low: 50.0,
            high: 150.0,
        },
        Threshold::Canny {
            low: 20.0,
            high: 60.0,
        },
    ]
}

fn keep_all() -> RegionOptions {
    RegionOptions {
        max_regions: 0,
        min_area: MinArea::Pixels(0),
        holes: true,
    }
}

fn doc_without_generator(analysis: &ImageAnalysis, params: &ImageParams) -> Value {
    let source = SourceInfo {
        content_url: "corpus.png".into(),
        mime: "image/png".into(),
        sha256: "0".repeat(64),
        byte_len: 0,
    };
    let mut doc = doc::image_document(&source, analysis, params, ContextMode::Reference);
    doc.as_object_mut().expect("object").remove("generator");
    doc
}

fn gray_of(mat: &opencv::core::Mat) -> GrayImage {
    cvb::mat_to_gray(mat).expect("8-bit one-channel Mat")
}

#[test]
fn every_stage_and_document_agree_on_the_corpus() {
    let mut canny_masks_differing = 0;
    let mut checked = 0;
    for (name, rgb) in corpus() {
        let color = cvb::rgb_to_mat(&rgb).expect("Mat from RGB");
        let gray = to_gray(&rgb);
        let cv_gray = cvb::to_gray(&color).expect("cvtColor");
        assert_eq!(gray, gray_of(&cv_gray), "{name}: grayscale");
        for blur in [0.0f32, 1.0, 2.3] {
            let blurred = gaussian_blur(&gray, blur);
            let cv_blurred = cvb::gaussian_blur(&cv_gray, blur).expect("GaussianBlur");
            assert_eq!(blurred, gray_of(&cv_blurred), "{name}: blur {blur}");
            for threshold in thresholds() {
                let canny = matches!(threshold, Threshold::Canny { .. });
                // Canny ignores the polarity.
                let inverts: &[Invert] = if canny {
                    &[Invert::Auto]
                } else {
                    &[Invert::Auto, Invert::Yes, Invert::No]
                };
                for &invert in inverts {
                    let what = format!("{name}: blur {blur}, {threshold}, invert {invert}");
                    let bin = binarize(&blurred, threshold, invert);
                    let cv_bin = cvb::binarize(&cv_blurred, threshold, invert).expect("threshold");
                    let cv_mask = gray_of(&cv_bin.mask);
                    if canny {
                        canny_masks_differing += usize::from(bin.mask != cv_mask);
                    } else {
                        assert_eq!(bin.mask, cv_mask, "{what}: mask");
                        assert_eq!(bin.threshold, cv_bin.threshold, "{what}: threshold");
                        assert_eq!(bin.inverted, cv_bin.inverted, "{what}: polarity");
                    }
                    // From the binary image on, both must agree whatever made the mask.
                    let contours = find_contours(&cv_mask);
                    let cv_contours = cvb::find_contours(&cv_bin.mask).expect("findContours");
                    assert_eq!(contours, cv_contours, "{what}: borders");
                    let regions = analyze(&rgb, &gray, &cv_mask, &contours, &keep_all());
                    let cv_regions = analyze(&rgb, &gray, &cv_mask, &cv_contours, &keep_all());
                    assert_eq!(format!("{regions:?}"), format!("{cv_regions:?}"), "{what}");

                    let params = ImageParams {
                        blur,
                        threshold,
                        invert,
                        regions: keep_all(),
                        ..thresholded()
                    };
                    let cv_params = ImageParams {
                        backend: Backend::Opencv,
                        ..params.clone()
                    };
                    if !canny {
                        let ours =
                            analyze_image(&rgb, &params).expect("the Rust backend cannot fail");
                        let theirs = analyze_image(&rgb, &cv_params).expect("OpenCV runs");
                        assert_eq!(
                            doc_without_generator(&ours, &params),
                            doc_without_generator(&theirs, &cv_params),
                            "{what}: document"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1500, "only {checked} cases");
    // Canny differs by design; the count only shows the check above had work to do.
    eprintln!("{checked} cases; {canny_masks_differing} Canny masks differ between backends");
}

#[test]
fn default_parameters_give_the_same_documents_on_the_samples() {
    for rel in sample_images() {
        let bytes = std::fs::read(root().join(&rel)).expect("sample readable");
        let ours = decode_bytes(&bytes, &DecodeOptions::default()).expect("decodes");
        let theirs = cvb::decode_bytes(&bytes, &DecodeOptions::default()).expect("OpenCV decodes");
        assert_eq!((ours.mime, &ours.sha256), (theirs.mime, &theirs.sha256));
        assert_eq!(ours.rgb.dimensions(), theirs.rgb.dimensions(), "{rel:?}");
        let jpeg = ours.mime == "image/jpeg";
        if jpeg {
            // Different IDCT and upsampling: close, not equal.
            let diff: u64 = ours
                .rgb
                .as_raw()
                .iter()
                .zip(theirs.rgb.as_raw())
                .map(|(&a, &b)| u64::from(a.abs_diff(b)))
                .sum();
            let mean = diff as f64 / ours.rgb.as_raw().len() as f64;
            assert!(mean < 2.0, "{rel:?}: mean decode difference {mean}");
        } else {
            assert!(ours.rgb == theirs.rgb, "{rel:?}: decoded pixels differ");
        }
        // From the decoded pixels on, the default pipeline agrees.
        let params = thresholded();
        let cv_params = ImageParams {
            backend: Backend::Opencv,
            ..thresholded()
        };
        let a = analyze_image(&ours.rgb, &params).expect("the Rust backend cannot fail");
        let b = analyze_image(&ours.rgb, &cv_params).expect("OpenCV runs");
        assert_eq!(
            doc_without_generator(&a, &params),
            doc_without_generator(&b, &cv_params),
            "{rel:?}"
        );
    }
}

#[test]
fn whole_files_give_the_same_documents_but_for_the_generator() {
    use mmprompt::jobs::extract::{extract_file, ExtractOptions};
    for rel in sample_images() {
        if rel.extension().is_some_and(|e| e == "jpg") {
            continue; // JPEG decoders differ; covered from the pixels on above.
        }
        let path = root().join(&rel);
        let url = rel.to_string_lossy();
        let rust = extract_file(&path, &url, &ExtractOptions::default()).expect("Rust extracts");
        let mut options = ExtractOptions::default();
        options.image.backend = Backend::Opencv;
        let cv = extract_file(&path, &url, &options).expect("OpenCV extracts");
        assert_eq!(rust.text, cv.text, "{rel:?}");
        let (mut a, mut b) = (rust.document, cv.document);
        let mut ga = a
            .as_object_mut()
            .expect("object")
            .remove("generator")
            .expect("generator");
        let mut gb = b
            .as_object_mut()
            .expect("object")
            .remove("generator")
            .expect("generator");
        assert_eq!(a, b, "{rel:?}");
        // The generator differs by the backend's name alone.
        assert_eq!(gb["parameters"]["backend"], "opencv");
        gb["parameters"]
            .as_object_mut()
            .expect("object")
            .remove("backend");
        ga["parameters"]
            .as_object_mut()
            .expect("object")
            .remove("backend");
        assert_eq!(ga, gb, "{rel:?}");
    }
}

/// A PNG with the given colour type and bit depth, written with the `image` encoder.
fn encode(img: image::DynamicImage) -> Vec<u8> {
    let mut v = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Png)
        .expect("PNG encodes");
    v
}

#[test]
fn lossless_variants_decode_to_the_same_pixels() {
    let mut rng = Rng(7);
    let rgb = picture(&mut rng);
    let (w, h) = rgb.dimensions();
    let rgba = image::RgbaImage::from_fn(w, h, |x, y| {
        let p = rgb.get_pixel(x, y).0;
        image::Rgba([p[0], p[1], p[2], ((x * 7 + y * 3) % 256) as u8])
    });
    let rgb16 = image::ImageBuffer::<Rgb<u16>, Vec<u16>>::from_fn(w, h, |x, y| {
        let p = rgb.get_pixel(x, y).0;
        // Low bytes that are not copies of the high ones exercise the 16-to-8-bit rounding.
        Rgb([
            (u16::from(p[0]) * 257).saturating_sub((x % 200) as u16),
            u16::from(p[1]) * 250,
            u16::from(p[2]) * 3,
        ])
    });
    let gray = image::DynamicImage::ImageRgb8(rgb.clone()).into_luma8();
    let cases = [
        ("rgb8", png_bytes(&rgb)),
        (
            "rgba8",
            encode(image::DynamicImage::ImageRgba8(rgba.clone())),
        ),
        ("rgb16", encode(image::DynamicImage::ImageRgb16(rgb16))),
        (
            "gray8",
            encode(image::DynamicImage::ImageLuma8(gray.clone())),
        ),
        (
            "gray-alpha",
            encode(
                image::DynamicImage::ImageRgba8(rgba)
                    .into_luma_alpha8()
                    .into(),
            ),
        ),
        ("bmp", {
            let mut v = Vec::new();
            rgb.write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Bmp)
                .expect("BMP encodes");
            v
        }),
        ("tiff", {
            let mut v = Vec::new();
            rgb.write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Tiff)
                .expect("TIFF encodes");
            v
        }),
    ];
    for (name, bytes) in cases {
        let ours = decode_bytes(&bytes, &DecodeOptions::default()).expect("decodes");
        let theirs = cvb::decode_bytes(&bytes, &DecodeOptions::default())
            .unwrap_or_else(|e| panic!("{name}: OpenCV: {e}"));
        assert!(ours.rgb == theirs.rgb, "{name}: pixels differ");
    }
}

#[test]
fn decoding_refuses_what_the_rust_decoder_refuses() {
    let png = png_bytes(&RgbImage::new(20, 10));
    let small = DecodeOptions {
        max_pixels: 199,
        ..DecodeOptions::default()
    };
    let err = cvb::decode_bytes(&png, &small).expect_err("over the cap");
    assert_eq!(err.code(), "too_large");
    let err =
        cvb::decode_bytes(&png[..png.len() / 2], &DecodeOptions::default()).expect_err("truncated");
    assert!(matches!(err.code(), "corrupt"), "{err}");
    assert_eq!(
        cvb::decode_bytes(b"not an image", &DecodeOptions::default())
            .expect_err("unknown")
            .code(),
        "unknown_format"
    );
    let mut gif = Vec::new();
    image::DynamicImage::ImageRgb8(RgbImage::new(4, 4))
        .into_rgba8()
        .write_to(&mut std::io::Cursor::new(&mut gif), image::ImageFormat::Gif)
        .expect("GIF encodes");
    let err = cvb::decode_bytes(&gif, &DecodeOptions::default()).expect_err("GIF");
    assert_eq!(err.code(), "unsupported", "{err}");
}

/// `img` as a JPEG whose EXIF block holds only the Orientation tag.
fn jpeg_with_orientation(img: &RgbImage, orientation: u16) -> Vec<u8> {
    let mut plain = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut plain),
        image::ImageFormat::Jpeg,
    )
    .expect("JPEG encodes");
    // Big-endian TIFF header, one IFD entry: tag 0x0112, type SHORT, count 1.
    let mut exif =
        b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01".to_vec();
    exif.extend_from_slice(&orientation.to_be_bytes());
    exif.extend_from_slice(&[0; 6]);
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&exif);
    out.extend_from_slice(&plain[2..]);
    out
}

#[test]
fn exif_orientation_is_applied_as_the_rust_decoder_does() {
    let img = RgbImage::from_fn(40, 20, |x, _| Rgb(if x < 20 { [0; 3] } else { [255; 3] }));
    for orientation in 1..=8 {
        let bytes = jpeg_with_orientation(&img, orientation);
        let ours = decode_bytes(&bytes, &DecodeOptions::default()).expect("decodes");
        let theirs = cvb::decode_bytes(&bytes, &DecodeOptions::default()).expect("OpenCV decodes");
        assert_eq!(
            ours.rgb.dimensions(),
            theirs.rgb.dimensions(),
            "orientation {orientation}"
        );
        let far = ours
            .rgb
            .as_raw()
            .iter()
            .zip(theirs.rgb.as_raw())
            .filter(|(a, b)| a.abs_diff(**b) > 40)
            .count();
        assert_eq!(far, 0, "orientation {orientation}: pixels moved");
    }
}

/// The threshold mode, the one the OpenCV comparisons and these exact boxes are about.
fn thresholded() -> ImageParams {
    ImageParams {
        segment: mmprompt::vision::params::SegmentMode::Threshold,
        ..ImageParams::default()
    }
}
