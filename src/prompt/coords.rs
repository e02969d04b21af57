//! The coordinate frame a prompt's image fragments are written in.
//!
//! A model reasons about the pixels it receives. When an image is attached scaled down,
//! boxes in the original's pixels are off by the scale, so by default every box and
//! polygon is written in the attached image's pixels, or in the provider's own documented
//! box convention where it has one (Gemini: `[ymin, xmin, ymax, xmax]` normalised to
//! 0–1000). Citations still resolve to the original document's selectors: only the
//! rendering changes.

use crate::llm::Provider;

/// Which frame the user asked for (`--coords`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Coords {
    /// The provider's convention when an image is attached, the original's pixels
    /// otherwise.
    #[default]
    Auto,
    /// The original image's pixels, whatever is attached.
    Original,
    /// The attached image's pixels (the original's when nothing is attached).
    Attached,
    /// `box_2d=[ymin,xmin,ymax,xmax]` normalised to 0–1000 of the image.
    Normalized1000,
}

/// How a box is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoxStyle {
    /// `x,y,w,h` in pixels of the frame.
    Pixels,
    /// `[ymin,xmin,ymax,xmax]`, each 0–1000 of the frame's height or width.
    PerMilleYxyx,
}

/// The frame of one image input: the original's size, the size of the image the model
/// receives (the original's when nothing is attached), and how boxes are written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// The original's width and height, as the document gives them.
    pub original: (u32, u32),
    /// The width and height the boxes are written in.
    pub shown: (u32, u32),
    /// The attached image's size, when one is attached.
    pub sent: Option<(u32, u32)>,
    /// How boxes are written.
    pub style: BoxStyle,
}

/// The provider's documented box convention, if its models have one of their own.
pub fn provider_style(provider: Provider) -> BoxStyle {
    match provider {
        // "Gemini ... box_2d [ymin, xmin, ymax, xmax] normalized to 0-1000" (Google's
        // object detection guide).
        Provider::Gemini => BoxStyle::PerMilleYxyx,
        // OpenAI, Anthropic and the llama.cpp/Ollama models read pixels of the image as
        // they receive it.
        _ => BoxStyle::Pixels,
    }
}

impl Frame {
    /// The frame for an image of `original` size, attached at `sent` (if it is), as
    /// `coords` asks for `provider`.
    pub fn choose(
        original: (u32, u32),
        sent: Option<(u32, u32)>,
        coords: Coords,
        provider: Provider,
    ) -> Self {
        let (shown, style) = match coords {
            Coords::Original => (original, BoxStyle::Pixels),
            Coords::Attached => (sent.unwrap_or(original), BoxStyle::Pixels),
            Coords::Normalized1000 => (sent.unwrap_or(original), BoxStyle::PerMilleYxyx),
            Coords::Auto => match sent {
                Some(s) => (s, provider_style(provider)),
                None => (original, BoxStyle::Pixels),
            },
        };
        Self {
            original,
            shown,
            sent,
            style,
        }
    }

    /// Whether boxes are written exactly as the document has them.
    pub fn is_identity(&self) -> bool {
        self.style == BoxStyle::Pixels && self.shown == self.original
    }

    fn scale(&self) -> (f64, f64) {
        let (ow, oh) = self.original;
        let (sw, sh) = self.shown;
        (
            f64::from(sw) / f64::from(ow.max(1)),
            f64::from(sh) / f64::from(oh.max(1)),
        )
    }

    /// A point of the original, in the shown frame's pixels.
    pub fn point(&self, x: f64, y: f64) -> (f64, f64) {
        let (sx, sy) = self.scale();
        (x * sx, y * sy)
    }

    /// A box of the original (`x, y, w, h` in pixels) in the shown frame's pixels, with
    /// each edge rounded to the nearest pixel and at least one pixel wide and high.
    pub fn pixel_box(&self, x: u32, y: u32, w: u32, h: u32) -> [u32; 4] {
        let (sx, sy) = self.scale();
        let (sw, sh) = self.shown;
        let edge = |v: u32, s: f64, max: u32| ((f64::from(v) * s).round() as u32).min(max);
        let x0 = edge(x, sx, sw.saturating_sub(1));
        let y0 = edge(y, sy, sh.saturating_sub(1));
        let x1 = edge(x + w, sx, sw).max(x0 + 1);
        let y1 = edge(y + h, sy, sh).max(y0 + 1);
        [x0, y0, x1 - x0, y1 - y0]
    }

    /// A box of the original as `[ymin, xmin, ymax, xmax]` per mille of the image.
    pub fn per_mille_box(&self, x: u32, y: u32, w: u32, h: u32) -> [u32; 4] {
        let (ow, oh) = self.original;
        let pm = |v: u32, total: u32| {
            ((f64::from(v) * 1000.0 / f64::from(total.max(1))).round() as u32).min(1000)
        };
        [pm(y, oh), pm(x, ow), pm(y + h, oh), pm(x + w, ow)]
    }

    /// The box as a text line writes it: `x=..,y=..,w=..,h=..` or
    /// `box_2d=[ymin,xmin,ymax,xmax]`.
    pub fn box_text(&self, x: u32, y: u32, w: u32, h: u32) -> String {
        match self.style {
            BoxStyle::Pixels => {
                let [x, y, w, h] = self.pixel_box(x, y, w, h);
                format!("x={x},y={y},w={w},h={h}")
            }
            BoxStyle::PerMilleYxyx => {
                let [a, b, c, d] = self.per_mille_box(x, y, w, h);
                format!("box_2d=[{a},{b},{c},{d}]")
            }
        }
    }

    /// One sentence for the system text: the size of the image the model receives and the
    /// frame its boxes are in. `key` names the input (`m1`) or is empty with one input.
    pub fn describe(&self, key: &str, name: &str) -> String {
        let (sw, sh) = self.shown;
        let (ow, oh) = self.original;
        let who = if key.is_empty() {
            format!("Image {name}")
        } else {
            format!("Image {key} ({name})")
        };
        let seen = match self.sent {
            Some((aw, ah)) => format!("is attached at {aw}x{ah} pixels"),
            None => format!("is not attached; it is {ow}x{oh} pixels"),
        };
        let frame = match self.style {
            BoxStyle::Pixels if self.sent == Some(self.shown) && self.shown != self.original => {
                format!(
                    "its boxes are x,y,w,h in the attached image's pixels, not the original's \
                     {ow}x{oh} (JSON-LD selectors on a source ending in :attached likewise)"
                )
            }
            BoxStyle::Pixels
                if self.sent.is_some() && self.shown != self.sent.unwrap_or_default() =>
            {
                format!("its boxes are x,y,w,h in the original's {sw}x{sh} pixels, not the attached image's")
            }
            BoxStyle::Pixels => format!("its boxes are x,y,w,h in its {sw}x{sh} pixels"),
            BoxStyle::PerMilleYxyx => "its boxes are box_2d=[ymin,xmin,ymax,xmax], each \
                 normalised to 0-1000 of the image's height or width (JSON-LD selectors on a \
                 source ending in :attached are in the attached image's pixels)"
                .to_string(),
        };
        format!("{who} {seen}; {frame}.")
    }
}

/// The points of the one polygon in an SVG selector document this crate writes; `None`
/// for any other document.
pub fn svg_points(svg: &str) -> Option<Vec<(f64, f64)>> {
    let start = svg.find("points=\"")? + "points=\"".len();
    let end = start + svg[start..].find('"')?;
    svg[start..end]
        .split_whitespace()
        .map(|pair| {
            let (x, y) = pair.split_once(',')?;
            Some((x.parse().ok()?, y.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_follows_the_attachment_the_provider_and_the_override() {
        let orig = (4032, 3024);
        let sent = Some((2048, 1536));
        let f = Frame::choose(orig, sent, Coords::Auto, Provider::OpenAi);
        assert_eq!(
            (f.shown, f.style, f.sent),
            ((2048, 1536), BoxStyle::Pixels, sent)
        );
        let f = Frame::choose(orig, sent, Coords::Auto, Provider::Gemini);
        assert_eq!(f.style, BoxStyle::PerMilleYxyx);
        let f = Frame::choose(orig, None, Coords::Auto, Provider::Gemini);
        assert!(f.is_identity() && f.sent.is_none());
        let f = Frame::choose(orig, sent, Coords::Original, Provider::Gemini);
        assert!(f.is_identity() && f.sent == sent);
        assert!(f
            .describe("", "\"a.jpg\"")
            .contains("original's 4032x3024 pixels"));
        let f = Frame::choose(orig, sent, Coords::Normalized1000, Provider::OpenAi);
        assert_eq!(f.style, BoxStyle::PerMilleYxyx);
    }

    #[test]
    fn boxes_scale_edge_by_edge_and_never_vanish() {
        let f = Frame::choose(
            (4000, 3000),
            Some((1000, 750)),
            Coords::Auto,
            Provider::OpenAi,
        );
        assert_eq!(f.pixel_box(400, 300, 800, 600), [100, 75, 200, 150]);
        assert_eq!(f.box_text(400, 300, 800, 600), "x=100,y=75,w=200,h=150");
        // A one-pixel line keeps a pixel; the far edge stays inside the image.
        assert_eq!(f.pixel_box(3999, 0, 1, 3000), [999, 0, 1, 750]);
        let g = Frame::choose(
            (4000, 3000),
            Some((1000, 750)),
            Coords::Auto,
            Provider::Gemini,
        );
        assert_eq!(g.box_text(400, 300, 800, 600), "box_2d=[100,100,300,300]");
        assert_eq!(g.per_mille_box(0, 0, 4000, 3000), [0, 0, 1000, 1000]);
        assert_eq!(
            svg_points(
                r#"<svg viewBox="0 0 4000 3000"><polygon points="400,300 1200,300"/></svg>"#
            ),
            Some(vec![(400.0, 300.0), (1200.0, 300.0)])
        );
        assert_eq!(svg_points("<svg>no polygon</svg>"), None);
    }
}
