//! Pure image algorithms over in-memory buffers: preprocessing, border following,
//! region measures and the words derived from them. Nothing here touches the filesystem.

pub mod color;
pub mod contours;
pub mod measure;
pub mod preprocess;
pub mod regions;
pub mod segment;
pub mod words;

pub mod backend;
pub mod params;
pub mod pipeline;

use serde::Serialize;

/// An integer pixel position, `x` to the right and `y` down, origin at the top-left pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Point {
    /// Column.
    pub x: i32,
    /// Row.
    pub y: i32,
}

impl Point {
    /// Builds a point.
    pub const fn new(x: i32, y: i32) -> Self {
        Self { x, y }
    }
}
