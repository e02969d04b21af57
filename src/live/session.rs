//! The live session: drains a [`Capture`] into a [`SampleStream`] (the downmix,
//! resampling and analyzer `extract` runs), and hands every segment to the
//! [`SegmentConsumer`]s the moment it closes.
//!
//! Every way out of [`run_session`] (stop flag, device error, no data, a replayed file's
//! end, an output error) goes through one shutdown path: what is still in the ring is
//! analysed, the resampler and analyzer are flushed so the open segment closes at the end of
//! the captured audio and reaches the consumers, and the WAV recording is finalized.

use crate::audio::AudioConfigError;
use crate::doc::{ContextMode, LiveSourceInfo};
use crate::jobs::extract::AudioParams;
use crate::jobs::stream::{SampleStream, StreamError};
use crate::live::capture::{Capture, CaptureError, CaptureStats};
use crate::media::audio::AudioErrorKind;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Default for [`LiveOptions::no_data_timeout`].
pub const DEFAULT_NO_DATA_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the analysis thread sleeps when the ring is empty: short next to the 50 ms
/// latency budget, long enough to cost nothing measurable.
const IDLE_POLL: Duration = Duration::from_millis(2);
/// Interval of the status lines.
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// Why a session failed. Whatever was captured before the failure has still been analysed,
/// written and recorded.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The device could not be found or opened.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// The analysis parameters are unusable.
    #[error("audio parameters: {0}")]
    Config(#[from] AudioConfigError),
    /// The device rate cannot be resampled to the analysis rate.
    #[error("{0}")]
    Resample(AudioErrorKind),
    /// The recording could not be written.
    #[error("{}: cannot write the recording: {detail}", path.display())]
    Record {
        /// The WAV file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// A segment consumer failed (e.g. the output file or pipe).
    #[error("cannot write a segment: {0}")]
    Output(#[source] std::io::Error),
    /// The stream reported an error (device unplugged, driver failure) and stopped.
    #[error("capture stopped: {0}")]
    DeviceLost(String),
    /// The stream delivered nothing for too long.
    #[error("no audio from '{device}' for {seconds:.1} s (the device is open but sends no data); giving up")]
    NoData {
        /// The device.
        device: String,
        /// How long it was silent.
        seconds: f64,
    },
}

impl LiveError {
    /// A stable machine-readable name for the kind.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Capture(e) => e.code(),
            Self::Config(_) => "bad_parameters",
            Self::Resample(k) => k.code(),
            Self::Record { .. } => "record",
            Self::Output(_) => "output",
            Self::DeviceLost(_) => "device_lost",
            Self::NoData { .. } => "no_data",
        }
    }
}

pub use crate::jobs::stream::LiveSegment;

/// Receives each segment the moment it closes, on the analysis thread. A consumer that may
/// block (network, a slow model) must hand the work to its own thread, e.g. through
/// [`ChannelConsumer`]: time spent here is time the ring fills.
pub trait SegmentConsumer {
    /// Takes one segment; an error ends the session (after the shutdown path).
    ///
    /// # Errors
    /// An error ends the session, through the same shutdown path as a stop.
    fn on_segment(&mut self, segment: &LiveSegment) -> std::io::Result<()>;
    /// Called about once a second with the capture's level and counters, when
    /// [`LiveOptions::status`] asks for it. The default ignores it.
    ///
    /// # Errors
    /// An error ends the session, as from [`SegmentConsumer::on_segment`].
    fn on_status(&mut self, _status: &LiveStatus) -> std::io::Result<()> {
        Ok(())
    }
    /// Called once after the last segment.
    ///
    /// # Errors
    /// The session reports it as [`LiveError::Output`], after every consumer has finished.
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The capture's level and counters over the last status interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveStatus {
    /// RMS level in dBFS; `None` for digital silence.
    pub rms_dbfs: Option<f64>,
    /// Peak level in dBFS; `None` for digital silence.
    pub peak_dbfs: Option<f64>,
    /// Frames captured per second over the interval.
    pub frames_per_second: f64,
    /// Frames dropped so far because the ring was full.
    pub dropped_frames: u64,
    /// Overruns the device reported so far.
    pub device_xruns: u64,
}

/// Writes each segment's annotation as one JSON line and flushes it at once.
#[derive(Debug)]
pub struct NdjsonWriter<W: Write>(pub W);

impl<W: Write> SegmentConsumer for NdjsonWriter<W> {
    fn on_segment(&mut self, segment: &LiveSegment) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.0, &segment.annotation)?;
        self.0.write_all(b"\n")?;
        self.0.flush()
    }
    fn finish(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Forwards segments to another thread over an unbounded channel, so a slow receiver (a
/// model call) never holds up the analysis, and through it the capture. A receiver that
/// has gone away is not an error: the session goes on without it.
#[derive(Debug, Clone)]
pub struct ChannelConsumer(pub std::sync::mpsc::Sender<LiveSegment>);

impl SegmentConsumer for ChannelConsumer {
    fn on_segment(&mut self, segment: &LiveSegment) -> std::io::Result<()> {
        let _ = self.0.send(segment.clone());
        Ok(())
    }
}

/// How a session runs.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveOptions {
    /// Analysis parameters, as for `extract` (only rate, frame and hop matter here).
    pub audio: AudioParams,
    /// Keep the raw capture (device rate and channels, 32-bit float) in this WAV file.
    pub record: Option<PathBuf>,
    /// Give up when the device delivers nothing for this long.
    pub no_data_timeout: Duration,
    /// Hand a [`LiveStatus`] (level, frames/s, overruns) to the consumers every second.
    pub status: bool,
    /// How lines refer to the JSON-LD context.
    pub context: ContextMode,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            audio: AudioParams::default(),
            record: None,
            no_data_timeout: DEFAULT_NO_DATA_TIMEOUT,
            status: false,
            context: ContextMode::Reference,
        }
    }
}

/// How a session ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The stop flag was raised (SIGINT, SIGTERM).
    Stopped,
    /// The source ended on its own (a replayed file).
    Ended,
}

/// Totals of a finished session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionSummary {
    /// Why it ended.
    pub reason: EndReason,
    /// Segments delivered.
    pub segments: usize,
    /// Seconds of audio analysed.
    pub duration_s: f64,
    /// Capture counters (frames, dropped frames, device overruns).
    pub capture: CaptureStats,
}

type Recorder = hound::WavWriter<std::io::BufWriter<std::fs::File>>;

fn record_error(path: &Path, e: impl std::fmt::Display) -> LiveError {
    LiveError::Record {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

/// The analysis side of a session: the stream between popped frames and consumers.
struct Pipeline<'x, 'y> {
    stream: SampleStream,
    closed: Vec<LiveSegment>,
    consumers: &'x mut [&'y mut dyn SegmentConsumer],
}

impl Pipeline<'_, '_> {
    fn push(&mut self, interleaved: &[f32]) -> Result<(), LiveError> {
        let pushed = self.stream.push(interleaved, &mut self.closed);
        self.deliver()?;
        pushed.map_err(LiveError::Resample)
    }

    fn deliver(&mut self) -> Result<(), LiveError> {
        for live in self.closed.drain(..) {
            for c in self.consumers.iter_mut() {
                c.on_segment(&live).map_err(LiveError::Output)?;
            }
        }
        Ok(())
    }

    fn status(&mut self, status: &LiveStatus) -> Result<(), LiveError> {
        for c in self.consumers.iter_mut() {
            c.on_status(status).map_err(LiveError::Output)?;
        }
        Ok(())
    }

    /// Flushes the resampler and closes the open segment at the end of the audio.
    fn finish(&mut self) -> Result<f64, LiveError> {
        let flushed = self.stream.finish(&mut self.closed);
        let delivered = self.deliver();
        let mut finished = Ok(());
        for c in self.consumers.iter_mut() {
            if let Err(e) = c.finish() {
                finished = Err(LiveError::Output(e));
            }
        }
        let duration = flushed.map_err(LiveError::Resample)?;
        delivered?;
        finished?;
        Ok(duration)
    }
}

/// Level and rate over the last status interval.
struct Meter {
    since: Instant,
    frames: u64,
    sum_sq: f64,
    peak: f32,
}

impl Meter {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            frames: 0,
            sum_sq: 0.0,
            peak: 0.0,
        }
    }
    fn add(&mut self, samples: &[f32], channels: usize) {
        for &s in samples {
            self.sum_sq += f64::from(s) * f64::from(s);
            self.peak = self.peak.max(s.abs());
        }
        self.frames += (samples.len() / channels.max(1)) as u64;
    }
    /// The interval's status, and a new interval.
    fn take(&mut self, stats: &CaptureStats, channels: usize) -> LiveStatus {
        let secs = self.since.elapsed().as_secs_f64().max(1e-9);
        let n = (self.frames * channels as u64).max(1) as f64;
        let db = |v: f64| (v > 0.0).then(|| 20.0 * v.log10());
        let status = LiveStatus {
            rms_dbfs: db((self.sum_sq / n).sqrt()),
            peak_dbfs: db(f64::from(self.peak)),
            frames_per_second: self.frames as f64 / secs,
            dropped_frames: stats.dropped_frames,
            device_xruns: stats.device_xruns,
        };
        *self = Self::new();
        status
    }
}

/// Runs a session until `stop` is raised, the source ends, or something fails; see the
/// module docs for what every exit path still does.
///
/// ```no_run
/// use mmprompt::live::capture::open_device;
/// use mmprompt::live::{run_session, LiveOptions, NdjsonWriter, SegmentConsumer};
/// use std::sync::atomic::AtomicBool;
///
/// let capture = open_device(None)?; // the default input
/// let mut out = NdjsonWriter(std::io::stdout().lock());
/// let stop = AtomicBool::new(false); // raise it from a signal handler to end cleanly
/// let summary = run_session(capture, &LiveOptions::default(), &mut [&mut out], &stop)?;
/// eprintln!("{} segments, {:.1} s", summary.segments, summary.duration_s);
/// # Ok::<(), mmprompt::live::LiveError>(())
/// ```
///
/// # Errors
/// A [`LiveError`] when the parameters are unusable, the device rate cannot be resampled,
/// the recording or a consumer fails, the device reports an error, or it delivers nothing
/// for `options.no_data_timeout`. Whatever was captured before is still analysed, handed to
/// the consumers and recorded.
pub fn run_session(
    mut capture: Capture,
    options: &LiveOptions,
    consumers: &mut [&mut dyn SegmentConsumer],
    stop: &AtomicBool,
) -> Result<SessionSummary, LiveError> {
    let format = capture.format().clone();
    let channels = usize::from(format.channels.max(1));
    let mut recorder: Option<Recorder> = match &options.record {
        Some(path) => Some(
            hound::WavWriter::create(
                path,
                hound::WavSpec {
                    channels: format.channels,
                    sample_rate: format.sample_rate,
                    bits_per_sample: 32,
                    sample_format: hound::SampleFormat::Float,
                },
            )
            .map_err(|e| record_error(path, e))?,
        ),
        None => None,
    };
    let stream = SampleStream::new(
        LiveSourceInfo {
            session: session_id(),
            device: format.device.clone(),
            sample_rate: format.sample_rate,
            channels: u32::from(format.channels.max(1)),
            started: SystemTime::now(),
        },
        &options.audio,
        options.context,
    )
    .map_err(|e| match e {
        StreamError::Config(c) => LiveError::Config(c),
        StreamError::Source(k) => LiveError::Resample(k),
    })?;
    let mut pipeline = Pipeline {
        stream,
        closed: Vec::new(),
        consumers,
    };
    // ~20 ms of audio per pop keeps each step short, so a segment is never held back long.
    let mut buf = vec![0.0f32; (format.sample_rate as usize / 50).max(1) * channels];
    let mut last_data = Instant::now();
    let mut have_start = false;
    let mut meter = Meter::new();
    let mut last_status = Instant::now();

    let outcome: Result<EndReason, LiveError> = loop {
        // Checked before popping: a source that delivers faster than it is read (a broken
        // device streaming zeros) would otherwise keep the ring from ever emptying.
        if stop.load(Ordering::Relaxed) {
            break Ok(EndReason::Stopped);
        }
        let n = capture.pop(&mut buf);
        if n > 0 {
            if !have_start {
                if let Some(t) = capture.started() {
                    pipeline.stream.set_started(t);
                }
                have_start = true;
            }
            last_data = Instant::now();
            let chunk = &buf[..n];
            if let (Some(w), Some(path)) = (recorder.as_mut(), options.record.as_ref()) {
                if let Err(e) = chunk.iter().try_for_each(|&s| w.write_sample(s)) {
                    break Err(record_error(path, e));
                }
            }
            if options.status {
                meter.add(chunk, channels);
            }
            if let Err(e) = pipeline.push(chunk) {
                break Err(e);
            }
            continue;
        }
        // The ring is empty: everything delivered so far has been analysed.
        if let Some(e) = capture.error() {
            break Err(LiveError::DeviceLost(e));
        }
        if capture.ended() {
            break Ok(EndReason::Ended);
        }
        let idle = last_data.elapsed();
        if idle >= options.no_data_timeout {
            break Err(LiveError::NoData {
                device: format.device.clone(),
                seconds: idle.as_secs_f64(),
            });
        }
        if options.status && last_status.elapsed() >= STATUS_EVERY {
            let status = meter.take(&capture.stats(), channels);
            if let Err(e) = pipeline.status(&status) {
                break Err(e);
            }
            last_status = Instant::now();
        }
        // Polling a lock-free ring: the audio thread must not signal (that could block it).
        std::thread::sleep(IDLE_POLL);
    };
    // Whatever was captured before the stop or the failure is still in the ring: analyse
    // and record it. Bounded by what is there now, so a source that keeps delivering
    // cannot hold the shutdown.
    let mut left = capture.available();
    let mut drain_error = None;
    while left > 0 {
        let n = capture.pop(&mut buf);
        if n == 0 {
            break;
        }
        left = left.saturating_sub(n);
        if let (Some(w), Some(path)) = (recorder.as_mut(), options.record.as_ref()) {
            if let Err(e) = buf[..n].iter().try_for_each(|&s| w.write_sample(s)) {
                drain_error = Some(record_error(path, e));
                break;
            }
        }
        if let Err(e) = pipeline.push(&buf[..n]) {
            drain_error = Some(e);
            break;
        }
    }
    let stats = capture.stats();
    // Everything captured is written before the stream is let go, so even a stream that
    // hangs on release cannot cost a line or the recording.
    let finished = pipeline.finish();
    let recorded = match (recorder, &options.record) {
        (Some(w), Some(path)) => w.finalize().map_err(|e| record_error(path, e)),
        _ => Ok(()),
    };
    if outcome.is_err() {
        // A stream that failed or went quiet may have its thread stuck in a blocking read
        // of the device; dropping it would join that thread and hang. The caller is about
        // to report the error and exit, so the stream is left to the process's end.
        std::mem::forget(capture);
    } else {
        drop(capture);
    }
    let reason = outcome?;
    if let Some(e) = drain_error {
        return Err(e);
    }
    let duration_s = finished?;
    recorded?;
    Ok(SessionSummary {
        reason,
        segments: pipeline.stream.delivered(),
        duration_s,
        capture: stats,
    })
}

/// A session id unique on this machine: start time in microseconds and the process id.
fn session_id() -> String {
    let us = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!("{us:x}-{}", std::process::id())
}
