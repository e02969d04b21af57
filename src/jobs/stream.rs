//! Audio pushed in chunks, segments out the moment they close: the path a live session
//! runs, without the device. Chunks of any rate and channel count are downmixed and
//! resampled exactly as `extract` does ([`downmix_into`], [`MonoResampler`]), run through
//! the same [`Analyzer`], and each closed segment comes back with its JSON-LD annotation.
//!
//! `mmprompt live` drives one [`SampleStream`] from the capture ring; the Python package's
//! `Analyzer` drives one from arrays. How the audio is cut into chunks never changes the
//! segments (the analyzer and resampler are chunk-invariant).

use crate::audio::{AnalysisSink, Analyzer, AudioConfigError, Segment};
use crate::doc::{self, ContextMode, LiveSourceInfo};
use crate::jobs::extract::AudioParams;
use crate::media::audio::{downmix_into, AudioErrorKind, MonoResampler};

/// One closed segment of a stream.
#[derive(Debug, Clone)]
pub struct LiveSegment {
    /// 0-based position in the stream (`s1` is index 0).
    pub index: usize,
    /// The segment; times are seconds from the stream's first sample.
    pub segment: Segment,
    /// Seconds of audio (from the stream start) that had been analysed when the segment
    /// closed: `decided_s - segment.end_s` is the segmenter's hangover for it.
    pub decided_s: f64,
    /// The JSON-LD `Annotation` for it, as written on one NDJSON line.
    pub annotation: doc::LiveAnnotation,
}

/// Why a stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The analysis parameters are unusable.
    #[error("audio parameters: {0}")]
    Config(#[from] AudioConfigError),
    /// The source rate cannot be resampled to the analysis rate, or has no channels.
    #[error("{0}")]
    Source(AudioErrorKind),
}

impl StreamError {
    /// A stable machine-readable code, as in batch manifests.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Config(e) => e.code(),
            Self::Source(k) => k.code(),
        }
    }
}

/// Collects the segments one push closes.
struct Closed(Vec<Segment>);

impl AnalysisSink for Closed {
    fn on_segment(&mut self, segment: Segment) {
        self.0.push(segment);
    }
}

/// A streaming analysis of one source: interleaved chunks in, closed segments out.
pub struct SampleStream {
    resampler: MonoResampler,
    analyzer: Option<Analyzer>,
    closed: Closed,
    mono: Vec<f32>,
    rate: f64,
    source: LiveSourceInfo,
    context: ContextMode,
    delivered: usize,
}

impl std::fmt::Debug for SampleStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleStream")
            .field("source", &self.source)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

impl SampleStream {
    /// A stream of `source.channels` interleaved channels at `source.sample_rate`, analysed
    /// with `audio`'s rate and timing.
    ///
    /// # Errors
    /// [`StreamError::Config`] for unusable analysis parameters, [`StreamError::Source`] for
    /// a source rate the resampler refuses or zero channels.
    pub fn new(
        source: LiveSourceInfo,
        audio: &AudioParams,
        context: ContextMode,
    ) -> Result<Self, StreamError> {
        let cfg = audio.analyzer_config();
        let analyzer = Analyzer::new(cfg)?;
        if source.channels == 0 {
            return Err(StreamError::Source(AudioErrorKind::ZeroChannels));
        }
        let resampler =
            MonoResampler::new(source.sample_rate, cfg.sample_rate).map_err(StreamError::Source)?;
        Ok(Self {
            resampler,
            analyzer: Some(analyzer),
            closed: Closed(Vec::new()),
            mono: Vec::new(),
            rate: f64::from(cfg.sample_rate),
            source,
            context,
            delivered: 0,
        })
    }

    /// What the annotations say of the source.
    pub fn source(&self) -> &LiveSourceInfo {
        &self.source
    }

    /// Segments closed so far.
    pub fn delivered(&self) -> usize {
        self.delivered
    }

    /// Sets when the first sample was captured, for the annotations' clock times.
    pub fn set_started(&mut self, started: std::time::SystemTime) {
        self.source.started = started;
    }

    /// Analyses `interleaved` (frames of `source.channels` samples; a trailing partial
    /// frame is dropped) and appends the segments it closed to `out`.
    ///
    /// # Errors
    /// The resampler's error; the stream should then be finished.
    pub fn push(
        &mut self,
        interleaved: &[f32],
        out: &mut Vec<LiveSegment>,
    ) -> Result<(), AudioErrorKind> {
        downmix_into(interleaved, self.source.channels as usize, &mut self.mono);
        let (analyzer, closed) = (&mut self.analyzer, &mut self.closed);
        let result = self.resampler.push(&self.mono, &mut |chunk: &[f32]| {
            if let Some(a) = analyzer.as_mut() {
                a.push(chunk, closed);
            }
        });
        self.deliver(out);
        result
    }

    /// Flushes the resampler and closes the open segment at the end of the audio, appending
    /// the last segments to `out` even when the flush fails. Later pushes analyse nothing.
    ///
    /// # Errors
    /// The resampler's error on flushing; the segments are delivered first.
    pub fn finish(&mut self, out: &mut Vec<LiveSegment>) -> Result<f64, AudioErrorKind> {
        let (analyzer, closed) = (&mut self.analyzer, &mut self.closed);
        let flushed = self.resampler.finish(&mut |chunk: &[f32]| {
            if let Some(a) = analyzer.as_mut() {
                a.push(chunk, closed);
            }
        });
        let duration = match self.analyzer.take() {
            Some(a) => a.finish(&mut self.closed).duration_s,
            None => 0.0,
        };
        self.deliver(out);
        flushed.map(|()| duration)
    }

    fn deliver(&mut self, out: &mut Vec<LiveSegment>) {
        let decided_s = self.resampler.out_frames() as f64 / self.rate;
        for segment in self.closed.0.drain(..) {
            let annotation =
                doc::live_annotation(&self.source, self.delivered, &segment, self.context);
            out.push(LiveSegment {
                index: self.delivered,
                segment,
                decided_s,
                annotation,
            });
            self.delivered += 1;
        }
    }
}
