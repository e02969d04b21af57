//! Overlay pictures: the image with its regions drawn and labelled, for people to check.
//!
//! People would rather look than read, so `extract --overlay` writes, next to each JSON-LD
//! document, a PNG where every region is outlined and tagged with the same id (`r1`, `r2`, …)
//! the document uses. The picture is meant for eyes only; nothing parses it.
//!
//! Labels use the crate's own bitmap font (module `render::font`), drawn with the toolkit
//! (`render::canvas`) that the spectrogram pictures share.

use crate::doc::{region_id, region_label};
use crate::render::canvas::{encode_png, fill_rect, luma, BoxStyle, TextBox};
use crate::vision::contours::BorderKind;
use crate::vision::pipeline::ImageAnalysis;
use crate::vision::regions::Region;
use image::{Rgb, RgbImage};

/// Why an overlay could not be made.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// PNG encoding failed.
    #[error("cannot encode overlay PNG: {0}")]
    Encode(#[from] image::ImageError),
}

/// Outline colours, handed out by rank so `r1` is always the same colour in every picture.
/// All are bright and saturated because they sit on a dimmed image; neighbours in the list
/// differ in hue so that adjacent ranks (often adjacent regions) are easy to tell apart.
const PALETTE: [[u8; 3]; 10] = [
    [255, 225, 25],  // yellow
    [0, 230, 255],   // cyan
    [255, 70, 200],  // pink
    [110, 255, 60],  // lime
    [255, 140, 0],   // orange
    [170, 130, 255], // lavender
    [255, 255, 255], // white
    [60, 255, 190],  // aquamarine
    [255, 90, 90],   // salmon
    [60, 160, 255],  // sky blue
];

/// Background of label boxes: near black, so every palette colour reads well on it.
const LABEL_BG: Rgb<u8> = Rgb([16, 16, 16]);

/// Edge drawn under each outline: bright palette colours alone vanish on light
/// backgrounds, a dark rim on either side keeps them visible on anything.
const HALO: Rgb<u8> = Rgb([0, 0, 0]);

/// How much of the original brightness survives: enough to recognise the picture, low
/// enough that the bright outlines dominate.
const DIM: f32 = 0.7;

/// How far colours are pulled towards grey before dimming, so the palette colours are the
/// only saturated ones left.
const DESATURATE: f32 = 0.3;

/// Draws the regions of `analysis` over `rgb` and encodes the result as PNG.
///
/// The PNG has the size of `rgb`; see [`render`] for what is drawn.
///
/// # Errors
/// [`OverlayError::Encode`] when the PNG encoder fails.
pub fn render_png(rgb: &RgbImage, analysis: &ImageAnalysis) -> Result<Vec<u8>, OverlayError> {
    Ok(encode_png(&render(rgb, analysis))?)
}

/// Draws the regions of `analysis` over a dimmed copy of `rgb`.
///
/// Each region gets a colour from a fixed palette by rank. Outer regions are outlined with
/// their polygon in a solid line and their bounding box in a thin dashed one; hole regions
/// are outlined with a dashed line only. Each region is labelled near the top-left of its
/// bounding box with its id and shape (`r1 circle`, `r3 hole:circle`) in a dark box.
/// Anything outside the image is clipped, so any input is safe to draw.
pub fn render(rgb: &RgbImage, analysis: &ImageAnalysis) -> RgbImage {
    let marks: Vec<Mark> = analysis
        .regions
        .iter()
        .enumerate()
        .map(|(rank, region)| mark_of(rank, region))
        .collect();
    draw_marks(dimmed(rgb), &marks)
}

/// The mark of the region at `rank`: its label, polygon and box.
fn mark_of(rank: usize, region: &Region) -> Mark {
    Mark {
        text: label_text(rank, region),
        polygon: region
            .measures
            .polygon
            .iter()
            .map(|p| (f64::from(p.x), f64::from(p.y)))
            .collect(),
        bbox: bbox_corners(region.bbox.x, region.bbox.y, region.bbox.w, region.bbox.h),
        hole: region.kind == BorderKind::Hole,
        show_box: true,
    }
}

/// One region to draw: its label, outline and box, in the picture's pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// The label drawn beside it (its id first).
    pub text: String,
    /// The outline's vertices.
    pub polygon: Vec<(f64, f64)>,
    /// The corners of its box, through the centres of the box's edge pixels.
    pub bbox: Option<[(f64, f64); 4]>,
    /// Whether it is a hole (drawn dashed).
    pub hole: bool,
    /// Whether its box is drawn too (thin and dashed); the label goes by the box either way.
    pub show_box: bool,
}

/// Draws `marks` over `rgb` as it is, most important first in `marks`: the Set-of-Mark
/// picture a model receives, where each region's outline and id are visible on the image
/// itself. Outlines have a dark rim and labels a dark box, so both read on any background;
/// labels are placed so that none covers another where the picture leaves room.
pub fn render_marks(rgb: &RgbImage, marks: &[Mark]) -> RgbImage {
    draw_marks(rgb.clone(), marks)
}

/// The corners of a box `x, y, w, h` through the centres of its edge pixels, or `None`
/// for an empty box.
pub fn bbox_corners(x: u32, y: u32, w: u32, h: u32) -> Option<[(f64, f64); 4]> {
    if w == 0 || h == 0 {
        return None;
    }
    let x0 = f64::from(x);
    let y0 = f64::from(y);
    let x1 = x0 + f64::from(w) - 1.0;
    let y1 = y0 + f64::from(h) - 1.0;
    Some([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
}

fn draw_marks(mut canvas: RgbImage, marks: &[Mark]) -> RgbImage {
    let scale = label_scale(canvas.width(), canvas.height());
    let stroke = 2 * scale;

    // Reverse rank order so that where outlines cross, the more salient region wins.
    for (rank, mark) in marks.iter().enumerate().rev() {
        draw_region(&mut canvas, mark, region_color(rank), stroke, scale);
    }

    // Labels are placed most salient first (so `r1` gets the best spot) but painted last,
    // on top of every outline, because an unreadable label is worse than a hidden line.
    let mut placed: Vec<Label> = Vec::with_capacity(marks.len());
    for mark in marks {
        let label = place_label(&canvas, mark, scale, stroke, &placed);
        placed.push(label);
    }
    for (rank, label) in placed.iter().enumerate().rev() {
        draw_label(&mut canvas, label, region_color(rank), scale);
    }
    canvas
}

/// The integer factor the label font is drawn at, so labels stay readable on big images
/// without swamping small ones.
pub fn label_scale(width: u32, height: u32) -> u32 {
    match width.max(height) {
        0..1000 => 1,
        1000..2500 => 2,
        _ => 3,
    }
}

/// The colour of the region at `rank` (0-based).
fn region_color(rank: usize) -> Rgb<u8> {
    Rgb(PALETTE[rank % PALETTE.len()])
}

/// The text drawn next to a region: its id and shape word for objects; for holes the whole
/// label, because "hole" is the important part.
fn label_text(rank: usize, region: &Region) -> String {
    match region.kind {
        BorderKind::Outer => format!("{} {}", region_id(rank), region.shape.as_str()),
        BorderKind::Hole => format!("{} {}", region_id(rank), region_label(region)),
    }
}

/// A copy of `rgb`, greyer and darker, so the outlines stand out against it.
fn dimmed(rgb: &RgbImage) -> RgbImage {
    let mut out = rgb.clone();
    for p in out.pixels_mut() {
        let [r, g, b] = p.0.map(f32::from);
        let luma = luma([r, g, b]);
        p.0 = [r, g, b].map(|c| {
            let v = (c + (luma - c) * DESATURATE) * DIM;
            // `as` saturates floats into u8, and the value is within 0..=255 anyway.
            v.round() as u8
        });
    }
    out
}

/// How a line is drawn.
#[derive(Debug, Clone, Copy)]
struct Pen {
    color: Rgb<u8>,
    /// Line width in pixels.
    width: u32,
    /// Dash pattern (pixels on, pixels off); `None` for a solid line.
    dash: Option<(u32, u32)>,
}

/// Outlines one region: bounding box first, so the polygon, which carries the real shape,
/// lies on top where they coincide.
fn draw_region(canvas: &mut RgbImage, mark: &Mark, color: Rgb<u8>, stroke: u32, scale: u32) {
    let bbox = mark.bbox;
    let outline = if mark.hole {
        // Holes are dashed so that a hole inside an object does not read as a second object.
        Pen {
            color,
            width: stroke,
            dash: Some((6 * scale, 4 * scale)),
        }
    } else {
        if let Some(corners) = bbox.filter(|_| mark.show_box) {
            let thin = Pen {
                color,
                width: scale,
                dash: Some((4 * scale, 4 * scale)),
            };
            draw_closed_path(canvas, &corners, thin);
        }
        Pen {
            color,
            width: stroke,
            dash: None,
        }
    };
    let points = &mark.polygon;
    // The halo is the same path, wider and dark, so it shows as a rim on both sides.
    let halo = Pen {
        color: HALO,
        width: outline.width + 2 * scale,
        ..outline
    };
    for pen in [halo, outline] {
        if points.len() >= 2 {
            draw_closed_path(canvas, points, pen);
        } else if let Some(corners) = bbox {
            // A degenerate polygon still deserves a visible outline; the box is the best guess.
            draw_closed_path(canvas, &corners, pen);
        } else if let Some(&(x, y)) = points.first() {
            stamp(
                canvas,
                x.round() as i64,
                y.round() as i64,
                pen.width,
                pen.color,
            );
        }
    }
}

/// Draws the closed path through `points`, continuing the dash pattern around corners.
fn draw_closed_path(canvas: &mut RgbImage, points: &[(f64, f64)], pen: Pen) {
    let mut phase = 0u32;
    // Two points make one segment; closing it would only draw it twice.
    let segments = if points.len() > 2 {
        points.len()
    } else {
        points.len().saturating_sub(1)
    };
    let ends = points.iter().cycle().skip(1);
    for (&a, &b) in points.iter().zip(ends).take(segments) {
        draw_segment(canvas, a, b, pen, &mut phase);
    }
}

/// Draws one segment with `pen`, advancing the dash `phase` by its length.
fn draw_segment(canvas: &mut RgbImage, a: (f64, f64), b: (f64, f64), pen: Pen, phase: &mut u32) {
    // Clip first: coordinates can be far outside the image, and walking them would be slow.
    let margin = f64::from(pen.width);
    let Some((a, b)) = clip_segment(
        a,
        b,
        (-margin, -margin),
        (
            f64::from(canvas.width()) - 1.0 + margin,
            f64::from(canvas.height()) - 1.0 + margin,
        ),
    ) else {
        return;
    };
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    // Bounded by the clip window, so this is at most a few thousand steps.
    let steps = dx.abs().max(dy.abs()).round() as u64;
    for i in 0..=steps {
        let t = if steps == 0 {
            0.0
        } else {
            i as f64 / steps as f64
        };
        let on = match pen.dash {
            None => true,
            Some((on, off)) => *phase % (on + off).max(1) < on,
        };
        // The last step of one segment is the first of the next; count it only once.
        if i < steps || steps == 0 {
            *phase = phase.wrapping_add(1);
        }
        if on {
            let x = (a.0 + dx * t).round() as i64;
            let y = (a.1 + dy * t).round() as i64;
            stamp(canvas, x, y, pen.width, pen.color);
        }
    }
}

/// Liang–Barsky clipping of segment `a`–`b` to the box `lo`..=`hi`; `None` when nothing of
/// it is inside.
fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    lo: (f64, f64),
    hi: (f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let mut t0 = 0.0f64;
    let mut t1 = 1.0f64;
    for (p, q) in [
        (-dx, a.0 - lo.0),
        (dx, hi.0 - a.0),
        (-dy, a.1 - lo.1),
        (dy, hi.1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 || !t0.is_finite() || !t1.is_finite() {
        return None;
    }
    Some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

/// Paints a `width`×`width` square centred (as well as whole pixels allow) on `x`, `y`.
fn stamp(canvas: &mut RgbImage, x: i64, y: i64, width: u32, color: Rgb<u8>) {
    let lo = -i64::from(width / 2);
    fill_rect(
        canvas,
        x + lo,
        y + lo,
        u64::from(width),
        u64::from(width),
        color,
    );
}

/// A label and where it goes.
#[derive(Debug, Clone)]
struct Label {
    text: String,
    /// The background box, text included.
    area: TextBox,
}

/// Padding around label text, in font pixels.
const LABEL_PAD: u32 = 2;

/// How a label at `scale` is drawn, text in `color`.
fn label_style(scale: u32, color: Rgb<u8>) -> BoxStyle {
    BoxStyle {
        scale,
        pad: LABEL_PAD,
        background: LABEL_BG,
        ink: color,
    }
}

/// Size of the box that holds `text` at `scale`.
fn label_size(text: &str, scale: u32) -> (u64, u64) {
    // The colour does not change the size.
    label_style(scale, LABEL_BG).size_of(text)
}

/// Chooses where the label of `mark` goes: just above its bounding box if there is room,
/// else just inside it; moved down, then up, then right, past labels already placed so
/// they do not cover each other; always inside the image as far as its size allows.
fn place_label(canvas: &RgbImage, mark: &Mark, scale: u32, stroke: u32, placed: &[Label]) -> Label {
    let text = mark.text.clone();
    let (w, h) = label_size(&text, scale);
    let (bx, by) = mark
        .bbox
        .map(|c| c[0])
        .or_else(|| mark.polygon.first().copied())
        .unwrap_or((0.0, 0.0));
    let (bx, by) = (bx.round() as i64, by.round() as i64);
    let gap = i64::from(stroke / 2 + 1);
    let above = by - h as i64 - gap;
    let y = if above >= 0 { above } else { by + gap };
    let clamp = |v: i64, size: u64, max: u32| v.min(i64::from(max) - size as i64).max(0);
    let mut area = TextBox {
        x: clamp(bx, w, canvas.width()),
        y: clamp(y, h, canvas.height()),
        w,
        h,
    };
    let (first_x, first_y) = (area.x, area.y);
    // Rows below the first spot, then above it, then the same rows shifted right by a
    // label's width: enough for ordinary pictures. In a crowded one some overlap is
    // unavoidable and the first spot is the most meaningful.
    let row = h as i64 + 1;
    for shift in 0..3i64 {
        for step in [0, 1, 2, 3, 4, 5, 6, 7, -1, -2, -3, -4] {
            area.x = clamp(first_x + shift * (w as i64 + 1), w, canvas.width());
            area.y = clamp(first_y + step * row, h, canvas.height());
            if !placed.iter().any(|p| p.area.overlaps(&area)) {
                return Label { text, area };
            }
        }
    }
    area.x = first_x;
    area.y = first_y;
    Label { text, area }
}

/// Paints a label's dark box and its text in the region's colour.
fn draw_label(canvas: &mut RgbImage, label: &Label, color: Rgb<u8>, scale: u32) {
    label
        .area
        .draw(canvas, Some(&label.text), label_style(scale, color));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::measure::{Measures, RotatedRect};
    use crate::vision::regions::Rect;
    use crate::vision::words::{Position, Shape, SizeClass};
    use crate::vision::Point;

    /// A region with the given outline and box; the measures the overlay ignores are filler.
    fn region(kind: BorderKind, polygon: Vec<Point>, bbox: Rect) -> Region {
        Region {
            contour: 0,
            kind,
            parent: None,
            holes: 0,
            bbox,
            pixel_count: u64::from(bbox.w * bbox.h),
            measures: Measures {
                area: f64::from(bbox.w * bbox.h),
                perimeter: 0.0,
                centroid: (0.0, 0.0),
                hull: polygon.clone(),
                shape_polygon: polygon.clone(),
                polygon,
                hull_area: 0.0,
                solidity: 1.0,
                circularity: 0.0,
                rotated: RotatedRect {
                    cx: 0.0,
                    cy: 0.0,
                    width: 0.0,
                    height: 0.0,
                    angle: 0.0,
                },
            },
            mean_color: [200, 0, 0],
            dominant_color: [200, 0, 0],
            color_name: "red",
            shape: Shape::Square,
            size: SizeClass::Medium,
            position: Position::TopLeft,
            salience: 1.0,
        }
    }

    fn square(x: i32, y: i32, side: i32) -> Region {
        let poly = vec![
            Point::new(x, y),
            Point::new(x + side - 1, y),
            Point::new(x + side - 1, y + side - 1),
            Point::new(x, y + side - 1),
        ];
        let s = side as u32;
        region(
            BorderKind::Outer,
            poly,
            Rect {
                x: x as u32,
                y: y as u32,
                w: s,
                h: s,
            },
        )
    }

    fn analysis(img: &RgbImage, regions: Vec<Region>) -> ImageAnalysis {
        ImageAnalysis {
            width: img.width(),
            height: img.height(),
            threshold: None,
            inverted: false,
            contour_count: regions.len(),
            regions,
        }
    }

    fn gray(w: u32, h: u32) -> RgbImage {
        RgbImage::from_pixel(w, h, Rgb([128, 128, 128]))
    }

    #[test]
    fn png_round_trips_with_the_same_size() {
        let img = gray(100, 80);
        let a = analysis(&img, vec![square(20, 30, 30)]);
        let png = render_png(&img, &a).unwrap();
        let back = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
        assert_eq!((back.width(), back.height()), (100, 80));
        assert_eq!(back.to_rgb8(), render(&img, &a));
    }

    #[test]
    fn outline_runs_along_the_polygon_in_the_region_colour() {
        let img = gray(100, 80);
        let out = render(&img, &analysis(&img, vec![square(20, 30, 30)]));
        let color = region_color(0);
        // Every corner and edge midpoint of the square lies on the 2 px stroke.
        for (x, y) in [
            (20, 30),
            (49, 30),
            (49, 59),
            (20, 59),
            (35, 30),
            (49, 45),
            (35, 59),
            (20, 45),
        ] {
            assert_eq!(*out.get_pixel(x, y), color, "at ({x}, {y})");
        }
        // A dark rim on both sides of the stroke keeps it visible on light backgrounds.
        assert_eq!(*out.get_pixel(18, 45), HALO);
        assert_eq!(*out.get_pixel(21, 45), HALO);
        // Well inside and well outside stay the dimmed original.
        let dim = dimmed(&img);
        assert_eq!(out.get_pixel(35, 45), dim.get_pixel(35, 45));
        assert_eq!(out.get_pixel(80, 70), dim.get_pixel(80, 70));
        assert!(dim.get_pixel(0, 0).0[0] < 128, "the original is dimmed");
    }

    #[test]
    fn label_box_sits_above_the_box_with_text_in_the_region_colour() {
        let img = gray(100, 80);
        let out = render(&img, &analysis(&img, vec![square(20, 30, 30)]));
        let (w, h) = label_size("r1 square", 1);
        assert_eq!((w, h), (9 * 6 - 1 + 4, 9 + 4));
        // Above the box: bottom of the label is 2 px (half the stroke, plus one) above y = 30.
        let (x0, y0) = (20u32, 30 - 2 - h as u32);
        // The padding corners are background...
        assert_eq!(*out.get_pixel(x0, y0), LABEL_BG);
        assert_eq!(
            *out.get_pixel(x0 + w as u32 - 1, y0 + h as u32 - 1),
            LABEL_BG
        );
        // ...and the glyph pixels are the region colour: 'r' has its stem at column 0, row 2.
        assert_eq!(*out.get_pixel(x0 + 2, y0 + 2 + 2), region_color(0));
        assert_eq!(*out.get_pixel(x0 + 2, y0 + 2), LABEL_BG);
        // Just outside the label is not background.
        assert_ne!(*out.get_pixel(x0 + w as u32, y0), LABEL_BG);
    }

    #[test]
    fn label_goes_inside_when_there_is_no_room_above_and_labels_do_not_overlap() {
        let img = gray(120, 100);
        let regions = [square(0, 0, 40), square(2, 2, 30), square(60, 60, 30)];
        let canvas = dimmed(&img);
        let mut placed = Vec::new();
        for (rank, r) in regions.iter().enumerate() {
            let l = place_label(&canvas, &mark_of(rank, r), 1, 2, &placed);
            let a = l.area;
            assert!(a.x >= 0 && a.y >= 0);
            assert!(a.x as u64 + a.w <= 120 && a.y as u64 + a.h <= 100);
            assert!(placed.iter().all(|p: &Label| !p.area.overlaps(&a)));
            placed.push(l);
        }
        assert_eq!((placed[0].area.x, placed[0].area.y), (0, 2));
        assert!(placed[2].area.y < 60, "room above the third box");
    }

    #[test]
    fn label_text_uses_ids_and_shape_words() {
        let mut r = square(5, 5, 10);
        assert_eq!(label_text(0, &r), "r1 square");
        r.kind = BorderKind::Hole;
        assert_eq!(label_text(2, &r), format!("r3 {}", region_label(&r)));
    }

    #[test]
    fn scale_grows_with_the_image() {
        assert_eq!(label_scale(1, 1), 1);
        assert_eq!(label_scale(999, 500), 1);
        assert_eq!(label_scale(400, 1000), 2);
        assert_eq!(label_scale(2500, 10), 3);
        assert_eq!(label_scale(u32::MAX, u32::MAX), 3);
    }

    #[test]
    fn awkward_inputs_do_not_panic() {
        let one = gray(1, 1);
        let mut dot = square(0, 0, 1);
        dot.measures.polygon.truncate(1);
        let mut empty_poly = square(0, 0, 1);
        empty_poly.measures.polygon.clear();
        let mut empty_everything = empty_poly.clone();
        empty_everything.bbox = Rect {
            x: 0,
            y: 0,
            w: 0,
            h: 0,
        };
        for regions in [
            vec![],
            vec![dot.clone()],
            vec![empty_poly.clone(), empty_everything.clone()],
        ] {
            let png = render_png(&one, &analysis(&one, regions)).unwrap();
            let back = image::load_from_memory(&png).unwrap();
            assert_eq!((back.width(), back.height()), (1, 1));
        }

        // Touching the right and bottom edges: the outline reaches the corner pixel.
        let img = gray(64, 48);
        let edge = square(40, 24, 24);
        let out = render(&img, &analysis(&img, vec![edge.clone()]));
        assert_eq!(*out.get_pixel(63, 47), region_color(0));

        // Far outside, huge, holes, and more regions than palette colours or label spots.
        let mut hole = square(30, 20, 40);
        hole.kind = BorderKind::Hole;
        let mut wild = square(0, 0, 2);
        wild.measures.polygon = vec![
            Point::new(i32::MIN, i32::MAX),
            Point::new(i32::MAX, i32::MIN),
            Point::new(5, 5),
        ];
        wild.bbox = Rect {
            x: u32::MAX - 1,
            y: u32::MAX - 1,
            w: u32::MAX,
            h: u32::MAX,
        };
        let mut regions = vec![edge, hole, square(0, 0, 64), wild, dot];
        regions.extend((0..30).map(|i| square(i, i, 10)));
        let out = render(&img, &analysis(&img, regions));
        assert_eq!(out.dimensions(), (64, 48));

        for (w, h) in [(0, 0), (0, 5), (5, 0)] {
            let empty = RgbImage::new(w, h);
            let _ = render(&empty, &analysis(&empty, vec![square(0, 0, 3)]));
        }
    }

    #[test]
    fn big_images_get_bigger_labels_and_strokes() {
        let img = gray(1200, 300);
        let out = render(&img, &analysis(&img, vec![square(100, 100, 150)]));
        let (w, h) = label_size("r1 square", 2);
        let y0 = 100 - (2 + 1) - h as u32;
        assert_eq!(*out.get_pixel(100, y0), LABEL_BG);
        assert_eq!(
            *out.get_pixel(100 + w as u32 - 1, y0 + h as u32 - 1),
            LABEL_BG
        );
        // The 4 px stroke covers two pixels on either side of the border line.
        for dx in [-2i32, -1, 0, 1] {
            assert_eq!(*out.get_pixel((100 + dx) as u32, 175), region_color(0));
        }
    }
}
