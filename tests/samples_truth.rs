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
    let a = analyze("shapes.png", &ImageParams::default());
    assert_eq!((a.width, a.height), (640, 480));
    assert!(
        a.inverted,
        "dark shapes on white: the dark side is the foreground"
    );
    let mut found: Vec<_> = a
        .regions
        .iter()
        .map(|r| (region_label(r), r.color_name, r.position.as_str(), r.bbox))
        .collect();
    found.sort_by_key(|f| (f.3.y / 200, f.3.x));
    let want = [
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
    assert_eq!(found.len(), want.len(), "{found:#?}");
    for (got, want) in found.iter().zip(want) {
        assert_eq!((got.0.as_str(), got.1, got.2), (want.0, want.1, want.2));
        assert_box_near(got.3, want.3, want.0);
    }
    // Exact with the blur off.
    let sharp = analyze(
        "shapes.png",
        &ImageParams {
            blur: 0.0,
            ..ImageParams::default()
        },
    );
    let mut boxes: Vec<_> = sharp
        .regions
        .iter()
        .map(|r| (r.bbox.x, r.bbox.y, r.bbox.w, r.bbox.h))
        .collect();
    boxes.sort_by_key(|b| (b.1 / 200, b.0));
    assert_eq!(boxes, want.map(|w| w.3));
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
    let a = analyze("nested.png", &ImageParams::default());
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
            ..ImageParams::default()
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
            ..ImageParams::default()
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
            ..ImageParams::default()
        },
    );
    assert_eq!(big_only.regions.len(), 1);
    assert_eq!(region_label(&big_only.regions[0]), "object:rectangle");
}
