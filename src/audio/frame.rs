//! The analysed frame: what the analyzer hands to segmenting and to every sink. It has a
//! file of its own so that the analyzer and the segmenter both depend on it, not on each
//! other.

use super::features::FrameFeatures;
use super::labels::FrameLabel;

/// One analysed frame: its features, its label and the voice score it saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Measured features.
    pub features: FrameFeatures,
    /// Label, confidence, floor and onset.
    pub label: FrameLabel,
    /// The latest earshot score (from the last 256-sample block ending inside this frame),
    /// if the detector is configured. The detector is gated (see
    /// [`Analyzer`](super::Analyzer)): a block it was not run on scores 0.
    pub vad: Option<f32>,
}
