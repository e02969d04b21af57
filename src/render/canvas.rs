//! The drawing toolkit both pictures share: clipped rectangles, text in the bitmap font of
//! [`crate::render::font`], boxes holding text, and PNG encoding.
//!
//! Everything takes signed positions and clips to the image, so callers can place things
//! from untrusted coordinates without checking them first.

use crate::render::font::{glyph, GLYPH_GAP, GLYPH_H, GLYPH_W};
use image::{Rgb, RgbImage};

/// Paints the part of the rectangle that lies inside the image.
pub(crate) fn fill_rect(img: &mut RgbImage, x: i64, y: i64, w: u64, h: u64, color: Rgb<u8>) {
    let clamp = |v: i64, max: u32| v.clamp(0, i64::from(max)) as u32;
    let (x0, y0) = (clamp(x, img.width()), clamp(y, img.height()));
    let x1 = clamp(x.saturating_add_unsigned(w), img.width());
    let y1 = clamp(y.saturating_add_unsigned(h), img.height());
    for yy in y0..y1 {
        for xx in x0..x1 {
            img.put_pixel(xx, yy, color);
        }
    }
}

/// Width in pixels of `text` drawn at `scale`: glyphs and the gaps between them, none after
/// the last.
pub(crate) fn text_width(text: &str, scale: u32) -> u64 {
    let chars = text.chars().count() as u64;
    let advance = u64::from((GLYPH_W + GLYPH_GAP).saturating_mul(scale));
    chars
        .saturating_mul(advance)
        .saturating_sub(u64::from(GLYPH_GAP.saturating_mul(scale)))
}

/// Height in pixels of a line of text drawn at `scale`, descenders included.
pub(crate) const fn text_height(scale: u32) -> u64 {
    GLYPH_H as u64 * scale as u64
}

/// Draws `text` with its top-left at `x`, `y`, each font pixel `scale`×`scale`.
pub(crate) fn draw_text(
    img: &mut RgbImage,
    text: &str,
    x: i64,
    y: i64,
    scale: u32,
    color: Rgb<u8>,
) {
    let advance = i64::from((GLYPH_W + GLYPH_GAP).saturating_mul(scale));
    for (i, c) in (0i64..).zip(text.chars()) {
        let left = x.saturating_add(i.saturating_mul(advance));
        draw_glyph(img, glyph(c), left, y, scale, color);
    }
}

/// Paints one glyph with its top-left at `x`, `y`, each font pixel `scale`×`scale`.
fn draw_glyph(
    img: &mut RgbImage,
    rows: &[u8; GLYPH_H],
    x: i64,
    y: i64,
    scale: u32,
    color: Rgb<u8>,
) {
    let s = i64::from(scale);
    for (row, bits) in (0i64..).zip(rows) {
        for col in 0..GLYPH_W {
            if (bits >> (GLYPH_W - 1 - col)) & 1 == 1 {
                let px = x.saturating_add(i64::from(col).saturating_mul(s));
                let py = y.saturating_add(row.saturating_mul(s));
                fill_rect(img, px, py, u64::from(scale), u64::from(scale), color);
            }
        }
    }
}

/// How text sits in a box: the font scale, the padding between the box's top-left corner
/// and the text (in font pixels, so it grows with the scale), and the two colours.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BoxStyle {
    /// Font scale.
    pub scale: u32,
    /// Padding in font pixels.
    pub pad: u32,
    /// Box colour.
    pub background: Rgb<u8>,
    /// Text colour.
    pub ink: Rgb<u8>,
}

impl BoxStyle {
    /// The padding in image pixels.
    fn pad_px(&self) -> u64 {
        u64::from(self.pad).saturating_mul(u64::from(self.scale))
    }

    /// Size of the snug box around `text`: the text plus the padding on every side.
    pub fn size_of(&self, text: &str) -> (u64, u64) {
        let pad = self.pad_px();
        (
            text_width(text, self.scale).saturating_add(pad.saturating_mul(2)),
            text_height(self.scale).saturating_add(pad.saturating_mul(2)),
        )
    }

    /// Whether `text` with its padding fits in `width` pixels.
    pub fn fits(&self, text: &str, width: u64) -> bool {
        self.size_of(text).0 <= width
    }
}

/// A box on the image, in image pixels; it may hang over any edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TextBox {
    /// Left edge.
    pub x: i64,
    /// Top edge.
    pub y: i64,
    /// Width.
    pub w: u64,
    /// Height.
    pub h: u64,
}

impl TextBox {
    /// Whether the two boxes share a pixel.
    pub fn overlaps(&self, other: &TextBox) -> bool {
        let end = |start: i64, len: u64| start.saturating_add_unsigned(len);
        self.x < end(other.x, other.w)
            && other.x < end(self.x, self.w)
            && self.y < end(other.y, other.h)
            && other.y < end(self.y, self.h)
    }

    /// Fills the box with the style's background and, if given, writes `text` in it at the
    /// style's padding from the top-left corner. Text wider than the box is not cut.
    pub fn draw(&self, img: &mut RgbImage, text: Option<&str>, style: BoxStyle) {
        fill_rect(img, self.x, self.y, self.w, self.h, style.background);
        if let Some(text) = text {
            let pad = i64::try_from(style.pad_px()).unwrap_or(i64::MAX);
            draw_text(
                img,
                text,
                self.x.saturating_add(pad),
                self.y.saturating_add(pad),
                style.scale,
                style.ink,
            );
        }
    }
}

/// Perceived brightness of a colour (ITU-R BT.601 weights), 0 to 255.
pub(crate) fn luma([r, g, b]: [f32; 3]) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

/// Encodes `img` as PNG.
pub(crate) fn encode_png(img: &RgbImage) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INK: Rgb<u8> = Rgb([255, 0, 0]);
    const BG: Rgb<u8> = Rgb([0, 0, 255]);

    #[test]
    fn rectangles_are_clipped_to_the_image() {
        let mut img = RgbImage::new(4, 3);
        fill_rect(&mut img, -2, 1, 4, 10, INK);
        fill_rect(&mut img, i64::MAX - 1, i64::MIN, u64::MAX, u64::MAX, INK);
        fill_rect(&mut img, i64::MIN, i64::MIN, u64::MAX, u64::MAX, INK);
        assert!(img.pixels().all(|p| *p == INK));
        let mut img = RgbImage::new(4, 3);
        fill_rect(&mut img, -2, 1, 4, 10, INK);
        let painted: Vec<(u32, u32)> = img
            .enumerate_pixels()
            .filter(|(_, _, p)| **p == INK)
            .map(|(x, y, _)| (x, y))
            .collect();
        assert_eq!(painted, [(0, 1), (1, 1), (0, 2), (1, 2)]);
        fill_rect(&mut RgbImage::new(0, 0), 0, 0, 5, 5, INK);
    }

    #[test]
    fn text_measures_match_what_is_drawn() {
        for scale in 1..=3 {
            let text = "r1 x";
            let (w, h) = (text_width(text, scale), text_height(scale));
            assert_eq!(w, u64::from((4 * 6 - 1) * scale));
            let mut img = RgbImage::new(100, 40);
            draw_text(&mut img, text, 3, 2, scale, INK);
            let inked: Vec<(u32, u32)> = img
                .enumerate_pixels()
                .filter(|(_, _, p)| **p == INK)
                .map(|(x, y, _)| (x, y))
                .collect();
            let (x_lo, x_hi) = (3, 3 + w as u32);
            let (y_lo, y_hi) = (2, 2 + h as u32);
            assert!(inked
                .iter()
                .all(|&(x, y)| (x_lo..x_hi).contains(&x) && (y_lo..y_hi).contains(&y)));
            // 'r' starts at the left edge and 'x' ends at the right one.
            assert!(inked.iter().any(|&(x, _)| x == x_lo));
            assert!(inked.iter().any(|&(x, _)| x == x_hi - 1));
        }
        assert_eq!(text_width("", 2), 0);
    }

    #[test]
    fn boxes_hold_their_text_inside_the_padding() {
        let style = BoxStyle {
            scale: 2,
            pad: 2,
            background: BG,
            ink: INK,
        };
        let (w, h) = style.size_of("ab");
        assert_eq!((w, h), (11 * 2 + 8, 9 * 2 + 8));
        assert!(style.fits("ab", w) && !style.fits("ab", w - 1));
        let b = TextBox { x: 1, y: 1, w, h };
        let mut img = RgbImage::new(40, 40);
        b.draw(&mut img, Some("ab"), style);
        assert_eq!(*img.get_pixel(1, 1), BG);
        assert_eq!(*img.get_pixel(w as u32, h as u32), BG);
        assert_eq!(*img.get_pixel(w as u32 + 1, 1), Rgb([0, 0, 0]));
        assert!(img.pixels().any(|p| *p == INK));
        let mut blank = RgbImage::new(40, 40);
        b.draw(&mut blank, None, style);
        assert!(blank.pixels().all(|p| *p != INK));
    }

    #[test]
    fn boxes_overlap_only_when_they_share_a_pixel() {
        let a = TextBox {
            x: 0,
            y: 0,
            w: 10,
            h: 5,
        };
        let touching = TextBox { x: 10, ..a };
        let below = TextBox { y: 5, ..a };
        let crossing = TextBox { x: 9, y: 4, ..a };
        assert!(!a.overlaps(&touching) && !touching.overlaps(&a));
        assert!(!a.overlaps(&below));
        assert!(a.overlaps(&crossing) && crossing.overlaps(&a));
    }

    #[test]
    fn extreme_positions_and_sizes_clip_instead_of_overflowing() {
        let mut img = RgbImage::new(8, 8);
        let ink = Rgb([255, 255, 255]);
        for (x, y) in [
            (i64::MAX, 0),
            (i64::MIN, 0),
            (0, i64::MAX),
            (i64::MAX - 3, i64::MIN),
        ] {
            draw_text(&mut img, "mm", x, y, 3, ink);
            let b = TextBox {
                x,
                y,
                w: u64::MAX,
                h: u64::MAX,
            };
            b.draw(
                &mut img,
                Some("r1"),
                BoxStyle {
                    scale: u32::MAX,
                    pad: u32::MAX,
                    background: ink,
                    ink,
                },
            );
        }
        assert!(text_width(&"m".repeat(1000), u32::MAX) > 0);
        // A box from the far top-left reaching past the far bottom-right covers the image;
        // one that starts past the right edge covers none of it.
        let pixel = TextBox {
            x: 0,
            y: 0,
            w: 1,
            h: 1,
        };
        let all = TextBox {
            x: i64::MIN,
            y: i64::MIN,
            w: u64::MAX,
            h: u64::MAX,
        };
        assert!(all.overlaps(&pixel) && pixel.overlaps(&all));
        let beyond = TextBox {
            x: i64::MAX,
            y: 0,
            w: u64::MAX,
            h: 1,
        };
        assert!(!beyond.overlaps(&pixel) && !pixel.overlaps(&beyond));
    }
}
