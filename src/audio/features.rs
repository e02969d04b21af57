//! Per-frame features over one analysis frame, defined to match librosa exactly where
//! librosa has the same feature.
//!
//! Frames are not centred: frame `i` covers samples `[i·hop, i·hop + frame_len)`, which is
//! librosa's `center=False`. The spectrum is the unnormalised real FFT of the frame times a
//! *periodic* Hann window (`w[n] = 0.5 − 0.5·cos(2πn/N)`, scipy's `get_window('hann', N)`),
//! with `N = frame_len` (librosa's `n_fft = win_length`). Bin `k` has frequency `k·sr/N`.
//!
//! | field | definition | librosa call it matches |
//! | --- | --- | --- |
//! | `rms` | `sqrt(mean(x²))` of the raw (unwindowed) frame | `feature.rms(y, frame_length=N, hop_length=H, center=False)` |
//! | `zcr` | crossings between consecutive samples of the raw frame / N; \|x\| ≤ 1e-10 counts as +0 | `feature.zero_crossing_rate(y, frame_length=N, hop_length=H, center=False)` |
//! | `centroid_hz` | `Σ f·S / Σ S`, `S` = magnitude spectrum | `feature.spectral_centroid(..., n_fft=N, hop_length=H, center=False)` |
//! | `bandwidth_hz` | `sqrt(Σ S·(f − centroid)² / Σ S)` | `feature.spectral_bandwidth(...)` (p = 2) |
//! | `flatness` | `gmean(P)/amean(P)`, `P = max(S², 1e-10)` | `feature.spectral_flatness(...)` (power = 2, amin = 1e-10) |
//! | `rolloff_hz` | lowest bin frequency where the cumulative **magnitude** reaches 85 % of the total | `feature.spectral_rolloff(..., roll_percent=0.85)` |
//!
//! The other fields are this crate's own and documented on [`FrameFeatures`].

use super::window::periodic_hann;
use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Lower edges of the band-energy bands in Hz; the last band runs to Nyquist.
pub const BAND_EDGES_HZ: [f64; 7] = [80.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, f64::INFINITY];

/// Human names of the bands in [`FrameFeatures::bands_db`], in order.
pub const BAND_NAMES: [&str; 6] = [
    "80-250Hz",
    "250-500Hz",
    "500-1kHz",
    "1k-2kHz",
    "2k-4kHz",
    "4kHz+",
];

/// Floor applied to every decibel figure so silence gives a finite number.
pub const DB_FLOOR: f32 = -120.0;

/// Sample magnitude at or above which a sample counts as clipped.
pub const CLIP_LEVEL: f32 = 0.999;

/// librosa's `amin` for spectral flatness (on power).
const FLATNESS_AMIN: f64 = 1e-10;

/// librosa's default roll-off fraction.
const ROLL_PERCENT: f64 = 0.85;

/// Products of at most this many clamped powers stay inside f64's range
/// (each factor lies in `[1e-10, N²]`), so flatness needs one `ln` per block, not per bin.
const LOG_BLOCK: usize = 16;

/// Width of the blocks of bins whose mean power, over a block and its two neighbours, is
/// the spectral envelope of [`FrameFeatures::envelope_flatness`], in Hz: the envelope then
/// spans about three times this, wider than a voice's or an instrument's partial spacing
/// and narrower than the slopes of coloured noise.
const ENVELOPE_BLOCK_HZ: f64 = 240.0;

/// Independent partial sums per reduction, so the spectral loops are not one serial chain.
const LANES: usize = 4;

/// Everything measured on one frame. Levels are in dBFS where a full-scale square wave is
/// 0 dB (so a full-scale sine is −3.01 dB), floored at [`DB_FLOOR`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameFeatures {
    /// Frame number, from 0.
    pub index: u64,
    /// First sample of the frame.
    pub start_sample: u64,
    /// Root-mean-square of the raw frame (librosa `rms`).
    pub rms: f32,
    /// `rms` in dBFS.
    pub rms_db: f32,
    /// Hann-weighted mean square in dBFS: the level the spectrum sees, centred on the frame
    /// centre. Labels use it so that a sound edge flips labels when it crosses the centre.
    pub power_db: f32,
    /// Zero-crossing rate (librosa `zero_crossing_rate`), crossings per sample.
    pub zcr: f32,
    /// Spectral centroid in Hz (librosa).
    pub centroid_hz: f32,
    /// Spectral bandwidth (p = 2) in Hz (librosa).
    pub bandwidth_hz: f32,
    /// Spectral flatness on power, 0 (pure tone) to 1 (white noise) (librosa).
    pub flatness: f32,
    /// Spectral flatness, from 80 Hz up, of the power spectrum divided by its envelope (the
    /// mean power of the bin's 240 Hz block of bins and the blocks on either side; 1 for a
    /// silent frame). Plain flatness reads any tilted spectrum as
    /// tonal: traffic, wind and brown noise fall under 0.05 like music. Divided by its
    /// envelope, a noise of any colour reads about 0.5, while partials standing out of
    /// their neighbourhood (notes, voices, tones) still read low.
    pub envelope_flatness: f32,
    /// 85 % spectral roll-off in Hz (librosa).
    pub rolloff_hz: f32,
    /// Spectral flux: `Σ max(0, S_t − S_{t−1}) / Σ S_t`, the share of this frame's magnitude
    /// that is new; 0 for a steady sound, near 1 at a burst out of silence.
    pub flux: f32,
    /// High-frequency content (Masri): `Σ k·|X_k|²`, normalised like the band energies, in dB.
    pub hfc_db: f32,
    /// Share of spectral power within ±2 bins of the strongest bin, both counted from 80 Hz
    /// up: near 1 for a pure tone (the Hann main lobe is ±2 bins wide), small for anything
    /// broadband or harmonic-rich.
    pub peak_ratio: f32,
    /// Frequency of that strongest bin in Hz, refined between bins by a parabola through
    /// the log powers of it and its neighbours (0 for a silent frame): the note a tonal
    /// frame holds. Bins are `sample_rate / frame_len` wide (40 Hz at the defaults), too
    /// coarse to tell neighbouring notes apart on their own.
    pub peak_hz: f32,
    /// Band energies in dBFS for [`BAND_NAMES`], from the Hann-weighted power spectrum; they
    /// add up (in power) to `power_db` minus what lies below 80 Hz.
    pub bands_db: [f32; 6],
    /// YIN fundamental frequency in Hz when the frame is voiced (`voicing ≥` the configured
    /// threshold) and loud enough to be analysed.
    pub f0_hz: Option<f32>,
    /// YIN voicing confidence `1 − d′(τ*)` in `[0, 1]`; 0 when pitch was not analysed.
    pub voicing: f32,
    /// Samples in this frame's new part (the last hop; the whole frame for frame 0) at or
    /// above [`CLIP_LEVEL`] in magnitude.
    pub clipped: u32,
    /// Mean square of the frame's new part, in dBFS: the onset detector's input.
    pub new_db: f32,
    /// Absolute index of the first sample in the new part reaching half its peak: where an
    /// onset detected on this frame is placed in time.
    pub new_attack_sample: u64,
}

/// The fractional bin of the spectral peak at `k`: the vertex of the parabola through the
/// log powers of bins `k − 1`, `k` and `k + 1` (Smith and Serra's quadratic
/// interpolation), within half a bin of `k`; `k` itself at the edges or on a flat top.
fn peak_bin(power: &[f64], k: usize) -> f64 {
    let (Some(&a), Some(&b), Some(&c)) = (
        k.checked_sub(1).and_then(|i| power.get(i)),
        power.get(k),
        power.get(k + 1),
    ) else {
        return k as f64;
    };
    let (a, b, c) = (a.max(1e-30).ln(), b.max(1e-30).ln(), c.max(1e-30).ln());
    let den = a - 2.0 * b + c;
    if den < 0.0 {
        k as f64 + (0.5 * (a - c) / den).clamp(-0.5, 0.5)
    } else {
        k as f64
    }
}

/// `Σ x²` in f64, in eight independent lanes so it vectorises (one accumulator would be a
/// serial chain of additions).
fn sum_squares(x: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let mut blocks = x.chunks_exact(8);
    for b in &mut blocks {
        for (l, &v) in lanes.iter_mut().zip(b) {
            *l += f64::from(v) * f64::from(v);
        }
    }
    let mut sum: f64 = lanes.iter().sum();
    for &v in blocks.remainder() {
        sum += f64::from(v) * f64::from(v);
    }
    sum
}

/// `Σ x` in LANES independent partial sums (a single accumulator is a serial chain).
fn sum_lanes(x: &[f64]) -> f64 {
    let mut lanes = [0.0f64; LANES];
    let mut blocks = x.chunks_exact(LANES);
    for b in &mut blocks {
        for (l, &v) in lanes.iter_mut().zip(b) {
            *l += v;
        }
    }
    lanes.iter().sum::<f64>() + blocks.remainder().iter().sum::<f64>()
}

/// The largest of `x` (0 when empty; `x` holds powers, never below 0), as LANES running
/// maxima that vectorise where one would be a serial chain of comparisons.
fn lane_max(x: &[f64]) -> f64 {
    let mut lanes = [0.0f64; LANES];
    let mut blocks = x.chunks_exact(LANES);
    for b in &mut blocks {
        for (l, &v) in lanes.iter_mut().zip(b) {
            *l = if v > *l { v } else { *l };
        }
    }
    for &v in blocks.remainder() {
        lanes[0] = if v > lanes[0] { v } else { lanes[0] };
    }
    lanes.iter().fold(0.0, |m, &v| if v > m { v } else { m })
}

/// Splits a positive normal `x` into `(e, m)` with `x = m·2^e` and `m` in `[1, 2)`, from its
/// bits: the exact part of `ln x` that needs no logarithm. Other inputs give `(0, 1)`.
fn split_exponent(x: f64) -> (i64, f64) {
    if !x.is_normal() || x < 0.0 {
        return (0, 1.0);
    }
    const MANTISSA: u64 = (1 << 52) - 1;
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    (e, f64::from_bits((bits & MANTISSA) | (1023 << 52)))
}

/// Applies the periodic Hann window `w[n] = ½ − ½·cos(2πn/N)` to the one-sided spectrum
/// `raw` of an `n`-point real frame: `out[k] = ½·raw[k] − ¼·(raw[k−1] + raw[k+1])`, where bins
/// past either end are the conjugates of their mirror images (`X[−k] = X[N−k] = conj X[k]`).
fn hann_in_frequency(raw: &[Complex<f64>], n: usize, out: &mut [Complex<f64>]) {
    let bins = raw.len();
    if bins < 3 || out.len() != bins {
        out.iter_mut().zip(raw).for_each(|(o, &r)| *o = r * 0.5);
        return;
    }
    // The bin past the last one: X[K+1] = conj X[N−K−1].
    let past_end = raw
        .get(n - bins)
        .map_or(Complex::new(0.0, 0.0), |c| c.conj());
    out[0] = raw[0] * 0.5 - (raw[1].conj() + raw[1]) * 0.25;
    for (o, w) in out[1..bins - 1].iter_mut().zip(raw.windows(3)) {
        *o = w[1] * 0.5 - (w[0] + w[2]) * 0.25;
    }
    out[bins - 1] = raw[bins - 1] * 0.5 - (raw[bins - 2] + past_end) * 0.25;
}

/// Converts a mean square to dB, floored.
pub(crate) fn power_to_db(ms: f64) -> f32 {
    if ms > 0.0 {
        ((10.0 * ms.log10()) as f32).max(DB_FLOOR)
    } else {
        DB_FLOOR
    }
}

/// Spectral flatness of `values` (powers, each clamped to librosa's `amin`): geometric over
/// arithmetic mean. Products of LOG_BLOCK clamped values stay in f64's range; each block's
/// product is split into its binary exponent (summed as an integer) and its mantissa in
/// [1, 2) (multiplied on), so the whole geometric mean costs one `ln`. The block is
/// multiplied as LANES interleaved partial products.
fn flatness_of(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 1.0;
    }
    let mut exp_sum = 0i64;
    let mut mant = 1.0f64;
    let mut log_rest = 0.0f64;
    let mut arith = [0.0f64; LANES];
    for (i, block) in values.chunks(LOG_BLOCK).enumerate() {
        let mut prod = [1.0f64; LANES];
        let mut lanes = block.chunks_exact(LANES);
        for c in &mut lanes {
            for l in 0..LANES {
                let p = c[l].max(FLATNESS_AMIN);
                prod[l] *= p;
                arith[l] += p;
            }
        }
        for &p in lanes.remainder() {
            let p = p.max(FLATNESS_AMIN);
            prod[0] *= p;
            arith[0] += p;
        }
        let block_prod = prod[0] * prod[1] * prod[2] * prod[3];
        let (e, m) = split_exponent(block_prod);
        exp_sum += e;
        mant *= m;
        // The mantissa product grows by < 2 per block: fold it back every 512 bins.
        if i % 32 == 31 {
            let (e, m) = split_exponent(mant);
            exp_sum += e;
            mant = m;
        }
        if !block_prod.is_normal() {
            // Out of range (non-finite samples far outside [-1, 1]): keep the
            // plain logarithm's inf/NaN.
            log_rest += block_prod.ln();
        }
    }
    let log_sum = mant.ln() + exp_sum as f64 * std::f64::consts::LN_2 + log_rest;
    let bins = values.len() as f64;
    (log_sum / bins).exp() / (arith.iter().sum::<f64>() / bins)
}

/// Computes [`FrameFeatures`] (except pitch) for frames of one fixed length. The FFT is
/// planned once and every buffer is owned here, so a frame costs no allocation.
pub struct FeatureExtractor {
    frame_len: usize,
    sample_rate: f64,
    fft: Arc<dyn RealToComplex<f64>>,
    /// Mean of w², so band powers are mean squares of the windowed frame relative to the window.
    window_norm: f64,
    fft_in: Vec<f64>,
    /// Spectrum of the windowed frame.
    spectrum: Vec<Complex<f64>>,
    /// Spectrum of the raw (unwindowed) frame.
    raw: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    power: Vec<f64>,
    mag: Vec<f64>,
    prev_mag: Vec<f64>,
    /// `k` for every bin, as f64 (the high-frequency-content weight).
    bin_index: Vec<f64>,
    /// Bin index ranges of the bands.
    band_bins: [(usize, usize); 6],
    /// Each bin's power over its envelope, from 80 Hz up (scratch).
    ratio: Vec<f64>,
    /// Block sums, then each block's bins-per-power (scratch).
    blocks: Vec<f64>,
    /// [`ENVELOPE_BLOCK_HZ`] in bins.
    envelope_block: usize,
}

impl FeatureExtractor {
    /// Plans the FFT for `frame_len`-sample frames at `sample_rate`.
    pub fn new(sample_rate: u32, frame_len: usize) -> Self {
        let mut planner = RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(frame_len);
        let n = frame_len as f64;
        let window_norm = periodic_hann(frame_len).map(|w| w * w).sum::<f64>() / n;
        let bins = frame_len / 2 + 1;
        let sr = f64::from(sample_rate);
        let mut band_bins = [(0usize, 0usize); 6];
        for (b, slot) in band_bins.iter_mut().enumerate() {
            let lo = (BAND_EDGES_HZ[b] * n / sr).ceil() as usize;
            let hi_hz = BAND_EDGES_HZ[b + 1];
            let hi = if hi_hz.is_finite() {
                ((hi_hz * n / sr).ceil() as usize).min(bins)
            } else {
                bins
            };
            *slot = (lo.min(bins), hi.max(lo.min(bins)));
        }
        Self {
            frame_len,
            sample_rate: sr,
            scratch: fft.make_scratch_vec(),
            spectrum: fft.make_output_vec(),
            raw: fft.make_output_vec(),
            fft,
            window_norm,
            fft_in: vec![0.0; frame_len],
            power: vec![0.0; bins],
            mag: vec![0.0; bins],
            prev_mag: vec![0.0; bins],
            bin_index: (0..bins).map(|k| k as f64).collect(),
            band_bins,
            ratio: vec![0.0; bins],
            blocks: vec![0.0; bins],
            envelope_block: ((ENVELOPE_BLOCK_HZ * n / sr).round() as usize).max(1),
        }
    }

    /// Frame length in samples.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// The unnormalised real FFT (bins `0..=N/2`) of the raw, unwindowed frame last passed to
    /// [`FeatureExtractor::compute`], in f64: pitch analysis needs the same transform.
    pub fn raw_spectrum(&self) -> &[Complex<f64>] {
        &self.raw
    }

    /// Measures one frame. `frame.len()` must equal the frame length; `new_from` is where the
    /// samples not seen by the previous frame begin; `start_sample` is the frame's absolute
    /// position.
    pub fn compute(
        &mut self,
        frame: &[f32],
        index: u64,
        start_sample: u64,
        new_from: usize,
    ) -> FrameFeatures {
        let n = self.frame_len;
        let nf = n as f64;
        debug_assert_eq!(frame.len(), n);

        // Time domain: rms, zcr (librosa's threshold of 1e-10, zero counted as positive),
        // and the new part's level, attack and clipping. The sum of squares runs in eight f64
        // lanes so it vectorises without giving up librosa's double precision.
        let sum_sq = sum_squares(frame);
        // Counting sign changes of consecutive pairs without a loop-carried flag vectorises.
        let crossings = frame
            .windows(2)
            .map(|p| u32::from((p[0] < -1e-10) != (p[1] < -1e-10)))
            .sum::<u32>();
        let rms = (sum_sq / nf).sqrt();
        let new_part = &frame[new_from.min(n)..];
        let new_sq = sum_squares(new_part);
        // Samples are finite here (the analyzer zeroes the rest), so a plain comparison is a
        // correct maximum, and unlike `f32::max` it vectorises.
        let mut new_peak = 0.0f32;
        let mut clipped = 0u32;
        for &x in new_part {
            let a = x.abs();
            new_peak = if a > new_peak { a } else { new_peak };
            clipped += u32::from(a >= CLIP_LEVEL);
        }
        let attack_offset = new_part
            .iter()
            .position(|x| x.abs() >= 0.5 * new_peak)
            .unwrap_or(0);
        let new_db = power_to_db(new_sq / new_part.len().max(1) as f64);

        // Spectrum of the windowed frame, in double precision: bandwidth weighs far bins by
        // (f − centroid)², so a single-precision FFT's rounding floor (~1e-7 of the peak)
        // moves a pure tone's bandwidth by half a percent against librosa. The FFT is taken
        // of the raw frame, which pitch analysis reuses (see `raw_spectrum`), and the periodic
        // Hann window is applied in the frequency domain, where it is exactly the three-tap
        // kernel X_w[k] = ½·X[k] − ¼·(X[k−1] + X[k+1]) (indices mod N, X[N−k] = conj X[k]);
        // in f64 that differs from windowing first by rounding at ~1e-16 of the peak.
        for (dst, &x) in self.fft_in.iter_mut().zip(frame) {
            *dst = f64::from(x);
        }
        if self
            .fft
            .process_with_scratch(&mut self.fft_in, &mut self.raw, &mut self.scratch)
            .is_err()
        {
            // Lengths are fixed at construction, so this cannot happen; a zero spectrum keeps
            // the frame well defined rather than panicking on a live stream.
            self.raw.fill(Complex::new(0.0, 0.0));
        }
        hann_in_frequency(&self.raw, n, &mut self.spectrum);
        let bin_hz = self.sample_rate / nf;
        let bins = self.power.len();
        // Power and magnitude first, in a loop of independent lanes that vectorises.
        for ((p, m), c) in self.power.iter_mut().zip(&mut self.mag).zip(&self.spectrum) {
            *p = c.norm_sqr();
            // A single-precision root is four times cheaper than a double one and its 6e-8
            // relative error is far inside librosa's tolerance; powers too small for f32
            // give magnitudes of 0 instead of < 1e-19, which no sum here can notice.
            *m = f64::from((*p as f32).sqrt());
        }
        // Every reduction below keeps LANES independent partial sums: a single f64
        // accumulator is a serial chain of additions (4 cycles each), which dominated the
        // frame. The result differs from a sequential sum only by rounding (~1e-16).
        // Frequencies enter as bin numbers k (f = k·bin_hz), scaled once at the end, and the
        // bandwidth comes from the moments Σ S·k and Σ S·k², so one pass reads every bin.
        let mut sum_mag = [0.0f64; LANES];
        let mut sum_kmag = [0.0f64; LANES];
        let mut sum_k2mag = [0.0f64; LANES];
        let mut hfc = [0.0f64; LANES];
        let mut flux = [0.0f64; LANES];
        let mut sum_pow = [0.0f64; LANES];
        {
            let mut m = self.mag.chunks_exact(LANES);
            let mut q = self.prev_mag.chunks_exact(LANES);
            let mut p = self.power.chunks_exact(LANES);
            let mut kk = self.bin_index.chunks_exact(LANES);
            for (((m, q), p), kk) in (&mut m).zip(&mut q).zip(&mut p).zip(&mut kk) {
                for l in 0..LANES {
                    let km = kk[l] * m[l];
                    sum_mag[l] += m[l];
                    sum_kmag[l] += km;
                    sum_k2mag[l] += kk[l] * km;
                    hfc[l] += kk[l] * p[l];
                    flux[l] += (m[l] - q[l]).max(0.0);
                    sum_pow[l] += p[l];
                }
            }
            let rest = m.remainder().iter().zip(q.remainder()).zip(p.remainder());
            for (((&m, &q), &p), &kk) in rest.zip(kk.remainder()) {
                let km = kk * m;
                sum_mag[0] += m;
                sum_kmag[0] += km;
                sum_k2mag[0] += kk * km;
                hfc[0] += kk * p;
                flux[0] += (m - q).max(0.0);
                sum_pow[0] += p;
            }
        }
        let sum_mag: f64 = sum_mag.iter().sum();
        let sum_kmag: f64 = sum_kmag.iter().sum();
        let sum_k2mag: f64 = sum_k2mag.iter().sum();
        let hfc: f64 = hfc.iter().sum();
        let flux: f64 = flux.iter().sum();
        let sum_pow_all: f64 = sum_pow.iter().sum();
        std::mem::swap(&mut self.mag, &mut self.prev_mag);
        let mag = &self.prev_mag;

        // librosa's util.normalize leaves an all-zero column as zeros: centroid 0, and so
        // bandwidth 0.
        let (centroid, bandwidth) = if sum_mag > 0.0 {
            let c = sum_kmag / sum_mag;
            // Σ S·(k − c)² / Σ S = Σ S·k² / Σ S − c². In f64 the cancellation costs at most
            // log10(c²/bw²) ≲ 5 of 16 digits; rounding can still leave a hair below zero.
            let var = (sum_k2mag / sum_mag - c * c).max(0.0);
            (c * bin_hz, var.sqrt() * bin_hz)
        } else {
            (0.0, 0.0)
        };
        // Roll-off: find the block of LANES bins where the running sum crosses the threshold
        // from whole-block sums, then walk that block bin by bin.
        let threshold = ROLL_PERCENT * sum_mag;
        let mut roll_bin = bins.saturating_sub(1);
        {
            let mut cum = 0.0;
            let mut k0 = 0;
            'blocks: for block in mag.chunks(LANES) {
                let block_sum: f64 = block.iter().sum();
                if cum + block_sum >= threshold {
                    for (i, &m) in block.iter().enumerate() {
                        cum += m;
                        if cum >= threshold {
                            roll_bin = k0 + i;
                            break 'blocks;
                        }
                    }
                }
                cum += block_sum;
                k0 += block.len();
            }
        }
        let flatness = flatness_of(&self.power);
        // The envelope and tone detection both start at the lowest band edge (80 Hz).
        let base = self.band_bins[0].0.min(bins);
        let envelope_flatness = {
            // Each bin from 80 Hz up over the mean power of its block of bins and the two
            // blocks beside it: that local mean is the spectral envelope, so a tilted or
            // coloured noise divides down to a white one and only partials standing out of
            // their neighbourhood stay peaked. Blocks, rather than a window sliding bin by
            // bin, keep the sums independent (a running sum is one serial chain of adds
            // and cost more than the rest of this feature) and need one division a block.
            let q = &self.power[base..];
            let b = self.envelope_block;
            let nb = q.len().div_ceil(b);
            let blocks = &mut self.blocks[..nb];
            for (slot, chunk) in blocks.iter_mut().zip(q.chunks(b)) {
                *slot = chunk.iter().sum();
            }
            // Bins per unit power over each block and its neighbours, in place: block j's
            // sum is still needed by block j + 1, so it is carried in `prev`.
            let mut prev = 0.0;
            for j in 0..nb {
                let own = blocks[j];
                let next = blocks.get(j + 1).copied().unwrap_or(0.0);
                let lo = j.saturating_sub(1) * b;
                let hi = (j + 2).saturating_mul(b).min(q.len());
                let sum = prev + own + next;
                // A silent neighbourhood gives 0: its bins all clamp to the same `amin`,
                // and equal values are flat.
                blocks[j] = if sum > 0.0 {
                    (hi - lo) as f64 / sum
                } else {
                    0.0
                };
                prev = own;
            }
            let ratio = &mut self.ratio[..q.len()];
            for ((rc, qc), &scale) in ratio.chunks_mut(b).zip(q.chunks(b)).zip(blocks.iter()) {
                for (r, &x) in rc.iter_mut().zip(qc) {
                    *r = x * scale;
                }
            }
            flatness_of(ratio)
        };

        // One-sided power normalised so a band's figure is the mean square of the windowed
        // frame relative to the window's own mean square (Parseval). DC and (for even N)
        // Nyquist appear once in the two-sided spectrum, every other bin twice.
        let scale = 1.0 / (nf * nf * self.window_norm);
        let nyquist = n.is_multiple_of(2).then_some(n / 2);
        let mut total = 2.0 * sum_pow_all - self.power.first().copied().unwrap_or(0.0);
        if nyquist.is_some() {
            total -= self.power.last().copied().unwrap_or(0.0);
        }
        let mut bands_db = [DB_FLOOR; 6];
        for (slot, &(lo, hi)) in bands_db.iter_mut().zip(&self.band_bins) {
            let mut e = 2.0 * sum_lanes(&self.power[lo..hi]);
            if lo == 0 && hi > 0 {
                e -= self.power[0];
            }
            if nyquist.is_some_and(|k| lo <= k && k < hi) {
                e -= self.power[n / 2];
            }
            *slot = power_to_db(e * scale);
        }
        // Tone detection looks only above the lowest band edge: rumble and 1/f noise pile
        // their power into the first bins, which is not a beep. The strongest bin is the
        // first one holding the maximum, found from a lane-wise maximum and then its position.
        let above = &self.power[base..];
        let max_pow = lane_max(above);
        let max_bin = base + above.iter().position(|&p| p == max_pow).unwrap_or(0);
        let below_base: f64 = self.power[..base].iter().sum();
        let lo = max_bin.saturating_sub(2).max(base);
        let hi = (max_bin + 3).min(bins);
        let peak_pow: f64 = self.power[lo..hi].iter().sum();
        let sum_pow = sum_pow_all - below_base;

        FrameFeatures {
            index,
            start_sample,
            rms: rms as f32,
            rms_db: power_to_db(rms * rms),
            power_db: power_to_db(total * scale),
            zcr: (f64::from(crossings) / nf) as f32,
            centroid_hz: centroid as f32,
            bandwidth_hz: bandwidth as f32,
            flatness: flatness as f32,
            envelope_flatness: envelope_flatness as f32,
            rolloff_hz: (roll_bin as f64 * bin_hz) as f32,
            flux: if sum_mag > 0.0 {
                (flux / sum_mag) as f32
            } else {
                0.0
            },
            hfc_db: power_to_db(hfc * scale),
            peak_ratio: if sum_pow > 0.0 {
                (peak_pow / sum_pow) as f32
            } else {
                0.0
            },
            peak_hz: if sum_pow > 0.0 {
                (peak_bin(&self.power, max_bin) * bin_hz) as f32
            } else {
                0.0
            },
            bands_db,
            f0_hz: None,
            voicing: 0.0,
            clipped,
            new_db,
            new_attack_sample: start_sample + (new_from.min(n) + attack_offset) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_frequency_lies_between_bins_where_the_tone_does() {
        // 25 ms frames at 16 kHz have 40 Hz bins; a sine anywhere between two bins is
        // placed within a tenth of a bin, which is what tells neighbouring notes apart.
        let mut fx = FeatureExtractor::new(16_000, 400);
        for freq in [440.0f64, 455.0, 460.0, 1000.0, 1013.0, 3217.0] {
            let frame: Vec<f32> = (0..400)
                .map(|i| (std::f64::consts::TAU * freq * i as f64 / 16_000.0).sin() as f32)
                .collect();
            let f = fx.compute(&frame, 0, 0, 0);
            assert!(
                (f64::from(f.peak_hz) - freq).abs() < 4.0,
                "{freq}: {}",
                f.peak_hz
            );
        }
        let f = fx.compute(&[0.0; 400], 0, 0, 0);
        assert_eq!(f.peak_hz, 0.0);
    }

    #[test]
    fn envelope_flatness_tells_coloured_noise_from_partials() {
        // Rumble (white noise through two leaky integrators) is "tonal" to plain flatness, as
        // steep as its spectrum is; divided by its envelope it is noise like any other.
        // A sine and a harmonic complex stay peaked.
        let mut fx = FeatureExtractor::new(16_000, 400);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let (mut acc, mut acc2) = (0.0f64, 0.0f64);
        let mut mean_env = 0.0;
        for frame_no in 0..20 {
            let frame: Vec<f32> = (0..400)
                .map(|_| {
                    // xorshift64*, then a sum of four uniforms as a rough Gaussian.
                    let mut g = 0.0;
                    for _ in 0..4 {
                        state ^= state >> 12;
                        state ^= state << 25;
                        state ^= state >> 27;
                        g += (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64
                            / (1u64 << 53) as f64
                            - 0.5;
                    }
                    acc = 0.995 * acc + g;
                    acc2 = 0.995 * acc2 + acc;
                    (acc2 * 1e-4) as f32
                })
                .collect();
            let f = fx.compute(&frame, frame_no, 0, 0);
            assert!(
                f.flatness < 0.05,
                "rumble reads tonal to plain flatness: {f:?}"
            );
            mean_env += f64::from(f.envelope_flatness) / 20.0;
        }
        assert!(mean_env > 0.4, "rumble's envelope flatness {mean_env}");
        let mut tone = |partials: &[(f64, f64)]| -> f32 {
            let frame: Vec<f32> = (0..400)
                .map(|i| {
                    let t = i as f64 / 16_000.0;
                    partials
                        .iter()
                        .map(|&(f, a)| a * (std::f64::consts::TAU * f * t).sin())
                        .sum::<f64>() as f32
                })
                .collect();
            fx.compute(&frame, 0, 0, 0).envelope_flatness
        };
        let sine = tone(&[(1000.0, 0.5)]);
        assert!(sine < 0.1, "sine: {sine}");
        let voice: Vec<(f64, f64)> = (1..=10)
            .map(|k| (200.0 * k as f64, 0.3 / k as f64))
            .collect();
        let complex = tone(&voice);
        assert!(complex < 0.3, "harmonic complex: {complex}");
        assert_eq!(fx.compute(&[0.0; 400], 0, 0, 0).envelope_flatness, 1.0);
    }

    #[test]
    fn any_frame_length_and_rate_give_finite_features() {
        for frame_len in [0usize, 1, 2, 3, 4, 5, 16, 401] {
            for sample_rate in [0, 16_000] {
                let mut fx = FeatureExtractor::new(sample_rate, frame_len);
                let frame: Vec<f32> = (0..frame_len).map(|i| (i as f32 * 0.7).sin()).collect();
                for new_from in [0, frame_len / 2, frame_len + 3] {
                    let f = fx.compute(&frame, 0, 0, new_from);
                    assert!(f.power_db.is_finite() && f.rms_db.is_finite(), "{f:?}");
                    assert!(f.peak_hz.is_finite(), "{f:?}");
                    assert!((0.0..=1.0).contains(&f.envelope_flatness), "{f:?}");
                }
            }
        }
    }
}
