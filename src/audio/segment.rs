//! Turns the stream of frame labels into segments `[start, end)`.
//!
//! Each frame stands for the hop-long interval centred on its frame centre, so consecutive
//! frames tile the time line. A segment is open with some label; frames with another label
//! wait in a pending queue until the open label recurs (they are then absorbed into the open
//! segment as flicker). Hysteresis: another label takes over only once it has been seen on
//! at least its minimum duration's worth of frames ([`SegmentConfig::min_s`]) since the open
//! label was last seen; the segment then closes at the first pending frame of the new label,
//! absorbing the pending frames before it. Counting frames rather than requiring one
//! unbroken run lets a sound whose frames flicker between two labels (noise that YIN
//! sometimes finds periodic) still take over. Gap merging falls out of this: a pause shorter
//! than silence's minimum between two stretches of speech never becomes a segment, so the
//! speech stays one. The first segment opens the same way and starts at 0. The queue's
//! capacity is the sum of the minimums, so memory stays bounded on a live stream.
//!
//! Everything depends only on frames already seen, so segments close as soon as they are
//! decided and are identical however the samples were chunked.

use super::analyzer::Frame;
use super::labels::Label;
use std::collections::VecDeque;

/// Minimum durations of the segmenter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentConfig {
    /// Minimum run, in seconds, for each label (indexed like [`Label::ALL`]) before it opens
    /// a segment: silence 0.3, noise 0.3, speech 0.1, music 0.2, impact 0.02, tone 0.05.
    pub min_s: [f32; 6],
}

impl Default for SegmentConfig {
    fn default() -> Self {
        Self {
            min_s: [0.3, 0.3, 0.1, 0.2, 0.02, 0.05],
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

/// The hysteresis segmenter.
#[derive(Debug)]
pub struct Segmenter {
    sample_rate: f64,
    half_frame: u64,
    half_hop: u64,
    min_frames: [usize; 6],
    open: Option<Open>,
    pending: VecDeque<Frame>,
    capacity: usize,
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
        // Frames of the open label never wait, so once this many are pending some other
        // label has necessarily reached its minimum.
        let capacity = min_frames.iter().sum::<usize>() + 1;
        Self {
            sample_rate: f64::from(sample_rate),
            half_frame: (frame_len / 2) as u64,
            half_hop: (hop / 2) as u64,
            min_frames,
            open: None,
            pending: VecDeque::with_capacity(capacity),
            capacity,
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

    fn close(&mut self, open: Open, end_sample: u64) -> Segment {
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
                    Self::absorb(open, &mut self.f0, &p);
                }
                self.counts = [0; 6];
                Self::absorb(open, &mut self.f0, frame);
                return None;
            }
        }
        if self.pending.len() == self.capacity {
            // Unreachable with the capacity chosen in `new` (some label must have reached
            // its minimum first), kept so memory stays bounded whatever the configuration.
            if let (Some(old), Some(open)) = (self.pending.pop_front(), self.open.as_mut()) {
                self.counts[label_index(old.label.label)] -= 1;
                Self::absorb(open, &mut self.f0, &old);
            }
        }
        self.pending.push_back(*frame);
        let li = label_index(label);
        self.counts[li] += 1;
        if self.counts[li] < self.min_frames[li] {
            return None;
        }
        // `label` has held long enough: the segment changes at its first pending frame.
        let first = self
            .pending
            .iter()
            .position(|p| p.label.label == label)
            .unwrap_or(0);
        let mut carried = Vec::new();
        let (closed, boundary) = match self.open.take() {
            Some(mut open) => {
                for p in self.pending.drain(..first) {
                    Self::absorb(&mut open, &mut self.f0, &p);
                }
                let boundary = self.pending.front().map_or(0, |f| self.interval_start(f));
                // An absorbed frame's onset can lie past the boundary (frames are wider than
                // their tiles): it belongs to the new segment.
                let keep = open.onsets.partition_point(|&s| s < boundary);
                carried.extend(open.onsets.drain(keep..));
                (Some(self.close(open, boundary)), boundary)
            }
            // The first segment starts at 0 and takes everything before it.
            None => (None, 0),
        };
        let mut next = Open::new(label, boundary);
        next.onsets = carried;
        for p in self.pending.drain(..) {
            Self::absorb(&mut next, &mut self.f0, &p);
        }
        self.counts = [0; 6];
        self.open = Some(next);
        closed
    }

    /// Closes the open segment at `end_sample` (the end of the audio), absorbing frames that
    /// never reached their minimum duration.
    pub fn finish(&mut self, end_sample: u64) -> Option<Segment> {
        let mut open = self.open.take()?;
        for p in self.pending.drain(..) {
            Self::absorb(&mut open, &mut self.f0, &p);
        }
        self.counts = [0; 6];
        Some(self.close(open, end_sample))
    }
}
