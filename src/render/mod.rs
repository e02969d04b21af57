//! Pictures for people to check, never parsed: [`overlay`] draws regions over an image,
//! [`spectrogram`] draws labelled segments over a spectrogram. Both draw with one toolkit
//! (`canvas`: clipped rectangles, text boxes, PNG encoding) and one bitmap font (`font`).

mod canvas;
mod font;
pub mod overlay;
pub mod spectrogram;
