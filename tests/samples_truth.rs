//! The synthetic samples have exact truth (see samples/make_shapes.py); the regions found in
//! them must say exactly that.

mod common;

use mmprompt::doc::{region_id, region_label};
use mmprompt::media::image::{decode_file, DecodeOptions};
use mmprompt::vision::contours::BorderKind;
use mmprompt::vision::pipeline::{analyze_image, ImageAnalysis, ImageParams};
use mmprompt::vision::regions::{Rect, RegionOptions};

fn analyze(name: &str, params: &ImageParams) -> ImageAnalysis {
    let img = decode_file(
        &common::root().join("samples").join(name),
        &DecodeOptions::default(),
    )
    .unwrap();
    analyze_image(&img.rgb, params).expect("the Rust backend cannot fail")
}

/// The default blur shaves one-pixel tips (a rasterised circle's extremes, a triangle's
/// apex): with it a box may move by up to two pixels; without it boxes are exact.
fn assert_box_near(got: Rect, want: (u32, u32, u32, u32), what: &str) {
    let close = |a: u32, b: u32| a.abs_diff(b) <= 2;
    assert!(
        close(got.x, want.0)
            && close(got.y, want.1)
            && close(got.w, want.2)
            && close(got.h, want.3),
        "{what}: box {got:?}, want {want:?}"
    );
}

#[test]
fn shapes_png_has_four_named_shapes() {
    let a = analyze("shapes.png", &thresholded());
    assert_eq!((a.width, a.height), (640, 480));
    assert!(
        a.inverted,
        "dark shapes on white: the dark side is the foreground"
    );
    assert_four_shapes(&a);
    // Exact with the blur off.
    let sharp = analyze(
        "shapes.png",
        &ImageParams {
            blur: 0.0,
            ..thresholded()
        },
    );
    let mut boxes: Vec<_> = sharp
        .regions
        .iter()
        .map(|r| (r.bbox.x, r.bbox.y, r.bbox.w, r.bbox.h))
        .collect();
    boxes.sort_by_key(|b| (b.1 / 200, b.0));
    assert_eq!(boxes, SHAPES.map(|w| w.3));
    let square = sharp
        .regions
        .iter()
        .find(|r| region_label(r) == "object:square")
        .unwrap();
    assert_eq!(
        square.bbox,
        Rect {
            x: 360,
            y: 60,
            w: 120,
            h: 120
        }
    );
    assert_eq!(square.pixel_count, 120 * 120);
    assert_eq!(square.mean_color, [30, 60, 200]);
}

#[test]
fn nested_png_reports_nesting_and_holes() {
    let a = analyze("nested.png", &thresholded());
    assert_eq!(a.regions.len(), 2, "{:#?}", a.regions);
    let frame = a.regions.iter().position(|r| r.holes == 1).unwrap();
    let island = 1 - frame;
    assert_box_near(a.regions[frame].bbox, (50, 40, 300, 220), "frame");
    assert_box_near(a.regions[island].bbox, (160, 110, 81, 81), "island");
    assert_eq!(region_label(&a.regions[island]), "object:circle");
    assert_eq!(a.regions[island].parent, Some(frame));
    assert_eq!(a.regions[frame].parent, None);
    assert_eq!(region_id(frame), "r1", "the big frame is the most salient");

    let with_holes = analyze(
        "nested.png",
        &ImageParams {
            regions: RegionOptions {
                holes: true,
                ..RegionOptions::default()
            },
            ..thresholded()
        },
    );
    assert_eq!(with_holes.regions.len(), 3);
    let hole = with_holes
        .regions
        .iter()
        .position(|r| r.kind == BorderKind::Hole)
        .unwrap();
    assert_eq!(region_label(&with_holes.regions[hole]), "hole:rectangle");
    // As in OpenCV, a hole's border is the ring of foreground pixels around it, one pixel
    // outside the hole's own box (90,80,220,140).
    let hole_box = with_holes.regions[hole].bbox;
    assert_box_near(hole_box, (89, 79, 222, 142), "hole");
    let island = with_holes
        .regions
        .iter()
        .position(|r| region_label(r) == "object:circle")
        .unwrap();
    assert_eq!(with_holes.regions[island].parent, Some(hole));
}

#[test]
fn max_regions_and_min_area_filter() {
    let keep_one = analyze(
        "shapes.png",
        &ImageParams {
            regions: RegionOptions {
                max_regions: 1,
                ..RegionOptions::default()
            },
            ..thresholded()
        },
    );
    assert_eq!(keep_one.regions.len(), 1);
    // The purple rectangle (22000 px) is the largest shape: min-area 20000 keeps only it.
    let big_only = analyze(
        "shapes.png",
        &ImageParams {
            regions: RegionOptions {
                min_area: mmprompt::vision::regions::MinArea::Pixels(20_000),
                ..RegionOptions::default()
            },
            ..thresholded()
        },
    );
    assert_eq!(big_only.regions.len(), 1);
    assert_eq!(region_label(&big_only.regions[0]), "object:rectangle");
}

/// The threshold mode, the one the OpenCV comparisons and these exact boxes are about.
fn thresholded() -> ImageParams {
    ImageParams {
        segment: mmprompt::vision::params::SegmentMode::Threshold,
        ..ImageParams::default()
    }
}

/// The colour mode names the same four shapes with the same words, and reports nothing
/// else: no background, no blended rims.
#[test]
fn color_mode_finds_the_four_shapes_and_nothing_else() {
    assert_four_shapes(&analyze("shapes.png", &ImageParams::default()));
}

/// The shapes of shapes.png in reading order: label, colour, position and box.
/// Label, colour, position and box (x, y, w, h) of one shape.
type Named = (
    &'static str,
    &'static str,
    &'static str,
    (u32, u32, u32, u32),
);

const SHAPES: [Named; 4] = [
    ("object:circle", "red", "top-left", (70, 60, 141, 141)),
    ("object:square", "blue", "top-center", (360, 60, 120, 120)),
    (
        "object:triangle",
        "green",
        "bottom-left",
        (100, 280, 161, 141),
    ),
    (
        "object:rectangle",
        "purple",
        "bottom-right",
        (380, 300, 220, 100),
    ),
];

/// shapes.png holds exactly these four shapes, with these words and (give or take the
/// blur) these boxes.
fn assert_four_shapes(a: &ImageAnalysis) {
    let mut found: Vec<_> = a
        .regions
        .iter()
        .map(|r| (region_label(r), r.color_name, r.position.as_str(), r.bbox))
        .collect();
    found.sort_by_key(|f| (f.3.y / 200, f.3.x));
    let want = SHAPES;
    assert_eq!(found.len(), want.len(), "{found:#?}");
    for (got, want) in found.iter().zip(want) {
        assert_eq!((got.0.as_str(), got.1, got.2), (want.0, want.1, want.2));
        assert_box_near(got.3, want.3, want.0);
    }
}

/// Nesting survives the colour mode: the disc lies inside the frame's inner field,
/// which lies inside the frame.
#[test]
fn color_mode_keeps_nesting() {
    let a = analyze("nested.png", &ImageParams::default());
    let find = |want: (u32, u32, u32, u32)| {
        a.regions
            .iter()
            .position(|r| {
                let b = r.bbox;
                b.x.abs_diff(want.0) <= 2
                    && b.y.abs_diff(want.1) <= 2
                    && b.w.abs_diff(want.2) <= 4
                    && b.h.abs_diff(want.3) <= 4
            })
            .unwrap_or_else(|| panic!("no region near {want:?}: {:#?}", a.regions))
    };
    let frame = find((50, 40, 300, 220));
    let field = find((90, 80, 220, 140));
    let disc = find((160, 110, 81, 81));
    assert_eq!(region_label(&a.regions[disc]), "object:circle");
    assert_eq!(a.regions[disc].parent, Some(field));
    assert_eq!(a.regions[field].parent, Some(frame));
    assert_eq!(a.regions[frame].parent, None);
}

/// All 24 coins of coins.png are distinct regions among the 30 best. The reference
/// boxes come from scikit-image's own coins tutorial (tests/regions/coins_truth.json
/// says how).
#[test]
fn color_mode_finds_every_coin() {
    let truth: serde_json::Value = serde_json::from_slice(
        &std::fs::read(common::root().join("tests/regions/coins_truth.json")).unwrap(),
    )
    .unwrap();
    let coins: Vec<[f64; 4]> = truth["coins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let b = &c["bbox"];
            [0, 1, 2, 3].map(|i| b[i].as_f64().unwrap())
        })
        .collect();
    assert_eq!(coins.len(), 24);
    let a = analyze("coins.png", &ImageParams::default());
    let iou = |r: &Rect, c: &[f64; 4]| {
        let (rx, ry, rw, rh) = (
            f64::from(r.x),
            f64::from(r.y),
            f64::from(r.w),
            f64::from(r.h),
        );
        let ix = ((rx + rw).min(c[0] + c[2]) - rx.max(c[0])).max(0.0);
        let iy = ((ry + rh).min(c[1] + c[3]) - ry.max(c[1])).max(0.0);
        ix * iy / (rw * rh + c[2] * c[3] - ix * iy)
    };
    // Greedy one-to-one matching, best pairs first.
    let top: Vec<&Rect> = a.regions.iter().take(30).map(|r| &r.bbox).collect();
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (i, r) in top.iter().enumerate() {
        for (j, c) in coins.iter().enumerate() {
            let v = iou(r, c);
            if v >= 0.5 {
                pairs.push((v, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut used_r, mut used_c) = (vec![false; top.len()], vec![false; coins.len()]);
    let mut matched = 0;
    for (_, i, j) in pairs {
        if !used_r[i] && !used_c[j] {
            used_r[i] = true;
            used_c[j] = true;
            matched += 1;
        }
    }
    let missing: Vec<&[f64; 4]> = coins
        .iter()
        .zip(&used_c)
        .filter(|(_, u)| !**u)
        .map(|(c, _)| c)
        .collect();
    assert_eq!(matched, 24, "coins not found among the top 30: {missing:?}");
}
