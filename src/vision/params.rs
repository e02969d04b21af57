//! What the image pipeline takes and gives: its parameters (backend included) and its
//! result. Both backends and the entry point in [`super::pipeline`] share these types, so
//! none of them imports another.

use crate::vision::preprocess::{Invert, Threshold};
use crate::vision::regions::{MinArea, Region, RegionOptions};
use serde_json::{json, Value};
use std::fmt;
use std::str::FromStr;

/// The implementation of decode, grayscale, blur, threshold and border following.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The pure Rust implementation; always available.
    #[default]
    Rust,
    /// OpenCV through the `opencv` crate; only in builds with the `opencv` feature.
    Opencv,
}

impl Backend {
    /// Whether this build can run the backend.
    pub const fn is_available(self) -> bool {
        match self {
            Self::Rust => true,
            Self::Opencv => cfg!(feature = "opencv"),
        }
    }
}

impl FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rust" => Ok(Self::Rust),
            "opencv" => Ok(Self::Opencv),
            _ => Err(format!("'{s}' is not a backend; use rust or opencv")),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rust => "rust",
            Self::Opencv => "opencv",
        })
    }
}

/// How regions are found before their borders are traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SegmentMode {
    /// Colour segmentation with object-first ranking ([`crate::vision::segment`]): the
    /// mode for photographs and scenes.
    #[default]
    Color,
    /// Grayscale, blur and a threshold (`threshold`, `invert`), exactly as OpenCV: the
    /// mode for scans, documents, silhouettes and drawings on a plain ground.
    Threshold,
}

impl FromStr for SegmentMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "color" | "colour" => Ok(Self::Color),
            "threshold" => Ok(Self::Threshold),
            _ => Err(format!(
                "'{s}' is not a segmentation mode; use color or threshold"
            )),
        }
    }
}

impl fmt::Display for SegmentMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Color => "color",
            Self::Threshold => "threshold",
        })
    }
}

/// Every parameter that changes an image's output; recorded in the `generator` block.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageParams {
    /// How regions are found.
    pub segment: SegmentMode,
    /// Gaussian blur sigma in pixels; 0 disables the blur. Colour mode smooths its
    /// working image by half this sigma, in working pixels.
    pub blur: f32,
    /// Threshold mode.
    pub threshold: Threshold,
    /// Foreground polarity.
    pub invert: Invert,
    /// Which regions are kept.
    pub regions: RegionOptions,
    /// Decoding cap in pixels.
    pub max_pixels: u64,
    /// Decoding cap in bytes, in the image's own pixel format.
    pub max_bytes: u64,
    /// Which implementation decodes and runs the pixel stages.
    pub backend: Backend,
}

impl Default for ImageParams {
    fn default() -> Self {
        Self {
            segment: SegmentMode::Color,
            blur: 1.0,
            threshold: Threshold::Otsu,
            invert: Invert::Auto,
            regions: RegionOptions::default(),
            max_pixels: crate::media::image::DEFAULT_MAX_PIXELS,
            max_bytes: crate::media::image::DEFAULT_MAX_IMAGE_BYTES,
            backend: Backend::Rust,
        }
    }
}

impl ImageParams {
    /// The parameters as JSON, in the spelling the command line accepts.
    ///
    /// The backend is named only when it is not the default, so documents and resume
    /// hashes from before backends existed stay valid, while an OpenCV output is never
    /// taken as up to date for a Rust run or the other way round.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "segment": self.segment.to_string(),
            "blur": f64::from(self.blur),
            "threshold": self.threshold.to_string(),
            "invert": self.invert.to_string(),
            "maxRegions": self.regions.max_regions,
            "minArea": MinAreaArg(self.regions.min_area).to_string(),
            "holes": self.regions.holes,
            "maxPixels": self.max_pixels,
        });
        if let (Value::Object(m), Backend::Opencv) = (&mut v, self.backend) {
            m.insert("backend".into(), self.backend.to_string().into());
        }
        // Likewise the byte cap, which came later: only a changed one is named.
        if let (Value::Object(m), true) = (
            &mut v,
            self.max_bytes != crate::media::image::DEFAULT_MAX_IMAGE_BYTES,
        ) {
            m.insert("maxImageBytes".into(), self.max_bytes.into());
        }
        v
    }
}

/// What the pipeline found in one image.
#[derive(Debug, Clone)]
pub struct ImageAnalysis {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// The global threshold chosen, where the mode has one.
    pub threshold: Option<u8>,
    /// Whether dark pixels were the foreground.
    pub inverted: bool,
    /// All borders traced, before filtering (colour mode: the segments the graph
    /// segmentation found).
    pub contour_count: usize,
    /// The kept regions, most salient first.
    pub regions: Vec<Region>,
}

/// `--min-area` as typed: a pixel count (`120`) or a percentage of the image (`0.5%`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinAreaArg(pub MinArea);

impl FromStr for MinAreaArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("'{s}' is not a percentage like 0.5%"))?;
            if !(0.0..=100.0).contains(&v) {
                return Err(format!("'{s}' must be between 0% and 100%"));
            }
            Ok(Self(MinArea::Percent(v)))
        } else {
            let px = s.strip_suffix("px").unwrap_or(s).trim();
            px.parse::<u64>()
                .map(|v| Self(MinArea::Pixels(v)))
                .map_err(|_| {
                    format!("'{s}' is neither a pixel count (e.g. 50) nor a percentage (e.g. 0.5%)")
                })
        }
    }
}

impl fmt::Display for MinAreaArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            MinArea::Pixels(n) => write!(f, "{n}"),
            MinArea::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_parses_and_displays() {
        for b in [Backend::Rust, Backend::Opencv] {
            assert_eq!(b.to_string().parse::<Backend>(), Ok(b));
        }
        assert_eq!("OpenCV".parse::<Backend>(), Ok(Backend::Opencv));
        assert!("cuda".parse::<Backend>().is_err());
    }

    #[test]
    fn only_a_non_default_backend_is_recorded() {
        let rust = ImageParams::default().to_json();
        assert!(rust.get("backend").is_none());
        let cv = ImageParams {
            backend: Backend::Opencv,
            ..ImageParams::default()
        }
        .to_json();
        assert_eq!(cv["backend"], "opencv");
    }

    #[test]
    fn min_area_parses_and_round_trips() {
        for s in ["50", "0.02%", "0%", "100%"] {
            let v: MinAreaArg = s.parse().unwrap();
            assert_eq!(v.to_string(), s);
        }
        assert_eq!("50px".parse::<MinAreaArg>().unwrap().0, MinArea::Pixels(50));
        assert!("abc".parse::<MinAreaArg>().is_err());
        assert!("101%".parse::<MinAreaArg>().is_err());
        assert!("-1".parse::<MinAreaArg>().is_err());
    }
}
