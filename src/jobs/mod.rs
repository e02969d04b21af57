//! From files to outputs: the I/O edge around the pure cores.
//!
//! - [`extract`]: one media file in, one document out (sniff, decode, analyse, render);
//! - [`batch`]: many files on a bounded worker pool, resumable through the manifest;
//! - [`fsio`]: walking inputs and writing outputs atomically;
//! - [`manifest`]: the append-only NDJSON record of finished work, for batches and sends;
//! - [`worker`]: batch inputs in worker processes, so one bad input costs only itself.

pub mod batch;
pub mod extract;
pub mod fsio;
pub mod manifest;
pub mod settings;
pub mod stream;
pub mod worker;
