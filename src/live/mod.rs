//! Live mode: audio from a microphone (or a replayed file) through the same analyzer that
//! files use, one document per segment the moment it closes.
//!
//! - [`capture`]: the ALSA capture path (cpal) and its lock-free ring, or a file replayed
//!   at its own pace;
//! - [`session`]: drains the capture, analyses, and hands segments to consumers;
//! - `window` (feature `llm`): groups recent segments into windows posted to an endpoint.

pub mod capture;
pub mod session;
#[cfg(feature = "llm")]
pub mod window;

pub use session::{
    run_session, ChannelConsumer, EndReason, LiveError, LiveOptions, LiveSegment, LiveStatus,
    NdjsonWriter, SegmentConsumer, SessionSummary, DEFAULT_NO_DATA_TIMEOUT,
};
#[cfg(feature = "llm")]
pub use window::{SendTrigger, WindowSender, Windows};
