//! Words derived from measures: shape, size, position. Each rule is documented on its type.

/// Shape word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Round.
    Circle,
    /// Oval.
    Ellipse,
    /// Three corners.
    Triangle,
    /// Four corners, equal sides.
    Square,
    /// Four corners.
    Rectangle,
    /// Five or more corners, convex-ish.
    Polygon,
    /// Anything else.
    Irregular,
}

/// Size relative to the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeClass {
    /// Tiny.
    Tiny,
    /// Small.
    Small,
    /// Medium.
    Medium,
    /// Large.
    Large,
    /// Huge.
    Huge,
}

/// Position on a 3×3 grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Top left.
    TopLeft,
}
