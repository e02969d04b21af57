//! The streaming analyzer: samples in, frames and closed segments out.

use super::features::FeatureExtractor;
use super::frame::Frame;
use super::labels::{LabelConfig, Labeler};
use super::pitch::{PitchError, Yin};
use super::segment::{Segment, SegmentConfig, Segmenter};
use super::vad::{VoiceDetector, BLOCK as VAD_BLOCK};

/// The only rate earshot's network was trained for.
const VAD_RATE: u32 = 16_000;
/// How long the detector keeps running after the last speech-like frame, in samples
/// (128 ms): it follows pauses between syllables and decays on real background before the
/// gate closes.
const VAD_HANGOVER: u64 = 8 * VAD_BLOCK as u64;
/// Blocks replayed to the detector when the gate reopens, so its three-block analysis window
/// and context hold real audio rather than what preceded the gap.
const VAD_PRIME: usize = 2;

/// Why an [`AnalyzerConfig`] was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AudioConfigError {
    /// The sample rate is zero.
    #[error("sample rate must be positive")]
    ZeroSampleRate,
    /// The frame is too short to analyse.
    #[error("frame of {frame_len} samples is too short (need at least 16)")]
    FrameTooShort {
        /// Frame length in samples.
        frame_len: usize,
    },
    /// The hop is zero or longer than the frame (samples would be skipped).
    #[error("hop of {hop} samples must be between 1 and the frame length {frame_len}")]
    BadHop {
        /// Hop in samples.
        hop: usize,
        /// Frame length in samples.
        frame_len: usize,
    },
    /// The pitch search range is empty or not positive.
    #[error("pitch range {min_hz}..{max_hz} Hz is empty")]
    BadPitchRange {
        /// Lower bound in Hz.
        min_hz: f32,
        /// Upper bound in Hz.
        max_hz: f32,
    },
    /// The voice detector runs only at 16 kHz.
    #[error("the voice-activity detector needs 16000 Hz audio, not {sample_rate} Hz")]
    VadNeeds16k {
        /// The configured rate.
        sample_rate: u32,
    },
    /// The analysis rate is outside what the analysis is made for.
    #[error(
        "analysis rate of {sample_rate} Hz is outside {MIN_ANALYSIS_RATE}..={MAX_ANALYSIS_RATE} Hz"
    )]
    RateOutOfRange {
        /// The configured rate.
        sample_rate: u32,
    },
    /// The frame is longer than a second.
    #[error("frame of {frame_len} samples is longer than a second ({sample_rate} samples)")]
    FrameTooLong {
        /// Frame length in samples.
        frame_len: usize,
        /// The rate, so a second's worth of samples.
        sample_rate: u32,
    },
}

/// Lowest analysis rate: below it speech and most events have no spectrum left to tell.
pub const MIN_ANALYSIS_RATE: u32 = 4_000;
/// Highest analysis rate: above it nothing audible is gained, and each frame costs more.
pub const MAX_ANALYSIS_RATE: u32 = 192_000;

impl AudioConfigError {
    /// A stable machine-readable name for the kind.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ZeroSampleRate => "zero_sample_rate",
            Self::RateOutOfRange { .. } => "rate_out_of_range",
            Self::FrameTooLong { .. } => "frame_too_long",
            Self::FrameTooShort { .. } => "frame_too_short",
            Self::BadHop { .. } => "bad_hop",
            Self::BadPitchRange { .. } => "bad_pitch_range",
            Self::VadNeeds16k { .. } => "vad_needs_16k",
        }
    }
}

/// How to analyse. The defaults are 16 kHz, a 25 ms frame (400 samples, librosa's
/// `n_fft=400`), a 10 ms hop, YIN over 80–1000 Hz and the earshot voice detector on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalyzerConfig {
    /// Sample rate of the pushed samples in Hz.
    pub sample_rate: u32,
    /// Frame length in samples (also the FFT length; any length works).
    pub frame_len: usize,
    /// Hop between frames in samples.
    pub hop: usize,
    /// Lowest f0 searched in Hz.
    pub f0_min_hz: f32,
    /// Highest f0 searched in Hz.
    pub f0_max_hz: f32,
    /// YIN absolute threshold on the normalised difference.
    pub yin_threshold: f32,
    /// Run the earshot neural voice-activity detector (needs 16 kHz). Without it, speech is
    /// decided by a weaker pitch-and-spectrum rule.
    pub vad: bool,
    /// Frames each label waits for: a frame is labelled with the highest voice score of
    /// itself and the next `vad_lookahead` frames. earshot passes its entry threshold some
    /// 30-100 ms after a word starts; looking this far ahead lets the frames of the word's
    /// onset count as speech. Labels (and segments) come out this many hops later.
    pub vad_lookahead: usize,
    /// Labelling thresholds.
    pub labels: LabelConfig,
    /// Segment minimum durations.
    pub segments: SegmentConfig,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        Self {
            sample_rate: 16_000,
            frame_len: 400,
            hop: 160,
            f0_min_hz: 80.0,
            f0_max_hz: 1000.0,
            yin_threshold: 0.15,
            vad: true,
            vad_lookahead: 5,
            labels: LabelConfig::default(),
            segments: SegmentConfig::default(),
        }
    }
}

impl AnalyzerConfig {
    /// Defaults at another rate, with the frame and hop given in milliseconds. The voice
    /// detector stays on only at 16 kHz.
    pub fn with_timing(sample_rate: u32, frame_ms: f32, hop_ms: f32) -> Self {
        let samples = |ms: f32| (ms * sample_rate as f32 / 1000.0).round().max(0.0) as usize;
        Self {
            sample_rate,
            frame_len: samples(frame_ms),
            hop: samples(hop_ms),
            vad: sample_rate == VAD_RATE,
            ..Self::default()
        }
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// The first rule `self` breaks, as the matching [`AudioConfigError`].
    pub fn validate(&self) -> Result<(), AudioConfigError> {
        if self.sample_rate == 0 {
            return Err(AudioConfigError::ZeroSampleRate);
        }
        if !(MIN_ANALYSIS_RATE..=MAX_ANALYSIS_RATE).contains(&self.sample_rate) {
            return Err(AudioConfigError::RateOutOfRange {
                sample_rate: self.sample_rate,
            });
        }
        if self.frame_len > self.sample_rate as usize {
            return Err(AudioConfigError::FrameTooLong {
                frame_len: self.frame_len,
                sample_rate: self.sample_rate,
            });
        }
        if self.frame_len < 16 {
            return Err(AudioConfigError::FrameTooShort {
                frame_len: self.frame_len,
            });
        }
        if self.hop == 0 || self.hop > self.frame_len {
            return Err(AudioConfigError::BadHop {
                hop: self.hop,
                frame_len: self.frame_len,
            });
        }
        let nyquist = self.sample_rate as f32 / 2.0;
        if !(self.f0_min_hz > 0.0 && self.f0_min_hz < self.f0_max_hz && self.f0_max_hz <= nyquist) {
            return Err(AudioConfigError::BadPitchRange {
                min_hz: self.f0_min_hz,
                max_hz: self.f0_max_hz,
            });
        }
        if self.vad && self.sample_rate != VAD_RATE {
            return Err(AudioConfigError::VadNeeds16k {
                sample_rate: self.sample_rate,
            });
        }
        Ok(())
    }
}

/// Receives the analyzer's output as soon as it is decided.
pub trait AnalysisSink {
    /// Called for every frame, in order. The default ignores frames.
    fn on_frame(&mut self, frame: &Frame) {
        let _ = frame;
    }
    /// Called for every segment when it closes, in order.
    fn on_segment(&mut self, segment: Segment);
}

/// A sink that keeps everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collector {
    /// Every frame.
    pub frames: Vec<Frame>,
    /// Every closed segment.
    pub segments: Vec<Segment>,
}

impl AnalysisSink for Collector {
    fn on_frame(&mut self, frame: &Frame) {
        self.frames.push(*frame);
    }
    fn on_segment(&mut self, segment: Segment) {
        self.segments.push(segment);
    }
}

/// A sink that keeps only segments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SegmentCollector(pub Vec<Segment>);

impl AnalysisSink for SegmentCollector {
    fn on_segment(&mut self, segment: Segment) {
        self.0.push(segment);
    }
}

/// Totals reported when the stream ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalysisSummary {
    /// Samples pushed.
    pub samples: u64,
    /// Frames analysed (a tail shorter than a frame is not framed, as in librosa).
    pub frames: u64,
    /// Duration of the pushed audio in seconds.
    pub duration_s: f64,
    /// NaN or infinite samples, analysed as 0.
    pub non_finite: u64,
    /// Samples at or above the clip level.
    pub clipped: u64,
}

/// The streaming analyzer: one code path for files and live input.
///
/// Push samples in chunks of any size; frames and closed segments reach the sink as soon as
/// they are decided. The output depends only on the sample sequence, never on the chunking:
/// samples go into one frame-long buffer, each frame is analysed the moment it is complete,
/// and the voice detector sees fixed 256-sample blocks aligned to the stream start. Nothing
/// is allocated per frame: the FFT plan, window, spectra and pitch buffers are created once.
///
/// The neural voice detector is the costliest stage, and its score only decides frames
/// that could be speech: foreground (above the noise floor by the background margin) and not
/// noise-flat (flatness under `speech_max_flatness`). Labelling rules 1–3 and the flatness
/// condition of rule 6 settle every other frame without it. Tonal frames stay candidates:
/// low-passed voices look like a pure tone frame by frame, and rule 4 needs the detector to
/// tell them apart. So the detector runs on a block only if the stream has
/// not produced a frame yet, or a frame ending within the last 128 ms (the hangover) was
/// such a candidate; otherwise the block scores 0 and the detector's state is left as it
/// was. When the gate reopens, the two blocks before the current one are replayed first,
/// so the detector's 48 ms analysis window holds real audio. The gate reads only frames
/// already analysed when the block completes, so it is as chunk-invariant as the rest.
///
/// ```
/// use mmprompt::audio::{Analyzer, AnalyzerConfig, Collector, Label};
///
/// // One second of silence, then half a second of a 1 kHz beep, then silence.
/// let sr = 16_000usize;
/// let mut signal = vec![0.0f32; sr * 2];
/// for (i, s) in signal[sr..sr + sr / 2].iter_mut().enumerate() {
///     *s = 0.5 * (std::f32::consts::TAU * 1000.0 * i as f32 / sr as f32).sin();
/// }
///
/// let mut analyzer = Analyzer::new(AnalyzerConfig::default())?;
/// let mut out = Collector::default();
/// for chunk in signal.chunks(1024) {
///     analyzer.push(chunk, &mut out); // e.g. as a decoder or a microphone delivers them
/// }
/// let summary = analyzer.finish(&mut out);
///
/// assert_eq!(summary.samples, 32_000);
/// let labels: Vec<_> = out.segments.iter().map(|s| s.label.as_str()).collect();
/// assert_eq!(labels, ["ambient:silence", "event:tone", "ambient:silence"]);
/// let tone = &out.segments[1];
/// assert!((tone.start_s - 1.0).abs() < 0.02 && (tone.end_s - 1.5).abs() < 0.02);
/// # Ok::<(), mmprompt::audio::AudioConfigError>(())
/// ```
pub struct Analyzer {
    cfg: AnalyzerConfig,
    extractor: FeatureExtractor,
    yin: Yin,
    labeler: Labeler,
    segmenter: Segmenter,
    vad: Option<VoiceDetector>,
    vad_block: [f32; VAD_BLOCK],
    /// The last `VAD_PRIME` complete blocks, oldest first, for replay when the gate reopens.
    vad_history: [[f32; VAD_BLOCK]; VAD_PRIME],
    /// How many blocks `vad_history` holds (it fills at the stream start).
    vad_history_len: usize,
    vad_fill: usize,
    vad_score: Option<f32>,
    /// Whether the detector ran on the previous block.
    vad_ran_last: bool,
    /// The gate stays open for blocks ending at or before this sample.
    vad_open_until: u64,
    buf: Vec<f32>,
    filled: usize,
    frames: u64,
    samples: u64,
    non_finite: u64,
    clipped: u64,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("cfg", &self.cfg)
            .field("frames", &self.frames)
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

impl Analyzer {
    /// Builds an analyzer, planning the FFT and allocating every buffer once.
    ///
    /// # Errors
    ///
    /// The [`AudioConfigError`] of [`AnalyzerConfig::validate`] when `cfg` is refused.
    pub fn new(cfg: AnalyzerConfig) -> Result<Self, AudioConfigError> {
        cfg.validate()?;
        let hop_s = cfg.hop as f32 / cfg.sample_rate as f32;
        Ok(Self {
            extractor: FeatureExtractor::new(cfg.sample_rate, cfg.frame_len),
            // `validate` asks for longer frames than YIN does, so this error cannot happen;
            // it maps onto the same kind all the same.
            yin: Yin::new(
                cfg.sample_rate,
                cfg.frame_len,
                cfg.f0_min_hz,
                cfg.f0_max_hz,
                cfg.yin_threshold,
            )
            .map_err(|PitchError::FrameTooShort { frame_len }| {
                AudioConfigError::FrameTooShort { frame_len }
            })?,
            labeler: Labeler::new(cfg.labels, hop_s, cfg.vad_lookahead),
            segmenter: Segmenter::new(cfg.segments, cfg.sample_rate, cfg.frame_len, cfg.hop),
            vad: cfg.vad.then(VoiceDetector::new),
            vad_block: [0.0; VAD_BLOCK],
            vad_history: [[0.0; VAD_BLOCK]; VAD_PRIME],
            vad_history_len: 0,
            vad_fill: 0,
            vad_score: None,
            vad_ran_last: false,
            vad_open_until: 0,
            buf: vec![0.0; cfg.frame_len],
            filled: 0,
            frames: 0,
            samples: 0,
            non_finite: 0,
            clipped: 0,
            cfg,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &AnalyzerConfig {
        &self.cfg
    }

    /// Pushes samples (mono, at the configured rate, nominally in `[-1, 1]`). NaN and
    /// infinite samples are analysed as 0 and counted in the summary.
    pub fn push<S: AnalysisSink + ?Sized>(&mut self, mut samples: &[f32], sink: &mut S) {
        while !samples.is_empty() {
            // Never cross a frame end inside one step, so the voice detector has seen exactly
            // the blocks ending before that frame ends, whatever the chunking.
            let take = (self.cfg.frame_len - self.filled).min(samples.len());
            let (now, rest) = samples.split_at(take);
            let dst = &mut self.buf[self.filled..self.filled + take];
            for (d, &s) in dst.iter_mut().zip(now) {
                *d = if s.is_finite() {
                    s
                } else {
                    self.non_finite += 1;
                    0.0
                };
            }
            if self.vad.is_some() {
                let mut from = self.filled;
                let end = self.filled + take;
                while from < end {
                    let n = (VAD_BLOCK - self.vad_fill).min(end - from);
                    let dst = &mut self.vad_block[self.vad_fill..self.vad_fill + n];
                    for (d, &s) in dst.iter_mut().zip(&self.buf[from..from + n]) {
                        // earshot requires [-1, 1]; clipping is reported elsewhere.
                        *d = s.clamp(-1.0, 1.0);
                    }
                    self.vad_fill += n;
                    from += n;
                    if self.vad_fill == VAD_BLOCK {
                        let block_end = self.samples + (from - self.filled) as u64;
                        self.vad_block_done(block_end);
                        self.vad_fill = 0;
                    }
                }
            }
            self.filled += take;
            self.samples += take as u64;
            samples = rest;
            if self.filled == self.cfg.frame_len {
                self.process_frame(sink);
                self.buf.copy_within(self.cfg.hop.., 0);
                self.filled -= self.cfg.hop;
            }
        }
    }

    /// Scores (or skips, see the gate on [`Analyzer`]) the block just completed, which ends
    /// at absolute sample `block_end`.
    fn vad_block_done(&mut self, block_end: u64) {
        let Some(vad) = self.vad.as_mut() else {
            return;
        };
        let open = self.frames == 0 || block_end <= self.vad_open_until;
        if open {
            if !self.vad_ran_last {
                for old in &self.vad_history[VAD_PRIME - self.vad_history_len..] {
                    vad.score(old);
                }
            }
            self.vad_score = Some(vad.score(&self.vad_block));
        } else {
            self.vad_score = Some(0.0);
        }
        self.vad_ran_last = open;
        self.vad_history.rotate_left(1);
        self.vad_history[VAD_PRIME - 1] = self.vad_block;
        self.vad_history_len = (self.vad_history_len + 1).min(VAD_PRIME);
    }

    fn process_frame<S: AnalysisSink + ?Sized>(&mut self, sink: &mut S) {
        let index = self.frames;
        let start = index * self.cfg.hop as u64;
        let new_from = if index == 0 {
            0
        } else {
            self.cfg.frame_len - self.cfg.hop
        };
        let mut features = self.extractor.compute(&self.buf, index, start, new_from);
        let floor_db = self.labeler.observe_level(&features);
        // Pitch is the costliest feature; background frames have none worth reporting.
        if self.labeler.is_foreground(features.power_db, floor_db) {
            // The extractor's FFT of this very frame stands in for one of YIN's three.
            let spectrum = self.extractor.raw_spectrum();
            if let Some(p) = self.yin.estimate_with_spectrum(&self.buf, spectrum) {
                features.voicing = p.confidence;
                if p.confidence >= self.cfg.labels.voicing_threshold {
                    features.f0_hz = Some(p.f0_hz);
                }
            }
        }
        let vad = if self.vad.is_some() {
            Some(self.vad_score.unwrap_or(0.0))
        } else {
            None
        };
        if self.labeler.is_foreground(features.power_db, floor_db)
            && features.flatness < self.cfg.labels.speech_max_flatness
        {
            let frame_end = start + self.cfg.frame_len as u64;
            self.vad_open_until = frame_end + VAD_HANGOVER;
        }
        self.clipped += u64::from(features.clipped);
        self.frames += 1;
        if let Some(frame) = self.labeler.push(features, vad) {
            self.emit(&frame, sink);
        }
    }

    /// Hands a labelled frame, and any segment it closes, to the sink.
    fn emit<S: AnalysisSink + ?Sized>(&mut self, frame: &Frame, sink: &mut S) {
        sink.on_frame(frame);
        if let Some(segment) = self.segmenter.push(frame) {
            sink.on_segment(segment);
        }
    }

    /// Ends the stream: closes the open segment at the end of the audio and reports totals.
    pub fn finish<S: AnalysisSink + ?Sized>(mut self, sink: &mut S) -> AnalysisSummary {
        while let Some(frame) = self.labeler.drain() {
            self.emit(&frame, sink);
        }
        if let Some(segment) = self.segmenter.finish(self.samples) {
            sink.on_segment(segment);
        }
        AnalysisSummary {
            samples: self.samples,
            frames: self.frames,
            duration_s: self.samples as f64 / f64::from(self.cfg.sample_rate),
            non_finite: self.non_finite,
            clipped: self.clipped,
        }
    }
}

/// Analyses a whole buffer at once and keeps every frame and segment.
///
/// # Errors
/// [`AudioConfigError`] when `cfg` is not usable (see [`AnalyzerConfig::validate`]).
pub fn analyze(
    samples: &[f32],
    cfg: AnalyzerConfig,
) -> Result<(Collector, AnalysisSummary), AudioConfigError> {
    let mut analyzer = Analyzer::new(cfg)?;
    let mut out = Collector::default();
    analyzer.push(samples, &mut out);
    let summary = analyzer.finish(&mut out);
    Ok((out, summary))
}
