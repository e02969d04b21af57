//! Turns the stream of frame labels into segments `[start, end)`.
//!
//! Each frame stands for the hop-long interval centred on its frame centre, so consecutive
//! frames tile the time line. A segment is open with some label; frames with another label
//! wait in a pending queue until the open label recurs (they are then absorbed into the open
//! segment as flicker). Hysteresis: another label takes over only once it has been seen on
//! at least its minimum duration's worth of frames ([`SegmentConfig::min_s`]) since the open
//! label was last seen, *and* those frames fill at least half of the pending frames from the
//! first of them on; the segment then closes at that first frame, absorbing the pending
//! frames before it. Counting frames rather than requiring one unbroken run lets a sound
//! whose frames flicker between two labels (noise that YIN sometimes finds periodic) still
//! take over; the half rule keeps a label that turns up only now and then (a tonal frame
//! every few tenths of a second in a noise recording) from taking over a stream that is
//! mostly something else just because its minimum is short. Gap merging falls out of this:
//! a pause shorter than silence's minimum between two stretches of speech never becomes a
//! segment, so the speech stays one. Silence and noise need only
//! [`SegmentConfig::quiet_after_event_s`] to end a tone or an impact, or to open the stream:
//! beeps a quarter second apart stay apart, and a short lead-in is not part of the first
//! sound. Inside music, speech and tone need [`SegmentConfig::min_in_music_s`] (a second)
//! to take over, so held notes and sung phrases stay part of the piece. The first segment
//! opens the same way and starts at 0. Music that takes over directly from a tone takes
//! the whole tone segment: a piece's first held note or chord reads as a tone until the
//! music's movement shows, and a tone that ends in music without a pause was its start.
//! The queue's capacity is the sum of the minimums plus one, so memory stays bounded on a
//! live stream; should it fill without any label taking over (several labels flickering,
//! none dense enough), its oldest frame joins the open segment, or, before the first
//! segment, the most common pending label opens it.
//!
//! **Speech look-back.** The voice detector reacts 30-100 ms after a word begins, and the
//! first frames of a word look like a knock, a tone (a low-passed vowel) or a note. When
//! speech takes over, its start moves back over the run of sound frames (impact, tone,
//! music or speech labels; never silence or noise) just before its first speech frame, by
//! at most [`SegmentConfig::speech_lookback_s`]. To make this possible the open segment
//! keeps its latest frames in a tail of that length before adding them to its summary; a
//! segment left with none of its own label's frames is taken over whole (it was the start of
//! the word). This only delays the summary, never the decision, and depends only on frames
//! already seen.
//!
//! Everything depends only on frames already seen, so segments close as soon as they are
//! decided and are identical however the samples were chunked.

use super::frame::Frame;
use super::labels::Label;
use std::collections::VecDeque;

/// Frames the queues reserve up front (10 s at the default hop), whatever their bounds.
const PREALLOCATE_FRAMES: usize = 1024;

/// Minimum durations of the segmenter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentConfig {
    /// Minimum run, in seconds, for each label (indexed like [`Label::ALL`]) before it opens
    /// a segment: silence 0.3, noise 0.3, speech 0.1, music 0.5, impact 0.02, tone 0.1.
    pub min_s: [f32; 6],
    /// Longest stretch, in seconds, by which a speech segment's start is moved back over the
    /// sound frames (impact, tone, music) just before its first speech frame.
    pub speech_lookback_s: f32,
    /// Minimum run, in seconds, of silence or noise that ends a tone or an impact, and that
    /// opens a stream: shorter than silence's own minimum, which keeps a speaker's pauses
    /// inside the speech, so that beeps a quarter second apart stay separate beeps and a
    /// sound after a short lead-in starts where it starts, not at 0.
    pub quiet_after_event_s: f32,
    /// Minimum run, in seconds, for each label to take over from an open music segment
    /// (indexed like [`Label::ALL`]; never below the label's own minimum): speech 1.0 and
    /// tone 1.0, the rest as `min_s`. A held note or a chord reads as a tone, and a sung
    /// phrase as speech, for a second or so; inside music both are music, so the piece
    /// stays one segment instead of breaking at each of them.
    pub min_in_music_s: [f32; 6],
}

impl Default for SegmentConfig {
    fn default() -> Self {
        Self {
            min_s: [0.3, 0.3, 0.1, 0.5, 0.02, 0.1],
            speech_lookback_s: 0.12,
            quiet_after_event_s: 0.1,
            min_in_music_s: [0.3, 0.3, 1.0, 0.5, 0.02, 1.0],
        }
    }
}

/// A closed segment with its summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Its label.
    pub label: Label,
    /// First sample, inclusive.
    pub start_sample: u64,
    /// End sample, exclusive.
    pub end_sample: u64,
    /// Start in seconds.
    pub start_s: f64,
    /// End in seconds.
    pub end_s: f64,
    /// Mean confidence of the frames that carry the segment's label, times their share of
    /// the segment's frames (absorbed frames of other labels lower it).
    pub confidence: f32,
    /// Number of frames.
    pub frames: u32,
    /// Mean level in dBFS: the mean of the frames' mean squares (librosa rms²).
    pub mean_level_db: f32,
    /// Median f0 in Hz over voiced frames, if any.
    pub median_f0_hz: Option<f32>,
    /// Mean spectral centroid in Hz.
    pub mean_centroid_hz: f32,
    /// Onset times in seconds, in order.
    pub onsets_s: Vec<f64>,
}

#[derive(Debug)]
struct Open {
    label: Label,
    start_sample: u64,
    frames: u32,
    /// Frames carrying `label`.
    own: u32,
    conf_sum: f64,
    ms_sum: f64,
    centroid_sum: f64,
    onsets: Vec<u64>,
}

impl Open {
    fn new(label: Label, start_sample: u64) -> Self {
        Self {
            label,
            start_sample,
            frames: 0,
            own: 0,
            conf_sum: 0.0,
            ms_sum: 0.0,
            centroid_sum: 0.0,
            onsets: Vec::new(),
        }
    }
}

fn label_index(label: Label) -> usize {
    Label::ALL.iter().position(|&l| l == label).unwrap_or(0)
}

/// Whether a frame label is a sound a speech start may be backdated over: earshot reacts
/// after the voice has begun, and the first frames of a word look like a knock, a tone
/// (a low-passed vowel) or a note.
fn is_sound(label: Label) -> bool {
    matches!(
        label,
        Label::Impact | Label::Tone | Label::Music | Label::Speech
    )
}

/// The hysteresis segmenter.
#[derive(Debug)]
pub struct Segmenter {
    sample_rate: f64,
    half_frame: u64,
    half_hop: u64,
    min_frames: [usize; 6],
    /// `min_in_music_s` in frames, each at least the label's `min_frames`.
    min_in_music: [usize; 6],
    /// `quiet_after_event_s` in frames, at most silence's and noise's own minimums.
    quiet_after_event: usize,
    open: Option<Open>,
    pending: VecDeque<Frame>,
    capacity: usize,
    /// The open segment's latest frames, not yet absorbed into its sums, so a speech start
    /// can be moved back over them; at most `lookback` frames.
    tail: VecDeque<Frame>,
    lookback: usize,
    /// Label of the last closed segment.
    last_closed: Option<Label>,
    /// Pending frames per label.
    counts: [usize; 6],
    /// f0 values of the open segment; reused across segments.
    f0: Vec<f32>,
}

impl Segmenter {
    /// A segmenter for frames of `frame_len` samples every `hop` samples.
    pub fn new(cfg: SegmentConfig, sample_rate: u32, frame_len: usize, hop: usize) -> Self {
        let hop_s = hop as f32 / sample_rate as f32;
        let mut min_frames = [1usize; 6];
        for (slot, s) in min_frames.iter_mut().zip(cfg.min_s) {
            *slot = ((s / hop_s).round() as usize).max(1);
        }
        let mut min_in_music = min_frames;
        for (slot, s) in min_in_music.iter_mut().zip(cfg.min_in_music_s) {
            *slot = (*slot).max((s / hop_s).round() as usize);
        }
        // Frames of the open label never wait, so once this many are pending some other
        // label has necessarily reached its minimum (the larger one inside music).
        // Saturating, like the float-to-count conversions above: a zero hop or absurd minimums
        // make the bounds effectively infinite instead of overflowing.
        let capacity = min_in_music
            .iter()
            .fold(1usize, |sum, &m| sum.saturating_add(m));
        let lookback = (cfg.speech_lookback_s.max(0.0) / hop_s).round() as usize;
        let quiet_after_event = ((cfg.quiet_after_event_s / hop_s).round() as usize)
            .max(1)
            .min(min_frames[0])
            .min(min_frames[1]);
        Self {
            sample_rate: f64::from(sample_rate),
            half_frame: (frame_len / 2) as u64,
            half_hop: (hop / 2) as u64,
            min_frames,
            min_in_music,
            quiet_after_event,
            open: None,
            // Reserve only what ordinary settings need; the queues grow if the bounds are larger.
            pending: VecDeque::with_capacity(capacity.min(PREALLOCATE_FRAMES)),
            capacity,
            tail: VecDeque::with_capacity(lookback.saturating_add(1).min(PREALLOCATE_FRAMES)),
            lookback,
            last_closed: None,
            counts: [0; 6],
            f0: Vec::with_capacity(1024),
        }
    }

    fn interval_start(&self, frame: &Frame) -> u64 {
        (frame.features.start_sample + self.half_frame).saturating_sub(self.half_hop)
    }

    fn absorb(open: &mut Open, f0: &mut Vec<f32>, frame: &Frame) {
        open.frames += 1;
        if frame.label.label == open.label {
            open.own += 1;
            open.conf_sum += f64::from(frame.label.confidence);
        }
        let rms = f64::from(frame.features.rms);
        open.ms_sum += rms * rms;
        open.centroid_sum += f64::from(frame.features.centroid_hz);
        if let Some(v) = frame.features.f0_hz {
            f0.push(v);
        }
        if let Some(s) = frame.label.onset_sample {
            open.onsets.push(s);
        }
    }

    /// Adds a frame to the open segment through the look-back tail: the frame waits in the
    /// tail and the oldest tail frame beyond `lookback` is absorbed.
    fn hold(
        open: &mut Open,
        f0: &mut Vec<f32>,
        tail: &mut VecDeque<Frame>,
        lookback: usize,
        frame: &Frame,
    ) {
        tail.push_back(*frame);
        while tail.len() > lookback {
            if let Some(old) = tail.pop_front() {
                Self::absorb(open, f0, &old);
            }
        }
    }

    /// Absorbs the whole tail into the open segment.
    fn flush(open: &mut Open, f0: &mut Vec<f32>, tail: &mut VecDeque<Frame>) {
        for p in tail.drain(..) {
            Self::absorb(open, f0, &p);
        }
    }

    /// Where `label` (just pushed) takes over, if it does: the earliest of its pending
    /// frames from which it fills at least half of the pending frames and reaches its
    /// minimum.
    fn takeover(&self, label: Label) -> Option<usize> {
        let min = self.min_for(label);
        let (mut seen, mut total, mut found) = (0usize, 0usize, None);
        for (i, p) in self.pending.iter().enumerate().rev() {
            total += 1;
            if p.label.label == label {
                seen += 1;
                if seen >= min && 2 * seen >= total {
                    found = Some(i);
                }
            }
        }
        found
    }

    /// The run `label` needs to take over from the open segment (or to open the stream).
    fn min_for(&self, label: Label) -> usize {
        let quiet = matches!(label, Label::Silence | Label::Noise);
        let after_event = self
            .open
            .as_ref()
            .is_none_or(|o| matches!(o.label, Label::Tone | Label::Impact));
        if quiet && after_event {
            self.quiet_after_event
        } else if self.open.as_ref().is_some_and(|o| o.label == Label::Music) {
            self.min_in_music[label_index(label)]
        } else {
            self.min_frames[label_index(label)]
        }
    }

    /// Index in [`Label::ALL`] of the label most pending frames carry (the first on a tie).
    fn most_common(&self) -> usize {
        (0..6).max_by_key(|&i| (self.counts[i], 6 - i)).unwrap_or(0)
    }

    fn close(&mut self, open: Open, end_sample: u64) -> Segment {
        self.last_closed = Some(open.label);
        let n = f64::from(open.frames.max(1));
        let median_f0_hz = if self.f0.is_empty() {
            None
        } else {
            let mid = self.f0.len() / 2;
            let (_, m, _) = self.f0.select_nth_unstable_by(mid, f32::total_cmp);
            Some(*m)
        };
        self.f0.clear();
        let end_sample = end_sample.max(open.start_sample);
        Segment {
            label: open.label,
            start_sample: open.start_sample,
            end_sample,
            start_s: open.start_sample as f64 / self.sample_rate,
            end_s: end_sample as f64 / self.sample_rate,
            confidence: (open.conf_sum / n) as f32,
            frames: open.frames,
            mean_level_db: super::features::power_to_db(open.ms_sum / n),
            median_f0_hz,
            mean_centroid_hz: (open.centroid_sum / n) as f32,
            onsets_s: open
                .onsets
                .iter()
                .map(|&s| s as f64 / self.sample_rate)
                .collect(),
        }
    }

    /// Feeds one frame; returns the segment it closed, if any.
    pub fn push(&mut self, frame: &Frame) -> Option<Segment> {
        let label = frame.label.label;
        if let Some(open) = self.open.as_mut() {
            if label == open.label {
                // The open label recurred: whatever waited was a flicker inside it.
                for p in self.pending.drain(..) {
                    Self::hold(open, &mut self.f0, &mut self.tail, self.lookback, &p);
                }
                self.counts = [0; 6];
                Self::hold(open, &mut self.f0, &mut self.tail, self.lookback, frame);
                return None;
            }
        }
        if self.pending.len() == self.capacity {
            // No label has taken over in a full queue (they flicker without any one of them
            // filling half of it): the oldest frame joins the open segment, or, before the
            // first segment, the most common pending label opens it.
            match self.open.as_mut() {
                Some(open) => {
                    if let Some(old) = self.pending.pop_front() {
                        self.counts[label_index(old.label.label)] -= 1;
                        Self::hold(open, &mut self.f0, &mut self.tail, self.lookback, &old);
                    }
                }
                None => {
                    let mut first = Open::new(Label::ALL[self.most_common()], 0);
                    for p in self.pending.drain(..) {
                        Self::hold(&mut first, &mut self.f0, &mut self.tail, self.lookback, &p);
                    }
                    self.counts = [0; 6];
                    self.open = Some(first);
                    return self.push(frame);
                }
            }
        }
        self.pending.push_back(*frame);
        let li = label_index(label);
        self.counts[li] += 1;
        if self.counts[li] < self.min_for(label) {
            return None;
        }
        // `label` has held long enough, densely enough: the segment changes at its first
        // pending frame of that stretch.
        let first = self.takeover(label)?;
        let mut carried = Vec::new();
        let (closed, next) = match self.open.take() {
            // Music that follows a tone directly (no silence or noise between) began
            // with it: a piece's first held note or chord reads as a tone until the
            // music's movement shows. The open tone segment becomes the music's start,
            // unless music closed just before it (two adjacent music segments would say
            // the piece stopped and restarted).
            Some(mut open)
                if label == Label::Music
                    && open.label == Label::Tone
                    && self.last_closed != Some(Label::Music) =>
            {
                for p in self.pending.drain(..first) {
                    Self::hold(&mut open, &mut self.f0, &mut self.tail, self.lookback, &p);
                }
                open.label = label;
                open.own = 0;
                open.conf_sum = 0.0;
                Self::flush(&mut open, &mut self.f0, &mut self.tail);
                (None, open)
            }
            Some(mut open) => {
                for p in self.pending.drain(..first) {
                    Self::hold(&mut open, &mut self.f0, &mut self.tail, self.lookback, &p);
                }
                // A speech start moves back over the sound frames just before it.
                let mut moved = if label == Label::Speech {
                    self.tail
                        .iter()
                        .rev()
                        .take_while(|p| is_sound(p.label.label))
                        .count()
                } else {
                    0
                };
                let own_left = open.own as usize
                    + self
                        .tail
                        .iter()
                        .take(self.tail.len() - moved)
                        .filter(|p| p.label.label == open.label)
                        .count();
                // Taking over a whole segment that sits between two speech segments would
                // leave two adjacent speech segments: keep it as it is instead.
                if own_left == 0 && self.last_closed == Some(label) {
                    moved = 0;
                }
                for p in self.tail.drain(..self.tail.len() - moved) {
                    Self::absorb(&mut open, &mut self.f0, &p);
                }
                if moved > 0 && open.own == 0 {
                    // Nothing of the open label is left: the speech takes the whole segment.
                    open.label = label;
                    open.conf_sum = 0.0;
                    Self::flush(&mut open, &mut self.f0, &mut self.tail);
                    (None, open)
                } else {
                    let boundary = self
                        .tail
                        .front()
                        .or(self.pending.front())
                        .map_or(0, |f| self.interval_start(f));
                    // An absorbed frame's onset can lie past the boundary (frames are wider
                    // than their tiles): it belongs to the new segment.
                    let keep = open.onsets.partition_point(|&s| s < boundary);
                    carried.extend(open.onsets.drain(keep..));
                    let closed = self.close(open, boundary);
                    let mut next = Open::new(label, boundary);
                    next.onsets = carried;
                    Self::flush(&mut next, &mut self.f0, &mut self.tail);
                    (Some(closed), next)
                }
            }
            // The first segment starts at 0 and takes everything before it.
            None => (None, Open::new(label, 0)),
        };
        let mut next = next;
        for p in self.pending.drain(..) {
            Self::hold(&mut next, &mut self.f0, &mut self.tail, self.lookback, &p);
        }
        self.counts = [0; 6];
        self.open = Some(next);
        closed
    }

    /// Closes the open segment at `end_sample` (the end of the audio), absorbing frames that
    /// never reached their minimum duration.
    pub fn finish(&mut self, end_sample: u64) -> Option<Segment> {
        let mut open = match self.open.take() {
            Some(open) => open,
            // A stream shorter than any label's minimum still gets its one segment: the most
            // common pending label, as when the queue fills before anything takes over.
            None if !self.pending.is_empty() => Open::new(Label::ALL[self.most_common()], 0),
            None => return None,
        };
        Self::flush(&mut open, &mut self.f0, &mut self.tail);
        for p in self.pending.drain(..) {
            Self::absorb(&mut open, &mut self.f0, &p);
        }
        self.counts = [0; 6];
        Some(self.close(open, end_sample))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::features::FrameFeatures;

    #[test]
    fn construction_survives_degenerate_timing_and_huge_minimums() {
        let huge = SegmentConfig {
            min_s: [f32::MAX; 6],
            speech_lookback_s: f32::INFINITY,
            quiet_after_event_s: f32::INFINITY,
            min_in_music_s: [f32::MAX; 6],
        };
        for (cfg, sample_rate, hop) in [
            (SegmentConfig::default(), 16_000, 0),
            (SegmentConfig::default(), 0, 160),
            (huge, 16_000, 160),
            (huge, 16_000, 0),
        ] {
            let mut s = Segmenter::new(cfg, sample_rate, 400, hop);
            assert!(s.finish(0).is_none());
        }
    }

    /// A frame at `index` (10 ms hop, 25 ms frames at 16 kHz) with `label`.
    fn frame(index: u64, label: Label) -> Frame {
        Frame {
            features: FrameFeatures {
                index,
                start_sample: index * 160,
                rms: 0.1,
                rms_db: -20.0,
                power_db: -20.0,
                zcr: 0.1,
                centroid_hz: 1000.0,
                bandwidth_hz: 500.0,
                flatness: 0.1,
                envelope_flatness: 0.5,
                rolloff_hz: 2000.0,
                flux: 0.0,
                hfc_db: -30.0,
                peak_ratio: 0.5,
                peak_hz: 1000.0,
                bands_db: [-30.0; 6],
                f0_hz: None,
                voicing: 0.0,
                clipped: 0,
                new_db: -20.0,
                new_attack_sample: 0,
            },
            label: crate::audio::labels::FrameLabel {
                label,
                confidence: 0.9,
                floor_db: -60.0,
                onset_sample: None,
            },
            vad: None,
        }
    }

    /// The labels and lengths (in frames) of the segments a run of labelled stretches gives.
    fn segments(stretches: &[(Label, u64)]) -> Vec<(Label, u64)> {
        let mut s = Segmenter::new(SegmentConfig::default(), 16_000, 400, 160);
        let mut out = Vec::new();
        let mut i = 0;
        for &(label, n) in stretches {
            for _ in 0..n {
                out.extend(s.push(&frame(i, label)));
                i += 1;
            }
        }
        out.extend(s.finish(i * 160));
        out.iter()
            .map(|g| (g.label, (g.end_sample - g.start_sample) / 160))
            .collect()
    }

    #[test]
    fn held_notes_and_sung_phrases_stay_inside_the_music() {
        use Label::{Music, Silence, Speech, Tone};
        // Under a second of tone or speech between stretches of music is part of the piece.
        assert_eq!(
            segments(&[(Music, 300), (Tone, 80), (Music, 300)]),
            [(Music, 680)]
        );
        assert_eq!(
            segments(&[(Music, 300), (Speech, 90), (Music, 300)]),
            [(Music, 690)]
        );
        // Longer, they are segments of their own, starting where they start.
        let got = segments(&[(Music, 300), (Tone, 150), (Music, 300)]);
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            [Music, Tone, Music]
        );
        assert_eq!(got[1].1, 150);
        // Outside music a tenth of a second is enough, as before.
        let got = segments(&[(Silence, 100), (Tone, 20), (Silence, 100)]);
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            [Silence, Tone, Silence]
        );
        // Music straight after a tone began with it; after a pause it did not.
        assert_eq!(segments(&[(Tone, 200), (Music, 300)]), [(Music, 500)]);
        let got = segments(&[(Tone, 200), (Silence, 40), (Music, 300)]);
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            [Tone, Silence, Music]
        );
        // Silence still ends the music after its own minimum.
        let got = segments(&[(Music, 300), (Silence, 40), (Music, 100)]);
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            [Music, Silence, Music]
        );
    }
}
