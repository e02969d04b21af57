//! The image pipeline as one pure function: RGB pixels in, ranked regions out.
//! Decoding happens before it (`media`), serialisation after it (`jsonld`).

pub use crate::backend::Backend;
use crate::vision::contours::{find_contours, Contour};
use crate::vision::preprocess::{binarize, gaussian_blur, to_gray, Invert, Threshold};
use crate::vision::regions::{analyze, MinArea, Region, RegionOptions};
use image::RgbImage;
use serde_json::{json, Value};
use std::fmt;
use std::str::FromStr;

/// Every parameter that changes an image's output; recorded in the `generator` block.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageParams {
    /// Gaussian blur sigma in pixels; 0 disables the blur.
    pub blur: f32,
    /// Threshold mode.
    pub threshold: Threshold,
    /// Foreground polarity.
    pub invert: Invert,
    /// Which regions are kept.
    pub regions: RegionOptions,
    /// Decoding cap in pixels.
    pub max_pixels: u64,
    /// Which implementation decodes and runs the pixel stages.
    pub backend: Backend,
}

impl Default for ImageParams {
    fn default() -> Self {
        Self {
            blur: 1.0,
            threshold: Threshold::Otsu,
            invert: Invert::Auto,
            regions: RegionOptions::default(),
            max_pixels: crate::media::image::DEFAULT_MAX_PIXELS,
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
    /// All borders traced, before filtering.
    pub contour_count: usize,
    /// The kept regions, most salient first.
    pub regions: Vec<Region>,
}

/// Runs grayscale → blur → threshold → border following → measures on `rgb`.
///
/// ```
/// use mmprompt::pipeline::{analyze_image, ImageParams};
/// let mut img = image::RgbImage::from_pixel(64, 48, image::Rgb([255, 255, 255]));
/// for y in 10..30 {
///     for x in 20..40 {
///         img.put_pixel(x, y, image::Rgb([200, 0, 0]));
///     }
/// }
/// let found = analyze_image(&img, &ImageParams::default());
/// assert_eq!(found.regions.len(), 1);
/// assert_eq!(found.regions[0].color_name, "red");
/// ```
pub fn analyze_image(rgb: &RgbImage, params: &ImageParams) -> ImageAnalysis {
    let gray = to_gray(rgb);
    let blurred = gaussian_blur(&gray, params.blur);
    let bin = binarize(&blurred, params.threshold, params.invert);
    let contours: Vec<Contour> = find_contours(&bin.mask);
    let regions = analyze(rgb, &gray, &bin.mask, &contours, &params.regions);
    ImageAnalysis {
        width: rgb.width(),
        height: rgb.height(),
        threshold: bin.threshold,
        inverted: bin.inverted,
        contour_count: contours.len(),
        regions,
    }
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
