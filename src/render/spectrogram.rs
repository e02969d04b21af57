//! Spectrogram pictures of audio with the labelled segments drawn over them, for people to
//! check (`extract --overlay` on an audio file).
//!
//! The picture has, top to bottom: the spectrogram (time left to right, low frequencies at
//! the bottom) with thin vertical lines at segment boundaries, a strip with one coloured band
//! per segment labelled with its term (`voice:speech`), and a time axis. A narrow gutter on
//! the left carries frequency ticks. Like [`crate::render::overlay`] it is meant for eyes only.
//!
//! # Analysis
//!
//! [`SpectrogramBuilder`] is fed samples in chunks of any size and keeps only a bounded
//! summary, so an hour of audio costs the same memory as a minute:
//!
//! - Frames are `window` samples long (the power of two nearest above 32 ms: 512 at 16 kHz),
//!   Hann-windowed, every `hop` samples (10 ms: 160 at 16 kHz). The first frame is centred
//!   on sample 0 (the stream is preceded by half a window of zeros), so frame `k` describes
//!   time `k·hop / sample_rate`.
//! - Power is normalised so a full-scale sine reads 0 dB in its bin, then averaged over the
//!   bins of each of [`ROWS`] rows spaced evenly on the HTK mel scale
//!   (`2595·log10(1 + f/700)`) from 0 Hz to Nyquist. Mel spacing gives speech and music,
//!   whose structure sits below a few kHz, most of the picture while still showing hiss and
//!   clicks up top. A row narrower than one FFT bin (the lowest rows) shows its nearest bin.
//! - The level is mapped linearly from [`DB_MIN`]..[`DB_MAX`] onto a `u8`; anything outside
//!   saturates. Non-finite samples are treated as silence so a damaged stream cannot poison
//!   the picture.
//!
//! # Memory
//!
//! A column of [`ROWS`] bytes is kept per frame (100 columns/s) until [`MAX_COLUMNS`]
//! columns exist; then neighbouring pairs are pooled into one (taking the louder value per
//! row, so short clicks survive), halving the time resolution, and from then on each column
//! stands for twice as many frames. Memory is therefore at most `MAX_COLUMNS × ROWS` bytes
//! (1 MiB) plus the FFT buffers, whatever the length: an hour at 16 kHz ends up with about
//! 5 600 columns of 640 ms. The picture is at most [`MAX_WIDTH`] pixels wide anyway, so the
//! pooled resolution is still finer than what is drawn.

use crate::audio::window::periodic_hann;
use crate::audio::{Label, Segment};
use crate::render::canvas::{
    draw_text, encode_png, fill_rect, luma, text_width, BoxStyle, TextBox,
};
use crate::render::font::{GLYPH_GAP, GLYPH_H, GLYPH_W};
use image::{Rgb, RgbImage};
use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Frequency rows of the spectrogram.
pub const ROWS: usize = 128;
/// Columns kept before neighbouring pairs are pooled; even, so pairs always match up.
pub const MAX_COLUMNS: usize = 8192;
/// Level drawn as the darkest colour, in dB relative to a full-scale sine.
pub const DB_MIN: f32 = -100.0;
/// Level drawn as the brightest colour, in dB relative to a full-scale sine.
pub const DB_MAX: f32 = -10.0;
/// Widest plot area in pixels; longer audio is squeezed.
pub const MAX_WIDTH: u32 = 1600;
/// Narrowest plot area in pixels, so even a click has room for its band and label.
pub const MIN_WIDTH: u32 = 200;

/// Screen pixels per frequency row: 128 one-pixel rows look cramped next to the text.
const ROW_PX: u32 = 2;
/// Height of the spectrogram area.
const SPEC_H: u32 = ROWS as u32 * ROW_PX;
/// Gap between the spectrogram and the band strip.
const GAP_H: u32 = 2;
/// Height of the band strip: the font plus padding.
const STRIP_H: u32 = GLYPH_H as u32 + 2 * TEXT_PAD;
/// Height of the time axis: tick, gap, text, margin.
const AXIS_H: u32 = TICK_LEN + 2 + GLYPH_H as u32 + 3;
/// Left gutter holding the frequency labels ("16k" is three glyphs).
const GUTTER: u32 = 3 * (GLYPH_W + GLYPH_GAP) + TICK_LEN + 4;
/// Right margin so the last time label is not cut off.
const RIGHT_PAD: u32 = 16;
/// Padding around text inside bands.
const TEXT_PAD: u32 = 3;
/// Length of axis tick marks.
const TICK_LEN: u32 = 4;

/// Background of the gutter, axis and anything without data.
const BACKGROUND: Rgb<u8> = Rgb([18, 18, 22]);
/// Axis text and ticks.
const AXIS_INK: Rgb<u8> = Rgb([200, 200, 205]);
/// Segment boundary lines over the spectrogram: light, and blended so the data stays visible.
const BOUNDARY: Rgb<u8> = Rgb([255, 255, 255]);
/// Opacity of the boundary lines.
const BOUNDARY_ALPHA: f32 = 0.6;
/// Boundary lines are dashed (this many pixels on, then as many off as [`BOUNDARY_GAP`]),
/// because a solid bright line looks exactly like a click in the data.
const BOUNDARY_DASH: u32 = 5;
/// Pixels off between dashes.
const BOUNDARY_GAP: u32 = 3;
/// Closest two boundary lines may be drawn, in pixels: on long audio squeezed into the
/// picture, a line per boundary would hide the spectrogram behind a comb. The bands below
/// still show every segment.
const MIN_BOUNDARY_SPACING: i64 = 6;

/// Stops of the spectrogram colour map, evenly spaced from quiet to loud. Lightness rises
/// monotonically and the hue walks from blue-black through violet and red to pale yellow, so
/// level reads from brightness alone (also in greyscale) while the hue separates nearby
/// levels better than grey would.
const COLOR_STOPS: [[u8; 3]; 7] = [
    [6, 6, 16],      // near black, a touch of blue
    [34, 18, 82],    // deep indigo
    [96, 26, 124],   // violet
    [168, 44, 110],  // raspberry
    [226, 90, 62],   // vermilion
    [250, 168, 44],  // amber
    [254, 246, 186], // pale cream
];

/// Band colour per label: silence and noise in muted tones (they are the background of a
/// recording), sounds in distinct saturated hues.
fn label_color(label: Label) -> Rgb<u8> {
    Rgb(match label {
        Label::Silence => [72, 74, 86],
        Label::Noise => [148, 138, 116],
        Label::Speech => [64, 168, 255],
        Label::Music => [118, 214, 92],
        Label::Impact => [255, 84, 64],
        Label::Tone => [238, 196, 40],
    })
}

/// Why a spectrogram picture could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SpectrogramError {
    /// PNG encoding failed.
    #[error("cannot encode spectrogram PNG: {0}")]
    Encode(#[from] image::ImageError),
}

/// Streaming spectrogram: push samples, then render a picture with segments.
///
/// See the [module documentation](self) for the analysis and the memory bound.
pub struct SpectrogramBuilder {
    sample_rate: u32,
    hop: usize,
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    /// 1 / (sum of window / 2)², so a full-scale sine peaks at 1 (0 dB).
    norm: f32,
    /// Samples of the frame being filled; its capacity is the window length.
    frame: Vec<f32>,
    fft_in: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// FFT bin range `[lo, hi)` averaged into each row, bottom row first.
    row_bins: Vec<(usize, usize)>,
    /// Finished columns, `ROWS` bytes each, bottom row first.
    columns: Vec<u8>,
    /// Row-wise maximum of the frames of the column being pooled.
    acc: [u8; ROWS],
    acc_frames: u64,
    /// Frames per column; a power of two.
    span: u64,
    /// Frames analysed.
    frames: u64,
    /// Samples pushed.
    samples: u64,
    /// Zero samples at the end of the stream so far (non-finite ones count as zero).
    zero_run: u64,
}

impl std::fmt::Debug for SpectrogramBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpectrogramBuilder")
            .field("sample_rate", &self.sample_rate)
            .field("window", &self.window.len())
            .field("hop", &self.hop)
            .field("columns", &self.column_count())
            .field("frames_per_column", &self.span)
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

fn hz_to_mel(hz: f64) -> f64 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

fn mel_to_hz(mel: f64) -> f64 {
    700.0 * (10f64.powf(mel / 2595.0) - 1.0)
}

/// Maps a power relative to a full-scale sine onto the `u8` level scale.
fn level_u8(power: f32) -> u8 {
    let db = 10.0 * (power.max(1e-30)).log10();
    let v = (db - DB_MIN) / (DB_MAX - DB_MIN) * 255.0;
    // A NaN (from an overflowing spectrum) fails both comparisons and reads as silence.
    if v >= 255.0 {
        255
    } else if v > 0.0 {
        v.round() as u8
    } else {
        0
    }
}

impl SpectrogramBuilder {
    /// A builder for mono audio at `sample_rate` Hz (0 is treated as 1 so nothing divides by
    /// zero; the picture is then meaningless but valid). Plans the FFT once.
    pub fn new(sample_rate: u32) -> Self {
        let sr = sample_rate.max(1);
        let srf = f64::from(sr);
        let window_len = ((0.032 * srf).round() as usize)
            .next_power_of_two()
            .clamp(16, 1 << 15);
        let hop = ((0.010 * srf).round() as usize).clamp(1, window_len);
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(window_len);
        let n = window_len as f64;
        let window: Vec<f32> = periodic_hann(window_len).map(|w| w as f32).collect();
        let half_sum = window.iter().map(|&w| f64::from(w)).sum::<f64>() / 2.0;
        let norm = (1.0 / (half_sum * half_sum)) as f32;

        let bins = window_len / 2 + 1;
        let bin_hz = srf / n;
        let top = hz_to_mel(srf / 2.0);
        let row_bins = (0..ROWS)
            .map(|r| {
                let lo_hz = mel_to_hz(top * r as f64 / ROWS as f64);
                let hi_hz = mel_to_hz(top * (r + 1) as f64 / ROWS as f64);
                let lo = ((lo_hz / bin_hz).ceil() as usize).min(bins);
                let hi = if r + 1 == ROWS {
                    bins
                } else {
                    ((hi_hz / bin_hz).ceil() as usize).min(bins)
                };
                if lo < hi {
                    (lo, hi)
                } else {
                    let nearest = ((0.5 * (lo_hz + hi_hz) / bin_hz).round() as usize).min(bins - 1);
                    (nearest, nearest + 1)
                }
            })
            .collect();

        let mut frame = Vec::with_capacity(window_len);
        // Half a window of zeros in front centres frame k on sample k·hop.
        frame.resize(window_len / 2, 0.0);
        Self {
            sample_rate: sr,
            hop,
            fft_in: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            window,
            norm,
            frame,
            row_bins,
            columns: Vec::new(),
            acc: [0; ROWS],
            acc_frames: 0,
            span: 1,
            frames: 0,
            samples: 0,
            // The padding in front of the first frame is zeros too.
            zero_run: (window_len / 2) as u64,
        }
    }

    /// Feeds the next samples (any chunk size, including empty). Non-finite samples count as
    /// zeros. The picture depends only on the concatenated samples, not on the chunking.
    pub fn push(&mut self, samples: &[f32]) {
        let window_len = self.window.len();
        let mut rest = samples;
        while !rest.is_empty() {
            let room = window_len - self.frame.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.frame
                .extend(now.iter().map(|&s| if s.is_finite() { s } else { 0.0 }));
            self.samples += now.len() as u64;
            match now.iter().rposition(|&s| s.is_finite() && s != 0.0) {
                Some(last) => self.zero_run = (now.len() - 1 - last) as u64,
                None => self.zero_run += now.len() as u64,
            }
            rest = later;
            if self.frame.len() == window_len {
                self.analyse_frame();
                // Within capacity: shifts the overlap down without allocating.
                self.frame.drain(..self.hop);
            }
        }
    }

    /// Number of columns held (including a partly pooled one).
    pub fn column_count(&self) -> usize {
        self.columns.len() / ROWS + usize::from(self.acc_frames > 0)
    }

    /// Frames (of `hop` samples) each held column stands for: 1 until the cap is first hit,
    /// then doubling at each pooling.
    pub fn frames_per_column(&self) -> u64 {
        self.span
    }

    /// Seconds of audio pushed so far.
    pub fn duration_s(&self) -> f64 {
        self.samples as f64 / f64::from(self.sample_rate)
    }

    fn analyse_frame(&mut self) {
        if self.zero_run >= self.window.len() as u64 {
            // Digital silence (padding, gaps, muted input) is common and its spectrum is
            // exactly zero, so skip the FFT: the column is the same as computed, just cheaper.
            self.add_column(&[0; ROWS]);
            return;
        }
        for ((dst, &x), &w) in self.fft_in.iter_mut().zip(&self.frame).zip(&self.window) {
            *dst = x * w;
        }
        if self
            .fft
            .process_with_scratch(&mut self.fft_in, &mut self.spectrum, &mut self.scratch)
            .is_err()
        {
            // Lengths are fixed at construction, so this cannot happen; a zero spectrum keeps
            // the column defined rather than panicking on a live stream.
            self.spectrum.fill(Complex::new(0.0, 0.0));
        }
        let mut col = [0u8; ROWS];
        for (v, &(lo, hi)) in col.iter_mut().zip(&self.row_bins) {
            let bins = self.spectrum.get(lo..hi).unwrap_or(&[]);
            let sum: f32 = bins.iter().map(|c| c.norm_sqr()).sum();
            *v = level_u8(sum / bins.len().max(1) as f32 * self.norm);
        }
        self.add_column(&col);
    }

    /// Appends one frame's column, pooling as described in the module documentation.
    fn add_column(&mut self, col: &[u8; ROWS]) {
        self.frames += 1;
        for (a, &v) in self.acc.iter_mut().zip(col) {
            *a = (*a).max(v);
        }
        self.acc_frames += 1;
        if self.acc_frames == self.span {
            self.columns.extend_from_slice(&self.acc);
            self.acc = [0; ROWS];
            self.acc_frames = 0;
            if self.columns.len() >= MAX_COLUMNS * ROWS {
                self.pool_pairs();
            }
        }
    }

    /// Halves the time resolution in place: column `i` becomes the row-wise maximum of
    /// columns `2i` and `2i + 1`. Reading ahead of the write position keeps it in place.
    fn pool_pairs(&mut self) {
        let n = self.columns.len() / ROWS / 2;
        for i in 0..n {
            for r in 0..ROWS {
                let a = self.columns[2 * i * ROWS + r];
                let b = self.columns[(2 * i + 1) * ROWS + r];
                self.columns[i * ROWS + r] = a.max(b);
            }
        }
        self.columns.truncate(n * ROWS);
        self.span *= 2;
    }

    /// Column `c` (bottom row first), the partly pooled one included.
    fn column(&self, c: usize) -> Option<&[u8]> {
        let full = self.columns.len() / ROWS;
        if c < full {
            self.columns.get(c * ROWS..(c + 1) * ROWS)
        } else if c == full && self.acc_frames > 0 {
            Some(&self.acc)
        } else {
            None
        }
    }

    /// Width of the plot area: one pixel per 10 ms frame within [`MIN_WIDTH`]..[`MAX_WIDTH`].
    fn plot_width(&self) -> u32 {
        self.frames
            .clamp(u64::from(MIN_WIDTH), u64::from(MAX_WIDTH))
            .try_into()
            .unwrap_or(MAX_WIDTH)
    }

    /// The row a frequency falls in, bottom row 0 (used for the axis ticks).
    fn row_of_hz(&self, hz: f64) -> usize {
        let top = hz_to_mel(f64::from(self.sample_rate) / 2.0);
        ((hz_to_mel(hz) / top * ROWS as f64).floor().max(0.0) as usize).min(ROWS - 1)
    }

    /// Draws the spectrogram with `segments` as bands below it and boundary lines across it.
    ///
    /// The plot is one pixel per 10 ms frame, at least [`MIN_WIDTH`] and at most
    /// [`MAX_WIDTH`] pixels wide (longer audio is squeezed, each pixel showing the loudest of
    /// its frames), each row two pixels high; a gutter on the left holds frequency
    /// ticks, the band strip and time axis sit below. The time span drawn is the audio pushed
    /// or the end of the last segment, whichever is later; segment times that are not finite
    /// are skipped, and everything is clipped, so any input is safe to draw.
    pub fn render(&self, segments: &[Segment]) -> RgbImage {
        let bands: Vec<Band<'_>> = segments
            .iter()
            .map(|s| Band {
                label: s.label,
                start_s: s.start_s,
                end_s: s.end_s,
                id: None,
            })
            .collect();
        self.render_bands(&bands)
    }

    /// The picture [`SpectrogramBuilder::render`] draws, with `bands` in the strip: each
    /// band's text starts with its id when it has one (`s3 voice:speech`, or `s3 speech`, or
    /// `s3` where the band is narrow), so a model shown the picture can cite it.
    pub fn render_bands(&self, bands: &[Band<'_>]) -> RgbImage {
        let plot_w = self.plot_width();
        let width = GUTTER + plot_w + RIGHT_PAD;
        let height = SPEC_H + GAP_H + STRIP_H + AXIS_H;
        let mut img = RgbImage::from_pixel(width, height, BACKGROUND);

        let seg_end = bands
            .iter()
            .map(|s| s.end_s)
            .filter(|e| e.is_finite())
            .fold(0.0f64, f64::max);
        let duration = self.duration_s().max(seg_end);
        let axis = Axis {
            x0: GUTTER,
            width: plot_w,
            duration,
        };

        self.draw_spectrogram(&mut img, &axis);
        self.draw_freq_axis(&mut img);
        draw_bands(&mut img, &axis, bands);
        draw_time_axis(&mut img, &axis);
        img
    }

    /// [`SpectrogramBuilder::render`] encoded as PNG.
    ///
    /// # Errors
    /// [`SpectrogramError::Encode`] when the PNG encoder fails.
    pub fn render_png(&self, segments: &[Segment]) -> Result<Vec<u8>, SpectrogramError> {
        Ok(encode_png(&self.render(segments))?)
    }

    fn draw_spectrogram(&self, img: &mut RgbImage, axis: &Axis) {
        let lut = color_lut();
        let fps = f64::from(self.sample_rate) / self.hop as f64;
        let span = self.span.max(1);
        let mut levels = [0u8; ROWS];
        for px in 0..axis.width {
            // Frames whose centres fall in this pixel's time slice; at least one.
            let t0 = axis.time_of(px);
            let t1 = axis.time_of(px + 1);
            let f0 = (t0 * fps + 0.5).floor().max(0.0) as u64;
            let f1 = ((t1 * fps + 0.5).floor().max(0.0) as u64).max(f0 + 1);
            let (c0, c1) = (f0 / span, (f1 - 1) / span + 1);
            levels.fill(0);
            let mut any = false;
            for c in c0..c1 {
                let Some(col) = usize::try_from(c).ok().and_then(|c| self.column(c)) else {
                    break;
                };
                any = true;
                for (l, &v) in levels.iter_mut().zip(col) {
                    *l = (*l).max(v);
                }
            }
            if !any {
                continue;
            }
            let x = axis.x0 + px;
            for (r, &v) in levels.iter().enumerate() {
                let y = SPEC_H - (r as u32 + 1) * ROW_PX;
                for dy in 0..ROW_PX {
                    img.put_pixel(x, y + dy, lut[usize::from(v)]);
                }
            }
        }
    }

    fn draw_freq_axis(&self, img: &mut RgbImage) {
        let nyquist = f64::from(self.sample_rate) / 2.0;
        let mut last_y = i64::MAX;
        for (hz, text) in [
            (100.0, "100"),
            (250.0, "250"),
            (500.0, "500"),
            (1000.0, "1k"),
            (2000.0, "2k"),
            (4000.0, "4k"),
            (8000.0, "8k"),
            (16000.0, "16k"),
        ] {
            if hz >= nyquist {
                break;
            }
            let r = self.row_of_hz(hz) as u32;
            let y = i64::from(SPEC_H - r * ROW_PX - ROW_PX / 2);
            // Skip a label that would touch the one below it.
            if last_y - y < GLYPH_H as i64 + 2 {
                continue;
            }
            last_y = y;
            let tick_x = i64::from(GUTTER - TICK_LEN);
            fill_rect(img, tick_x, y, u64::from(TICK_LEN), 1, AXIS_INK);
            let w = text_width(text, 1);
            draw_text(
                img,
                text,
                tick_x - 2 - w as i64,
                y - GLYPH_H as i64 / 2 + 1,
                1,
                AXIS_INK,
            );
        }
    }
}

/// Maps time to x over the plot area.
struct Axis {
    x0: u32,
    width: u32,
    duration: f64,
}

impl Axis {
    /// Start time of plot pixel `px`.
    fn time_of(&self, px: u32) -> f64 {
        f64::from(px) * self.duration / f64::from(self.width.max(1))
    }

    /// Image x of time `t` (left edge of the pixel that contains it), unclipped.
    fn x_of(&self, t: f64) -> i64 {
        if self.duration <= 0.0 {
            return i64::from(self.x0);
        }
        let x = (t / self.duration * f64::from(self.width)).floor();
        i64::from(self.x0) + x.clamp(-1e9, 1e9) as i64
    }
}

/// 256 colours interpolated between [`COLOR_STOPS`].
fn color_lut() -> [Rgb<u8>; 256] {
    let mut lut = [Rgb([0, 0, 0]); 256];
    let segs = (COLOR_STOPS.len() - 1) as f32;
    for (i, slot) in lut.iter_mut().enumerate() {
        let pos = i as f32 / 255.0 * segs;
        let k = (pos.floor() as usize).min(COLOR_STOPS.len() - 2);
        let f = pos - k as f32;
        let (a, b) = (COLOR_STOPS[k], COLOR_STOPS[k + 1]);
        let mix =
            |j: usize| (f32::from(a[j]) + (f32::from(b[j]) - f32::from(a[j])) * f).round() as u8;
        *slot = Rgb([mix(0), mix(1), mix(2)]);
    }
    lut
}

/// Black or white, whichever reads better on `bg`.
fn ink_on(bg: Rgb<u8>) -> Rgb<u8> {
    if luma(bg.0.map(f32::from)) > 120.0 {
        Rgb([0, 0, 0])
    } else {
        Rgb([255, 255, 255])
    }
}

/// A labelled stretch of time drawn as a band under the spectrogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band<'a> {
    /// Its label (the band's colour and text).
    pub label: Label,
    /// Start in seconds.
    pub start_s: f64,
    /// End in seconds (exclusive).
    pub end_s: f64,
    /// The id written before the label, if any.
    pub id: Option<&'a str>,
}

/// Bands in the strip, their labels, and boundary lines across the spectrogram.
fn draw_bands(img: &mut RgbImage, axis: &Axis, segments: &[Band<'_>]) {
    let strip_y = i64::from(SPEC_H + GAP_H);
    let plot_lo = i64::from(axis.x0);
    let plot_hi = plot_lo + i64::from(axis.width);
    let mut boundaries: Vec<i64> = Vec::with_capacity(segments.len() * 2);
    for seg in segments {
        if !(seg.start_s.is_finite() && seg.end_s.is_finite()) || seg.end_s < seg.start_s {
            continue;
        }
        let x0 = axis.x_of(seg.start_s).clamp(plot_lo, plot_hi);
        // [start, end): the band ends where the next one starts; at least one pixel wide so
        // a click-length segment is still visible.
        let x1 = axis.x_of(seg.end_s).clamp(plot_lo, plot_hi).max(x0 + 1);
        let color = label_color(seg.label);
        let band = TextBox {
            x: x0,
            y: strip_y,
            w: (x1 - x0) as u64,
            h: u64::from(STRIP_H),
        };
        let style = BoxStyle {
            scale: 1,
            pad: TEXT_PAD,
            background: color,
            ink: ink_on(color),
        };
        let full = seg.label.as_str();
        // The part after the namespace is still informative when the full term does not fit.
        let short = full.split_once(':').map_or(full, |(_, s)| s);
        let texts: Vec<String> = match seg.id {
            Some(id) => vec![
                format!("{id} {full}"),
                format!("{id} {short}"),
                id.to_string(),
            ],
            None => vec![full.to_string(), short.to_string()],
        };
        let text = texts
            .iter()
            .find(|t| style.fits(t, band.w))
            .map(String::as_str);
        band.draw(img, text, style);
        boundaries.push(x0);
        boundaries.push(x1);
    }
    boundaries.sort_unstable();
    let mut last_drawn = i64::MIN / 2;
    for x in boundaries {
        // The plot's own edges are not boundaries worth marking.
        if x <= plot_lo || x >= plot_hi || x - last_drawn < MIN_BOUNDARY_SPACING {
            continue;
        }
        last_drawn = x;
        let Ok(xu) = u32::try_from(x) else { continue };
        for y in (0..SPEC_H).filter(|y| y % (BOUNDARY_DASH + BOUNDARY_GAP) < BOUNDARY_DASH) {
            if let Some(p) = img.get_pixel_mut_checked(xu, y) {
                for (c, &b) in p.0.iter_mut().zip(&BOUNDARY.0) {
                    *c = (f32::from(*c) * (1.0 - BOUNDARY_ALPHA) + f32::from(b) * BOUNDARY_ALPHA)
                        .round() as u8;
                }
            }
        }
        // A dark notch in the strip separates neighbouring bands of similar colour.
        fill_rect(img, x, strip_y, 1, u64::from(STRIP_H), BACKGROUND);
    }
}

/// Tick steps in seconds, smallest first: 1-2-5 below a minute, clock-friendly above.
const TICK_STEPS: [f64; 21] = [
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    900.0, 1800.0, 3600.0, 7200.0, 14400.0,
];

/// Smallest tick step leaving room for labels (about 70 px apart).
fn tick_step(duration: f64, width: u32) -> f64 {
    let max_ticks = (f64::from(width) / 70.0).max(1.0);
    let mut step = TICK_STEPS
        .iter()
        .copied()
        .find(|s| duration / s <= max_ticks)
        .unwrap_or(14400.0);
    // Beyond the table (days of audio): keep doubling.
    while duration / step > max_ticks {
        step *= 2.0;
    }
    step
}

/// Tick label using only glyphs the overlay font has (digits, `:`, letters).
fn format_time(t: f64, step: f64, duration: f64) -> String {
    if duration >= 60.0 {
        let s = t.round() as u64;
        if duration >= 3600.0 {
            format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
        } else {
            format!("{}:{:02}", s / 60, s % 60)
        }
    } else if step >= 1.0 {
        format!("{}s", t.round() as u64)
    } else {
        format!("{}ms", (t * 1000.0).round() as u64)
    }
}

fn draw_time_axis(img: &mut RgbImage, axis: &Axis) {
    let y = i64::from(SPEC_H + GAP_H + STRIP_H);
    fill_rect(
        img,
        i64::from(axis.x0),
        y,
        u64::from(axis.width),
        1,
        AXIS_INK,
    );
    if axis.duration <= 0.0 || !axis.duration.is_finite() {
        draw_text(
            img,
            "0s",
            i64::from(axis.x0),
            y + i64::from(TICK_LEN + 2),
            1,
            AXIS_INK,
        );
        return;
    }
    let step = tick_step(axis.duration, axis.width);
    let plot_hi = i64::from(axis.x0 + axis.width);
    let mut k = 0u64;
    loop {
        let t = k as f64 * step;
        if t > axis.duration + 1e-9 {
            break;
        }
        let x = axis.x_of(t).min(plot_hi - 1);
        fill_rect(img, x, y, 1, u64::from(TICK_LEN), AXIS_INK);
        let text = format_time(t, step, axis.duration);
        let w = text_width(&text, 1) as i64;
        // Centred under the tick, but the first label starts at the axis origin.
        let tx = if k == 0 {
            x
        } else {
            // The last label may not fit centred; keep it inside the picture.
            (x - w / 2).min(i64::from(img.width()) - w - 1)
        };
        draw_text(img, &text, tx, y + i64::from(TICK_LEN + 2), 1, AXIS_INK);
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: u32 = 16_000;

    fn sine(hz: f32, seconds: f32, amp: f32) -> Vec<f32> {
        let n = (seconds * SR as f32) as usize;
        (0..n)
            .map(|i| amp * (std::f32::consts::TAU * hz * i as f32 / SR as f32).sin())
            .collect()
    }

    fn seg(label: Label, start_s: f64, end_s: f64) -> Segment {
        Segment {
            label,
            start_sample: (start_s * f64::from(SR)) as u64,
            end_sample: (end_s * f64::from(SR)) as u64,
            start_s,
            end_s,
            confidence: 1.0,
            frames: 0,
            mean_level_db: -20.0,
            median_f0_hz: None,
            mean_centroid_hz: 0.0,
            onsets_s: Vec::new(),
        }
    }

    #[test]
    fn bands_with_ids_write_the_id_first_and_fall_back_to_it_alone() {
        let b = built(&sine(440.0, 4.0, 0.5), 4096);
        let band = |id, end_s| Band {
            label: Label::Speech,
            start_s: 0.0,
            end_s,
            id,
        };
        let plain = b.render(&[seg(Label::Speech, 0.0, 4.0)]);
        // Same picture as `render` without an id.
        assert_eq!(b.render_bands(&[band(None, 4.0)]), plain);
        let strip = |img: &RgbImage| {
            let y0 = SPEC_H + GAP_H;
            (0..img.width())
                .flat_map(|x| (y0..y0 + STRIP_H).map(move |y| (x, y)))
                .map(|(x, y)| img.get_pixel(x, y).0)
                .collect::<Vec<_>>()
        };
        let with_id = b.render_bands(&[band(Some("s7"), 4.0)]);
        assert!(strip(&with_id) != strip(&plain), "the id is drawn");
        // A band too narrow for any label (25 px) still shows its id.
        let narrow = b.render_bands(&[band(Some("s7"), 0.5)]);
        let bare = b.render_bands(&[band(None, 0.5)]);
        assert!(strip(&narrow) != strip(&bare), "the id alone is drawn");
    }

    fn built(samples: &[f32], chunk: usize) -> SpectrogramBuilder {
        let mut b = SpectrogramBuilder::new(SR);
        for c in samples.chunks(chunk.max(1)) {
            b.push(c);
        }
        b
    }

    #[test]
    fn sine_lights_its_row_brightest() {
        let b = built(&sine(1000.0, 1.0, 0.5), 4096);
        let row = b.row_of_hz(1000.0);
        let n = b.column_count();
        assert!(n > 90, "{n} columns");
        let mut mean = [0f64; ROWS];
        for c in 0..n {
            for (m, &v) in mean.iter_mut().zip(b.column(c).unwrap_or(&[])) {
                *m += f64::from(v) / n as f64;
            }
        }
        for (r, &m) in mean.iter().enumerate() {
            if r != row {
                assert!(
                    mean[row] > m,
                    "row {r} ({m}) vs 1 kHz row {row} ({})",
                    mean[row]
                );
            }
            if r.abs_diff(row) > 3 {
                assert!(
                    mean[row] > m + 60.0,
                    "row {r} ({m}) too close to {}",
                    mean[row]
                );
            }
        }
    }

    #[test]
    fn chunking_does_not_change_the_picture() {
        let mut signal = sine(440.0, 0.7, 0.3);
        for (i, s) in signal.iter_mut().enumerate() {
            // A click and some deterministic pseudo-noise.
            if i % 3000 == 0 {
                *s += 0.9;
            }
            *s += ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.01;
        }
        let segs = [seg(Label::Music, 0.0, 0.4), seg(Label::Impact, 0.4, 0.7)];
        let reference = built(&signal, 4096).render(&segs);
        for chunk in [1, 7] {
            assert!(
                built(&signal, chunk).render(&segs) == reference,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn bands_sit_at_their_times_with_boundary_lines() {
        let b = built(&vec![0.0; 3 * SR as usize], 4096);
        let segs = [
            seg(Label::Speech, 0.0, 1.0),
            seg(Label::Music, 1.0, 2.0),
            seg(Label::Impact, 2.0, 3.0),
        ];
        let img = b.render(&segs);
        let plot_w = b.plot_width();
        assert_eq!(img.width(), GUTTER + plot_w + RIGHT_PAD);
        // Above the text (inside the padding) the band is its plain colour.
        let y = SPEC_H + GAP_H + 1;
        let x_at = |t: f64| GUTTER + (t / 3.0 * f64::from(plot_w)) as u32;
        for (t, label) in [
            (0.5, Label::Speech),
            (1.5, Label::Music),
            (2.5, Label::Impact),
        ] {
            assert_eq!(*img.get_pixel(x_at(t), y), label_color(label), "t = {t}");
        }
        // Just either side of the 1 s boundary.
        assert_eq!(*img.get_pixel(x_at(1.0) - 2, y), label_color(Label::Speech));
        assert_eq!(*img.get_pixel(x_at(1.0) + 2, y), label_color(Label::Music));
        // The boundary line crosses the (black, silent) spectrogram.
        let lit = |x: u32| {
            (0..SPEC_H)
                .filter(|&y| img.get_pixel(x, y).0[0] > 100)
                .count()
        };
        assert!(lit(x_at(1.0)) > SPEC_H as usize / 2, "{}", lit(x_at(1.0)));
        assert_eq!(lit(x_at(1.0) + 3), 0);
        // Some label text is drawn in the speech band.
        let ink = ink_on(label_color(Label::Speech));
        let text_y = SPEC_H + GAP_H + TEXT_PAD + 3;
        assert!((GUTTER..x_at(1.0)).any(|x| *img.get_pixel(x, text_y) == ink));
    }

    #[test]
    fn empty_and_tiny_audio_give_valid_pngs() {
        for n in [0usize, 1, 2] {
            let b = built(&vec![0.25; n], 1);
            for segs in [
                vec![],
                vec![seg(Label::Tone, 0.0, n as f64 / f64::from(SR))],
            ] {
                let png = b.render_png(&segs).unwrap();
                let img = image::load_from_memory(&png).unwrap().to_rgb8();
                assert_eq!(img.width(), GUTTER + MIN_WIDTH + RIGHT_PAD);
                assert_eq!(img.height(), SPEC_H + GAP_H + STRIP_H + AXIS_H);
            }
        }
    }

    #[test]
    fn awkward_values_do_not_panic() {
        let mut b = SpectrogramBuilder::new(SR);
        b.push(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30]);
        b.push(&vec![f32::MAX; 2000]);
        let segs = [
            seg(Label::Noise, f64::NAN, 1.0),
            seg(Label::Speech, 2.0, 1.0),
            seg(Label::Tone, -5.0, f64::INFINITY),
            seg(Label::Music, 0.0, 1e12),
        ];
        b.render_png(&segs).unwrap();
        SpectrogramBuilder::new(0).push(&[0.5; 100]);
        SpectrogramBuilder::new(0).render_png(&segs).unwrap();
        SpectrogramBuilder::new(192_000).render_png(&[]).unwrap();
    }

    #[test]
    fn column_cap_holds_for_two_hours() {
        let mut b = SpectrogramBuilder::new(SR);
        let chunk = vec![0.0f32; 1 << 20];
        let total = 2 * 3600 * SR as usize;
        let mut pushed = 0;
        while pushed < total {
            let n = chunk.len().min(total - pushed);
            b.push(&chunk[..n]);
            pushed += n;
            assert!(b.column_count() <= MAX_COLUMNS);
        }
        assert!(b.frames_per_column() >= 64, "{:?}", b);
        assert!(b.columns.capacity() <= MAX_COLUMNS * ROWS * 2);
        let img = b.render(&[seg(Label::Silence, 0.0, 7200.0)]);
        assert_eq!(img.width(), GUTTER + MAX_WIDTH + RIGHT_PAD);
    }

    #[test]
    fn time_labels_use_only_font_glyphs() {
        for (t, step, d) in [
            (0.2, 0.1, 0.5),
            (3.0, 1.0, 5.0),
            (90.0, 30.0, 120.0),
            (5400.0, 1800.0, 7200.0),
        ] {
            let s = format_time(t, step, d);
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_digit() || c == ':' || c == 'm' || c == 's'),
                "{s}"
            );
        }
        assert_eq!(format_time(5400.0, 1800.0, 7200.0), "1:30:00");
        assert_eq!(format_time(90.0, 30.0, 120.0), "1:30");
        assert_eq!(format_time(200.0e-3, 0.1, 0.5), "200ms");
    }
}
