//! Frame labels: a namespaced vocabulary and the causal rules that assign one label per frame.
//!
//! # Vocabulary
//!
//! | [`Label`] | term | meaning |
//! | --- | --- | --- |
//! | `Silence` | `ambient:silence` | nothing above the absolute floor, or background quieter than `noise_min_db` |
//! | `Noise` | `ambient:noise` | background at the recording's noise floor (hiss, hum, room tone), or a broadband non-harmonic foreground sound |
//! | `Speech` | `voice:speech` | the voice-activity detector says voice |
//! | `Music` | `music:harmonic` | a periodic or strongly tonal foreground sound that is not speech and not a single tone |
//! | `Impact` | `event:impact` | a sudden broadband burst (knock, slam, shot, click) |
//! | `Tone` | `event:tone` | a single narrow-band partial dominating the spectrum (beep, test tone) |
//!
//! # Rules, in order (first match wins)
//!
//! Levels are the Hann-weighted frame level [`FrameFeatures::power_db`]; the *floor* is the
//! adaptive noise floor described on [`NoiseFloor`].
//!
//! Before the rules, two pieces of state are updated:
//!
//! * **Speech state** (a two-threshold trigger on the VAD score): it turns on at a score
//!   `≥ vad_enter` on a frame with flatness under `speech_max_flatness`, and off at a score
//!   under `vad_threshold`, when the pitch is *flat* (voiced, within ±`flat_pitch_tolerance`
//!   for the last `flat_pitch_s`), or when no VAD runs. earshot scores pure tones around 0.5
//!   and steady harmonic sounds and chords around 0.6-0.7, but real voices above 0.9, so one
//!   threshold cannot both reject music and keep weak syllable edges; a voice never holds
//!   its pitch as still as a synthetic or instrumental note, and earshot spikes where one
//!   note changes to the next, hence the flat-pitch reset.
//! * **Impact cancel**: a running impact ends at a voiced frame (`voicing ≥
//!   voicing_threshold`) or while the speech state is on. A syllable or note starting from
//!   quiet rises as fast as a knock; a knock is neither periodic nor a voice.
//!
//! 1. `power_db < silence_db` → `Silence`.
//! 2. An impact is running (see onsets below) and the frame is still at least
//!    `impact_hold_db` above the level before the burst and is not tonal
//!    (`peak_ratio < tone_peak_ratio`) → `Impact`.
//! 3. `power_db < floor + background_margin_db`, or the frame is tonal (`peak_ratio ≥
//!    tone_peak_ratio`), the speech state is off and `power_db < floor +
//!    tone_above_floor_db` (the frame is background) → `Noise` if `power_db ≥
//!    noise_min_db`, else `Silence`. A hum or a ringing room is itself a single partial, so
//!    its louder moments just past the margin looked like tones and bridged the gaps
//!    between real beeps; a tone worth reporting stands well clear of the floor.
//! 4. `peak_ratio ≥ tone_peak_ratio` and the speech state is off → `Tone`. Low-passed
//!    voices (telephone prompts) put almost all their power in the fundamental, so a vowel
//!    can look like a pure tone frame by frame; the VAD tells them apart.
//! 5. The pitch has held within ±`steady_pitch_tolerance` for the last `steady_pitch_s`
//!    of voiced frames → `Music`: sung notes and instruments hold a pitch, speech glides,
//!    and the neural VAD happily calls any steady harmonic complex a voice.
//! 6. The speech state is on, the VAD score is `≥ vad_threshold` (scores are ignored for
//!    the first `vad_warmup_s` of the stream; 0 by default, since the entry threshold already
//!    keeps earshot's start-up scores out), the pitch is not flat (see above) and spectral
//!    flatness is under `speech_hold_max_flatness` → `Speech`. Entering the speech state
//!    needs flatness under the stricter `speech_max_flatness` (voiced speech is far from
//!    white; this keeps loud hiss that fools the network out); once in it, fricatives and
//!    word-final consonants ("s", "f", "t"), whose spectra are much flatter than a vowel's,
//!    stay speech while the VAD agrees. Without a VAD, a voiced frame
//!    (`voicing ≥ voicing_threshold`) with f0 in `speech_f0_hz` and centroid under
//!    `speech_max_centroid_hz` → `Speech` (a weak rule: singing passes it too).
//! 7. `voicing ≥ voicing_threshold` or `flatness < music_max_flatness` → `Music`.
//! 8. Otherwise → `Noise`.
//!
//! # Onsets
//!
//! An onset is declared on a frame whose new part (its last hop) is at least `onset_rise_db`
//! louder than the mean power of the previous three new parts, at least
//! `onset_above_floor_db` above the floor and above `silence_db`, and at least
//! `onset_refractory_s` after the previous onset. It is timed at the first sample of the new
//! part reaching half its peak. An onset rising by `impact_rise_db` or more starts an impact
//! that lasts at most `impact_max_s`. Because the floor and the rise are relative, a quiet
//! recording does not produce more onsets than a loud one, and steady hiss produces none.
//!
//! Every rule uses only the current and past frames, so labels do not depend on how the
//! samples were chunked.

use super::features::FrameFeatures;
use std::collections::VecDeque;

/// What a frame (or segment) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Label {
    /// `ambient:silence`.
    Silence,
    /// `ambient:noise`.
    Noise,
    /// `voice:speech`.
    Speech,
    /// `music:harmonic`.
    Music,
    /// `event:impact`.
    Impact,
    /// `event:tone`.
    Tone,
}

impl Label {
    /// Every label, in declaration order.
    pub const ALL: [Label; 6] = [
        Label::Silence,
        Label::Noise,
        Label::Speech,
        Label::Music,
        Label::Impact,
        Label::Tone,
    ];

    /// The namespaced vocabulary term, e.g. `voice:speech`.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Silence => "ambient:silence",
            Label::Noise => "ambient:noise",
            Label::Speech => "voice:speech",
            Label::Music => "music:harmonic",
            Label::Impact => "event:impact",
            Label::Tone => "event:tone",
        }
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Thresholds of the labelling rules (see the module documentation for how each is used).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelConfig {
    /// Absolute silence threshold in dBFS.
    pub silence_db: f32,
    /// Background frames quieter than this are silence rather than noise, in dBFS.
    pub noise_min_db: f32,
    /// How far above the floor a frame must be to count as foreground, in dB.
    pub background_margin_db: f32,
    /// Length of the floor's minimum-tracking window in seconds.
    pub floor_window_s: f32,
    /// The floor assumed before a full window has been seen, in dBFS; it only lowers the floor.
    pub initial_floor_db: f32,
    /// Minimum rise of a new part over the previous ones for an onset, in dB.
    pub onset_rise_db: f32,
    /// Minimum height of an onset above the floor, in dB.
    pub onset_above_floor_db: f32,
    /// Minimum time between onsets in seconds.
    pub onset_refractory_s: f32,
    /// Minimum rise for an onset to start an impact, in dB.
    pub impact_rise_db: f32,
    /// An impact frame must stay this far above the pre-burst level, in dB.
    pub impact_hold_db: f32,
    /// Longest impact in seconds; a sound lasting longer is labelled by the other rules.
    pub impact_max_s: f32,
    /// `peak_ratio` at or above which a frame is a tone.
    pub tone_peak_ratio: f32,
    /// VAD score at or above which a frame is speech once the speech state is on, and under
    /// which the state turns off.
    pub vad_threshold: f32,
    /// VAD score at or above which the speech state turns on.
    pub vad_enter: f32,
    /// Flatness at or above which a frame is too noise-like to start speech.
    pub speech_max_flatness: f32,
    /// Flatness at or above which a frame is too noise-like to continue speech.
    pub speech_hold_max_flatness: f32,
    /// How far above the floor a tonal frame must be to be a tone, in dB.
    pub tone_above_floor_db: f32,
    /// Start of the stream during which the VAD score is ignored, in seconds.
    pub vad_warmup_s: f32,
    /// How long a steady pitch must hold to be music, in seconds.
    pub steady_pitch_s: f32,
    /// Relative f0 spread (max/min − 1) still counted as steady.
    pub steady_pitch_tolerance: f32,
    /// Window of the stricter steadiness test that vetoes speech, in seconds.
    pub flat_pitch_s: f32,
    /// Relative f0 spread (max/min − 1) under which a pitch is too flat for a voice.
    pub flat_pitch_tolerance: f32,
    /// YIN voicing at or above which a frame is periodic.
    pub voicing_threshold: f32,
    /// Spectral flatness under which a foreground frame is tonal enough for music.
    pub music_max_flatness: f32,
    /// f0 range of the no-VAD speech rule in Hz.
    pub speech_f0_hz: (f32, f32),
    /// Centroid ceiling of the no-VAD speech rule in Hz.
    pub speech_max_centroid_hz: f32,
}

impl Default for LabelConfig {
    fn default() -> Self {
        Self {
            silence_db: -70.0,
            noise_min_db: -55.0,
            background_margin_db: 6.0,
            floor_window_s: 2.0,
            initial_floor_db: -60.0,
            onset_rise_db: 9.0,
            onset_above_floor_db: 12.0,
            onset_refractory_s: 0.05,
            impact_rise_db: 15.0,
            impact_hold_db: 6.0,
            impact_max_s: 0.25,
            tone_peak_ratio: 0.7,
            vad_threshold: 0.5,
            vad_enter: 0.75,
            vad_warmup_s: 0.0,
            speech_max_flatness: 0.25,
            speech_hold_max_flatness: 0.45,
            tone_above_floor_db: 10.0,
            steady_pitch_s: 0.2,
            steady_pitch_tolerance: 0.015,
            flat_pitch_s: 0.05,
            flat_pitch_tolerance: 0.005,
            voicing_threshold: 0.6,
            music_max_flatness: 0.02,
            speech_f0_hz: (70.0, 400.0),
            speech_max_centroid_hz: 2500.0,
        }
    }
}

/// The adaptive noise floor: the minimum, over the last `floor_window_s`, of the frame level
/// smoothed by a one-pole filter (time constant about 50 ms, so single quiet frames between
/// syllables do not drag it down). Until a full window has passed, `initial_floor_db` takes
/// part in the minimum, so the start of a file is not mistaken for its background.
/// A monotonic deque gives the sliding minimum in amortised O(1) with a fixed capacity.
#[derive(Debug, Clone)]
pub struct NoiseFloor {
    window: usize,
    alpha: f64,
    smoothed: Option<f64>,
    initial: f64,
    seen: usize,
    deque: VecDeque<(usize, f64)>,
}

impl NoiseFloor {
    /// A floor over `window` frames with smoothing coefficient `alpha` per frame.
    pub fn new(window: usize, alpha: f64, initial_db: f32) -> Self {
        let window = window.max(1);
        Self {
            window,
            alpha,
            smoothed: None,
            initial: f64::from(initial_db),
            seen: 0,
            deque: VecDeque::with_capacity(window + 1),
        }
    }

    /// Feeds one frame level (dB) and returns the floor including it.
    pub fn update(&mut self, level_db: f32) -> f32 {
        let level = f64::from(level_db);
        let s = match self.smoothed {
            Some(prev) => prev + self.alpha * (level - prev),
            None => level,
        };
        self.smoothed = Some(s);
        let i = self.seen;
        self.seen += 1;
        while self.deque.back().is_some_and(|&(_, v)| v >= s) {
            self.deque.pop_back();
        }
        self.deque.push_back((i, s));
        while self
            .deque
            .front()
            .is_some_and(|&(j, _)| j + self.window <= i)
        {
            self.deque.pop_front();
        }
        let min = self.deque.front().map_or(s, |&(_, v)| v);
        let floor = if self.seen < self.window {
            min.min(self.initial)
        } else {
            min
        };
        floor as f32
    }
}

/// The label of one frame and what the rules saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameLabel {
    /// The label.
    pub label: Label,
    /// How clearly the winning rule fired, in `[0, 1]`.
    pub confidence: f32,
    /// The noise floor in dBFS at this frame.
    pub floor_db: f32,
    /// Absolute sample index of an onset detected on this frame.
    pub onset_sample: Option<u64>,
}

/// Applies the rules frame by frame; holds only past state.
#[derive(Debug, Clone)]
pub struct Labeler {
    cfg: LabelConfig,
    floor: NoiseFloor,
    /// Mean squares (linear) of the last three new parts.
    recent_new: [f64; 3],
    recent_len: usize,
    refractory_frames: u64,
    last_onset_frame: Option<u64>,
    impact_frames: u64,
    /// (frame that started it, level before it in dB).
    impact: Option<(u64, f32)>,
    vad_warmup_frames: u64,
    /// Last f0 values of the current voiced run (ring), and the run length.
    f0_ring: [f32; F0_RING],
    f0_run: usize,
    steady_frames: usize,
    flat_frames: usize,
    /// The speech state of the VAD's two-threshold trigger.
    in_speech: bool,
}

/// Longest steady-pitch window the ring can hold, in frames.
const F0_RING: usize = 128;

/// Maps a margin in dB onto a confidence in `[0.5, 1]`: 0 dB is a coin toss, 12 dB is sure.
fn margin_conf(margin_db: f32) -> f32 {
    (0.5 + margin_db.abs() / 24.0).clamp(0.5, 1.0)
}

impl Labeler {
    /// Rules for frames `hop_s` seconds apart.
    pub fn new(cfg: LabelConfig, hop_s: f32) -> Self {
        let hop_s = hop_s.max(1e-6);
        let frames = |s: f32| (s / hop_s).round().max(1.0) as u64;
        let alpha = 1.0 - (-f64::from(hop_s) / 0.05).exp();
        Self {
            floor: NoiseFloor::new(
                frames(cfg.floor_window_s) as usize,
                alpha,
                cfg.initial_floor_db,
            ),
            refractory_frames: frames(cfg.onset_refractory_s),
            impact_frames: frames(cfg.impact_max_s),
            cfg,
            recent_new: [0.0; 3],
            recent_len: 0,
            last_onset_frame: None,
            impact: None,
            vad_warmup_frames: (cfg.vad_warmup_s / hop_s).ceil().max(0.0) as u64,
            f0_ring: [0.0; F0_RING],
            f0_run: 0,
            steady_frames: (frames(cfg.steady_pitch_s) as usize).clamp(2, F0_RING),
            flat_frames: (frames(cfg.flat_pitch_s) as usize).clamp(2, F0_RING),
            in_speech: false,
        }
    }

    /// Whether the last `n` frames were all voiced with f0 spread (max/min − 1) within `tol`.
    fn pitch_held(&self, n: usize, tol: f32) -> bool {
        let end = self.f0_run;
        if end < n {
            return false;
        }
        let (mut lo, mut hi) = (f32::INFINITY, 0.0f32);
        for i in end - n..end {
            let v = self.f0_ring[i % F0_RING];
            lo = lo.min(v);
            hi = hi.max(v);
        }
        hi <= lo * (1.0 + tol)
    }

    /// Feeds the next frame's level to the noise floor and returns the floor. Call once per
    /// frame, before [`Labeler::step`]; it is separate so the caller can skip pitch analysis
    /// on background frames.
    pub fn observe_level(&mut self, power_db: f32) -> f32 {
        self.floor.update(power_db)
    }

    /// Whether a frame at `power_db` is foreground for a floor of `floor_db`.
    pub fn is_foreground(&self, power_db: f32, floor_db: f32) -> bool {
        power_db >= self.cfg.silence_db && power_db >= floor_db + self.cfg.background_margin_db
    }

    /// Labels one frame given the floor from [`Labeler::observe_level`]; `vad` is the
    /// voice-activity score if a detector runs.
    pub fn step(&mut self, f: &FrameFeatures, floor_db: f32, vad: Option<f32>) -> FrameLabel {
        let c = &self.cfg;

        // Onset: compare the new part with the mean power of the previous new parts.
        let new_ms = 10f64.powf(f64::from(f.new_db) / 10.0);
        let mut onset_sample = None;
        if self.recent_len > 0 {
            let mean =
                self.recent_new[..self.recent_len].iter().sum::<f64>() / self.recent_len as f64;
            let before_db = super::features::power_to_db(mean);
            let rise = f.new_db - before_db;
            let free = self
                .last_onset_frame
                .is_none_or(|last| f.index >= last + self.refractory_frames);
            if rise >= c.onset_rise_db
                && f.new_db >= floor_db + c.onset_above_floor_db
                && f.new_db >= c.silence_db
                && free
            {
                onset_sample = Some(f.new_attack_sample);
                self.last_onset_frame = Some(f.index);
                if rise >= c.impact_rise_db {
                    self.impact = Some((f.index, before_db));
                }
            }
        }
        self.recent_new.rotate_right(1);
        self.recent_new[0] = new_ms;
        self.recent_len = (self.recent_len + 1).min(3);

        if let Some((start, _)) = self.impact {
            if f.index >= start + self.impact_frames {
                self.impact = None;
            }
        }

        match f.f0_hz {
            Some(f0) => {
                self.f0_ring[self.f0_run % F0_RING] = f0;
                self.f0_run += 1;
            }
            None => self.f0_run = 0,
        }
        let steady_pitch = self.pitch_held(self.steady_frames, c.steady_pitch_tolerance);
        let flat_pitch = self.pitch_held(self.flat_frames, c.flat_pitch_tolerance);
        let has_vad = vad.is_some();
        let vad = vad.filter(|_| f.index >= self.vad_warmup_frames);
        // Two thresholds: earshot scores steady harmonic sounds and pure tones around
        // 0.5-0.7 but real voices above 0.9, so only a strong score starts speech, and a
        // score above `vad_threshold` keeps it going through weaker syllable edges.
        match vad {
            // A voice never holds its pitch this still; synthetic and instrumental notes do,
            // and earshot spikes above `vad_enter` where one note changes to the next.
            _ if flat_pitch => self.in_speech = false,
            Some(s) if s < c.vad_threshold => self.in_speech = false,
            Some(s) if s >= c.vad_enter && f.flatness < c.speech_max_flatness => {
                self.in_speech = true;
            }
            Some(_) => {}
            None => self.in_speech = false,
        }
        if self.in_speech || f.voicing >= c.voicing_threshold {
            // A syllable or a note starting from quiet rises as fast as a knock, but a knock
            // is neither voiced nor speech to the VAD: the burst was the start of something
            // else, which the other rules label.
            self.impact = None;
        }
        let level = f.power_db;
        let (label, confidence) = if level < c.silence_db {
            (Label::Silence, margin_conf(c.silence_db - level))
        } else if let Some((_, before)) = self.impact.filter(|&(_, before)| {
            level >= before + c.impact_hold_db && f.peak_ratio < c.tone_peak_ratio
        }) {
            (
                Label::Impact,
                margin_conf(level - before - c.impact_hold_db),
            )
        } else if level < floor_db + c.background_margin_db
            || (f.peak_ratio >= c.tone_peak_ratio
                && !self.in_speech
                && level < floor_db + c.tone_above_floor_db)
        {
            if self.impact.is_some() {
                // The burst has decayed into the background: it is over.
                self.impact = None;
            }
            if level >= c.noise_min_db {
                (Label::Noise, margin_conf(level - c.noise_min_db))
            } else {
                (Label::Silence, margin_conf(c.noise_min_db - level))
            }
        } else if f.peak_ratio >= c.tone_peak_ratio && !self.in_speech {
            (
                Label::Tone,
                ((f.peak_ratio - c.tone_peak_ratio) / (1.0 - c.tone_peak_ratio) * 0.5 + 0.5)
                    .clamp(0.5, 1.0),
            )
        } else if steady_pitch {
            (Label::Music, f.voicing.clamp(0.5, 1.0))
        } else if let Some(score) = vad.filter(|&s| {
            self.in_speech
                && !flat_pitch
                && s >= c.vad_threshold
                && f.flatness < c.speech_hold_max_flatness
        }) {
            (Label::Speech, score.clamp(0.0, 1.0))
        } else if !has_vad
            && f.voicing >= c.voicing_threshold
            && f.f0_hz
                .is_some_and(|f0| f0 >= c.speech_f0_hz.0 && f0 <= c.speech_f0_hz.1)
            && f.centroid_hz < c.speech_max_centroid_hz
        {
            (Label::Speech, 0.5 + 0.5 * f.voicing.clamp(0.0, 1.0) * 0.5)
        } else if f.voicing >= c.voicing_threshold || f.flatness < c.music_max_flatness {
            (
                Label::Music,
                f.voicing
                    .max(1.0 - f.flatness / c.music_max_flatness.max(1e-6))
                    .clamp(0.5, 1.0),
            )
        } else {
            (Label::Noise, (0.5 + f.flatness).clamp(0.5, 1.0))
        };
        FrameLabel {
            label,
            confidence,
            floor_db,
            onset_sample,
        }
    }
}
