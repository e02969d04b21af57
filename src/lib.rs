//! mmprompt turns media into JSON-LD prompt fragments with spatial and temporal anchors.
//!
//! The crate is library first:
//! - [`vision`] holds the pure image algorithms over buffers;
//! - [`pipeline`] chains them into one call from pixels to ranked regions;
//! - [`backend`] picks the pure Rust stages or, with the `opencv` feature, OpenCV's;
//! - [`media`] decodes files into buffers, [`fsio`] walks inputs and writes outputs atomically;
//! - [`audio`] holds the streaming audio analyzer (features, labels, segments);
//! - [`extract`] turns one media file into its document, whatever its kind;
//! - [`batch`] runs many files on a bounded worker pool with a resumable manifest;
//! - [`jsonld`] builds the W3C Web Annotation documents and the compact text lines;
//! - [`overlay`] draws regions for people to check;
//! - [`prompt`] assembles fragments into provider requests within a token budget;
//! - [`llm`] posts them: provider shapes, streaming, retries and endpoint profiles.
//! - [`capture`] and [`live`] run the analyzer on a microphone, one NDJSON line per segment.
#![forbid(unsafe_code)]

pub mod audio;
pub mod backend;
pub mod batch;
pub mod capture;
pub mod extract;
pub mod fsio;
pub mod jsonld;
pub mod live;
pub mod llm;
pub mod media;
pub mod overlay;
pub mod pipeline;
pub mod prompt;
pub mod send;
pub mod spectrogram;
pub mod vision;
