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
//! # When a frame is labelled
//!
//! A frame is labelled `lookahead_s` (1 s) after it is measured: every rule may read the
//! frames up to 1 s after it and `2 × lookahead_s` before it (the *context window*). This
//! is what lets a burst be judged by its decay, a floor be known at the start of a file,
//! and speech be told from music by its pauses and rhythm. Everything depends only on the
//! sample sequence, never on how it was chunked.
//!
//! # The floor
//!
//! Levels are the Hann-weighted frame level [`FrameFeatures::power_db`]. The labelling
//! *floor* ([`NoiseFloor`]) is the minimum of the smoothed level over `floor_window_s`, read
//! at the newest frame (so it covers the look-ahead), kept within
//! `[floor_min_db, floor_max_db]`, and rising at most `floor_rise_db_per_s`, and only while
//! most of the recent frames are noise-like: a tone or music cannot pull the floor up to
//! itself, a real change of background is followed. Each band of
//! [`FrameFeatures::bands_db`] has a floor of its own, kept the same way: a sound that
//! barely moves the total level over rumble or hiss can still stand far over the floor of
//! the bands it occupies, while a steady hum sets its own bands' floors and never does.
//!
//! # Context
//!
//! Over the context window: the *low-energy ratio* (share of frames under half the mean
//! power; Scheirer and Slaney 1997), the *4 Hz modulation* (energy of the power envelope
//! at 3-5 Hz over its mean: the syllable rate), the *foreground* and *harmonic* shares, and
//! the *tonal* share of the foreground, and the *note steps*: how often consecutive tonal
//! foreground frames move their spectral peak by more than a semitone and a half to a
//! note other than the one just left (a trill going back and forth steps once). A window
//! at least `music_min_foreground` foreground with `music_min_harmonic` of it harmonic is
//! *music-like*; so is a window whose look-ahead alone is, since the first second of a
//! piece has the background before it in its window but the piece ahead of it.
//!
//! # Speech state
//!
//! A two-threshold trigger on the voice score (the highest of the frame and the
//! `vad_lookahead` frames after it): it turns on at a score `≥ vad_enter` on a frame with
//! flatness under `speech_max_flatness`, when at least `speech_min_voiced` of the window's
//! foreground frames that the detector scores `≥ vad_threshold` have a pitch (a burst the
//! detector mistakes for a voice has none),
//! and the window has the low-energy ratio and
//! the modulation of speech (`speech_min_low_energy`, `speech_min_modulation`, both 30 %
//! higher in a music-like window, where earshot scores high and pauses are few; the
//! modulation is read less `speech_tonal_penalty` times the tonal share, as a voice's
//! energy is spread over formant-shaped harmonics and a bass line's or a lead's is not,
//! but only to turn on: vowels can be as tonal, and a voice already heard keeps going); it
//! turns off after `speech_hangover_s` of scores under `vad_threshold`, when the window loses
//! 20 % of either, or when the pitch is flat (a voice never holds it that still).
//!
//! # Impacts
//!
//! The first frame of a stream, which has nothing before it to rise from, starts an impact
//! when it is `impact_rise_db` above the floor and the burst is percussive (a clip cut at
//! the hit). Otherwise an onset (below) rising `impact_rise_db` or more starts an impact if the burst is
//! percussive, judged on the frames after it: it falls `impact_fast_drop_db` within
//! 50-100 ms of its peak, or, not being tonal, `impact_slow_drop_db` within the look-ahead.
//! A tonal burst must also fall `impact_tonal_drop_db` within `impact_tonal_s` and must not
//! settle into a plateau (a beep's click attack is part of the beep). None starts within
//! `impact_voice_guard_s` of a score `≥ vad_enter` next to a voiced frame (plosives) or in
//! a music-like window.
//! It lasts until it is back at the floor or `impact_tail_db` under its peak, at most
//! `impact_max_s`, or until the speech state turns on or a non-percussive sound starts.
//!
//! # Rules, in order (first match wins)
//!
//! 1. `power_db < silence_db` → `Silence`.
//! 2. An impact is running → `Impact`.
//! 3. The frame is background (under the floor plus `background_margin_db`, or tonal and
//!    under the floor plus `tone_above_floor_db` outside speech, and in both cases no band
//!    `band_margin_db` over its own floor), and not a tonal frame at
//!    `tone_background_max_db` or louder outside speech → `Noise` from `noise_min_db` up,
//!    else `Silence`.
//! 4. `peak_ratio ≥ tone_peak_ratio` outside speech, unless the window is music-like with
//!    less than `tone_min_tonal_share` of it tonal, or steps between notes
//!    `tone_max_steps_per_s` times a second or more (a melody) → `Tone`.
//! 5. A pitch held within `steady_pitch_tolerance` for `steady_pitch_s`, outside speech →
//!    `Music`.
//! 6. The speech state is on, the score is `≥ vad_threshold`, the pitch is not flat and
//!    flatness is under `speech_hold_max_flatness` → `Speech`. Without a detector, a voiced
//!    frame with f0 in `speech_f0_hz`, centroid under `speech_max_centroid_hz` and the
//!    window's low-energy ratio → `Speech` (a weak rule).
//! 7. A music-like window, outside speech → `Music`.
//! 8. `voicing ≥ voicing_threshold`, or `flatness < music_max_flatness` with an envelope
//!    flatness under `music_max_envelope_flatness` (a steep noise such as traffic or wind
//!    has the first but not the second) → `Music`.
//! 9. Otherwise → `Noise`.
//!
//! # Onsets
//!
//! An onset is declared on a frame whose new part (its last hop) is at least `onset_rise_db`
//! louder than the mean power of the previous three new parts, at least
//! `onset_above_floor_db` above the floor and above `silence_db`, and at least
//! `onset_refractory_s` after the previous onset. It is timed at the first sample of the new
//! part reaching half its peak.

use super::features::FrameFeatures;
use super::frame::Frame;
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
    /// Longest impact in seconds: an impact ends here even if it has not decayed.
    pub impact_max_s: f32,
    /// A burst is percussive if, 50-100 ms after its peak, it has fallen this far, in dB.
    pub impact_fast_drop_db: f32,
    /// A burst that is not tonal is also percussive if it falls this far below its peak
    /// within the look-ahead, in dB (slower hits: explosions, slams with a room tail).
    pub impact_slow_drop_db: f32,
    /// An impact ends once it has decayed this far below its peak, in dB.
    pub impact_tail_db: f32,
    /// Highest labelling floor in dBFS: a sound this loud is never background, however long
    /// it lasts (a test tone that fills a whole file, or music mastered loud).
    pub floor_max_db: f32,
    /// Lowest labelling floor in dBFS: over digital silence the floor would sink to the
    /// bottom of the scale and make the faint tail of every sound a foreground event.
    pub floor_min_db: f32,
    /// A tonal burst is an impact only if it falls this far below its peak within
    /// `impact_tonal_s` (a kick drum or a clack, not a struck note or a chime), in dB.
    pub impact_tonal_drop_db: f32,
    /// See `impact_tonal_drop_db`, in seconds.
    pub impact_tonal_s: f32,
    /// No impact starts within this many seconds of a voice score at or above `vad_enter`:
    /// plosives and word ends burst like knocks.
    pub impact_voice_guard_s: f32,
    /// How fast the labelling floor may rise, in dB per second: a steady foreground sound
    /// cannot pull the floor up to itself, while a real change of background is followed.
    pub floor_rise_db_per_s: f32,
    /// How far past a frame the rules look before labelling it, in seconds; also the
    /// half-width of the context window. Labels come out this much later.
    pub lookahead_s: f32,
    /// Speech needs at least this low-energy-frame ratio in the context window (Scheirer
    /// and Slaney 1997): the share of frames under half the window's mean power. Speech
    /// pauses between syllables and words; music rarely does.
    pub speech_min_low_energy: f32,
    /// In a music-like context, a tonal frame is a tone only if at least this share of the
    /// window's foreground frames is tonal too; otherwise it is one note of the music.
    pub tone_min_tonal_share: f32,
    /// A tonal frame is a tone only while the context window steps from note to note
    /// (see `Context::steps`) fewer than this many times a second; more is a melody or a
    /// bass line, which is music. A beep, an alarm or a siren holds its note or glides.
    pub tone_max_steps_per_s: f32,
    /// How long the speech state outlasts a voice score under `vad_threshold`, in seconds.
    pub speech_hangover_s: f32,
    /// Speech needs at least this 3-5 Hz modulation of the power envelope in the context
    /// window (see `Context::mod4`): syllables come four or five times a second.
    pub speech_min_modulation: f32,
    /// Share of the context window's foreground frames scored `≥ vad_threshold` by the
    /// voice detector that must have a pitch for the speech state to turn on: about half of
    /// a voice's frames are voiced, while an explosion, a whip crack or a hammer blow, which
    /// the voice detector can score as high as a voice, has none. Only the frames scored
    /// as a voice count, since in noise most foreground frames are the background's.
    pub speech_min_voiced: f32,
    /// Taken, times the window's tonal share, off the 4 Hz modulation before the gate that
    /// turns speech on reads it (not the one that turns it off). A voice spreads its
    /// energy over many harmonics shaped by formants, so one narrow partial rarely
    /// dominates it; a bass line, a synthesizer lead or a chiptune voice does, and its
    /// rhythm then passes for a syllable rate.
    pub speech_tonal_penalty: f32,
    /// A context window whose foreground frames are at least this share of it, with
    /// `music_min_harmonic` of them harmonic, is music: its broadband frames (drums) and
    /// its bursts are music too, not noise or impacts.
    pub music_min_foreground: f32,
    /// See `music_min_foreground`.
    pub music_min_harmonic: f32,
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
    /// Level (`power_db`) from which a tonal frame is never background, in dB: a pure tone
    /// this loud is a tone even when it fills the whole recording and so sets the floor;
    /// hum and whine under it stay background.
    pub tone_background_max_db: f32,
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
    /// ... provided its envelope flatness ([`FrameFeatures::envelope_flatness`]) is under
    /// this too: traffic, wind and other coloured noises have a plain flatness under
    /// `music_max_flatness` but read about 0.5 here, while notes read lower.
    pub music_max_envelope_flatness: f32,
    /// A frame under the background margin in total is still foreground when one of its
    /// bands ([`FrameFeatures::bands_db`]) stands this far over that band's own floor, in
    /// dB: a voice or a beep at 0 dB SNR over rumble or hiss barely moves the total level
    /// but rises well above the floor of the bands it occupies.
    pub band_margin_db: f32,
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
            impact_rise_db: 10.0,
            impact_hold_db: 6.0,
            impact_max_s: 2.0,
            impact_fast_drop_db: 6.0,
            impact_slow_drop_db: 10.0,
            impact_tail_db: 30.0,
            floor_rise_db_per_s: 1.5,
            floor_max_db: -25.0,
            floor_min_db: -65.0,
            impact_tonal_drop_db: 20.0,
            impact_tonal_s: 0.2,
            impact_voice_guard_s: 0.3,
            lookahead_s: 1.0,
            speech_min_low_energy: 0.35,
            speech_min_modulation: 0.25,
            speech_tonal_penalty: 0.6,
            speech_min_voiced: 0.4,
            speech_hangover_s: 0.05,
            tone_min_tonal_share: 0.6,
            tone_max_steps_per_s: 3.0,
            music_min_foreground: 0.85,
            music_min_harmonic: 0.4,
            tone_peak_ratio: 0.7,
            vad_threshold: 0.5,
            vad_enter: 0.75,
            vad_warmup_s: 0.0,
            speech_max_flatness: 0.25,
            speech_hold_max_flatness: 0.45,
            tone_above_floor_db: 10.0,
            tone_background_max_db: -30.0,
            steady_pitch_s: 0.2,
            steady_pitch_tolerance: 0.015,
            flat_pitch_s: 0.05,
            flat_pitch_tolerance: 0.005,
            voicing_threshold: 0.6,
            music_max_flatness: 0.02,
            music_max_envelope_flatness: 0.4,
            band_margin_db: 10.0,
            speech_f0_hz: (70.0, 400.0),
            speech_max_centroid_hz: 2500.0,
        }
    }
}

/// The adaptive noise floor: the minimum, over the last `floor_window_s`, of the frame level
/// smoothed by a one-pole filter (time constant about 50 ms, so single quiet frames between
/// syllables do not drag it down). It yields two floors (see [`NoiseFloor::update`]): a
/// cheap *gate* floor, under `initial_floor_db` until a full window has passed, that decides
/// which frames are worth a pitch and voice analysis, and the *labelling* floor.
/// A monotonic deque gives the sliding minimum in amortised O(1) with a fixed capacity.
#[derive(Debug, Clone)]
pub struct NoiseFloor {
    window: usize,
    alpha: f64,
    smoothed: Option<f64>,
    initial: f64,
    seen: usize,
    deque: VecDeque<(usize, f64)>,
    rise: f64,
    max: f64,
    min: f64,
    label_floor: Option<f64>,
}

impl NoiseFloor {
    /// A floor over `window` frames with smoothing coefficient `alpha` per frame, whose
    /// labelling floor rises at most `rise_db` per frame and stays within `[min_db, max_db]`.
    pub fn new(
        window: usize,
        alpha: f64,
        initial_db: f32,
        rise_db: f32,
        (min_db, max_db): (f32, f32),
    ) -> Self {
        let window = window.max(1);
        Self {
            window,
            alpha,
            smoothed: None,
            initial: f64::from(initial_db),
            seen: 0,
            deque: VecDeque::with_capacity(window + 1),
            rise: f64::from(rise_db.max(0.0)),
            max: f64::from(max_db),
            min: f64::from(min_db),
            label_floor: None,
        }
    }

    /// Feeds one frame level (dB) and returns two floors including it: the *gate* floor
    /// (the windowed minimum, held under `initial_db` until a full window has passed), which
    /// decides cheaply whether a frame is worth analysing, and the *labelling* floor, the
    /// same minimum but rising at most `rise_db` per frame, and only when `may_rise`, and with
    /// no initial value (the
    /// labeler reads it a look-ahead later, when the frames after the start are known).
    pub fn update(&mut self, level_db: f32, may_rise: bool) -> (f32, f32) {
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
        let gate = if self.seen < self.window {
            min.min(self.initial)
        } else {
            min
        };
        let rise = if may_rise { self.rise } else { 0.0 };
        let label = self
            .label_floor
            .map_or(min, |prev| min.min(prev + rise))
            .min(self.max);
        self.label_floor = Some(label);
        let label = label.max(self.min);
        (gate as f32, label as f32)
    }
}

/// The label of one frame and what the rules saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameLabel {
    /// The label.
    pub label: Label,
    /// How clearly the winning rule fired, in `[0, 1]`.
    pub confidence: f32,
    /// The labelling noise floor in dBFS for this frame.
    pub floor_db: f32,
    /// Absolute sample index of an onset detected on this frame.
    pub onset_sample: Option<u64>,
}

/// A frame whose features are known and whose label waits for the frames after it.
#[derive(Debug, Clone, Copy)]
struct Queued {
    features: FrameFeatures,
    vad: Option<f32>,
    /// What the context rules read of it, worked out once when it is pushed.
    summary: Summary,
    /// The labelling floor when this frame was the newest one seen.
    floor_db: f32,
    /// Whether one of its bands stood `band_margin_db` over that band's floor.
    band_foreground: bool,
}

/// What the context window reads of a frame, queued or already labelled.
#[derive(Debug, Clone, Copy)]
struct Summary {
    /// Mean square (linear).
    power: f64,
    power_db: f32,
    /// Voiced or tonal (see [`Labeler::is_harmonic`]).
    harmonic: bool,
    /// YIN found a pitch (`f0_hz` is set).
    voiced: bool,
    /// One narrow partial dominates (`peak_ratio ≥ tone_peak_ratio`).
    tonal: bool,
    /// Its own voice score, 0 without a detector.
    vad: f32,
    /// The note it holds: the frequency of its spectral peak.
    note_hz: f32,
}

/// Statistics of the context window around the frame being labelled.
#[derive(Debug, Clone, Copy, Default)]
struct Context {
    /// Share of frames under half the window's mean power.
    low_energy: f32,
    /// Share of frames above the floor by the background margin.
    foreground: f32,
    /// Share of the foreground frames that are harmonic (voiced or tonal).
    harmonic: f32,
    /// 4 Hz modulation: the power envelope's energy at 3-5 Hz over its mean, the syllable
    /// rate of speech (Scheirer and Slaney 1997).
    mod4: f32,
    /// Share of the foreground frames dominated by one narrow partial (`peak_ratio` at or
    /// above `tone_peak_ratio`): near 1 for a beep, a ring or a sweep, lower for music,
    /// where a partial dominates only now and then.
    tonal: f32,
    /// Note changes per frame of the window: consecutive tonal foreground frames whose
    /// notes lie more than [`NOTE_STEP`] apart, not counting a step back to the note just
    /// left. A beep or a sweep holds or glides and a ring trills between two notes; a
    /// melody or a bass line steps from note to note.
    steps: f32,
    /// Share of the look-ahead's frames that are foreground, and of those, the share that
    /// is harmonic.
    ahead_foreground: f32,
    ahead_harmonic: f32,
    /// Share of the foreground frames the voice detector scores `≥ vad_threshold` that
    /// have a pitch.
    voiced: f32,
}

/// A running impact.
#[derive(Debug, Clone, Copy)]
struct Impact {
    start: u64,
    peak_db: f32,
}

/// Applies the rules frame by frame. Frames are pushed as soon as they are measured and
/// labelled a fixed look-ahead later, so every rule may read the frames up to
/// `lookahead_s` after the one it labels, and as far back (the context window); the
/// labels still depend only on the sample sequence, never on how it was chunked.
#[derive(Debug, Clone)]
pub struct Labeler {
    cfg: LabelConfig,
    /// `(cos, sin)` of each of [`MOD_HZ`] at every frame offset of the context window,
    /// computed once.
    mod_table: Vec<[(f64, f64); MOD_HZ.len()]>,
    floor: NoiseFloor,
    /// One floor per band of [`FrameFeatures::bands_db`], rising under the same rule.
    band_floors: [NoiseFloor; 6],
    /// The band floors' labelling floors for the frame just observed.
    observed_band_floors: [f32; 6],
    /// Whether each of the last `floor_window_s` of frames was tonal, and how many were.
    tonal_recent: VecDeque<bool>,
    tonal_count: usize,
    tonal_window: usize,
    /// The labelling floor of the frame just observed, stored with it when it is pushed.
    observed_floor: f32,
    queue: VecDeque<Queued>,
    lookahead: usize,
    vad_lookahead: usize,
    past: VecDeque<Summary>,
    context: usize,
    /// Mean squares (linear) of the last three new parts.
    recent_new: [f64; 3],
    recent_len: usize,
    refractory_frames: u64,
    last_onset_frame: Option<u64>,
    impact_frames: u64,
    impact: Option<Impact>,
    peak_frames: usize,
    tonal_frames: usize,
    guard_frames: usize,
    drop_from: usize,
    drop_to: usize,
    vad_warmup_frames: u64,
    /// Last f0 values of the current voiced run (ring), and the run length.
    f0_ring: [f32; F0_RING],
    f0_run: usize,
    steady_frames: usize,
    flat_frames: usize,
    /// The speech state of the VAD's two-threshold trigger.
    in_speech: bool,
    /// Frames in a row with a voice score under `vad_threshold`.
    below: usize,
    hangover_frames: usize,
    /// `tone_max_steps_per_s` per frame.
    tone_max_steps: f32,
}

/// Frames in a row within 2 dB that make a tonal plateau after a burst.
const PLATEAU_FRAMES: usize = 5;

/// Ratio between two notes that counts as a step (a semitone and a half): more than a
/// vibrato or a glide moves in one hop, less than a melody's smallest leaps.
const NOTE_STEP: f32 = 1.09;

/// Whether two notes lie within [`NOTE_STEP`] of each other (never for a missing note, 0).
fn same_note(a: f32, b: f32) -> bool {
    let (lo, hi) = (a.min(b), a.max(b));
    lo > 0.0 && hi <= lo * NOTE_STEP
}

/// Factor on the speech gate (low-energy ratio and modulation) in a music-like window.
const GATE_IN_MUSIC: f32 = 1.3;

/// Spectral flatness under which a frame counts as tonal for the floor's rise.
const TONAL_FLATNESS: f32 = 0.05;

/// Modulation frequencies whose energy measures the syllable rhythm, in Hz.
const MOD_HZ: [f64; 3] = [3.0, 4.0, 5.0];

/// Longest steady-pitch window the ring can hold, in frames.
const F0_RING: usize = 128;

/// Maps a margin in dB onto a confidence in `[0.5, 1]`: 0 dB is a coin toss, 12 dB is sure.
fn margin_conf(margin_db: f32) -> f32 {
    (0.5 + margin_db.abs() / 24.0).clamp(0.5, 1.0)
}

impl Labeler {
    /// Rules for frames `hop_s` seconds apart; the voice score of a frame is the highest of
    /// itself and the `vad_lookahead` frames after it.
    pub fn new(cfg: LabelConfig, hop_s: f32, vad_lookahead: usize) -> Self {
        let hop_s = hop_s.max(1e-6);
        let frames = |s: f32| (s / hop_s).round().max(1.0) as u64;
        let alpha = 1.0 - (-f64::from(hop_s) / 0.05).exp();
        // Bounded so absurd settings cannot ask for absurd queues.
        let lookahead = (frames(cfg.lookahead_s.max(0.0)) as usize)
            .max(vad_lookahead)
            .min(1 << 16);
        Self {
            floor: NoiseFloor::new(
                frames(cfg.floor_window_s) as usize,
                alpha,
                cfg.initial_floor_db,
                cfg.floor_rise_db_per_s * hop_s,
                (cfg.floor_min_db, cfg.floor_max_db),
            ),
            band_floors: std::array::from_fn(|_| {
                NoiseFloor::new(
                    frames(cfg.floor_window_s) as usize,
                    alpha,
                    cfg.initial_floor_db,
                    cfg.floor_rise_db_per_s * hop_s,
                    (cfg.floor_min_db, cfg.floor_max_db),
                )
            }),
            observed_band_floors: [cfg.initial_floor_db; 6],
            observed_floor: cfg.initial_floor_db,
            tonal_window: frames(cfg.floor_window_s) as usize,
            tonal_recent: VecDeque::with_capacity(
                (frames(cfg.floor_window_s) as usize).min(1024) + 1,
            ),
            tonal_count: 0,
            mod_table: (0..=3 * lookahead)
                .map(|k| {
                    MOD_HZ.map(|hz| {
                        let ph = std::f64::consts::TAU * hz * k as f64 * f64::from(hop_s);
                        (ph.cos(), ph.sin())
                    })
                })
                .collect(),
            queue: VecDeque::with_capacity(lookahead.min(1024) + 1),
            lookahead,
            vad_lookahead,
            past: VecDeque::with_capacity(lookahead.min(1024) + 1),
            context: 2 * lookahead,
            refractory_frames: frames(cfg.onset_refractory_s),
            impact_frames: frames(cfg.impact_max_s),
            peak_frames: frames(0.03) as usize,
            tonal_frames: frames(cfg.impact_tonal_s) as usize,
            guard_frames: frames(cfg.impact_voice_guard_s) as usize,
            drop_from: frames(0.05) as usize,
            drop_to: frames(0.1) as usize,
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
            below: 0,
            hangover_frames: (cfg.speech_hangover_s / hop_s).round().max(0.0) as usize,
            tone_max_steps: cfg.tone_max_steps_per_s * hop_s,
        }
    }

    /// Frames a label waits for after its frame is pushed.
    pub fn lookahead(&self) -> usize {
        self.lookahead
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

    /// Feeds the next frame's levels to the noise floors (the total's and each band's) and
    /// returns the total's gate floor (see [`NoiseFloor::update`]). Call once per frame,
    /// before [`Labeler::push`]; it is separate so the caller can skip pitch analysis on
    /// background frames.
    pub fn observe_level(&mut self, f: &FrameFeatures) -> f32 {
        // The labelling floor may rise only while the recent frames are mostly noise-like:
        // music and tones hold their level up for minutes, and a floor that followed them
        // would turn them into background.
        let tonal = f.flatness < TONAL_FLATNESS || f.peak_ratio >= self.cfg.tone_peak_ratio;
        self.tonal_recent.push_back(tonal);
        self.tonal_count += usize::from(tonal);
        if self.tonal_recent.len() > self.tonal_window {
            if let Some(old) = self.tonal_recent.pop_front() {
                self.tonal_count -= usize::from(old);
            }
        }
        let may_rise = 2 * self.tonal_count < self.tonal_recent.len();
        let (gate, label) = self.floor.update(f.power_db, may_rise);
        self.observed_floor = label;
        for ((floor, observed), &level) in self
            .band_floors
            .iter_mut()
            .zip(&mut self.observed_band_floors)
            .zip(&f.bands_db)
        {
            *observed = floor.update(level, may_rise).1;
        }
        gate
    }

    /// Whether a frame at `power_db` is foreground for a floor of `floor_db`.
    pub fn is_foreground(&self, power_db: f32, floor_db: f32) -> bool {
        power_db >= self.cfg.silence_db && power_db >= floor_db + self.cfg.background_margin_db
    }

    fn is_harmonic(&self, f: &FrameFeatures) -> bool {
        f.voicing >= self.cfg.voicing_threshold
            || f.flatness < self.cfg.music_max_flatness
            || f.peak_ratio >= self.cfg.tone_peak_ratio
    }

    /// Queues a measured frame (after [`Labeler::observe_level`] saw its level); `vad` is
    /// the voice score if a detector runs. Returns the oldest frame, labelled, once the
    /// look-ahead is full.
    pub fn push(&mut self, features: FrameFeatures, vad: Option<f32>) -> Option<Frame> {
        let summary = Summary {
            power: 10f64.powf(f64::from(features.power_db) / 10.0),
            power_db: features.power_db,
            harmonic: self.is_harmonic(&features),
            voiced: features.f0_hz.is_some(),
            tonal: features.peak_ratio >= self.cfg.tone_peak_ratio,
            vad: vad.unwrap_or(0.0),
            note_hz: features.peak_hz,
        };
        // The band with the largest rise over its own floor; the analysis gate stays on the
        // total level, since opening the voice detector to every band-wise rise lets it score
        // beats inside music.
        let band_lift = features
            .bands_db
            .iter()
            .zip(&self.observed_band_floors)
            .map(|(level, floor)| level - floor)
            .fold(f32::MIN, f32::max);
        self.queue.push_back(Queued {
            summary,
            features,
            vad,
            floor_db: self.observed_floor,
            band_foreground: features.power_db >= self.cfg.silence_db
                && band_lift >= self.cfg.band_margin_db,
        });
        if self.queue.len() > self.lookahead {
            self.label_oldest()
        } else {
            None
        }
    }

    /// Labels the oldest queued frame, if any: call until `None` when the stream ends.
    pub fn drain(&mut self) -> Option<Frame> {
        self.label_oldest()
    }

    /// The past and queued frames of the context window, oldest first.
    fn window(&self) -> impl Iterator<Item = &Summary> + Clone {
        self.past
            .iter()
            .chain(self.queue.iter().map(|q| &q.summary))
    }

    fn context(&self, floor_db: f32) -> Context {
        let fg_at = (floor_db + self.cfg.background_margin_db).max(self.cfg.silence_db);
        let (mut n, mut sum) = (0usize, 0.0f64);
        let (mut fg, mut harm, mut tonal) = (0usize, 0usize, 0usize);
        // Note steps: `prev` is the note of the frame before (0 when it held none) and
        // `other` the last note the run stepped away from, so that a trill or a two-tone
        // ring going back and forth between the same two notes steps only once.
        let (mut steps, mut prev, mut other) = (0usize, 0.0f32, 0.0f32);
        // The look-ahead is the window's tail, after the past frames.
        let past = self.past.len();
        let (mut ahead_fg, mut ahead_harm) = (0usize, 0usize);
        let (mut voiced, mut scored) = (0usize, 0usize);
        for (k, x) in self.window().enumerate() {
            n += 1;
            sum += x.power;
            let mut note = 0.0;
            if x.power_db >= fg_at {
                fg += 1;
                // Of the frames the detector takes for a voice, those with a pitch: in noise
                // most foreground frames are the background's, with no pitch of their own.
                if x.vad >= self.cfg.vad_threshold {
                    scored += 1;
                    voiced += usize::from(x.voiced);
                }
                harm += usize::from(x.harmonic);
                if k >= past {
                    ahead_fg += 1;
                    ahead_harm += usize::from(x.harmonic);
                }
                tonal += usize::from(x.tonal);
                if x.tonal {
                    note = x.note_hz;
                    if prev > 0.0 && note > 0.0 && !same_note(prev, note) {
                        steps += usize::from(!same_note(other, note));
                        other = prev;
                    }
                }
            }
            prev = note;
        }
        if n == 0 {
            return Context::default();
        }
        // Second pass, against the window's mean: the low-energy ratio and the 4 Hz
        // modulation of the envelope.
        let mean_power = sum / n as f64;
        let mut low = 0usize;
        let mut acc = [(0.0f64, 0.0f64); MOD_HZ.len()];
        for (k, x) in self.window().enumerate() {
            low += usize::from(x.power < 0.5 * mean_power);
            // The table spans the longest window (past, look-ahead and the frame itself).
            if let Some(twiddles) = self.mod_table.get(k).filter(|_| mean_power > 0.0) {
                let v = x.power / mean_power - 1.0;
                for ((re, im), (c, s)) in acc.iter_mut().zip(twiddles) {
                    *re += v * c;
                    *im += v * s;
                }
            }
        }
        let mod_energy = acc.iter().map(|(re, im)| re.hypot(*im)).sum::<f64>() / n as f64;
        Context {
            low_energy: low as f32 / n as f32,
            foreground: fg as f32 / n as f32,
            harmonic: harm as f32 / fg.max(1) as f32,
            mod4: mod_energy as f32,
            tonal: tonal as f32 / fg.max(1) as f32,
            steps: steps as f32 / n as f32,
            ahead_foreground: ahead_fg as f32 / self.queue.len().max(1) as f32,
            ahead_harmonic: ahead_harm as f32 / ahead_fg.max(1) as f32,
            voiced: voiced as f32 / scored.max(1) as f32,
        }
    }

    /// Whether the burst starting at the oldest queued frame is percussive: it falls fast
    /// after its peak, or, if it is not tonal, it falls far within the look-ahead. A tone or
    /// a note starts as sharply as a knock but holds its level.
    fn percussive(&self) -> (bool, f32) {
        let q = &self.queue;
        let peak = q
            .iter()
            .take(self.peak_frames.max(1))
            .map(|x| x.features.power_db)
            .fold(f32::MIN, f32::max);
        let (later_sum, later_n) = q
            .iter()
            .skip(self.drop_from)
            .take(self.drop_to.saturating_sub(self.drop_from).max(1))
            .fold((0.0f64, 0usize), |(sum, n), x| {
                (sum + x.summary.power, n + 1)
            });
        let later_db = if later_n == 0 {
            f32::MIN
        } else {
            super::features::power_to_db(later_sum / later_n as f64)
        };
        let fast_drop = later_db <= peak - self.cfg.impact_fast_drop_db;
        let early = q.iter().skip(1).take(self.drop_to.max(1));
        let (mut tonal, mut seen) = (0usize, 0usize);
        for x in early {
            seen += 1;
            tonal += usize::from(x.summary.harmonic);
        }
        let tonal = seen > 0 && 2 * tonal >= seen;
        let lowest = q
            .iter()
            .map(|x| x.features.power_db)
            .fold(f32::MAX, f32::min);
        let slow_drop = lowest <= peak - self.cfg.impact_slow_drop_db;
        let gone = q
            .iter()
            .take(self.tonal_frames.max(1))
            .any(|x| x.features.power_db <= peak - self.cfg.impact_tonal_drop_db);
        // A plosive: a strong voice score with a voiced frame nearby. An explosion or a whip
        // crack that the detector also scores high has no pitch anywhere near it.
        let (strong, voiced) = self
            .past
            .iter()
            .rev()
            .take(self.guard_frames)
            .chain(q.iter().take(self.guard_frames).map(|x| &x.summary))
            .fold((false, false), |(strong, voiced), p| {
                (strong || p.vad >= self.cfg.vad_enter, voiced || p.voiced)
            });
        let near_voice = strong && voiced;
        // A beep or a note often starts with a click: after it, a tonal plateau (five frames
        // within 2 dB) says the sound goes on as a tone.
        let end = q.len().min(1 + self.tonal_frames.max(1));
        let plateau = (1..end.saturating_sub(PLATEAU_FRAMES - 1)).any(|from| {
            let w = q.range(from..from + PLATEAU_FRAMES);
            let (lo, hi) = w.clone().fold((f32::MAX, f32::MIN), |(lo, hi), x| {
                (lo.min(x.features.power_db), hi.max(x.features.power_db))
            });
            hi - lo <= 2.0 && w.clone().all(|x| x.summary.harmonic)
        });
        let percussive = if tonal {
            fast_drop && gone && !plateau
        } else {
            fast_drop || slow_drop
        };
        (percussive && !near_voice, peak)
    }

    fn label_oldest(&mut self) -> Option<Frame> {
        let c = self.cfg;
        // The floor seen at the newest frame covers the look-ahead too.
        let floor_db = self.queue.back().map_or(c.initial_floor_db, |q| q.floor_db);
        let ahead = self
            .queue
            .iter()
            .take(self.vad_lookahead + 1)
            .filter_map(|q| q.vad)
            .fold(None, |m: Option<f32>, v| Some(m.map_or(v, |m| m.max(v))));
        let context = self.context(floor_db);
        // Music-like in the whole window, or in the look-ahead alone: the first second of a
        // piece sees the background before it in its window, but the piece ahead of it.
        let music_like =
            |fg: f32, harm: f32| fg >= c.music_min_foreground && harm >= c.music_min_harmonic;
        let music_context = music_like(context.foreground, context.harmonic)
            || music_like(context.ahead_foreground, context.ahead_harmonic);
        let gate = if music_context { GATE_IN_MUSIC } else { 1.0 };
        let speech_mod = context.mod4 - c.speech_tonal_penalty * context.tonal;
        let &Queued {
            features: f,
            vad: own_vad,
            summary,
            band_foreground,
            ..
        } = self.queue.front()?;

        // Onset: compare the new part with the mean power of the previous new parts.
        let new_ms = 10f64.powf(f64::from(f.new_db) / 10.0);
        let mut onset_sample = None;
        if self.recent_len == 0 {
            // The first frame has nothing before it: a file cut at the hit (a sound effect,
            // a clip) begins with an impact that no rise can show. It counts as one when it
            // stands out from the floor like one and is percussive; anything else that is
            // there from the first sample is no onset, as before.
            if f.new_db >= floor_db + c.impact_rise_db
                && f.new_db >= c.silence_db + c.impact_rise_db
                && !music_context
            {
                let (percussive, peak_db) = self.percussive();
                if percussive {
                    onset_sample = Some(f.new_attack_sample);
                    self.last_onset_frame = Some(f.index);
                    self.impact = Some(Impact {
                        start: f.index,
                        peak_db,
                    });
                }
            }
        } else {
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
                let (percussive, peak_db) = self.percussive();
                if rise >= c.impact_rise_db && percussive && !music_context {
                    self.impact = Some(Impact {
                        start: f.index,
                        peak_db,
                    });
                } else {
                    // Something new and sustained has started: any impact before it is over.
                    self.impact = None;
                }
            }
        }
        self.recent_new.rotate_right(1);
        self.recent_new[0] = new_ms;
        self.recent_len = (self.recent_len + 1).min(3);

        match f.f0_hz {
            Some(f0) => {
                self.f0_ring[self.f0_run % F0_RING] = f0;
                self.f0_run += 1;
            }
            None => self.f0_run = 0,
        }
        let steady_pitch = self.pitch_held(self.steady_frames, c.steady_pitch_tolerance);
        let flat_pitch = self.pitch_held(self.flat_frames, c.flat_pitch_tolerance);
        let has_vad = ahead.is_some();
        let vad = ahead.filter(|_| f.index >= self.vad_warmup_frames);
        // Two thresholds: earshot scores steady harmonic sounds and pure tones around
        // 0.5-0.7 but real voices above 0.9, so only a strong score starts speech, and a
        // score above `vad_threshold` keeps it going through weaker syllable edges. Speech
        // also needs the pauses speech has around it: music keeps its level up.
        match vad {
            // A voice never holds its pitch this still; synthetic and instrumental notes do,
            // and earshot spikes above `vad_enter` where one note changes to the next.
            _ if flat_pitch => self.in_speech = false,
            Some(s) if s < c.vad_threshold => {
                // A word's tail fades under the threshold a few frames before the voice
                // does: hold on through `speech_hangover_s` of low scores.
                self.below += 1;
                if self.below > self.hangover_frames {
                    self.in_speech = false;
                }
            }
            // Music has come in under the voice, or the voice was a sung line.
            Some(_)
                if context.low_energy < 0.8 * c.speech_min_low_energy
                    || context.mod4 < 0.8 * c.speech_min_modulation =>
            {
                self.in_speech = false;
            }
            Some(s)
                if s >= c.vad_enter
                    && context.voiced >= c.speech_min_voiced
                    && f.flatness < c.speech_max_flatness
                    && context.low_energy >= c.speech_min_low_energy * gate
                    && speech_mod >= c.speech_min_modulation * gate =>
            {
                self.in_speech = true;
            }
            Some(_) => {}
            None => self.in_speech = false,
        }
        if vad.is_some_and(|s| s >= c.vad_threshold) {
            self.below = 0;
        }
        let level = f.power_db;
        if let Some(imp) = self.impact {
            // The level tests wait for the peak: the onset frame itself may hold only the
            // first samples of the burst, at the edge of its window.
            let decayed = f.index > imp.start + self.peak_frames as u64
                && (level < floor_db + c.background_margin_db
                    || level < imp.peak_db - c.impact_tail_db);
            let over = f.index >= imp.start + self.impact_frames || self.in_speech || decayed;
            if over {
                self.impact = None;
            }
        }
        // Rule 3: under the floor's margin (or a tonal frame under the tone margin, a hum or
        // a whine), no band standing out of its own floor, and not a tone loud enough to be
        // one whatever the floor.
        let tonal_here = f.peak_ratio >= c.tone_peak_ratio && !self.in_speech;
        let stands_out = band_foreground || (tonal_here && level >= c.tone_background_max_db);
        let background = !stands_out
            && (level < floor_db + c.background_margin_db
                || (tonal_here && level < floor_db + c.tone_above_floor_db));
        let (label, confidence) = if level < c.silence_db {
            (Label::Silence, margin_conf(c.silence_db - level))
        } else if self.impact.is_some() {
            (
                Label::Impact,
                margin_conf(level - floor_db - c.background_margin_db),
            )
        } else if background {
            if level >= c.noise_min_db {
                (Label::Noise, margin_conf(level - c.noise_min_db))
            } else {
                (Label::Silence, margin_conf(c.noise_min_db - level))
            }
        } else if tonal_here
            && !(music_context && context.tonal < c.tone_min_tonal_share)
            && context.steps < self.tone_max_steps
        {
            (
                Label::Tone,
                ((f.peak_ratio - c.tone_peak_ratio) / (1.0 - c.tone_peak_ratio) * 0.5 + 0.5)
                    .clamp(0.5, 1.0),
            )
        } else if steady_pitch && !self.in_speech {
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
            && context.low_energy >= c.speech_min_low_energy
        {
            (Label::Speech, 0.5 + 0.5 * f.voicing.clamp(0.0, 1.0) * 0.5)
        } else if music_context && !self.in_speech {
            (Label::Music, context.harmonic.clamp(0.5, 1.0))
        } else if f.voicing >= c.voicing_threshold
            || (f.flatness < c.music_max_flatness
                && f.envelope_flatness < c.music_max_envelope_flatness)
        {
            (
                Label::Music,
                f.voicing
                    .max(1.0 - f.flatness / c.music_max_flatness.max(1e-6))
                    .clamp(0.5, 1.0),
            )
        } else {
            (Label::Noise, (0.5 + f.flatness).clamp(0.5, 1.0))
        };

        self.queue.pop_front();
        self.past.push_back(summary);
        while self.past.len() > self.context {
            self.past.pop_front();
        }
        Some(Frame {
            features: f,
            label: FrameLabel {
                label,
                confidence,
                floor_db,
                onset_sample,
            },
            vad: own_vad,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame 10 ms after the last, at `power_db`, broadband enough for the speech gates,
    /// with a pitch or without.
    fn frame(index: u64, power_db: f32, f0: Option<f32>) -> FrameFeatures {
        FrameFeatures {
            index,
            start_sample: index * 160,
            rms: 0.0,
            rms_db: power_db,
            power_db,
            zcr: 0.1,
            centroid_hz: 1200.0,
            bandwidth_hz: 900.0,
            flatness: 0.1,
            envelope_flatness: 0.5,
            rolloff_hz: 3000.0,
            flux: 0.1,
            hfc_db: power_db,
            peak_ratio: 0.2,
            peak_hz: 500.0,
            bands_db: [power_db - 8.0; 6],
            f0_hz: f0,
            voicing: if f0.is_some() { 0.9 } else { 0.1 },
            clipped: 0,
            new_db: power_db,
            new_attack_sample: index * 160,
        }
    }

    /// Labels of `frames`, each scored 0.95 by the voice detector, 10 ms apart.
    fn labels(frames: impl Iterator<Item = FrameFeatures>) -> Vec<Label> {
        scored(frames.map(|f| (f, 0.95)))
    }

    /// Labels of `frames`, each with its own voice score, 10 ms apart.
    fn scored(frames: impl Iterator<Item = (FrameFeatures, f32)>) -> Vec<Label> {
        let mut labeler = Labeler::new(LabelConfig::default(), 0.01, 5);
        let mut out = Vec::new();
        for (f, score) in frames {
            labeler.observe_level(&f);
            out.extend(labeler.push(f, Some(score)).map(|x| x.label.label));
        }
        out.extend(std::iter::from_fn(|| labeler.drain()).map(|x| x.label.label));
        out
    }

    /// A second of quiet, then three seconds of short voiced syllables four times a second
    /// (eight frames of 25) between which a busy background stays well over the floor: a
    /// crowd or traffic that the voice detector does not take for a voice (`noise_score`).
    fn syllables_in_babble(noise_score: f32) -> Vec<Label> {
        scored((0..400u64).map(|i| {
            if i < 100 {
                return (frame(i, -60.0, None), 0.0);
            }
            if (i % 25) < 8 {
                (frame(i, -20.0, Some(140.0 + (i % 25) as f32)), 0.95)
            } else {
                (frame(i, -35.0, None), noise_score)
            }
        }))
    }

    #[test]
    fn speech_in_babble_counts_the_pitch_of_the_frames_scored_as_voice() {
        // Two thirds of the foreground is the background's, with no pitch: counted over all
        // of it, the voice would have too few voiced frames to start.
        let heard = syllables_in_babble(0.1);
        let speech = heard[100..].iter().filter(|&&l| l == Label::Speech).count();
        assert!(speech > 60, "{heard:?}");
        // Scored as a voice throughout, the same frames are an unvoiced burst train.
        let unvoiced = syllables_in_babble(0.95);
        assert!(
            unvoiced.iter().filter(|&&l| l == Label::Speech).count() < speech / 2,
            "{unvoiced:?}"
        );
    }

    /// Three seconds of bursts four times a second (the rhythm and pauses of syllables),
    /// voiced on their loud frames or not.
    fn bursts(voiced: bool) -> Vec<Label> {
        labels((0..300u64).map(|i| {
            let loud = (i % 25) < 12;
            let f0 = (voiced && loud).then_some(140.0 + (i % 25) as f32);
            frame(i, if loud { -20.0 } else { -50.0 }, f0)
        }))
    }

    #[test]
    fn speech_needs_voiced_frames_not_only_a_voice_score() {
        let voiced = bursts(true);
        assert!(
            voiced.iter().filter(|&&l| l == Label::Speech).count() > 100,
            "{voiced:?}"
        );
        let unvoiced = bursts(false);
        assert!(!unvoiced.contains(&Label::Speech), "{unvoiced:?}");
    }

    /// A knock at 1 s (a 40 dB burst falling 3 dB a frame) in 2.5 s of quiet, with voiced
    /// frames just before it or not.
    fn knock(voiced: bool) -> Vec<Label> {
        labels((0..250u64).map(|i| {
            let level = if (100..120).contains(&i) {
                -20.0 - 3.0 * (i - 100) as f32
            } else {
                -60.0
            };
            let f0 = (voiced && (90..100).contains(&i)).then_some(150.0);
            frame(i, level.max(-60.0), f0)
        }))
    }

    #[test]
    fn a_knock_the_voice_detector_likes_is_an_impact_unless_a_voice_is_beside_it() {
        let alone = knock(false);
        assert!(alone[100..105].contains(&Label::Impact), "{alone:?}");
        let plosive = knock(true);
        assert!(!plosive.contains(&Label::Impact), "{plosive:?}");
    }
}
