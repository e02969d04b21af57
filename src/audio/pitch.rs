//! YIN fundamental-frequency estimation (de Cheveigné & Kawahara, 2002) on one frame.
//!
//! Steps as in the paper: difference function `d(τ) = Σ_{j<W} (x_j − x_{j+τ})²` with
//! `W = frame_len − τ_max − 1`, cumulative-mean-normalised `d′(τ) = d(τ)·τ / Σ_{1..τ} d`, the first
//! dip under the absolute threshold (followed down to its local minimum, else the global
//! minimum), and parabolic interpolation around it.

/// A pitch estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pitch {
    /// Fundamental frequency in Hz.
    pub f0_hz: f32,
    /// `1 − d′(τ*)` clamped to `[0, 1]`: 1 for a perfectly periodic frame.
    pub confidence: f32,
}

/// YIN over frames of a fixed length, with its buffers owned so a frame allocates nothing.
#[derive(Debug, Clone)]
pub struct Yin {
    sample_rate: f64,
    tau_min: usize,
    tau_max: usize,
    threshold: f64,
    diff: Vec<f64>,
}

impl Yin {
    /// Searches `f0_min..=f0_max` Hz in frames of `frame_len` samples; `threshold` is YIN's
    /// absolute threshold on `d′` (0.1–0.2 is usual). The search range is clipped so that
    /// the integration window keeps at least half the frame.
    pub fn new(
        sample_rate: u32,
        frame_len: usize,
        f0_min: f32,
        f0_max: f32,
        threshold: f32,
    ) -> Self {
        let sr = f64::from(sample_rate);
        let tau_max = ((sr / f64::from(f0_min.max(1.0))).ceil() as usize).clamp(3, frame_len / 2);
        let tau_min = ((sr / f64::from(f0_max.max(1.0))).floor() as usize).clamp(2, tau_max - 1);
        Self {
            sample_rate: sr,
            tau_min,
            tau_max,
            threshold: f64::from(threshold),
            diff: vec![0.0; tau_max + 2],
        }
    }

    /// Estimates the pitch of `frame`; `None` when the frame is silent or no lag qualifies.
    pub fn estimate(&mut self, frame: &[f32]) -> Option<Pitch> {
        let tau_max = self.tau_max;
        if frame.len() < tau_max * 2 {
            return None;
        }
        // One extra lag past τ_max lets the interpolation use both neighbours at the edge.
        let last = tau_max + 1;
        let w = frame.len() - last;
        let x = &frame[..w + last];
        self.diff[0] = 0.0;
        for tau in 1..=last {
            // f32 products summed in f32 lanes vectorise well; the sums are short (≤ a frame),
            // and the result only needs to locate a minimum to well under 1 %.
            let a = &x[..w];
            let b = &x[tau..tau + w];
            let mut acc = [0.0f32; 8];
            let mut ca = a.chunks_exact(8);
            let mut cb = b.chunks_exact(8);
            for (pa, pb) in (&mut ca).zip(&mut cb) {
                for i in 0..8 {
                    let d = pa[i] - pb[i];
                    acc[i] += d * d;
                }
            }
            let mut s: f32 = acc.iter().sum();
            for (p, q) in ca.remainder().iter().zip(cb.remainder()) {
                let d = p - q;
                s += d * d;
            }
            self.diff[tau] = f64::from(s);
        }
        // Cumulative mean normalisation, in place.
        let mut running = 0.0;
        let mut any = false;
        for tau in 1..=last {
            running += self.diff[tau];
            if running > 0.0 {
                self.diff[tau] *= tau as f64 / running;
                any = true;
            } else {
                self.diff[tau] = 1.0;
            }
        }
        if !any {
            return None;
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
