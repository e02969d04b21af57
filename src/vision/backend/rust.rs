//! The pure Rust backend: every pixel stage in [`crate::vision`], on the caller's thread.

use crate::vision::contours::{find_contours, Contour};
use crate::vision::params::{ImageAnalysis, ImageParams};
use crate::vision::preprocess::{binarize, gaussian_blur, to_gray};
use crate::vision::regions::analyze;
use image::RgbImage;

/// Runs grayscale → blur → threshold → border following → measures on `rgb`, whatever
/// `params.backend` says; [`crate::vision::pipeline::analyze_image`] is the entry point
/// that honours it.
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
