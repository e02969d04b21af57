//! The pure Rust backend: every pixel stage in [`crate::vision`], on the caller's thread.

use crate::vision::contours::{find_contours, Contour};
use crate::vision::params::{ImageAnalysis, ImageParams, SegmentMode};
use crate::vision::preprocess::{binarize, gaussian_blur, to_gray};
use crate::vision::regions::{analyze, from_segmentation};
use crate::vision::segment::{segment, SegmentParams};
use image::RgbImage;

/// Runs grayscale → blur → threshold → border following → measures on `rgb`, whatever
/// `params.backend` says; [`crate::vision::pipeline::analyze_image`] is the entry point
/// that honours it.
pub fn analyze_image(rgb: &RgbImage, params: &ImageParams) -> ImageAnalysis {
    if params.segment == SegmentMode::Color {
        return analyze_color(rgb, params);
    }
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

/// The colour mode smooths its working image by this fraction of `--blur`: the
/// default blur of 1 is the threshold mode's, and half of it is what the region
/// benchmark's tuning part prefers for the colour mode (sharper boundaries).
pub const COLOR_BLUR_FACTOR: f32 = 0.5;

/// The colour mode: segmentation, hierarchy and object-first selection
/// ([`crate::vision::segment`]), then the same measures and words. `threshold`, `invert`
/// and `regions.holes` do not apply and are ignored.
pub fn analyze_color(rgb: &RgbImage, params: &ImageParams) -> ImageAnalysis {
    let seg = segment(
        rgb,
        &SegmentParams {
            sigma: COLOR_BLUR_FACTOR * params.blur,
            ..SegmentParams::default()
        },
    );
    let regions = from_segmentation(rgb.width(), rgb.height(), &seg, &params.regions);
    ImageAnalysis {
        width: rgb.width(),
        height: rgb.height(),
        threshold: None,
        inverted: false,
        contour_count: seg.leaves,
        regions,
    }
}
