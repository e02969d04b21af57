//! mmprompt turns media into JSON-LD prompt fragments with spatial and temporal anchors.
//!
//! The crate is library first, in layers; each folder owns one:
//! - [`vision`] holds the pure image algorithms over buffers, and beneath them the
//!   pipeline's parameters, its one entry point and its backends (pure Rust, or OpenCV with
//!   the `opencv` feature);
//! - [`audio`] holds the streaming audio analyzer (features, labels, segments), also pure;
//! - [`media`] decodes files into those buffers (images, and audio resampled as it streams);
//! - [`doc`] is the document model: W3C Web Annotation JSON-LD, its context and schema, and
//!   the compact text lines;
//! - [`framing`] reads the framing of streamed answers (server-sent events, NDJSON) from
//!   any reader, with no HTTP client;
//! - [`render`] draws what people check: region overlays and labelled spectrograms;
//! - [`jobs`] turns files into outputs: one file into one document, batches on a worker
//!   pool, the resumable manifest and atomic file output;
//! - [`prompt`] (feature `llm`) assembles fragments into a provider-neutral prompt within a
//!   token budget, [`llm`] shapes it for each provider and posts it, and [`send`] runs one
//!   prompt end to end: post, validate, resolve citations, save;
//! - [`live`] (feature `live`) runs the same analyzer on a microphone;
//! - [`mcp`] (feature `mcp`) serves `extract` and `prompt` as tools to agents.
//!
//! The library prints nothing: long jobs report through sinks the caller implements
//! ([`jobs::batch::BatchSink`], [`live::SegmentConsumer`]); the `mmprompt` binary, built with
//! the default `cli` feature, owns every line written to a terminal.
//!
//! Without default features the crate builds only the cores, media decoding, documents,
//! stream framing, rendering and batch jobs, with no audio device, HTTP, TLS or tokenizer
//! dependency.
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::missing_errors_doc, clippy::missing_panics_doc)]

pub mod audio;
pub mod doc;
pub mod framing;
pub mod jobs;
#[cfg(feature = "live")]
pub mod live;
#[cfg(feature = "llm")]
pub mod llm;
#[cfg(feature = "mcp")]
pub mod mcp;
pub mod media;
pub mod panics;
#[cfg(feature = "llm")]
pub mod prompt;
pub mod render;
#[cfg(feature = "llm")]
pub mod send;
pub mod vision;
