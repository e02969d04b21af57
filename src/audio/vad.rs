//! The neural voice-activity detector: earshot's trained network behind our own front end.
//!
//! earshot's `Detector` turns each 256-sample block into 40 log-mel energies with a scalar
//! 1024-point FFT of its own, then runs its network on the last three blocks' energies.
//! Measured here (`cargo bench --bench audio`), that FFT and filterbank cost as much as the
//! network itself. [`VoiceDetector`] computes the same energies with a planned `realfft`
//! transform into buffers allocated once, and hands them to earshot's
//! [`earshot::DefaultPredictor`]: the weights, normalisation and recurrent state stay
//! earshot's. `tests/audio_vad.rs` checks that the scores agree with earshot's own
//! `Detector` block by block on real recordings (within 1e-4 on the samples; the two differ
//! only by float rounding), which is what pins the earshot version in `Cargo.toml` (the
//! predictor interface is marked unstable there).

use super::window::periodic_hann;
use earshot::{DefaultPredictor, Predictor};
use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Samples per block: 16 ms at 16 kHz, the step the network was trained on.
pub const BLOCK: usize = 256;
/// The analysis window: the current block and the two before it.
const WINDOW: usize = 3 * BLOCK;
/// The window is zero-padded to this transform length.
const FFT_LEN: usize = 1024;
const BINS: usize = FFT_LEN / 2 + 1;
const MELS: usize = 40;
/// Blocks of mel energies the network reads at once.
const CONTEXT: usize = 3;
const PRE_EMPHASIS: f32 = 0.97;
/// The network's features were computed on samples at 16-bit scale, with power brought
/// back to full scale afterwards.
const SCALE: f32 = 32768.0;
const POWER_SCALE: f32 = 1.0 / (SCALE * SCALE);
/// Scratch the predictor needs for its layers (earshot hands it its 1026-float FFT buffer).
const PREDICTOR_SCRATCH: usize = FFT_LEN + 2;

/// The band edges, in FFT bins, of the 40 triangular mel filters the network was trained on:
/// 42 points evenly spaced on the HTK mel scale from 72 to 7600 Hz, each mapped to
/// ⌊1025·f / 16000⌋. Filter `i` rises from edge `i` to a peak of 1 at edge `i + 1` and falls
/// to 0 at edge `i + 2`. The test against earshot's `Detector` is what shows these are the
/// filters it uses.
fn mel_edges() -> [usize; MELS + 2] {
    let mel = |hz: f64| 2595.0 * (1.0 + hz / 700.0).log10();
    let hz = |m: f64| 700.0 * (10f64.powf(m / 2595.0) - 1.0);
    let (lo, hi) = (mel(72.0), mel(7600.0));
    let mut edges = [0usize; MELS + 2];
    for (i, e) in edges.iter_mut().enumerate() {
        let f = hz(lo + (hi - lo) * i as f64 / (MELS + 1) as f64);
        // Truncation is the mapping; the values are small and positive.
        *e = ((FFT_LEN + 1) as f64 * f / 16_000.0).floor() as usize;
    }
    edges
}

/// One stream's voice detector. Feed consecutive 256-sample blocks of 16 kHz mono audio;
/// each returns a voice score in `[0, 1]` (0.5 is the usual threshold).
///
/// All buffers and the FFT plan are made in [`VoiceDetector::new`]; scoring a block
/// allocates nothing.
///
/// ```
/// use mmprompt::audio::vad::{VoiceDetector, BLOCK};
///
/// let mut vad = VoiceDetector::new();
/// let silence = [0.0f32; BLOCK];
/// for _ in 0..20 {
///     assert!(vad.score(&silence) < 0.5);
/// }
/// ```
pub struct VoiceDetector {
    predictor: DefaultPredictor,
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    /// Pre-emphasised samples of the last three blocks, oldest first.
    ring: Vec<f32>,
    prev_sample: f32,
    fft_in: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    fft_scratch: Vec<Complex<f32>>,
    power: Vec<f32>,
    /// Filter `i` covers bins `starts[i]..` with weights `weights[offsets[i]..offsets[i + 1]]`.
    starts: [usize; MELS],
    offsets: [usize; MELS + 1],
    weights: Vec<f32>,
    /// The last `CONTEXT` blocks' normalised log-mel energies, oldest first.
    features: [f32; MELS * CONTEXT],
    scratch: Vec<f32>,
}

impl Default for VoiceDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl VoiceDetector {
    /// A detector at the start of a stream.
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FFT_LEN);
        let window = periodic_hann(WINDOW).map(|w| w as f32).collect();
        let edges = mel_edges();
        let mut starts = [0usize; MELS];
        let mut offsets = [0usize; MELS + 1];
        let mut weights = Vec::new();
        for i in 0..MELS {
            let (a, b, c) = (edges[i], edges[i + 1], edges[i + 2]);
            starts[i] = a;
            offsets[i] = weights.len();
            for k in a..c {
                let w = if k <= b {
                    (k - a) as f32 / (b - a) as f32
                } else {
                    (c - k) as f32 / (c - b) as f32
                };
                weights.push(w);
            }
        }
        offsets[MELS] = weights.len();
        Self {
            predictor: DefaultPredictor::new(),
            spectrum: fft.make_output_vec(),
            fft_scratch: fft.make_scratch_vec(),
            fft_in: fft.make_input_vec(),
            fft,
            window,
            ring: vec![0.0; WINDOW],
            prev_sample: 0.0,
            power: vec![0.0; BINS],
            starts,
            offsets,
            weights,
            features: [0.0; MELS * CONTEXT],
            scratch: vec![0.0; PREDICTOR_SCRATCH],
        }
    }

    /// Scores the next block. `block` must hold [`BLOCK`] samples in `[-1, 1]`; a block of
    /// another length scores 0 and leaves the state unchanged.
    pub fn score(&mut self, block: &[f32]) -> f32 {
        if block.len() != BLOCK {
            return 0.0;
        }
        self.ring.copy_within(BLOCK.., 0);
        for (dst, &s) in self.ring[WINDOW - BLOCK..].iter_mut().zip(block) {
            let s = s * SCALE;
            *dst = s - PRE_EMPHASIS * self.prev_sample;
            self.prev_sample = s;
        }
        for ((dst, &s), &w) in self.fft_in.iter_mut().zip(&self.ring).zip(&self.window) {
            *dst = s * w;
        }
        self.fft_in[WINDOW..].fill(0.0);
        if self
            .fft
            .process_with_scratch(&mut self.fft_in, &mut self.spectrum, &mut self.fft_scratch)
            .is_err()
        {
            // Lengths are fixed at construction, so this cannot happen; a silent spectrum
            // keeps a live stream going rather than panicking.
            self.spectrum.fill(Complex::new(0.0, 0.0));
        }
        for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
            *p = c.norm_sqr() * POWER_SCALE;
        }
        self.features.copy_within(MELS.., 0);
        let current = &mut self.features[MELS * (CONTEXT - 1)..];
        for (i, out) in current.iter_mut().enumerate() {
            let w = &self.weights[self.offsets[i]..self.offsets[i + 1]];
            let p = &self.power[self.starts[i]..self.starts[i] + w.len()];
            let energy: f32 = p.iter().zip(w).map(|(p, w)| p * w).sum();
            *out = (energy + 1e-20).ln();
        }
        self.predictor.normalize(current);
        self.predictor.predict(&self.features, &mut self.scratch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_edges_are_earshots_filter_bins() {
        // The first and last bins of the filters in earshot 1.2.2's table.
        let e = mel_edges();
        assert_eq!(e[..6], [4, 7, 10, 13, 17, 21]);
        assert_eq!(e[MELS - 2..], [402, 428, 456, 486]);
        assert!(e.windows(2).all(|w| w[0] < w[1]), "edges must rise: {e:?}");
        assert!(e[MELS + 1] < BINS);
    }
}
