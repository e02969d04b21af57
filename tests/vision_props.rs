//! Property tests for the vision stages: invariants that must hold for any input.

use image::{GrayImage, Luma, Rgb, RgbImage};
use mmprompt::vision::contours::{find_contours, BorderKind};
use mmprompt::vision::measure::{
    approx_poly_dp, convex_hull, is_simple, measure, outline_iou, MIN_POLYGON_IOU,
    POLYGON_TOLERANCE,
};
use mmprompt::vision::preprocess::{binarize, gaussian_blur, to_gray, Invert, Threshold};
use mmprompt::vision::regions::{analyze, MinArea, RegionOptions};
use mmprompt::vision::Point;
use proptest::prelude::*;

/// A small mask: random filled rectangles plus salt noise, so that holes, islands,
/// diagonal contacts and one-pixel lines all occur.
fn mask_strategy() -> impl Strategy<Value = GrayImage> {
    (1u32..40, 1u32..40)
        .prop_flat_map(|(w, h)| {
            let rects = prop::collection::vec((0..w, 0..h, 1..=w, 1..=h, any::<bool>()), 0..6);
            let noise = prop::collection::vec(any::<bool>(), (w * h) as usize);
            (Just((w, h)), rects, noise, 0u8..4)
        })
        .prop_map(|((w, h), rects, noise, density)| {
            let mut img = GrayImage::new(w, h);
            for (x, y, rw, rh, on) in rects {
                for yy in y..(y + rh).min(h) {
                    for xx in x..(x + rw).min(w) {
                        img.put_pixel(xx, yy, Luma([if on { 255 } else { 0 }]));
                    }
                }
            }
            // Flip a fraction of pixels (0, 1/8, 1/4 or 3/8 of the noise draws).
            for (i, flip) in noise.into_iter().enumerate() {
                if flip && (i as u8 % 8) < density {
                    let (x, y) = (i as u32 % w, i as u32 / w);
                    let v = img.get_pixel(x, y).0[0];
                    img.put_pixel(x, y, Luma([255 - v]));
                }
            }
            img
        })
}

fn gray_strategy() -> impl Strategy<Value = GrayImage> {
    (1u32..48, 1u32..48).prop_flat_map(|(w, h)| {
        prop::collection::vec(any::<u8>(), (w * h) as usize)
            .prop_map(move |v| GrayImage::from_raw(w, h, v).expect("sized buffer"))
    })
}

fn threshold_strategy() -> impl Strategy<Value = Threshold> {
    prop_oneof![
        Just(Threshold::Otsu),
        any::<u8>().prop_map(Threshold::Fixed),
        (1u32..20, -10i32..10).prop_map(|(b, c)| Threshold::Adaptive {
            block: 2 * b + 1,
            c: c as f32 / 2.0
        }),
    ]
}

fn inside_bbox(p: (f64, f64), lo: Point, hi: Point) -> bool {
    let eps = 1e-9;
    p.0 >= f64::from(lo.x) - eps
        && p.0 <= f64::from(hi.x) + eps
        && p.1 >= f64::from(lo.y) - eps
        && p.1 <= f64::from(hi.y) + eps
}

/// Background pixels that cannot reach the image edge through 4-connected
/// background: the pixels of all holes.
fn enclosed_background(mask: &GrayImage) -> u64 {
    let (w, h) = (mask.width() as i64, mask.height() as i64);
    let bg = |x: i64, y: i64| mask.get_pixel(x as u32, y as u32).0[0] == 0;
    let mut seen = vec![false; (w * h) as usize];
    let mut stack: Vec<(i64, i64)> = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if (x == 0 || y == 0 || x == w - 1 || y == h - 1) && bg(x, y) {
                seen[(y * w + x) as usize] = true;
                stack.push((x, y));
            }
        }
    }
    while let Some((x, y)) = stack.pop() {
        for (nx, ny) in [(x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)] {
            if nx >= 0 && ny >= 0 && nx < w && ny < h && bg(nx, ny) && !seen[(ny * w + nx) as usize]
            {
                seen[(ny * w + nx) as usize] = true;
                stack.push((nx, ny));
            }
        }
    }
    let all_bg = mask.as_raw().iter().filter(|&&v| v == 0).count() as u64;
    all_bg - seen.iter().filter(|&&s| s).count() as u64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn measures_are_consistent(mask in mask_strategy()) {
        for c in find_contours(&mask) {
            let m = measure(&c.points);
            let (lo, hi) = mmprompt::vision::measure::bounds(&c.points).expect("non-empty border");
            prop_assert!(m.area <= m.hull_area + 1e-9, "area {} > hull {}", m.area, m.hull_area);
            prop_assert!((0.0..=1.0).contains(&m.solidity));
            prop_assert!(m.circularity >= 0.0 && m.circularity <= 1.1, "circularity {}", m.circularity);
            if m.area > 0.0 {
                prop_assert!(m.circularity > 0.0);
            }
            prop_assert!(inside_bbox(m.centroid, lo, hi), "centroid {:?} outside {:?}..{:?}", m.centroid, lo, hi);
            // A border with area is outlined by some of its own points; a line by the
            // box of its pixels, the only valid polygon that covers them.
            let outline: &[Point] = if m.area > 0.0 { &m.polygon } else { &[] };
            for p in outline.iter().chain(&m.hull) {
                prop_assert!(c.points.contains(p), "{:?} is not a border point", p);
                prop_assert!(inside_bbox((f64::from(p.x), f64::from(p.y)), lo, hi));
            }
            prop_assert!(!m.polygon.is_empty() && (m.area == 0.0 || m.polygon.len() <= c.points.len()));
            prop_assert!(is_simple(&m.polygon), "not simple: {:?}", m.polygon);
            if m.area > 0.0 && m.polygon != convex_hull(&c.points) {
                let iou = outline_iou(&m.polygon, &c.points, lo, hi);
                prop_assert!(iou >= MIN_POLYGON_IOU, "IoU {} of {:?}", iou, m.polygon);
            }
            // The rotated box contains every point and is no larger than the
            // axis-aligned box between pixel centres.
            let r = m.rotated;
            prop_assert!(r.angle > 0.0 && r.angle <= 90.0, "angle {}", r.angle);
            let (s, co) = r.angle.to_radians().sin_cos();
            for p in &c.points {
                let (dx, dy) = (f64::from(p.x) - r.cx, f64::from(p.y) - r.cy);
                let (u, v) = (dx * co + dy * s, -dx * s + dy * co);
                prop_assert!(u.abs() <= r.width / 2.0 + 1e-6 && v.abs() <= r.height / 2.0 + 1e-6,
                    "{:?} outside {:?}", p, r);
            }
            let axis = f64::from(hi.x - lo.x) * f64::from(hi.y - lo.y);
            prop_assert!(r.width * r.height <= axis + 1e-6);
            prop_assert!(r.width * r.height + 1e-6 >= m.hull_area);
        }
    }

    #[test]
    fn polygon_follows_the_border(mask in mask_strategy()) {
        for c in find_contours(&mask) {
            let n = c.points.len();
            let mut sorted = c.points.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != n || n < 3 {
                continue; // vertex positions are ambiguous on self-touching borders
            }
            let eps = POLYGON_TOLERANCE * mmprompt::vision::measure::arc_length(&c.points, true);
            let poly = approx_poly_dp(&c.points, eps, true);
            let idx: Vec<usize> = poly
                .iter()
                .map(|v| c.points.iter().position(|p| p == v).expect("vertex on border"))
                .collect();
            // Vertices appear along the border in order (cyclically).
            let rel: Vec<usize> = idx.iter().map(|&i| (i + n - idx[0]) % n).collect();
            prop_assert!(rel.windows(2).all(|w| w[0] < w[1]), "{:?}", rel);
            // Every border point between two vertices stays near their chord (2·eps
            // covers OpenCV's final merge of nearly collinear vertices).
            for k in 0..idx.len() {
                let (a, b) = (idx[k], idx[(k + 1) % idx.len()]);
                let (pa, pb) = (c.points[a], c.points[b]);
                let (dx, dy) = (f64::from(pb.x - pa.x), f64::from(pb.y - pa.y));
                let len = dx.hypot(dy);
                if len == 0.0 {
                    continue;
                }
                let mut i = a;
                while i != b {
                    let p = c.points[i];
                    let (px, py) = (f64::from(p.x - pa.x), f64::from(p.y - pa.y));
                    let d = (px * dy - py * dx).abs() / len;
                    prop_assert!(d <= 2.0 * eps + 1e-9, "point {:?} is {} from chord {:?}-{:?} (eps {})", p, d, pa, pb, eps);
                    i = (i + 1) % n;
                }
            }
        }
    }

    #[test]
    fn binarize_is_binary_and_polarity_complements(gray in gray_strategy(), t in threshold_strategy()) {
        let yes = binarize(&gray, t, Invert::Yes);
        let no = binarize(&gray, t, Invert::No);
        let auto = binarize(&gray, t, Invert::Auto);
        for b in [&yes, &no, &auto] {
            prop_assert!(b.mask.as_raw().iter().all(|&v| v == 0 || v == 255));
            prop_assert_eq!(b.mask.dimensions(), gray.dimensions());
        }
        prop_assert!(yes.inverted && !no.inverted);
        prop_assert_eq!(yes.threshold, no.threshold);
        for (a, b) in yes.mask.as_raw().iter().zip(no.mask.as_raw()) {
            prop_assert_eq!(*a, 255 - *b);
        }
        // Auto takes the minority side: never more than half the pixels.
        let fg = auto.mask.as_raw().iter().filter(|&&v| v == 255).count();
        prop_assert!(2 * fg <= auto.mask.as_raw().len());
        if let (Threshold::Fixed(n), Some(used)) = (t, no.threshold) {
            prop_assert_eq!(n, used);
            for (&p, &m) in gray.as_raw().iter().zip(no.mask.as_raw()) {
                prop_assert_eq!(m == 255, p > n);
            }
        }
    }

    #[test]
    fn canny_masks_are_binary(gray in gray_strategy(), low in 1f32..200.0, span in 0f32..200.0) {
        let b = binarize(&gray, Threshold::Canny { low, high: low + span }, Invert::Auto);
        prop_assert!(b.mask.as_raw().iter().all(|&v| v == 0 || v == 255));
        prop_assert!(!b.inverted && b.threshold.is_none());
    }

    #[test]
    fn blur_stays_within_input_range(gray in gray_strategy(), sigma in 0.0f32..6.0) {
        let out = gaussian_blur(&gray, sigma);
        let lo = *gray.as_raw().iter().min().unwrap_or(&0);
        let hi = *gray.as_raw().iter().max().unwrap_or(&0);
        prop_assert_eq!(out.dimensions(), gray.dimensions());
        prop_assert!(out.as_raw().iter().all(|&v| v >= lo && v <= hi));
        let flat = GrayImage::from_pixel(gray.width(), gray.height(), Luma([lo]));
        prop_assert_eq!(gaussian_blur(&flat, sigma), flat);
    }

    #[test]
    fn gray_of_gray_is_identity(v in any::<u8>(), w in 1u32..9) {
        let rgb = RgbImage::from_pixel(w, 2, Rgb([v, v, v]));
        prop_assert!(to_gray(&rgb).as_raw().iter().all(|&g| g == v));
    }

    #[test]
    fn threshold_text_round_trips(t in threshold_strategy(), low in 0.5f32..500.0, span in 0f32..500.0) {
        let parsed: Threshold = t.to_string().parse().expect("canonical text parses");
        prop_assert_eq!(parsed, t);
        let canny = Threshold::Canny { low, high: low + span };
        prop_assert_eq!(canny.to_string().parse::<Threshold>().expect("parses"), canny);
    }

    #[test]
    fn regions_partition_the_foreground(mask in mask_strategy(), holes in any::<bool>(), max in 0usize..6) {
        let (w, h) = mask.dimensions();
        let rgb = RgbImage::from_fn(w, h, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, mask.get_pixel(x, y).0[0]]));
        let gray = to_gray(&rgb);
        let contours = find_contours(&mask);
        let opts = RegionOptions { max_regions: 0, min_area: MinArea::Pixels(1), holes };
        let regions = analyze(&rgb, &gray, &mask, &contours, &opts);
        // Every foreground pixel belongs to exactly one outer region.
        let fg = mask.as_raw().iter().filter(|&&v| v != 0).count() as u64;
        let outer: u64 = regions.iter().filter(|r| r.kind == BorderKind::Outer).map(|r| r.pixel_count).sum();
        prop_assert_eq!(outer, fg);
        let outer_borders = contours.iter().filter(|c| c.kind == BorderKind::Outer).count();
        prop_assert_eq!(regions.iter().filter(|r| r.kind == BorderKind::Outer).count(), outer_borders);
        if holes {
            // Hole regions cover exactly the background not 4-connected to the edge.
            let enclosed = enclosed_background(&mask);
            let hole_px: u64 = regions.iter().filter(|r| r.kind == BorderKind::Hole).map(|r| r.pixel_count).sum();
            prop_assert_eq!(hole_px, enclosed);
            let hole_borders = contours.iter().filter(|c| c.kind == BorderKind::Hole).count();
            prop_assert_eq!(regions.iter().filter(|r| r.kind == BorderKind::Hole).count(), hole_borders);
        } else {
            prop_assert!(regions.iter().all(|r| r.kind == BorderKind::Outer));
        }
        for (i, r) in regions.iter().enumerate() {
            prop_assert!((0.0..=1.0).contains(&r.salience));
            if let Some(p) = r.parent {
                prop_assert!(p < regions.len() && p != i);
            }
            prop_assert!(r.bbox.x + r.bbox.w <= w && r.bbox.y + r.bbox.h <= h);
            let direct_holes = contours.iter()
                .filter(|c| c.kind == BorderKind::Hole && c.parent == Some(r.contour))
                .count();
            prop_assert_eq!(r.holes, direct_holes);
        }
        for pair in regions.windows(2) {
            prop_assert!(pair[0].salience > pair[1].salience
                || (pair[0].salience == pair[1].salience && pair[0].contour < pair[1].contour));
        }
        // Keeping the top `max` is a prefix of keeping all.
        let top = analyze(&rgb, &gray, &mask, &contours, &RegionOptions { max_regions: max, ..opts.clone() });
        let expect = if max == 0 { regions.len() } else { max.min(regions.len()) };
        prop_assert_eq!(top.len(), expect);
        for (a, b) in top.iter().zip(&regions) {
            prop_assert_eq!(a.contour, b.contour);
        }
    }
}
