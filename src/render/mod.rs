//! Pictures of regions and segments: [`overlay`] draws regions over an image (for people to
//! check, and as Set-of-Mark images for models), [`spectrogram`] draws labelled segments
//! over a spectrogram. Both draw with one toolkit
//! (`canvas`: clipped rectangles, text boxes, PNG encoding) and one bitmap font (`font`).

mod canvas;
mod font;
pub mod overlay;
pub mod spectrogram;
