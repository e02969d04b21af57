//! Turns the stream of frame labels into segments `[start, end)`.
//!
//! Each frame stands for the hop-long interval centred on its frame centre, so consecutive
//! frames tile the time line. A segment is open with some label; frames with another label
//! wait in a pending queue. Hysteresis: a new label takes over only once it has held for its
//! minimum duration ([`SegmentConfig::min_s`]) in consecutive frames; the segment then closes
//! at the first frame of that run, and pending frames before the run are absorbed into the
//! closing segment. A run that breaks off earlier is absorbed too. Gap merging falls out of
//! this: a pause shorter than silence's minimum duration between two stretches of speech
//! never becomes a segment, so the speech stays one segment. The queue has a fixed capacity;
//! when labels flicker without any run reaching its minimum, the oldest pending frame is
//! absorbed, so memory stays bounded on a live stream.
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
    /// a segment: silence 0.3, noise 0.3, speech 0.1, music 0.2, impact one frame, tone 0.05.
    pub min_s: [f32; 6],
}

impl Default for SegmentConfig {
    fn default() -> Self {
        Self {
            min_s: [0.3, 0.3, 0.1, 0.2, 0.0, 0.05],
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
    run: usize,
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
        let capacity = min_frames.iter().copied().max().unwrap_or(1) + 1;
        Self {
            sample_rate: f64::from(sample_rate),
            half_frame: (frame_len / 2) as u64,
            half_hop: (hop / 2) as u64,
            min_frames,
            open: None,
            pending: VecDeque::with_capacity(capacity),
            capacity,
            run: 0,
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
        let Some(open) = self.open.as_mut() else {
            let mut open = Open {
                label,
                start_sample: 0,
                frames: 0,
                conf_sum: 0.0,
                ms_sum: 0.0,
                centroid_sum: 0.0,
                onsets: Vec::new(),
            };
            Self::absorb(&mut open, &mut self.f0, frame);
            self.open = Some(open);
            return None;
        };
        if label == open.label {
            for p in self.pending.drain(..) {
                Self::absorb(open, &mut self.f0, &p);
            }
            self.run = 0;
            Self::absorb(open, &mut self.f0, frame);
            return None;
        }
        let continues = self.pending.back().is_some_and(|p| p.label.label == label);
        self.run = if continues { self.run + 1 } else { 1 };
        if self.pending.len() == self.capacity {
            if let Some(old) = self.pending.pop_front() {
                Self::absorb(open, &mut self.f0, &old);
            }
        }
        self.pending.push_back(*frame);
        if self.run < self.min_frames[label_index(label)] {
            return None;
        }
        // The run has held long enough: close at its first frame.
        let before = self.pending.len() - self.run;
        for p in self.pending.drain(..before) {
            Self::absorb(open, &mut self.f0, &p);
        }
        let boundary = self.pending.front().map_or(0, |f| self.interval_start(f));
        let mut next = Open {
            label,
            start_sample: boundary,
            frames: 0,
            conf_sum: 0.0,
            ms_sum: 0.0,
            centroid_sum: 0.0,
            onsets: Vec::new(),
        };
        let closed = self.open.take();
        let segment = closed.map(|c| self.close(c, boundary));
        for p in self.pending.drain(..) {
            Self::absorb(&mut next, &mut self.f0, &p);
        }
        self.run = 0;
        self.open = Some(next);
        segment
    }

    /// Closes the open segment at `end_sample` (the end of the audio), absorbing frames that
    /// never reached their minimum duration.
    pub fn finish(&mut self, end_sample: u64) -> Option<Segment> {
        let mut open = self.open.take()?;
        for p in self.pending.drain(..) {
            Self::absorb(&mut open, &mut self.f0, &p);
        }
        self.run = 0;
        Some(self.close(open, end_sample))
    }
}
