//! Turns traced borders into ranked regions with measures and words.

use super::contours::{BorderKind, Contour};
use super::measure::RotatedRect;
use super::words::{Position, Shape, SizeClass};
use super::Point;
use image::{GrayImage, RgbImage};

/// An axis-aligned box in integer pixels, `x`/`y` the top-left pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Rect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
}

/// Minimum area for a region to be kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinArea {
    /// Absolute number of pixels.
    Pixels(u64),
    /// Percentage of the image area.
    Percent(f64),
}

/// Options that decide which regions are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionOptions {
    /// Keep at most this many, most salient first; 0 keeps all.
    pub max_regions: usize,
    /// Drop regions smaller than this.
    pub min_area: MinArea,
    /// Also report hole borders as regions.
    pub holes: bool,
}

impl Default for RegionOptions {
    fn default() -> Self {
        Self {
            max_regions: 64,
            min_area: MinArea::Percent(0.02),
            holes: false,
        }
    }
}

/// One region, ready to be serialised.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Index of the border in the contour list it came from.
    pub contour: usize,
    /// Outer border or hole border.
    pub kind: BorderKind,
    /// Index (in the returned region list) of the enclosing kept region, if any.
    pub parent: Option<usize>,
    /// Number of hole borders directly inside this region.
    pub holes: usize,
    /// Bounding box of the border pixels.
    pub bbox: Rect,
    /// Shoelace area of the border polygon (as OpenCV `contourArea`).
    pub area: f64,
    /// Number of pixels in the region (foreground pixels for outer borders).
    pub pixel_count: u64,
    /// Closed border length (as OpenCV `arcLength(closed=true)`).
    pub perimeter: f64,
    /// Centroid from the polygon's moments (falls back to the mean border pixel).
    pub centroid: (f64, f64),
    /// Douglas–Peucker simplification of the border.
    pub polygon: Vec<Point>,
    /// Convex hull of the border.
    pub hull: Vec<Point>,
    /// Area of the convex hull.
    pub hull_area: f64,
    /// `area / hull_area`.
    pub solidity: f64,
    /// `4π·area / perimeter²`.
    pub circularity: f64,
    /// Minimum-area rotated rectangle.
    pub rotated: RotatedRect,
    /// Mean colour of the region's pixels in the original image.
    pub mean_color: [u8; 3],
    /// Most frequent (quantised) colour of the region's pixels.
    pub dominant_color: [u8; 3],
    /// Name of the dominant colour.
    pub color_name: &'static str,
    /// Shape word.
    pub shape: Shape,
    /// Size word relative to the image.
    pub size: SizeClass,
    /// Position on a 3×3 grid.
    pub position: Position,
    /// Salience score in [0, 1]; higher ranks first.
    pub salience: f64,
}

/// Measures, names and ranks the regions of `contours`.
pub fn analyze(
    rgb: &RgbImage,
    gray: &GrayImage,
    mask: &GrayImage,
    contours: &[Contour],
    options: &RegionOptions,
) -> Vec<Region> {
    let _ = (rgb, gray, mask, contours, options);
    Vec::new()
}
