//! Geometric measures of a border: area, perimeter, moments, polygon, hull, rotated box.

/// A rotated rectangle as OpenCV `minAreaRect` reports it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RotatedRect {
    /// Centre x.
    pub cx: f64,
    /// Centre y.
    pub cy: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
    /// Angle in degrees.
    pub angle: f64,
}
