//! Grayscale conversion, Gaussian blur and thresholding into a binary foreground mask.
//!
//! Everything here reproduces OpenCV's 8-bit behaviour exactly where OpenCV is
//! bit-exact (grayscale, Gaussian blur, Otsu, fixed and adaptive thresholds), so that
//! masks and therefore regions agree with what an OpenCV pipeline would produce.
//! Large images are split into row bands processed on the current rayon pool, so a batch
//! with `--jobs N` (an N-thread pool) never runs more than N threads, and a lone image gets
//! the idle threads; the result does not depend on the number of threads.

use image::{GrayImage, RgbImage};
use rayon::prelude::*;
use std::fmt;
use std::str::FromStr;

/// How the grayscale image becomes a binary mask.
///
/// The textual form (see [`FromStr`] and [`fmt::Display`]) is `otsu`, `fixed:N`,
/// `adaptive:BLOCK,C` or `canny:LOW,HIGH`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// Otsu's global threshold, the same value `cv2.threshold(.., THRESH_OTSU)` picks.
    /// Pixels above the threshold are bright.
    Otsu,
    /// A fixed global threshold: pixels above `N` are bright.
    Fixed(u8),
    /// Mean of a `block`×`block` neighbourhood minus `c`, as
    /// `cv2.adaptiveThreshold(.., ADAPTIVE_THRESH_MEAN_C, THRESH_BINARY, block, c)`:
    /// a pixel is bright when `pixel > round(local mean) - ceil(c)`, the local mean
    /// using replicated borders. OpenCV rounds `c` up, so we do too.
    Adaptive {
        /// Odd neighbourhood size, at least 3 (at most [`MAX_ADAPTIVE_BLOCK`]).
        block: u32,
        /// Constant subtracted from the local mean.
        c: f32,
    },
    /// Canny edges with hysteresis thresholds (imageproc's detector: Gaussian
    /// pre-blur with σ = 1.4, L2 Sobel magnitude, so thresholds are on that scale
    /// (max ≈ 1140) and results are not identical to `cv2.Canny`).
    Canny {
        /// Low hysteresis threshold, > 0.
        low: f32,
        /// High hysteresis threshold, ≥ `low`.
        high: f32,
    },
}

/// Which side of the threshold is the foreground.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invert {
    /// The minority side is the foreground: dark pixels when strictly more than half
    /// of the pixels are bright, bright pixels otherwise. Canny edges are always the
    /// foreground.
    Auto,
    /// Dark pixels are the foreground.
    Yes,
    /// Bright pixels are the foreground.
    No,
}

/// The binary mask and what was decided while making it.
#[derive(Debug, Clone)]
pub struct Binarized {
    /// 255 for foreground, 0 for background.
    pub mask: GrayImage,
    /// The global threshold used, where the mode has one (Otsu and fixed).
    pub threshold: Option<u8>,
    /// Whether dark pixels were taken as foreground.
    pub inverted: bool,
}

/// Largest accepted adaptive block size; keeps the box sums far from `u64` overflow.
pub const MAX_ADAPTIVE_BLOCK: u32 = 65_535;

/// Largest Gaussian σ honoured by [`gaussian_blur`]; larger values are clamped.
///
/// Beyond this the 8.8 fixed-point kernel's centre tap can round below zero (OpenCV
/// wraps there), and such blurs are useless for finding regions anyway.
pub const MAX_SIGMA: f32 = 50.0;

/// Why a threshold specification could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseThresholdError {
    /// The part before `:` is not a known mode.
    #[error("unknown threshold mode `{0}`; expected one of: otsu, fixed:N, adaptive:BLOCK,C, canny:LOW,HIGH")]
    UnknownMode(String),
    /// `otsu` was given parameters.
    #[error("`otsu` takes no parameters (got `{0}`); write just `otsu`")]
    UnexpectedParameters(String),
    /// The fixed threshold is missing or not an integer in 0..=255.
    #[error(
        "fixed threshold `{0}` is not an integer in 0..=255; expected fixed:N, e.g. fixed:128"
    )]
    FixedValue(String),
    /// A two-parameter mode did not get exactly two comma-separated values.
    #[error("`{mode}` needs two comma-separated values, got `{got}`; expected {expected}")]
    Arity {
        /// The mode name.
        mode: &'static str,
        /// What followed the colon.
        got: String,
        /// The accepted form.
        expected: &'static str,
    },
    /// The adaptive block is not an odd integer in 3..=MAX_ADAPTIVE_BLOCK.
    #[error("adaptive block `{0}` must be an odd integer between 3 and 65535; expected adaptive:BLOCK,C, e.g. adaptive:15,5")]
    AdaptiveBlock(String),
    /// The adaptive constant is not a finite number.
    #[error("adaptive constant `{0}` is not a finite number; expected adaptive:BLOCK,C, e.g. adaptive:15,5")]
    AdaptiveC(String),
    /// A Canny threshold is not a finite number greater than zero.
    #[error("canny threshold `{0}` must be a finite number greater than 0; expected canny:LOW,HIGH, e.g. canny:50,150")]
    CannyValue(String),
    /// The Canny thresholds are in the wrong order.
    #[error("canny low threshold {low} is greater than high threshold {high}; expected canny:LOW,HIGH with 0 < LOW <= HIGH")]
    CannyOrder {
        /// The low threshold given.
        low: f32,
        /// The high threshold given.
        high: f32,
    },
}

/// Why an invert specification could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown invert mode `{0}`; expected one of: auto, yes, no")]
pub struct ParseInvertError(pub String);

fn split_pair<'a>(
    mode: &'static str,
    params: &'a str,
    expected: &'static str,
) -> Result<(&'a str, &'a str), ParseThresholdError> {
    let mut parts = params.split(',').map(str::trim);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), None) => Ok((a, b)),
        _ => Err(ParseThresholdError::Arity {
            mode,
            got: params.to_string(),
            expected,
        }),
    }
}

impl FromStr for Threshold {
    type Err = ParseThresholdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (mode, params) = match s.split_once(':') {
            Some((m, p)) => (m.trim(), Some(p.trim())),
            None => (s, None),
        };
        let mode = mode.to_ascii_lowercase();
        match (mode.as_str(), params) {
            ("otsu", None) => Ok(Threshold::Otsu),
            ("otsu", Some(p)) => Err(ParseThresholdError::UnexpectedParameters(p.to_string())),
            ("fixed", p) => {
                let p = p.unwrap_or("");
                p.parse::<u8>()
                    .map(Threshold::Fixed)
                    .map_err(|_| ParseThresholdError::FixedValue(p.to_string()))
            }
            ("adaptive", p) => {
                let (b, c) = split_pair("adaptive", p.unwrap_or(""), "adaptive:BLOCK,C")?;
                let block = b
                    .parse::<u32>()
                    .ok()
                    .filter(|v| *v >= 3 && v % 2 == 1 && *v <= MAX_ADAPTIVE_BLOCK)
                    .ok_or_else(|| ParseThresholdError::AdaptiveBlock(b.to_string()))?;
                let c = c
                    .parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| ParseThresholdError::AdaptiveC(c.to_string()))?;
                Ok(Threshold::Adaptive { block, c })
            }
            ("canny", p) => {
                let (l, h) = split_pair("canny", p.unwrap_or(""), "canny:LOW,HIGH")?;
                let parse = |v: &str| {
                    v.parse::<f32>()
                        .ok()
                        .filter(|x| x.is_finite() && *x > 0.0)
                        .ok_or_else(|| ParseThresholdError::CannyValue(v.to_string()))
                };
                let (low, high) = (parse(l)?, parse(h)?);
                if low > high {
                    return Err(ParseThresholdError::CannyOrder { low, high });
                }
                Ok(Threshold::Canny { low, high })
            }
            _ => Err(ParseThresholdError::UnknownMode(mode)),
        }
    }
}

impl fmt::Display for Threshold {
    /// The canonical textual form; parsing it gives back the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Otsu => f.write_str("otsu"),
            Threshold::Fixed(n) => write!(f, "fixed:{n}"),
            Threshold::Adaptive { block, c } => write!(f, "adaptive:{block},{c}"),
            Threshold::Canny { low, high } => write!(f, "canny:{low},{high}"),
        }
    }
}

impl FromStr for Invert {
    type Err = ParseInvertError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Invert::Auto),
            "yes" => Ok(Invert::Yes),
            "no" => Ok(Invert::No),
            other => Err(ParseInvertError(other.to_string())),
        }
    }
}

impl fmt::Display for Invert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Invert::Auto => "auto",
            Invert::Yes => "yes",
            Invert::No => "no",
        })
    }
}

// ---------------------------------------------------------------------------------
// Row-band parallelism.

/// Below this many pixels a single thread is faster than spawning helpers.
const PARALLEL_MIN_PIXELS: usize = 1 << 19;

fn worker_count(pixels: usize) -> usize {
    if pixels < PARALLEL_MIN_PIXELS {
        return 1;
    }
    // The pool the caller runs in: rayon's global one (one thread per core) for a lone
    // image, the batch's own one (`--jobs` threads) inside a batch.
    let threads = rayon::current_num_threads();
    threads.min(pixels / (PARALLEL_MIN_PIXELS / 2)).clamp(1, 16)
}

/// Runs `work(first_row, rows)` over bands of `rows_per_band` rows of `out`, in parallel
/// when `threads` > 1. Bands are rayon tasks: inside a batch whose other workers are busy
/// they run one after the other on the calling thread, and an idle worker steals them.
fn par_bands<T, F>(out: &mut [T], row_len: usize, rows_per_band: usize, threads: usize, work: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync,
{
    if out.is_empty() || row_len == 0 {
        return;
    }
    let rows_per_band = rows_per_band.max(1);
    if threads <= 1 {
        for (i, band) in out.chunks_mut(row_len * rows_per_band).enumerate() {
            work(i * rows_per_band, band);
        }
    } else {
        out.par_chunks_mut(row_len * rows_per_band)
            .enumerate()
            .for_each(|(i, band)| work(i * rows_per_band, band));
    }
}

/// Picks a band height giving each thread a few bands, for load balance.
fn band_rows(height: usize, threads: usize) -> usize {
    if threads <= 1 {
        height.max(1)
    } else {
        height.div_ceil(threads * 4).max(8)
    }
}

// ---------------------------------------------------------------------------------
// Grayscale.

/// Luma grayscale, bit-exact with `cv2.cvtColor(.., COLOR_RGB2GRAY)`.
///
/// OpenCV rounds 0.299 R + 0.587 G + 0.114 B in 15-bit fixed point
/// (coefficients 9798, 19235, 3735 summing to 2^15, round half up); checked exhaustively
/// against all 2^24 colours with OpenCV 4.10.
pub fn to_gray(rgb: &RgbImage) -> GrayImage {
    let (w, h) = rgb.dimensions();
    let (wu, hu) = (w as usize, h as usize);
    let mut out = vec![0u8; wu * hu];
    let src = rgb.as_raw();
    let threads = worker_count(wu * hu);
    par_bands(&mut out, wu, band_rows(hu, threads), threads, |y0, band| {
        let s = &src[y0 * wu * 3..y0 * wu * 3 + band.len() * 3];
        for (d, p) in band.iter_mut().zip(s.chunks_exact(3)) {
            let v = 9798 * u32::from(p[0]) + 19235 * u32::from(p[1]) + 3735 * u32::from(p[2]);
            *d = ((v + (1 << 14)) >> 15) as u8;
        }
    });
    GrayImage::from_raw(w, h, out).unwrap_or_else(|| GrayImage::new(w, h))
}

// ---------------------------------------------------------------------------------
// Gaussian blur.

/// OpenCV's kernel size for 8-bit images: `round(σ·3·2 + 1) | 1`.
pub fn gaussian_kernel_size(sigma: f32) -> usize {
    let s = f64::from(sigma.clamp(0.0, MAX_SIGMA));
    ((s * 6.0 + 1.0).round_ties_even() as usize) | 1
}

/// The 1-D Gaussian kernel in unsigned 8.8 fixed point (taps sum to 256), computed the
/// way OpenCV's bit-exact path does: double-precision taps, rounded with error
/// diffusion from the outside in, the centre tap taking whatever remains.
pub fn gaussian_kernel_q8(sigma: f32) -> Vec<u16> {
    let n = gaussian_kernel_size(sigma);
    let half = n / 2;
    let s = f64::from(sigma.clamp(0.0, MAX_SIGMA));
    if half == 0 || s <= 0.0 {
        return vec![256];
    }
    // OpenCV steps x in units of 2 and folds the factor 4 into the scale.
    let scale = -0.125 / (s * s);
    let mut taps = Vec::with_capacity(half);
    let mut sum = 0.0f64;
    for i in 0..half {
        let x = 2 * i as i64 + 1 - n as i64;
        let t = ((x * x) as f64 * scale).exp();
        taps.push(t);
        sum += t;
    }
    let sum = sum * 2.0 + 1.0;
    let mut kernel = vec![0u16; n];
    let mut err = 0.0f64;
    let mut side = 0i64;
    for (i, t) in taps.iter().enumerate() {
        let adj = t / sum * 256.0 + err;
        let v = adj.round_ties_even();
        err = adj - v;
        let v = v.max(0.0) as i64;
        kernel[i] = v as u16;
        kernel[n - 1 - i] = v as u16;
        side += v;
    }
    kernel[half] = (256 - 2 * side).max(0) as u16;
    kernel
}

/// OpenCV `BORDER_REFLECT_101` index mapping (`gfedcb|abcdefgh|gfedcba`), valid for any
/// distance outside the range.
fn reflect101(i: i64, len: usize) -> usize {
    if len <= 1 {
        return 0;
    }
    let len = len as i64;
    let period = 2 * (len - 1);
    let m = i.rem_euclid(period);
    (if m >= len { period - m } else { m }) as usize
}

/// Pixels per block in the blur's horizontal pass: the accumulators of one block stay
/// in SIMD registers across all taps instead of round-tripping through memory
/// (sizes measured best on x86-64 baseline SSE2).
const H_BLOCK: usize = 64;
/// Pixels per block in the blur's vertical pass (see [`H_BLOCK`]).
const V_BLOCK: usize = 32;

/// Horizontal pass of one row: `dst[x] = Σ k·src[x + i]` in 8.8 fixed point.
///
/// Symmetric taps share one multiply; every partial sum is part of the final one
/// (≤ 255·256), so `u16` cannot overflow.
#[inline]
fn blur_row_h(padded: &[u8], kc: u16, side: &[u16], dst: &mut [u16]) {
    let r = side.len();
    let w = dst.len();
    let px = |x: usize| -> u16 {
        let mut t = kc * u16::from(padded[x + r]);
        for (j, &k) in side.iter().enumerate() {
            t += k * (u16::from(padded[x + r - j - 1]) + u16::from(padded[x + r + j + 1]));
        }
        t
    };
    let mut x = 0;
    while x + H_BLOCK <= w {
        let mut a = [0u16; H_BLOCK];
        let c = &padded[x + r..x + r + H_BLOCK];
        for i in 0..H_BLOCK {
            a[i] = kc * u16::from(c[i]);
        }
        for (j, &k) in side.iter().enumerate() {
            let d = j + 1;
            let left = &padded[x + r - d..x + r - d + H_BLOCK];
            let right = &padded[x + r + d..x + r + d + H_BLOCK];
            for i in 0..H_BLOCK {
                a[i] += k * (u16::from(left[i]) + u16::from(right[i]));
            }
        }
        dst[x..x + H_BLOCK].copy_from_slice(&a);
        x += H_BLOCK;
    }
    for (i, t) in dst.iter_mut().enumerate().skip(x) {
        *t = px(i);
    }
}

/// Vertical pass: `dst[x] = round(Σ k_j · row_j[x] / 2^16)` where row `j` starts at
/// `ring[offsets[j]..]`; `u16 × u16 → u32` maps onto SIMD multiply-high/low pairs.
#[inline]
fn blur_col_v(ring: &[u16], offsets: &[usize], kernel: &[u16], dst: &mut [u8]) {
    let w = dst.len();
    let mut x = 0;
    while x + V_BLOCK <= w {
        let mut a = [32768u32; V_BLOCK];
        for (&o, &k) in offsets.iter().zip(kernel) {
            let v = &ring[o + x..o + x + V_BLOCK];
            for i in 0..V_BLOCK {
                a[i] += u32::from(k) * u32::from(v[i]);
            }
        }
        for (o, &v) in dst[x..x + V_BLOCK].iter_mut().zip(&a) {
            *o = (v >> 16) as u8;
        }
        x += V_BLOCK;
    }
    for (i, o) in dst.iter_mut().enumerate().skip(x) {
        let mut a = 32768u32;
        for (&o, &k) in offsets.iter().zip(kernel) {
            a += u32::from(k) * u32::from(ring[o + i]);
        }
        *o = (a >> 16) as u8;
    }
}

/// Gaussian blur bit-exact with `cv2.GaussianBlur(gray, (0, 0), sigma)` for 8-bit
/// images (OpenCV 4.x fixed-point path, `BORDER_REFLECT_101`); `sigma <= 0` (or NaN)
/// returns a copy and σ is clamped to [`MAX_SIGMA`].
///
/// Like OpenCV: a horizontal pass into 8.8 fixed point (`u16`), a vertical pass into
/// 16.16 (`u32`), then rounding half up. Both sums are exact, so the result is the
/// same bit for bit (the reference tests find no differing pixel). Each source row is
/// filtered horizontally once into a ring of `ksize` rows.
pub fn gaussian_blur(gray: &GrayImage, sigma: f32) -> GrayImage {
    let (w, h) = gray.dimensions();
    let (wu, hu) = (w as usize, h as usize);
    // NaN compares as not greater, so it also returns a copy.
    if sigma.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || wu == 0 || hu == 0 {
        return gray.clone();
    }
    let kernel = gaussian_kernel_q8(sigma);
    let n = kernel.len();
    if n == 1 {
        return gray.clone();
    }
    let r = n / 2;
    let src = gray.as_raw();
    let kc = kernel[r];
    let side: Vec<u16> = kernel[r + 1..].to_vec();
    // Reflected border columns, planned once for all rows.
    let left_map: Vec<usize> = (0..r)
        .map(|i| reflect101(i as i64 - r as i64, wu))
        .collect();
    let right_map: Vec<usize> = (0..r).map(|i| reflect101((wu + i) as i64, wu)).collect();

    let mut out = vec![0u8; wu * hu];
    let threads = worker_count(wu * hu);
    // Each band re-filters `ksize - 1` rows to prime its ring, so bands are kept large.
    let band = hu.div_ceil(threads * 2).max(4 * n);
    par_bands(&mut out, wu, band, threads, |y0, band| {
        let mut padded = vec![0u8; wu + 2 * r];
        let mut ring = vec![0u16; wu * n];
        let mut offsets = vec![0usize; n];
        let slot = |yy: i64| yy.rem_euclid(n as i64) as usize;
        let mut filter = |yy: i64, ring: &mut [u16]| {
            let sy = reflect101(yy, hu);
            let row = &src[sy * wu..sy * wu + wu];
            padded[r..r + wu].copy_from_slice(row);
            for (i, &sx) in left_map.iter().enumerate() {
                padded[i] = row[sx];
            }
            for (i, &sx) in right_map.iter().enumerate() {
                padded[r + wu + i] = row[sx];
            }
            let s = slot(yy) * wu;
            blur_row_h(&padded, kc, &side, &mut ring[s..s + wu]);
        };
        let y0 = y0 as i64;
        for yy in y0 - r as i64..y0 + r as i64 {
            filter(yy, &mut ring);
        }
        for (dy, dst) in band.chunks_exact_mut(wu).enumerate() {
            let y = y0 + dy as i64;
            filter(y + r as i64, &mut ring);
            for (o, yy) in offsets.iter_mut().zip(y - r as i64..) {
                *o = slot(yy) * wu;
            }
            blur_col_v(&ring, &offsets, &kernel, dst);
        }
    });
    GrayImage::from_raw(w, h, out).unwrap_or_else(|| gray.clone())
}

// ---------------------------------------------------------------------------------
// Thresholds.

/// 256-bin histogram of the image.
pub fn histogram(gray: &GrayImage) -> [u64; 256] {
    let src = gray.as_raw();
    let threads = worker_count(src.len());
    let piece = src.len().div_ceil(threads.max(1)).max(1);
    let parts: Vec<[u64; 256]> = if threads <= 1 {
        vec![hist_serial(src)]
    } else {
        src.par_chunks(piece).map(hist_serial).collect()
    };
    let mut total = [0u64; 256];
    for p in &parts {
        for (t, v) in total.iter_mut().zip(p.iter()) {
            *t += v;
        }
    }
    total
}

fn hist_serial(data: &[u8]) -> [u64; 256] {
    // Four interleaved sub-histograms avoid stalls on runs of equal pixels; blocks of
    // 2^24 pixels keep the u32 counters from overflowing.
    let mut total = [0u64; 256];
    for block in data.chunks(1 << 24) {
        let mut h = [[0u32; 256]; 4];
        let mut quads = block.chunks_exact(4);
        for q in &mut quads {
            h[0][q[0] as usize] += 1;
            h[1][q[1] as usize] += 1;
            h[2][q[2] as usize] += 1;
            h[3][q[3] as usize] += 1;
        }
        for &p in quads.remainder() {
            h[0][p as usize] += 1;
        }
        for (i, t) in total.iter_mut().enumerate() {
            *t += u64::from(h[0][i]) + u64::from(h[1][i]) + u64::from(h[2][i]) + u64::from(h[3][i]);
        }
    }
    total
}

/// Otsu's threshold from a histogram, following OpenCV's `getThreshVal_Otsu_8u`
/// arithmetic step by step (including its `FLT_EPSILON` guards) so the chosen value
/// is the same even when several thresholds are nearly tied.
pub fn otsu_threshold(hist: &[u64; 256]) -> u8 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 0;
    }
    let scale = 1.0 / total as f64;
    let mu: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum::<f64>()
        * scale;
    let eps = f64::from(f32::EPSILON);
    let (mut mu1, mut q1) = (0.0f64, 0.0f64);
    let (mut max_sigma, mut max_val) = (0.0f64, 0u8);
    for (i, &c) in hist.iter().enumerate() {
        let p_i = c as f64 * scale;
        mu1 *= q1;
        q1 += p_i;
        let q2 = 1.0 - q1;
        if q1.min(q2) < eps || q1.max(q2) > 1.0 - eps {
            continue;
        }
        mu1 = (mu1 + i as f64 * p_i) / q1;
        let mu2 = (mu - q1 * mu1) / q2;
        let sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2);
        if sigma > max_sigma {
            max_sigma = sigma;
            max_val = i as u8;
        }
    }
    max_val
}

/// Decides the polarity: `true` means dark pixels are the foreground.
fn decide_inverted(invert: Invert, bright: u64, total: u64) -> bool {
    match invert {
        Invert::Yes => true,
        Invert::No => false,
        // Minority side wins; an exact tie keeps bright as foreground.
        Invert::Auto => bright > total - bright,
    }
}

/// Writes `255` where `pixel > t` (or `<= t` when `inverted`).
///
/// One pass collected straight into a new buffer: the work is memory-bound (threads
/// do not help) and collecting skips zero-filling a buffer that is overwritten anyway.
fn global_mask(gray: &GrayImage, t: u8, inverted: bool) -> GrayImage {
    let (w, h) = gray.dimensions();
    let (on, off) = if inverted { (0u8, 255u8) } else { (255, 0) };
    let out: Vec<u8> = gray
        .as_raw()
        .iter()
        .map(|&p| if p > t { on } else { off })
        .collect();
    GrayImage::from_raw(w, h, out).unwrap_or_else(|| GrayImage::new(w, h))
}

/// Box sums with replicated borders along one line: `out[i] = Σ_{k=i-r}^{i+r} v[clamp(k)]`.
///
/// Sliding with O(1) per element; the part of the window hanging over an edge is
/// counted as a multiple of the edge value, so any radius costs the same.
fn box_sum_replicate(v: &[u32], r: usize, out: &mut [u64]) {
    let n = v.len();
    if n == 0 {
        return;
    }
    let last = n - 1;
    let at = |k: i64| u64::from(v[k.clamp(0, last as i64) as usize]);
    let inside = r.min(last);
    let mut s = u64::from(v[0]) * (r as u64 + 1)
        + v[1..=inside].iter().map(|&x| u64::from(x)).sum::<u64>()
        + u64::from(v[last]) * (r - inside) as u64;
    out[0] = s;
    let r = r as i64;
    for i in 1..n {
        let i = i as i64;
        s = s + at(i + r) - at(i - r - 1);
        out[i as usize] = s;
    }
}

/// Bright mask of `cv2.adaptiveThreshold(MEAN_C, THRESH_BINARY)` and its bright count.
fn adaptive_bright(gray: &GrayImage, block: u32, c: f32) -> (Vec<u8>, u64) {
    let (w, h) = gray.dimensions();
    let (wu, hu) = (w as usize, h as usize);
    let block = block.clamp(3, MAX_ADAPTIVE_BLOCK) | 1;
    let r = (block / 2) as usize;
    let area = u64::from(block) * u64::from(block);
    let idelta = if c.is_finite() {
        f64::from(c).ceil().clamp(-512.0, 512.0) as i32
    } else {
        0
    };
    let src = gray.as_raw();
    let row = |y: i64| {
        let y = y.clamp(0, hu as i64 - 1) as usize;
        &src[y * wu..y * wu + wu]
    };
    let mut out = vec![0u8; wu * hu];
    let threads = worker_count(wu * hu);
    par_bands(&mut out, wu, band_rows(hu, threads), threads, |y0, band| {
        // Vertical window sums per column (≤ 255·block, fits u32), slid row by row;
        // the first row of the band counts clamped rows as multiples of the edge row.
        let (lo, hi) = (y0 as i64 - r as i64, y0 as i64 + r as i64);
        let below = (-lo).max(0) as u32;
        let above = (hi - (hu as i64 - 1)).max(0) as u32;
        let mut colsum = vec![0u32; wu];
        for (c, &p) in colsum.iter_mut().zip(row(0)) {
            *c = below * u32::from(p);
        }
        for (c, &p) in colsum.iter_mut().zip(row(hu as i64 - 1)) {
            *c += above * u32::from(p);
        }
        for yy in lo.max(0)..=hi.min(hu as i64 - 1) {
            for (c, &p) in colsum.iter_mut().zip(row(yy)) {
                *c += u32::from(p);
            }
        }
        let mut sums = vec![0u64; wu];
        for (dy, dst) in band.chunks_exact_mut(wu).enumerate() {
            let y = (y0 + dy) as i64;
            if dy > 0 {
                let (add, sub) = (row(y + r as i64), row(y - r as i64 - 1));
                for ((c, &a), &s) in colsum.iter_mut().zip(add).zip(sub) {
                    *c = *c + u32::from(a) - u32::from(s);
                }
            }
            box_sum_replicate(&colsum, r, &mut sums);
            for ((d, &s), &p) in dst.iter_mut().zip(&sums).zip(row(y)) {
                // round(s / area); area is odd so there are no exact halves.
                let mean = ((2 * s + area) / (2 * area)) as i32;
                *d = if i32::from(p) - mean > -idelta {
                    255
                } else {
                    0
                };
            }
        }
    });
    let bright = out.iter().filter(|&&v| v != 0).count() as u64;
    (out, bright)
}

/// Thresholds `gray` into a 0/255 mask; see [`Threshold`] and [`Invert`] for the rules.
///
/// For every mode but Canny, `Invert::Yes` gives exactly the complement of
/// `Invert::No`. (OpenCV's `THRESH_BINARY_INV` for adaptive thresholds rounds a
/// fractional `c` the other way, so it is not a complement; we prefer the invariant.)
pub fn binarize(gray: &GrayImage, threshold: Threshold, invert: Invert) -> Binarized {
    let (w, h) = gray.dimensions();
    let total = u64::from(w) * u64::from(h);
    match threshold {
        Threshold::Otsu | Threshold::Fixed(_) => {
            let hist = histogram(gray);
            let t = match threshold {
                Threshold::Fixed(n) => n,
                _ => otsu_threshold(&hist),
            };
            let bright: u64 = hist[t as usize + 1..].iter().sum();
            let inverted = decide_inverted(invert, bright, total);
            Binarized {
                mask: global_mask(gray, t, inverted),
                threshold: Some(t),
                inverted,
            }
        }
        Threshold::Adaptive { block, c } => {
            let (mut mask, bright) = adaptive_bright(gray, block, c);
            let inverted = decide_inverted(invert, bright, total);
            if inverted {
                for v in &mut mask {
                    *v = !*v;
                }
            }
            Binarized {
                mask: GrayImage::from_raw(w, h, mask).unwrap_or_else(|| GrayImage::new(w, h)),
                threshold: None,
                inverted,
            }
        }
        Threshold::Canny { low, high } => {
            // imageproc asserts low <= high, indexes outside the image when low <= 0
            // and underflows on images under 3 pixels; sanitise instead of panicking.
            let low = low.max(f32::MIN_POSITIVE);
            let high = high.max(low);
            let mask = if w < 3 || h < 3 {
                GrayImage::new(w, h)
            } else {
                imageproc::edges::canny(gray, low, high)
            };
            Binarized {
                mask,
                threshold: None,
                inverted: false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_do_not_depend_on_the_pool_size() {
        // Large enough to be split into bands (> PARALLEL_MIN_PIXELS), odd sizes so bands
        // end unevenly, and content with structure at several scales.
        let (w, h) = (1031u32, 733u32);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let rgb = RgbImage::from_fn(w, h, |x, y| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = (state >> 56) as u8;
            let v = if ((x / 37) + (y / 23)) % 2 == 0 {
                200
            } else {
                40
            };
            image::Rgb([v ^ (n & 15), v / 2 + n / 8, n])
        });
        let run = || {
            let gray = to_gray(&rgb);
            let blurred = gaussian_blur(&gray, 2.0);
            let hist = histogram(&blurred);
            let otsu = binarize(&blurred, Threshold::Otsu, Invert::Auto);
            let adaptive = binarize(
                &blurred,
                Threshold::Adaptive { block: 31, c: 3.0 },
                Invert::Auto,
            );
            (gray, blurred, hist, otsu.mask, adaptive.mask)
        };
        let in_pool = |n: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .expect("pool")
                .install(|| (worker_count((w * h) as usize), run()))
        };
        let (serial, one) = in_pool(1);
        assert_eq!(serial, 1, "a one-thread pool must take the serial path");
        for n in [2, 3, 8] {
            let (threads, many) = in_pool(n);
            assert!(threads > 1, "{n} threads: the parallel path was not taken");
            assert!(one.0 == many.0, "gray differs with {n} threads");
            assert!(one.1 == many.1, "blur differs with {n} threads");
            assert!(one.2 == many.2, "histogram differs with {n} threads");
            assert!(one.3 == many.3, "Otsu mask differs with {n} threads");
            assert!(one.4 == many.4, "adaptive mask differs with {n} threads");
        }
    }

    #[test]
    fn gray_matches_opencv_fixed_point() {
        // Values checked with cv2.cvtColor(COLOR_RGB2GRAY).
        let img =
            RgbImage::from_raw(4, 1, vec![255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 30]).unwrap();
        let g = to_gray(&img);
        assert_eq!(g.as_raw(), &vec![76, 150, 29, 124]);
    }

    #[test]
    fn kernel_sums_to_one_and_is_symmetric() {
        for s in [0.3f32, 0.8, 1.0, 1.4, 2.5, 7.0, 20.0, 50.0] {
            let k = gaussian_kernel_q8(s);
            assert_eq!(
                k.iter().map(|&v| u32::from(v)).sum::<u32>(),
                256,
                "sigma {s}"
            );
            assert!(k.iter().eq(k.iter().rev()));
            assert_eq!(k.len() % 2, 1);
        }
        // ksize = round(6σ + 1) | 1 as OpenCV computes it for 8-bit images.
        assert_eq!(gaussian_kernel_size(1.0), 7);
        assert_eq!(gaussian_kernel_size(1.5), 11);
        assert_eq!(gaussian_kernel_size(0.25), 3);
    }

    #[test]
    fn reflect101_matches_opencv() {
        let m: Vec<usize> = (-4..8).map(|i| reflect101(i, 4)).collect();
        assert_eq!(m, vec![2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1]);
        assert_eq!(reflect101(-3, 1), 0);
    }

    #[test]
    fn blur_of_constant_is_constant_and_tiny_images_work() {
        let g = GrayImage::from_pixel(5, 3, image::Luma([77]));
        assert_eq!(gaussian_blur(&g, 2.0), g);
        let one = GrayImage::from_pixel(1, 1, image::Luma([9]));
        assert_eq!(gaussian_blur(&one, 3.0), one);
        let empty = GrayImage::new(0, 0);
        assert_eq!(gaussian_blur(&empty, 3.0).dimensions(), (0, 0));
        assert_eq!(gaussian_blur(&g, f32::NAN), g);
        assert_eq!(gaussian_blur(&g, -1.0), g);
    }

    fn lcg_image(w: u32, h: u32, seed: u32) -> GrayImage {
        let mut s = seed;
        let mut img = GrayImage::new(w, h);
        for (x, y, p) in img.enumerate_pixels_mut() {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            // Noise over a gradient so both flat and busy areas occur.
            p.0[0] = ((x + 2 * y) as u8 / 2).wrapping_add((s >> 27) as u8);
        }
        img
    }

    /// Direct 2-D convolution with the same fixed-point kernel: the definition the
    /// banded, blocked, multi-threaded implementation must reproduce.
    fn naive_blur(g: &GrayImage, sigma: f32) -> GrayImage {
        let k = gaussian_kernel_q8(sigma);
        let r = (k.len() / 2) as i64;
        let (w, h) = g.dimensions();
        GrayImage::from_fn(w, h, |x, y| {
            let mut acc = 0u64;
            for (j, &ky) in k.iter().enumerate() {
                let sy = reflect101(i64::from(y) + j as i64 - r, h as usize);
                for (i, &kx) in k.iter().enumerate() {
                    let sx = reflect101(i64::from(x) + i as i64 - r, w as usize);
                    let p = g.get_pixel(sx as u32, sy as u32).0[0];
                    acc += u64::from(ky) * u64::from(kx) * u64::from(p);
                }
            }
            image::Luma([((acc + 32768) >> 16) as u8])
        })
    }

    #[test]
    fn blur_equals_direct_convolution_on_large_images() {
        // Large enough to be split across threads; widths not multiples of the blocks.
        for (w, h, sigma) in [(701, 300, 1.0f32), (333, 420, 2.5), (64, 9, 0.8)] {
            let g = lcg_image(w, h, w ^ h);
            assert_eq!(
                gaussian_blur(&g, sigma),
                naive_blur(&g, sigma),
                "{w}x{h} σ={sigma}"
            );
        }
    }

    #[test]
    fn adaptive_equals_direct_mean_on_large_images() {
        let (w, h) = (650u32, 260u32);
        let g = gaussian_blur(&lcg_image(w, h, 3), 2.0);
        for (block, c) in [(3u32, 0.0f32), (25, 3.0), (201, -2.0)] {
            let b = binarize(&g, Threshold::Adaptive { block, c }, Invert::No);
            let r = i64::from(block / 2);
            let area = u64::from(block) * u64::from(block);
            let clamp = |v: i64, len: u32| v.clamp(0, i64::from(len) - 1) as u32;
            // Spot-check rows (including borders) against the direct definition.
            for y in [0u32, 1, 130, h - 1] {
                for x in (0..w).step_by(7).chain([w - 1]) {
                    let mut s = 0u64;
                    for dy in -r..=r {
                        for dx in -r..=r {
                            let px = g.get_pixel(
                                clamp(i64::from(x) + dx, w),
                                clamp(i64::from(y) + dy, h),
                            );
                            s += u64::from(px.0[0]);
                        }
                    }
                    let mean = ((2 * s + area) / (2 * area)) as i32;
                    let bright = i32::from(g.get_pixel(x, y).0[0]) - mean > -(c.ceil() as i32);
                    let expected = if bright { 255 } else { 0 };
                    assert_eq!(
                        b.mask.get_pixel(x, y).0[0],
                        expected,
                        "block {block} at {x},{y}"
                    );
                }
            }
        }
    }

    #[test]
    fn threshold_parse_and_display_round_trip() {
        for s in [
            "otsu",
            "fixed:0",
            "fixed:255",
            "adaptive:15,5",
            "adaptive:3,-2.5",
            "canny:50,150",
        ] {
            let t: Threshold = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
            assert_eq!(t.to_string().parse::<Threshold>().unwrap(), t);
        }
        assert_eq!(" OTSU ".parse::<Threshold>().unwrap(), Threshold::Otsu);
        assert_eq!(
            "Fixed: 12".parse::<Threshold>().unwrap(),
            Threshold::Fixed(12)
        );
    }

    #[test]
    fn threshold_parse_errors_say_what_is_accepted() {
        let err = |s: &str| s.parse::<Threshold>().unwrap_err();
        assert!(matches!(err("median"), ParseThresholdError::UnknownMode(_)));
        assert!(matches!(
            err("otsu:3"),
            ParseThresholdError::UnexpectedParameters(_)
        ));
        assert!(matches!(
            err("fixed:256"),
            ParseThresholdError::FixedValue(_)
        ));
        assert!(matches!(err("fixed"), ParseThresholdError::FixedValue(_)));
        assert!(matches!(
            err("adaptive:4,2"),
            ParseThresholdError::AdaptiveBlock(_)
        ));
        assert!(matches!(
            err("adaptive:1,2"),
            ParseThresholdError::AdaptiveBlock(_)
        ));
        assert!(matches!(
            err("adaptive:15"),
            ParseThresholdError::Arity { .. }
        ));
        assert!(matches!(
            err("adaptive:15,x"),
            ParseThresholdError::AdaptiveC(_)
        ));
        assert!(matches!(
            err("canny:0,10"),
            ParseThresholdError::CannyValue(_)
        ));
        assert!(matches!(
            err("canny:20,10"),
            ParseThresholdError::CannyOrder { .. }
        ));
        assert!(matches!(
            err("canny:1,2,3"),
            ParseThresholdError::Arity { .. }
        ));
        let msg = err("adaptive:4,2").to_string();
        assert!(
            msg.contains("odd") && msg.contains("adaptive:BLOCK,C"),
            "{msg}"
        );
        let msg = err("blob").to_string();
        assert!(
            msg.contains("otsu") && msg.contains("canny:LOW,HIGH"),
            "{msg}"
        );
    }

    #[test]
    fn invert_parse_and_display() {
        for (s, v) in [
            ("auto", Invert::Auto),
            ("yes", Invert::Yes),
            ("no", Invert::No),
        ] {
            assert_eq!(s.parse::<Invert>().unwrap(), v);
            assert_eq!(v.to_string(), s);
        }
        let e = "maybe".parse::<Invert>().unwrap_err().to_string();
        assert!(e.contains("auto, yes, no"), "{e}");
    }

    #[test]
    fn fixed_and_auto_polarity() {
        // 3 bright pixels out of 4: the dark one is the minority and becomes foreground.
        let g = GrayImage::from_raw(4, 1, vec![10, 200, 200, 200]).unwrap();
        let b = binarize(&g, Threshold::Fixed(100), Invert::Auto);
        assert!(b.inverted);
        assert_eq!(b.mask.as_raw(), &vec![255, 0, 0, 0]);
        assert_eq!(b.threshold, Some(100));
        let b = binarize(&g, Threshold::Fixed(100), Invert::No);
        assert_eq!(b.mask.as_raw(), &vec![0, 255, 255, 255]);
        // Pixel equal to the threshold is dark.
        let b = binarize(&g, Threshold::Fixed(200), Invert::No);
        assert_eq!(b.mask.as_raw(), &vec![0, 0, 0, 0]);
    }

    #[test]
    fn otsu_two_levels() {
        let mut v = vec![40u8; 600];
        v.extend(vec![220u8; 400]);
        let g = GrayImage::from_raw(100, 10, v).unwrap();
        let b = binarize(&g, Threshold::Otsu, Invert::Auto);
        // OpenCV returns the lower level for a two-valued image.
        assert_eq!(b.threshold, Some(40));
        assert!(!b.inverted);
        assert_eq!(b.mask.as_raw().iter().filter(|&&p| p == 255).count(), 400);
    }

    #[test]
    fn canny_is_robust_to_odd_parameters() {
        let mut g = GrayImage::new(20, 20);
        for y in 0..20 {
            for x in 10..20 {
                g.put_pixel(x, y, image::Luma([255]));
            }
        }
        for (low, high) in [
            (50.0, 100.0),
            (100.0, 50.0),
            (0.0, 0.0),
            (f32::NAN, f32::NAN),
        ] {
            let b = binarize(&g, Threshold::Canny { low, high }, Invert::Yes);
            assert!(!b.inverted);
            assert!(b.mask.as_raw().iter().all(|&p| p == 0 || p == 255));
        }
        let tiny = GrayImage::new(2, 2);
        let b = binarize(
            &tiny,
            Threshold::Canny {
                low: 1.0,
                high: 2.0,
            },
            Invert::Auto,
        );
        assert_eq!(b.mask.dimensions(), (2, 2));
    }

    #[test]
    fn empty_image_binarizes() {
        let g = GrayImage::new(0, 0);
        for t in [
            Threshold::Otsu,
            Threshold::Fixed(3),
            Threshold::Adaptive { block: 3, c: 1.0 },
            Threshold::Canny {
                low: 1.0,
                high: 2.0,
            },
        ] {
            assert_eq!(binarize(&g, t, Invert::Auto).mask.dimensions(), (0, 0));
        }
    }

    #[test]
    fn degenerate_sizes_and_parameters_do_not_panic() {
        let mut stripe = GrayImage::new(7, 1);
        stripe.put_pixel(3, 0, image::Luma([200]));
        let images = [
            GrayImage::new(0, 5),
            GrayImage::new(5, 0),
            GrayImage::new(1, 1),
            stripe.clone(),
            image::imageops::rotate90(&stripe),
        ];
        let thresholds = [
            Threshold::Otsu,
            Threshold::Fixed(255),
            Threshold::Adaptive { block: 0, c: 0.0 },
            Threshold::Adaptive {
                block: u32::MAX,
                c: f32::NAN,
            },
            Threshold::Adaptive {
                block: 4,
                c: f32::NEG_INFINITY,
            },
            Threshold::Canny {
                low: 50.0,
                high: 10.0,
            },
            Threshold::Canny {
                low: f32::NAN,
                high: f32::INFINITY,
            },
            Threshold::Canny {
                low: -5.0,
                high: 0.0,
            },
        ];
        for g in &images {
            for sigma in [0.0, -1.0, f32::NAN, f32::INFINITY, 1e9] {
                assert_eq!(gaussian_blur(g, sigma).dimensions(), g.dimensions());
            }
            for t in thresholds {
                for invert in [Invert::No, Invert::Yes, Invert::Auto] {
                    assert_eq!(binarize(g, t, invert).mask.dimensions(), g.dimensions());
                }
            }
        }
    }
}

/// Comparisons with OpenCV outputs written by `tests/ref/make_preprocess_refs.py`.
#[cfg(test)]
mod opencv_refs {
    use super::*;
    use serde_json::Value;
    use std::path::PathBuf;

    fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/preprocess")
    }

    fn manifest() -> Value {
        let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn gray(name: &str) -> GrayImage {
        image::open(dir().join(name)).unwrap().into_luma8()
    }

    fn cases<'a>(m: &'a Value, key: &str) -> &'a Vec<Value> {
        let list = m[key].as_array().unwrap();
        assert!(!list.is_empty(), "no {key} references");
        list
    }

    /// Largest per-pixel difference and how many pixels differ.
    fn diff(a: &GrayImage, b: &GrayImage) -> (u8, usize) {
        assert_eq!(a.dimensions(), b.dimensions());
        let d = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&x, &y)| x.abs_diff(y));
        d.fold((0, 0), |(m, n), v| (m.max(v), n + usize::from(v > 0)))
    }

    #[test]
    fn grayscale_equals_opencv() {
        let m = manifest();
        for case in cases(&m, "gray") {
            let rgb = image::open(dir().join(case["input"].as_str().unwrap()))
                .unwrap()
                .into_rgb8();
            let ours = to_gray(&rgb);
            assert_eq!(diff(&ours, &gray(case["output"].as_str().unwrap())), (0, 0));
        }
    }

    /// The brief allows ±1 per pixel; the fixed-point path reproduces OpenCV exactly,
    /// so any difference at all is reported.
    #[test]
    fn gaussian_blur_equals_opencv() {
        let m = manifest();
        for case in cases(&m, "blur") {
            let sigma = case["sigma"].as_f64().unwrap() as f32;
            let input = gray(case["input"].as_str().unwrap());
            let ours = gaussian_blur(&input, sigma);
            let (max, count) = diff(&ours, &gray(case["output"].as_str().unwrap()));
            assert!(max <= 1, "{case}: max diff {max}");
            assert_eq!(count, 0, "{case}: {count} pixels off by one");
        }
    }

    #[test]
    fn otsu_equals_opencv() {
        let m = manifest();
        for case in cases(&m, "otsu") {
            let input = gray(case["input"].as_str().unwrap());
            let expected = case["threshold"].as_u64().unwrap();
            assert_eq!(
                u64::from(otsu_threshold(&histogram(&input))),
                expected,
                "{case}"
            );
            let b = binarize(&input, Threshold::Otsu, Invert::No);
            assert_eq!(b.threshold.map(u64::from), Some(expected));
        }
    }

    #[test]
    fn adaptive_equals_opencv() {
        let m = manifest();
        for case in cases(&m, "adaptive") {
            let input = gray(case["input"].as_str().unwrap());
            let block = case["block"].as_u64().unwrap() as u32;
            let c = case["c"].as_f64().unwrap() as f32;
            let ours = binarize(&input, Threshold::Adaptive { block, c }, Invert::No);
            assert!(!ours.inverted);
            let expected = gray(case["output"].as_str().unwrap());
            assert_eq!(diff(&ours.mask, &expected), (0, 0), "{case}");
        }
    }
}
