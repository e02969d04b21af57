//! YIN fundamental-frequency estimation (de Cheveigné & Kawahara, 2002) on one frame.
//!
//! Steps as in the paper: difference function `d(τ) = Σ_{j<W} (x_j − x_{j+τ})²` with
//! `W = frame_len − τ_max − 1`, cumulative-mean-normalised `d′(τ) = d(τ)·τ / Σ_{1..τ} d`, the first
//! dip under the absolute threshold (followed down to its local minimum, else the global
//! minimum), and parabolic interpolation around it.

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Shortest frame [`Yin::new`] accepts: the lag search needs lags 2 and 3 at least, and the
/// integration window keeps half the frame.
pub const MIN_FRAME_LEN: usize = 6;

/// Why a [`Yin`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PitchError {
    /// The frame is too short to hold any lag YIN searches.
    #[error("YIN needs frames of at least {MIN_FRAME_LEN} samples, not {frame_len}")]
    FrameTooShort {
        /// The frame length asked for.
        frame_len: usize,
    },
}

/// A pitch estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pitch {
    /// Fundamental frequency in Hz.
    pub f0_hz: f32,
    /// `1 − d′(τ*)` clamped to `[0, 1]`: 1 for a perfectly periodic frame.
    pub confidence: f32,
}

/// YIN over frames of a fixed length, with its buffers and FFT plans owned so a frame
/// allocates nothing.
///
/// The difference function is computed through the FFT, as librosa's `yin` does:
/// `d(τ) = e₀ + e_τ − 2·r(τ)` with the energies `e` from a prefix sum (in f64) and the
/// cross-correlation `r(τ) = Σ_{j<W} x_j·x_{j+τ}` from one f32 real FFT of the frame (or the
/// caller's, see [`Yin::estimate_with_spectrum`]), one of its first `W` samples (zero-padded)
/// and one inverse FFT, all of the frame's length. Since
/// `W + τ_max + 1` equals the frame length, the circular correlation never wraps. This costs
/// three FFTs instead of the `τ_max·W` multiply-adds of the direct sum.
pub struct Yin {
    sample_rate: f64,
    tau_min: usize,
    tau_max: usize,
    threshold: f64,
    diff: Vec<f64>,
    frame_len: usize,
    fwd: Arc<dyn RealToComplex<f32>>,
    inv: Arc<dyn ComplexToReal<f32>>,
    time: Vec<f32>,
    spec_a: Vec<Complex<f32>>,
    spec_b: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// `prefix[i] = Σ_{j<i} x_j²`, in f64 so energy differences keep their precision.
    prefix: Vec<f64>,
    /// Running sums of the difference function, `running[τ − 1] = Σ_{1..=τ} d`.
    running: Vec<f64>,
}

/// Independent chains in [`prefix_sum_in_place`].
const CHAINS: usize = 4;

/// Replaces `x` by its inclusive prefix sums. The slice is cut into `CHAINS` runs summed
/// side by side (one chain of dependent additions would take 4 cycles per element), then each
/// run is shifted by the total of the runs before it. The result differs from a sequential
/// sum only by rounding.
fn prefix_sum_in_place(x: &mut [f64]) {
    let run = x.len() / CHAINS;
    if run == 0 {
        let mut acc = 0.0;
        for v in x.iter_mut() {
            acc += *v;
            *v = acc;
        }
        return;
    }
    let (body, tail) = x.split_at_mut(run * CHAINS);
    {
        let (a, rest) = body.split_at_mut(run);
        let (b, rest) = rest.split_at_mut(run);
        let (c, d) = rest.split_at_mut(run);
        let mut acc = [0.0f64; CHAINS];
        for (((a, b), c), d) in a
            .iter_mut()
            .zip(b.iter_mut())
            .zip(c.iter_mut())
            .zip(d.iter_mut())
        {
            acc[0] += *a;
            *a = acc[0];
            acc[1] += *b;
            *b = acc[1];
            acc[2] += *c;
            *c = acc[2];
            acc[3] += *d;
            *d = acc[3];
        }
    }
    let mut offset = body[run - 1];
    for chunk in body.chunks_exact_mut(run).skip(1) {
        let total = chunk[run - 1];
        for v in chunk.iter_mut() {
            *v += offset;
        }
        offset += total;
    }
    for v in tail.iter_mut() {
        offset += *v;
        *v = offset;
    }
}

impl std::fmt::Debug for Yin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Yin")
            .field("sample_rate", &self.sample_rate)
            .field("frame_len", &self.frame_len)
            .field("tau_min", &self.tau_min)
            .field("tau_max", &self.tau_max)
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

impl Clone for Yin {
    fn clone(&self) -> Self {
        // Plans are shared read-only; buffers are scratch, so fresh ones are equivalent.
        Self::build(
            self.sample_rate,
            self.frame_len,
            self.tau_min,
            self.tau_max,
            self.threshold,
        )
    }
}

impl Yin {
    /// Searches `f0_min..=f0_max` Hz in frames of `frame_len` samples; `threshold` is YIN's
    /// absolute threshold on `d′` (0.1–0.2 is usual). The search range is clipped so that
    /// the integration window keeps at least half the frame, and bounds below 1 Hz count
    /// as 1 Hz.
    ///
    /// # Errors
    ///
    /// [`PitchError::FrameTooShort`] when `frame_len` is below [`MIN_FRAME_LEN`].
    pub fn new(
        sample_rate: u32,
        frame_len: usize,
        f0_min: f32,
        f0_max: f32,
        threshold: f32,
    ) -> Result<Self, PitchError> {
        if frame_len < MIN_FRAME_LEN {
            return Err(PitchError::FrameTooShort { frame_len });
        }
        let sr = f64::from(sample_rate);
        let tau_max = ((sr / f64::from(f0_min.max(1.0))).ceil() as usize).clamp(3, frame_len / 2);
        let tau_min = ((sr / f64::from(f0_max.max(1.0))).floor() as usize).clamp(2, tau_max - 1);
        Ok(Self::build(
            sr,
            frame_len,
            tau_min,
            tau_max,
            f64::from(threshold),
        ))
    }

    fn build(sr: f64, frame_len: usize, tau_min: usize, tau_max: usize, threshold: f64) -> Self {
        // A frame shorter than 2·τ_max is refused by `estimate`; plan for at least one sample.
        let n = frame_len.max(1);
        let mut planner = RealFftPlanner::<f32>::new();
        let fwd = planner.plan_fft_forward(n);
        let inv = planner.plan_fft_inverse(n);
        let scratch_len = fwd.get_scratch_len().max(inv.get_scratch_len());
        Self {
            sample_rate: sr,
            tau_min,
            tau_max,
            threshold,
            diff: vec![0.0; tau_max + 2],
            frame_len,
            time: vec![0.0; n],
            spec_a: fwd.make_output_vec(),
            spec_b: fwd.make_output_vec(),
            scratch: vec![Complex::new(0.0, 0.0); scratch_len],
            prefix: vec![0.0; n + 1],
            running: vec![0.0; tau_max + 2],
            fwd,
            inv,
        }
    }

    /// Fills `diff[1..=last]` with the difference function of `x` (`x.len() == frame_len`,
    /// `w + last == frame_len`). Returns false if an FFT refused its buffers.
    /// `spectrum`, if given, is the frame's own real FFT (any precision is rounded to f32),
    /// which saves one of the three transforms.
    fn difference(
        &mut self,
        x: &[f32],
        w: usize,
        last: usize,
        spectrum: Option<&[Complex<f64>]>,
    ) -> bool {
        let n = self.frame_len;
        self.prefix[0] = 0.0;
        for (p, &v) in self.prefix[1..].iter_mut().zip(x) {
            *p = f64::from(v) * f64::from(v);
        }
        prefix_sum_in_place(&mut self.prefix[1..]);
        match spectrum {
            Some(given) if given.len() == self.spec_b.len() => {
                for (b, g) in self.spec_b.iter_mut().zip(given) {
                    *b = Complex::new(g.re as f32, g.im as f32);
                }
            }
            _ => {
                self.time.copy_from_slice(x);
                if self
                    .fwd
                    .process_with_scratch(&mut self.time, &mut self.spec_b, &mut self.scratch)
                    .is_err()
                {
                    return false;
                }
            }
        }
        self.time[..w].copy_from_slice(&x[..w]);
        self.time[w..].fill(0.0);
        if self
            .fwd
            .process_with_scratch(&mut self.time, &mut self.spec_a, &mut self.scratch)
            .is_err()
        {
            return false;
        }
        // conj(A)·B is the spectrum of the cross-correlation r(τ) = Σ_j a_j·b_{j+τ}.
        for (a, &b) in self.spec_a.iter_mut().zip(&self.spec_b) {
            *a = a.conj() * b;
        }
        // DC and Nyquist are real in exact arithmetic; the inverse insists on it.
        if let Some(first) = self.spec_a.first_mut() {
            first.im = 0.0;
        }
        if n.is_multiple_of(2) {
            if let Some(last_bin) = self.spec_a.last_mut() {
                last_bin.im = 0.0;
            }
        }
        if self
            .inv
            .process_with_scratch(&mut self.spec_a, &mut self.time, &mut self.scratch)
            .is_err()
        {
            return false;
        }
        let scale = 1.0 / n as f64;
        let e0 = self.prefix[w];
        // Slices rather than indices, so the loop has no bounds checks and vectorises.
        let ends = &self.prefix[1 + w..=last + w];
        let starts = &self.prefix[1..=last];
        let lags = self.diff[1..=last]
            .iter_mut()
            .zip(&self.time[1..=last])
            .zip(ends.iter().zip(starts));
        for ((d, &r), (&end, &start)) in lags {
            let r = f64::from(r) * scale;
            // Rounding in the f32 correlation can push a perfect match a hair below zero.
            *d = (e0 + (end - start) - 2.0 * r).max(0.0);
        }
        true
    }

    /// Estimates the pitch of `frame`; `None` when the frame is silent or no lag qualifies.
    /// `frame.len()` must be the frame length given to [`Yin::new`].
    pub fn estimate(&mut self, frame: &[f32]) -> Option<Pitch> {
        self.estimate_inner(frame, None)
    }

    /// As [`Yin::estimate`], given the frame's unnormalised real FFT (bins `0..=N/2`, e.g.
    /// [`FeatureExtractor::raw_spectrum`](super::features::FeatureExtractor::raw_spectrum)),
    /// which saves one of the three transforms. A spectrum of the wrong length is ignored.
    pub fn estimate_with_spectrum(
        &mut self,
        frame: &[f32],
        spectrum: &[Complex<f64>],
    ) -> Option<Pitch> {
        self.estimate_inner(frame, Some(spectrum))
    }

    fn estimate_inner(
        &mut self,
        frame: &[f32],
        spectrum: Option<&[Complex<f64>]>,
    ) -> Option<Pitch> {
        let tau_max = self.tau_max;
        if frame.len() < tau_max * 2 || frame.len() != self.frame_len {
            return None;
        }
        // One extra lag past τ_max lets the interpolation use both neighbours at the edge.
        let last = tau_max + 1;
        let w = frame.len() - last;
        self.diff[0] = 0.0;
        if !self.difference(frame, w, last, spectrum) {
            return None;
        }
        // Cumulative mean normalisation: the running sums come from a prefix sum in
        // independent chains, then every lag is normalised independently (vectorised).
        self.running[..last].copy_from_slice(&self.diff[1..=last]);
        prefix_sum_in_place(&mut self.running[..last]);
        // d ≥ 0, so the running sum only grows: some lag has a positive sum iff the last does.
        if self.running[last - 1].partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return None;
        }
        for (tau, (d, &run)) in self.diff[1..=last]
            .iter_mut()
            .zip(&self.running[..last])
            .enumerate()
        {
            let norm = *d * ((tau + 1) as f64 / run);
            *d = if run > 0.0 { norm } else { 1.0 };
        }
        let d = &self.diff;
        let mut best = None;
        let mut tau = self.tau_min;
        while tau <= tau_max {
            if d[tau] < self.threshold {
                while tau < tau_max && d[tau + 1] < d[tau] {
                    tau += 1;
                }
                best = Some(tau);
                break;
            }
            tau += 1;
        }
        let tau = match best {
            Some(t) => t,
            None => {
                let mut t = self.tau_min;
                for k in self.tau_min..=tau_max {
                    if d[k] < d[t] {
                        t = k;
                    }
                }
                t
            }
        };
        let refined = if tau > 1 && tau < last {
            let (a, b, c) = (d[tau - 1], d[tau], d[tau + 1]);
            let den = a - 2.0 * b + c;
            if den > 0.0 {
                tau as f64 + (0.5 * (a - c) / den).clamp(-1.0, 1.0)
            } else {
                tau as f64
            }
        } else {
            tau as f64
        };
        Some(Pitch {
            f0_hz: (self.sample_rate / refined) as f32,
            confidence: (1.0 - d[tau]).clamp(0.0, 1.0) as f32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_frames_are_refused_and_the_shortest_accepted_one_works() {
        for frame_len in 0..MIN_FRAME_LEN {
            assert_eq!(
                Yin::new(16_000, frame_len, 80.0, 1000.0, 0.15).err(),
                Some(PitchError::FrameTooShort { frame_len })
            );
        }
        for (sr, f0_min, f0_max) in [
            (16_000, 80.0, 1000.0),
            (0, 80.0, 1000.0),
            (16_000, f32::NAN, f32::NAN),
            (u32::MAX, 0.0, f32::INFINITY),
        ] {
            let mut yin = Yin::new(sr, MIN_FRAME_LEN, f0_min, f0_max, 0.15).unwrap();
            let _ = yin.estimate(&[0.5, -0.5, 0.5, -0.5, 0.5, -0.5]);
            let _ = yin.clone().estimate(&[0.0; MIN_FRAME_LEN]);
        }
    }

    #[test]
    fn prefix_sums_match_a_sequential_sum() {
        for len in 0..40 {
            let x: Vec<f64> = (0..len).map(|i| (i * 7 % 5) as f64 + 0.25).collect();
            let mut got = x.clone();
            prefix_sum_in_place(&mut got);
            let mut acc = 0.0;
            for (i, (&v, &g)) in x.iter().zip(&got).enumerate() {
                acc += v;
                assert_eq!(g, acc, "length {len}, index {i}");
            }
        }
    }
}
