//! Audio analysis over sample buffers: no I/O, one streaming code path for files and live
//! input.
//!
//! - [`features`]: per-frame features (level, zero crossings, spectral shape matched to
//!   librosa, flux, band energies, clipping);
//! - [`frame`]: the analysed [`Frame`] that segmenting and sinks receive;
//! - [`pitch`]: YIN f0 with a voicing confidence;
//! - [`labels`]: the namespaced label vocabulary and the causal, adaptive labelling rules;
//! - [`segment`]: hysteresis segmentation into `[start, end)` segments with summaries;
//! - [`vad`]: the neural voice-activity detector (earshot's network, our front end);
//! - [`analyzer`]: the [`Analyzer`] that ties them together behind a push API.
//!
//! Decoding files into the 16 kHz mono samples these modules expect lives in
//! [`crate::media::audio`].

pub mod analyzer;
pub mod features;
pub mod frame;
pub mod labels;
pub mod pitch;
pub mod segment;
pub mod vad;
pub(crate) mod window;

pub use analyzer::{
    analyze, AnalysisSink, AnalysisSummary, Analyzer, AnalyzerConfig, AudioConfigError, Collector,
    SegmentCollector,
};
pub use features::{FrameFeatures, BAND_NAMES};
pub use frame::Frame;
pub use labels::{FrameLabel, Label, LabelConfig};
pub use pitch::{Pitch, PitchError, Yin};
pub use segment::{Segment, SegmentConfig};
