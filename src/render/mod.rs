//! Pictures for people to check, never parsed: [`overlay`] draws regions over an image,
//! [`spectrogram`] draws labelled segments over a spectrogram.

pub mod overlay;
pub mod spectrogram;
