//! Turns traced borders into ranked regions with measures and words.
//!
//! [`analyze`] works in four steps, each linear in the pixels or the border points:
//!
//! 1. one run-length labelling pass over the mask gives every 8-connected foreground
//!    component and every 4-connected background component (the connectivities of
//!    border following) its pixel count and gray sum;
//! 2. each border is tied to its pixels: an outer border to its foreground component
//!    (holes excluded), a hole border to the background component it encloses;
//! 3. borders are filtered (holes only on request, minimum pixel count), scored for
//!    salience, sorted and cut to `max_regions`;
//! 4. only the kept regions get the full measures, words and colours (one pass over
//!    their own pixels).

use super::color::color_name;
use super::contours::{BorderKind, Contour};
use super::measure::{self, Measures};
use super::segment;
use super::words::{Position, Shape, ShapeFeatures, SizeClass};
use super::Point;
use image::{GrayImage, RgbImage};

/// An axis-aligned box in integer pixels, `x`/`y` the top-left pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Rect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
}

/// Minimum area for a region to be kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinArea {
    /// Absolute number of pixels.
    Pixels(u64),
    /// Percentage of the image area (NaN or negative counts as 0).
    Percent(f64),
}

impl MinArea {
    /// The smallest pixel count kept in an image of `image_pixels` pixels.
    pub fn threshold(&self, image_pixels: u64) -> f64 {
        match *self {
            MinArea::Pixels(n) => n as f64,
            MinArea::Percent(p) if p > 0.0 => p / 100.0 * image_pixels as f64,
            MinArea::Percent(_) => 0.0,
        }
    }
}

/// Options that decide which regions are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionOptions {
    /// Keep at most this many, most salient first; 0 keeps all.
    pub max_regions: usize,
    /// Drop regions with fewer pixels than this.
    pub min_area: MinArea,
    /// Also report hole borders as regions.
    pub holes: bool,
}

impl Default for RegionOptions {
    fn default() -> Self {
        Self {
            max_regions: 64,
            min_area: MinArea::Percent(0.02),
            holes: false,
        }
    }
}

/// One region, ready to be serialised.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Index of the border in the contour list it came from (colour mode: of the node in
    /// the segmentation's hierarchy).
    pub contour: usize,
    /// Outer border or hole border.
    pub kind: BorderKind,
    /// Index (in the returned region list) of the nearest enclosing kept region, if any.
    pub parent: Option<usize>,
    /// Number of hole borders directly inside this region (reported or not).
    pub holes: usize,
    /// Bounding box of the border pixels (colour mode: of the source pixels the region's
    /// working pixels stand for).
    pub bbox: Rect,
    /// Number of pixels in the region: the foreground pixels of the component for an
    /// outer border (its holes excluded), the hole's background pixels for a hole.
    pub pixel_count: u64,
    /// Area, perimeter, centroid, polygon, hull, solidity, circularity and rotated box of
    /// the border (see [`Measures`]).
    pub measures: Measures,
    /// Mean colour of the region's pixels in the original image (colour mode: in the
    /// working image, whose pixels average blocks of the original).
    pub mean_color: [u8; 3],
    /// Most frequent colour of the region's pixels: the mean of the pixels in the
    /// fullest bin of a 8×8×8 RGB histogram (32 levels per bin and channel; lowest
    /// bin on ties). Regions over 4 096 pixels are histogrammed on about 4 096 of
    /// their pixels, spread with pseudo-random gaps from a fixed seed: bounded cost,
    /// no aliasing with regular patterns, the same result every run.
    pub dominant_color: [u8; 3],
    /// Name of the dominant colour.
    pub color_name: &'static str,
    /// Shape word.
    pub shape: Shape,
    /// Size word relative to the image.
    pub size: SizeClass,
    /// Position on a 3×3 grid.
    pub position: Position,
    /// Salience score in [0, 1]; higher ranks first. See [`salience`].
    pub salience: f64,
}

/// Why [`try_analyze`] could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalyzeError {
    /// The three images must describe the same pixels.
    #[error("image sizes differ: rgb {rgb:?}, gray {gray:?}, mask {mask:?}; all three must be the same width x height")]
    SizeMismatch {
        /// Width and height of the colour image.
        rgb: (u32, u32),
        /// Width and height of the gray image.
        gray: (u32, u32),
        /// Width and height of the mask.
        mask: (u32, u32),
    },
    /// A border point lies outside the image.
    #[error("contour {contour} has point ({x}, {y}) outside the {width}x{height} image")]
    PointOutOfBounds {
        /// Index of the contour.
        contour: usize,
        /// Column of the point.
        x: i32,
        /// Row of the point.
        y: i32,
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
    },
    /// A border starts on a background pixel of the mask, so it was not traced from it.
    #[error("contour {contour} starts at ({x}, {y}), which is background in the mask; contours must come from the same mask")]
    NotOnMask {
        /// Index of the contour.
        contour: usize,
        /// Column of the first point.
        x: i32,
        /// Row of the first point.
        y: i32,
    },
}

/// The salience score and its weights.
///
/// `salience = 0.5·A + 0.3·C + 0.2·Z`, clamped to [0, 1], where
///
/// * A = √(pixel_count / image pixels): the square root lets a region of 1 % of the
///   image score 0.1 rather than 0.01, so mid-sized objects are not drowned by one
///   large area;
/// * C = |mean gray of the region − mean gray of all other pixels| / 255: how much
///   the region stands out from the rest of the image;
/// * Z = 1 − d / d_max, d the distance from the centroid to the image centre and
///   d_max the half-diagonal: central regions rank higher.
///
/// Ties are broken by the contour index (earlier in raster order first), so the
/// ranking is deterministic.
pub mod salience {
    /// Weight of the area term.
    pub const AREA_WEIGHT: f64 = 0.5;
    /// Weight of the contrast term.
    pub const CONTRAST_WEIGHT: f64 = 0.3;
    /// Weight of the centrality term.
    pub const CENTRALITY_WEIGHT: f64 = 0.2;

    /// Combines the three terms (each in [0, 1]).
    pub fn score(area_fraction: f64, contrast: f64, centrality: f64) -> f64 {
        let a = area_fraction.clamp(0.0, 1.0).sqrt();
        let s = AREA_WEIGHT * a
            + CONTRAST_WEIGHT * contrast.clamp(0.0, 1.0)
            + CENTRALITY_WEIGHT * centrality.clamp(0.0, 1.0);
        if s.is_nan() {
            0.0
        } else {
            s.clamp(0.0, 1.0)
        }
    }
}

// ---------------------------------------------------------------------------------
// Run-length labelling.

#[derive(Debug, Clone, Copy)]
struct Run {
    x0: u32,
    /// Exclusive end.
    x1: u32,
    fg: bool,
}

#[derive(Debug, Clone, Copy)]
struct Component {
    fg: bool,
    pixels: u64,
    gray_sum: u64,
    /// First run in raster order.
    first_run: u32,
    first_y: u32,
    touches_border: bool,
}

/// All connected components of a mask as runs.
struct Labels {
    width: usize,
    height: usize,
    /// `row_start[y]..row_start[y + 1]` are the runs of row `y`.
    row_start: Vec<usize>,
    runs: Vec<Run>,
    /// Component of each run.
    comp: Vec<u32>,
    comps: Vec<Component>,
}

/// First index `>= x` where `row` stops being `fg` (non-zero) or background (zero).
fn run_end(row: &[u8], x: usize, fg: bool) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut pos = x;
    let mut chunks = row[x..].chunks_exact(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        let v = u64::from_le_bytes(b);
        // Background ends at the first non-zero byte; foreground at the first zero
        // byte, found with the classic has-zero-byte trick (exact for the lowest one).
        let stop = if fg {
            v.wrapping_sub(ONES) & !v & HIGHS
        } else {
            v
        };
        if stop != 0 {
            return pos + (stop.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    pos + chunks
        .remainder()
        .iter()
        .take_while(|&&v| (v != 0) == fg)
        .count()
}

/// Per-channel sums of interleaved RGB bytes.
///
/// Sixteen pixels per step into 48 `u32` lanes, which vectorises without any
/// deinterleaving; lanes are folded into channels at the end.
fn channel_sums(px: &[u8]) -> [u64; 3] {
    let mut s = [0u64; 3];
    // 2^20 steps of at most 255 per lane cannot overflow u32.
    for block in px.chunks(48 << 20) {
        let mut acc = [0u32; 48];
        let mut steps = block.chunks_exact(48);
        for c in &mut steps {
            for j in 0..48 {
                acc[j] += u32::from(c[j]);
            }
        }
        for (j, &a) in acc.iter().enumerate() {
            s[j % 3] += u64::from(a);
        }
        for (j, &b) in steps.remainder().iter().enumerate() {
            s[j % 3] += u64::from(b);
        }
    }
    s
}

/// Sum of bytes, in `u32` lanes per block so it vectorises.
fn sum_bytes(v: &[u8]) -> u64 {
    // 2^24 bytes of 255 cannot overflow u32.
    v.chunks(1 << 24)
        .map(|c| u64::from(c.iter().map(|&b| u32::from(b)).sum::<u32>()))
        .sum()
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let p = parent[i as usize];
        parent[i as usize] = parent[p as usize];
        i = p;
    }
    i
}

impl Labels {
    fn new(mask: &GrayImage, gray: &GrayImage) -> Labels {
        let (w, h) = (mask.width() as usize, mask.height() as usize);
        let m = mask.as_raw();
        let g = gray.as_raw();
        let mut runs: Vec<Run> = Vec::with_capacity(h * 4);
        let mut row_start = Vec::with_capacity(h + 1);
        let mut parent: Vec<u32> = Vec::with_capacity(h * 4);
        for y in 0..h {
            let row = &m[y * w..y * w + w];
            let prev = row_start.last().copied().unwrap_or(0)..runs.len();
            let cur = runs.len();
            row_start.push(cur);
            let mut x = 0;
            while x < w {
                let fg = row[x] != 0;
                let end = run_end(row, x + 1, fg);
                runs.push(Run {
                    x0: x as u32,
                    x1: end as u32,
                    fg,
                });
                parent.push((runs.len() - 1) as u32);
                x = end;
            }
            if y == 0 {
                continue;
            }
            // Merge with the previous row: foreground runs touch diagonally too
            // (8-connectivity), background runs only when they overlap (4).
            let mut j = prev.start;
            for i in cur..runs.len() {
                let r = runs[i];
                while j < prev.end && runs[j].x1 < r.x0 {
                    j += 1;
                }
                let mut k = j;
                while k < prev.end && runs[k].x0 <= r.x1 {
                    let p = runs[k];
                    let touches = p.fg == r.fg && (r.fg || (p.x0 < r.x1 && p.x1 > r.x0));
                    if touches {
                        let (a, b) = (find(&mut parent, i as u32), find(&mut parent, k as u32));
                        // The smaller index becomes the root, so every root is its
                        // component's first run in raster order.
                        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                        parent[hi as usize] = lo;
                    }
                    k += 1;
                }
            }
        }
        row_start.push(runs.len());

        let mut comp = vec![0u32; runs.len()];
        let mut comps: Vec<Component> = Vec::new();
        for y in 0..h {
            for i in row_start[y]..row_start[y + 1] {
                let root = find(&mut parent, i as u32) as usize;
                let r = runs[i];
                let id = if root == i {
                    comps.push(Component {
                        fg: r.fg,
                        pixels: 0,
                        gray_sum: 0,
                        first_run: i as u32,
                        first_y: y as u32,
                        touches_border: false,
                    });
                    (comps.len() - 1) as u32
                } else {
                    comp[root]
                };
                comp[i] = id;
                let c = &mut comps[id as usize];
                let (x0, x1) = (r.x0 as usize, r.x1 as usize);
                c.pixels += (x1 - x0) as u64;
                c.gray_sum += sum_bytes(&g[y * w + x0..y * w + x1]);
                c.touches_border |= y == 0 || y + 1 == h || x0 == 0 || x1 == w;
            }
        }
        Labels {
            width: w,
            height: h,
            row_start,
            runs,
            comp,
            comps,
        }
    }

    /// Index of the run holding pixel `(x, y)`, if inside the image.
    fn run_at(&self, x: i64, y: i64) -> Option<usize> {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return None;
        }
        let (a, b) = (self.row_start[y as usize], self.row_start[y as usize + 1]);
        let k = self.runs[a..b].partition_point(|r| i64::from(r.x0) <= x);
        k.checked_sub(1).map(|k| a + k)
    }

    fn comp_at(&self, x: i64, y: i64) -> Option<usize> {
        self.run_at(x, y).map(|r| self.comp[r] as usize)
    }

    /// The foreground component directly enclosing background component `c`, or
    /// `None` for background connected to the image edge.
    ///
    /// The pixel above a component's first pixel in raster order cannot be in it
    /// (it would come earlier), so it is foreground, and it lies above every pixel
    /// of the component, so it belongs to the enclosing component rather than to an
    /// island inside.
    fn enclosing(&self, c: usize) -> Option<usize> {
        let comp = self.comps.get(c)?;
        if comp.fg || comp.touches_border || comp.first_y == 0 {
            return None;
        }
        let r = self.runs[comp.first_run as usize];
        self.comp_at(i64::from(r.x0), i64::from(comp.first_y) - 1)
    }
}

/// The background component bounded by hole border `contour` of foreground
/// component `fg`.
///
/// Border following starts a hole border at a pixel whose right neighbour is the
/// hole, so that is tried first; otherwise the 4-neighbours of all border points are
/// searched for background enclosed by `fg` (the most frequent one wins).
fn hole_component(labels: &Labels, contour: &Contour, fg: usize) -> Option<usize> {
    let is_hole_of_fg = |c: usize| !labels.comps[c].fg && labels.enclosing(c) == Some(fg);
    let p0 = contour.points.first()?;
    if let Some(c) = labels.comp_at(i64::from(p0.x) + 1, i64::from(p0.y)) {
        if is_hole_of_fg(c) {
            return Some(c);
        }
    }
    let mut counts: Vec<(usize, usize)> = Vec::new();
    for p in &contour.points {
        let (x, y) = (i64::from(p.x), i64::from(p.y));
        for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
            if let Some(c) = labels.comp_at(x + dx, y + dy) {
                if is_hole_of_fg(c) {
                    match counts.iter_mut().find(|(k, _)| *k == c) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((c, 1)),
                    }
                }
            }
        }
    }
    counts
        .into_iter()
        .max_by_key(|&(c, n)| (n, std::cmp::Reverse(c)))
        .map(|(c, _)| c)
}

// ---------------------------------------------------------------------------------
// Colours.

/// Bits per channel of the dominant-colour histogram (8 levels of 32).
const COLOR_BITS: u32 = 3;
/// About this many pixels of a large region feed its colour histogram.
const COLOR_SAMPLES: u64 = 1 << 12;
const BINS: usize = 1 << (3 * COLOR_BITS);

/// The dominant-colour histogram bin of an RGB pixel.
fn color_bin(p: &[u8]) -> usize {
    let shift = 8 - COLOR_BITS;
    (usize::from(p[0] >> shift) << (2 * COLOR_BITS))
        | (usize::from(p[1] >> shift) << COLOR_BITS)
        | usize::from(p[2] >> shift)
}

/// The mean of the pixels in the fullest bin (the lowest bin on ties).
fn dominant_color(count: &[u64], sums: &[[u64; 3]]) -> [u8; 3] {
    let best = (0..count.len())
        .max_by_key(|&b| (count[b], std::cmp::Reverse(b)))
        .unwrap_or(0);
    let n = count.get(best).copied().unwrap_or(0);
    match (n, sums.get(best)) {
        (1.., Some(s)) => s.map(|v| ((v + n / 2) / n).min(255) as u8),
        _ => [0; 3],
    }
}

/// Mean and dominant colour of each listed component, one pass over their pixels.
fn component_colors(labels: &Labels, rgb: &RgbImage, wanted: &[usize]) -> Vec<([u8; 3], [u8; 3])> {
    let w = labels.width;
    let raw = rgb.as_raw();
    // Runs of each wanted component, grouped by counting sort.
    let mut slot = vec![u32::MAX; labels.comps.len()];
    for (k, &c) in wanted.iter().enumerate() {
        if let Some(s) = slot.get_mut(c) {
            *s = k as u32;
        }
    }
    let mut start = vec![0usize; wanted.len() + 1];
    for &c in &labels.comp {
        if let Some(&k) = slot.get(c as usize).filter(|&&k| k != u32::MAX) {
            start[k as usize + 1] += 1;
        }
    }
    for k in 0..wanted.len() {
        start[k + 1] += start[k];
    }
    let mut fill = start.clone();
    let mut grouped = vec![(0u32, 0u32); start[wanted.len()]];
    for y in 0..labels.height {
        for i in labels.row_start[y]..labels.row_start[y + 1] {
            if let Some(&k) = slot
                .get(labels.comp[i] as usize)
                .filter(|&&k| k != u32::MAX)
            {
                grouped[fill[k as usize]] = (y as u32, i as u32);
                fill[k as usize] += 1;
            }
        }
    }

    let mut count = vec![0u64; BINS];
    let mut sums = vec![[0u64; 3]; BINS];
    let mut out = Vec::with_capacity(wanted.len());
    for (k, &c) in wanted.iter().enumerate() {
        count.fill(0);
        sums.fill([0; 3]);
        let pixels = labels.comps.get(c).map_or(0, |c| c.pixels);
        let stride = pixels.div_ceil(COLOR_SAMPLES).max(1);
        // Gaps between samples are pseudo-random in 1..2·stride (fixed seed), so the
        // sample cannot alias with stripes or the image width the way a fixed step can.
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut gap = || {
            if stride == 1 {
                return 1;
            }
            rng = rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            1 + (rng >> 33) % (2 * stride - 1)
        };
        let mut total = [0u64; 3];
        // Region-relative index of the first pixel of the current run and of the
        // next pixel to sample.
        let (mut offset, mut next) = (0u64, 0u64);
        for &(y, i) in &grouped[start[k]..start[k + 1]] {
            let r = labels.runs[i as usize];
            let row = y as usize * w;
            let px = &raw[(row + r.x0 as usize) * 3..(row + r.x1 as usize) * 3];
            let t = channel_sums(px);
            for ch in 0..3 {
                total[ch] += t[ch];
            }
            let len = (px.len() / 3) as u64;
            while next < offset + len {
                let j = ((next - offset) * 3) as usize;
                let p = &px[j..j + 3];
                let bin = color_bin(p);
                count[bin] += 1;
                for ch in 0..3 {
                    sums[bin][ch] += u64::from(p[ch]);
                }
                next += gap();
            }
            offset += len;
        }
        let n = pixels;
        let mean = if n == 0 {
            [0; 3]
        } else {
            total.map(|v| ((v + n / 2) / n).min(255) as u8)
        };
        out.push((mean, dominant_color(&count, &sums)));
    }
    out
}

// ---------------------------------------------------------------------------------
// Analysis.

/// Measures, names and ranks the regions of `contours`, which must have been traced
/// from `mask`; `rgb` and `gray` are the same image in colour and gray.
///
/// Inputs that do not fit together (different sizes, points outside the image,
/// borders starting on background) are a caller bug and yield no regions; use
/// [`try_analyze`] to get the reason.
pub fn analyze(
    rgb: &RgbImage,
    gray: &GrayImage,
    mask: &GrayImage,
    contours: &[Contour],
    options: &RegionOptions,
) -> Vec<Region> {
    try_analyze(rgb, gray, mask, contours, options).unwrap_or_default()
}

/// A border that passed the filters, with what ranking needs.
struct Candidate {
    contour: usize,
    comp: usize,
    centroid: (f64, f64),
    salience: f64,
}

/// [`analyze`], reporting inconsistent inputs instead of returning nothing.
///
/// # Errors
/// An [`AnalyzeError`] when the images differ in size, or a contour point lies outside
/// them or off the mask.
pub fn try_analyze(
    rgb: &RgbImage,
    gray: &GrayImage,
    mask: &GrayImage,
    contours: &[Contour],
    options: &RegionOptions,
) -> Result<Vec<Region>, AnalyzeError> {
    let dims = mask.dimensions();
    if rgb.dimensions() != dims || gray.dimensions() != dims {
        return Err(AnalyzeError::SizeMismatch {
            rgb: rgb.dimensions(),
            gray: gray.dimensions(),
            mask: dims,
        });
    }
    let (width, height) = dims;
    for (i, c) in contours.iter().enumerate() {
        let outside = c.points.iter().find(|p| {
            p.x < 0
                || p.y < 0
                || i64::from(p.x) >= i64::from(width)
                || i64::from(p.y) >= i64::from(height)
        });
        if let Some(p) = outside {
            return Err(AnalyzeError::PointOutOfBounds {
                contour: i,
                x: p.x,
                y: p.y,
                width,
                height,
            });
        }
    }
    let image_pixels = u64::from(width) * u64::from(height);
    if image_pixels == 0 || contours.is_empty() {
        return Ok(Vec::new());
    }

    let labels = Labels::new(mask, gray);
    let total_gray: u64 = labels.comps.iter().map(|c| c.gray_sum).sum();
    let min_pixels = options.min_area.threshold(image_pixels);
    let (cx0, cy0) = (
        (f64::from(width) - 1.0) / 2.0,
        (f64::from(height) - 1.0) / 2.0,
    );
    let half_diag = (f64::from(width) / 2.0).hypot(f64::from(height) / 2.0);

    let mut candidates = Vec::new();
    for (i, c) in contours.iter().enumerate() {
        let Some(p0) = c.points.first() else { continue };
        if c.kind == BorderKind::Hole && !options.holes {
            continue;
        }
        let fg = labels
            .comp_at(i64::from(p0.x), i64::from(p0.y))
            .filter(|&k| labels.comps[k].fg)
            .ok_or(AnalyzeError::NotOnMask {
                contour: i,
                x: p0.x,
                y: p0.y,
            })?;
        let comp = match c.kind {
            BorderKind::Outer => Some(fg),
            BorderKind::Hole => hole_component(&labels, c, fg),
        };
        let Some(comp) = comp else { continue };
        let stats = labels.comps[comp];
        if stats.pixels == 0 || (stats.pixels as f64) < min_pixels {
            continue;
        }
        let centroid = measure::centroid(&c.points);
        let mean_gray = stats.gray_sum as f64 / stats.pixels as f64;
        let rest = image_pixels - stats.pixels;
        let contrast = if rest > 0 {
            let rest_mean = (total_gray - stats.gray_sum) as f64 / rest as f64;
            (mean_gray - rest_mean).abs() / 255.0
        } else {
            0.0
        };
        let d = (centroid.0 - cx0).hypot(centroid.1 - cy0);
        let centrality = 1.0 - (d / half_diag).min(1.0);
        let score = salience::score(
            stats.pixels as f64 / image_pixels as f64,
            contrast,
            centrality,
        );
        candidates.push(Candidate {
            contour: i,
            comp,
            centroid,
            salience: score,
        });
    }
    candidates.sort_by(|a, b| {
        b.salience
            .total_cmp(&a.salience)
            .then(a.contour.cmp(&b.contour))
    });
    if options.max_regions > 0 {
        candidates.truncate(options.max_regions);
    }

    let mut kept = vec![None; contours.len()];
    for (r, c) in candidates.iter().enumerate() {
        kept[c.contour] = Some(r);
    }
    let mut hole_count = vec![0usize; contours.len()];
    for c in contours {
        if let (BorderKind::Hole, Some(p)) = (c.kind, c.parent) {
            if let Some(n) = hole_count.get_mut(p) {
                *n += 1;
            }
        }
    }
    let wanted: Vec<usize> = candidates.iter().map(|c| c.comp).collect();
    let colors = component_colors(&labels, rgb, &wanted);

    let mut regions = Vec::with_capacity(candidates.len());
    for (cand, (mean_color, dominant)) in candidates.iter().zip(colors) {
        let c = &contours[cand.contour];
        let m = measure::measure(&c.points);
        let origin = Point::new(0, 0);
        let (lo, hi) = measure::bounds(&c.points).unwrap_or((origin, origin));
        // Walk up the border tree to the nearest kept ancestor; bounded so a
        // malformed parent chain cannot loop.
        let mut parent = None;
        let mut up = c.parent;
        for _ in 0..contours.len() {
            let Some(p) = up.filter(|&p| p < contours.len()) else {
                break;
            };
            if let Some(r) = kept[p] {
                parent = Some(r);
                break;
            }
            up = contours[p].parent;
        }
        let pixel_count = labels.comps[cand.comp].pixels;
        let features = ShapeFeatures::from_measures(&m);
        regions.push(Region {
            contour: cand.contour,
            kind: c.kind,
            parent,
            holes: hole_count[cand.contour],
            bbox: Rect {
                x: lo.x as u32,
                y: lo.y as u32,
                w: (hi.x - lo.x) as u32 + 1,
                h: (hi.y - lo.y) as u32 + 1,
            },
            pixel_count,
            measures: Measures {
                centroid: cand.centroid,
                ..m
            },
            mean_color,
            dominant_color: dominant,
            color_name: color_name(dominant),
            shape: Shape::classify(&features),
            size: SizeClass::from_fraction(pixel_count as f64 / image_pixels as f64),
            position: Position::from_centroid(cand.centroid.0, cand.centroid.1, width, height),
            salience: cand.salience,
        });
    }
    Ok(regions)
}

// ---------------------------------------------------------------------------------
// Regions from the colour segmentation.

/// Whether `(px, py)` lies inside the closed polygon through `ring` (crossing number).
fn inside_ring(ring: &[Point], px: f64, py: f64) -> bool {
    let mut inside = false;
    let n = ring.len();
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        let (ay, by) = (f64::from(a.y), f64::from(b.y));
        if (ay > py) != (by > py) {
            let t = (py - ay) / (by - ay);
            let x = f64::from(a.x) + t * f64::from(b.x - a.x);
            if px < x {
                inside = !inside;
            }
        }
    }
    inside
}

/// One kept segmentation node, traced at working resolution.
struct Traced {
    node: usize,
    /// Outer border in working pixels.
    ring: Vec<Point>,
    /// Area inside `ring`, in working pixels.
    area: f64,
    /// The same border in the image's pixels.
    outline: Vec<Point>,
    holes: usize,
    dominant: [u8; 3],
}

/// Measures, names and ranks the objects of a colour segmentation of a `width`×`height`
/// image: the nodes [`segment::select`] keeps, best first, each traced at working
/// resolution and scaled back to the image's pixels. Only outer borders are reported:
/// what fills a region's hole is a region of its own, and `parent` names the smallest
/// kept region whose outline encloses it. `options.holes` does not apply.
pub fn from_segmentation(
    width: u32,
    height: u32,
    seg: &segment::Segmentation,
    options: &RegionOptions,
) -> Vec<Region> {
    let image_pixels = u64::from(width) * u64::from(height);
    if image_pixels == 0 || seg.nodes.is_empty() {
        return Vec::new();
    }
    let f = seg.factor.max(1);
    let ff = u64::from(f) * u64::from(f);
    let min_work = options.min_area.threshold(image_pixels) / ff as f64;
    let kept = segment::select(seg, min_work, options.max_regions);
    let ww = seg.width as usize;

    let pos = seg.pixel_positions();
    let (fi, wi, hi) = (i64::from(f), i64::from(width), i64::from(height));
    let mut traced = Vec::with_capacity(kept.len());
    let mut count = vec![0u64; BINS];
    let mut sums = vec![[0u64; 3]; BINS];
    for &i in &kept {
        let b = seg.nodes[i].bbox;
        let range = seg.leaf_range(i);
        let (cw, ch) = (b[2] - b[0] + 1, b[3] - b[1] + 1);
        let mut raw = vec![0u8; cw as usize * ch as usize];
        count.fill(0);
        sums.fill([0; 3]);
        for (y, row) in raw.chunks_exact_mut(cw as usize).enumerate() {
            let start = (b[1] as usize + y) * ww + b[0] as usize;
            for (x, m) in row.iter_mut().enumerate() {
                let p = start + x;
                if range.contains(&pos[p]) {
                    *m = 255;
                    let c = seg.rgb[p];
                    let bin = color_bin(&c);
                    count[bin] += 1;
                    for k in 0..3 {
                        sums[bin][k] += u64::from(c[k]);
                    }
                }
            }
        }
        let Some(mask) = GrayImage::from_raw(cw, ch, raw) else {
            continue;
        };
        let contours = super::contours::find_contours(&mask);
        let Some(outer) = (0..contours.len())
            .filter(|&k| contours[k].kind == BorderKind::Outer)
            .max_by_key(|&k| (contours[k].points.len(), std::cmp::Reverse(k)))
        else {
            continue;
        };
        let holes = contours
            .iter()
            .filter(|c| c.kind == BorderKind::Hole && c.parent == Some(outer))
            .count();
        let inside = |x: i32, y: i32| {
            x >= 0
                && y >= 0
                && mask
                    .get_pixel_checked(x as u32, y as u32)
                    .is_some_and(|v| v[0] != 0)
        };
        // A border pixel stands for an f×f block; its point goes to the block's outermost
        // source pixel on each side that faces outside, so the outline reaches the box.
        let to_image = |c: i64, lo_out: bool, hi_out: bool, limit: i64| {
            let base = c * fi;
            let v = match (lo_out, hi_out) {
                (true, false) => base,
                (false, true) => base + fi - 1,
                _ => base + (fi - 1) / 2,
            };
            v.clamp(0, limit - 1) as i32
        };
        let (ox, oy) = (i64::from(b[0]), i64::from(b[1]));
        let mut ring = Vec::with_capacity(contours[outer].points.len());
        let mut outline = Vec::with_capacity(contours[outer].points.len());
        for p in &contours[outer].points {
            ring.push(Point::new(p.x + b[0] as i32, p.y + b[1] as i32));
            outline.push(Point::new(
                to_image(
                    ox + i64::from(p.x),
                    !inside(p.x - 1, p.y),
                    !inside(p.x + 1, p.y),
                    wi,
                ),
                to_image(
                    oy + i64::from(p.y),
                    !inside(p.x, p.y - 1),
                    !inside(p.x, p.y + 1),
                    hi,
                ),
            ));
        }
        traced.push(Traced {
            node: i,
            area: measure::contour_area(&ring),
            ring,
            outline,
            holes,
            dominant: dominant_color(&count, &sums),
        });
    }

    let mut regions = Vec::with_capacity(traced.len());
    for (r, t) in traced.iter().enumerate() {
        let node = &seg.nodes[t.node];
        // The kept region with the smallest outline that encloses this one: an ancestor
        // in the hierarchy, or one whose outline holds this one's first border pixel.
        let p0 = t.ring[0];
        let parent = traced
            .iter()
            .enumerate()
            .filter(|&(q, o)| {
                q != r && o.area >= t.area && {
                    let on = &seg.nodes[o.node];
                    seg.contains(o.node, t.node)
                        || (on.bbox[0] <= node.bbox[0]
                            && on.bbox[1] <= node.bbox[1]
                            && on.bbox[2] >= node.bbox[2]
                            && on.bbox[3] >= node.bbox[3]
                            && !seg.contains(t.node, o.node)
                            && inside_ring(&o.ring, f64::from(p0.x), f64::from(p0.y)))
                }
            })
            .min_by(|a, b| a.1.area.total_cmp(&b.1.area).then(a.0.cmp(&b.0)))
            .map(|(q, _)| q);
        let points = &t.outline;
        let m = measure::measure(points);
        // Whole blocks, clipped to the image (u64: f × a coordinate can pass u32).
        let span = |lo: u32, hi: u32, limit: u32| {
            let a = u64::from(lo) * u64::from(f);
            let b = ((u64::from(hi) + 1) * u64::from(f)).min(u64::from(limit));
            (a as u32, b.saturating_sub(a) as u32)
        };
        let (x, w) = span(node.bbox[0], node.bbox[2], width);
        let (y, h) = span(node.bbox[1], node.bbox[3], height);
        let bbox = Rect { x, y, w, h };
        let pixel_count = node.source_pixels.min(image_pixels);
        let n = node.pixels.max(1);
        let mean_color = node.rgb_sum.map(|v| ((v + n / 2) / n).min(255) as u8);
        let features = ShapeFeatures::from_measures(&m);
        let centroid = m.centroid;
        regions.push(Region {
            contour: t.node,
            kind: BorderKind::Outer,
            parent,
            holes: t.holes,
            bbox,
            pixel_count,
            measures: m,
            mean_color,
            dominant_color: t.dominant,
            color_name: color_name(t.dominant),
            shape: Shape::classify(&features),
            size: SizeClass::from_fraction(pixel_count as f64 / image_pixels as f64),
            position: Position::from_centroid(centroid.0, centroid.1, width, height),
            salience: node.score,
        });
    }
    regions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::contours::find_contours;
    use image::{Luma, Rgb};

    const BG: [u8; 3] = [180, 180, 180];
    const RED: [u8; 3] = [220, 30, 30];
    const BLUE: [u8; 3] = [30, 60, 210];
    const GREEN: [u8; 3] = [40, 170, 60];

    /// Red square, blue ring around a hole holding a green dot, and a 2×2 speck.
    fn paint(x: u32, y: u32) -> [u8; 3] {
        let (fx, fy) = (f64::from(x), f64::from(y));
        let d = (fx - 130.0).hypot(fy - 70.0);
        if (20..60).contains(&x) && (20..60).contains(&y) {
            RED
        } else if d <= 5.0 {
            GREEN
        } else if d <= 15.0 {
            BG
        } else if d <= 30.0 {
            BLUE
        } else if (180..182).contains(&x) && (130..132).contains(&y) {
            GREEN
        } else {
            BG
        }
    }

    struct Scene {
        rgb: RgbImage,
        gray: GrayImage,
        mask: GrayImage,
        contours: Vec<Contour>,
    }

    fn scene() -> Scene {
        let rgb = RgbImage::from_fn(200, 150, |x, y| Rgb(paint(x, y)));
        let gray = crate::vision::preprocess::to_gray(&rgb);
        let mask = GrayImage::from_fn(200, 150, |x, y| {
            Luma([if paint(x, y) == BG { 0 } else { 255 }])
        });
        let contours = find_contours(&mask);
        Scene {
            rgb,
            gray,
            mask,
            contours,
        }
    }

    fn count(pred: impl Fn([u8; 3], u32, u32) -> bool) -> u64 {
        let mut n = 0;
        for y in 0..150 {
            for x in 0..200 {
                n += u64::from(pred(paint(x, y), x, y));
            }
        }
        n
    }

    fn all() -> RegionOptions {
        RegionOptions {
            max_regions: 0,
            min_area: MinArea::Pixels(1),
            holes: true,
        }
    }

    fn find<'a>(regions: &'a [Region], color: &str, kind: BorderKind) -> (usize, &'a Region) {
        regions
            .iter()
            .enumerate()
            .find(|(_, r)| r.color_name == color && r.kind == kind)
            .unwrap_or_else(|| panic!("no {color} {kind:?} region in {regions:#?}"))
    }

    #[test]
    fn regions_get_their_own_pixels_colours_and_tree() {
        let s = scene();
        let regions = analyze(&s.rgb, &s.gray, &s.mask, &s.contours, &all());
        assert_eq!(regions.len(), 5);

        let (_, square) = find(&regions, "red", BorderKind::Outer);
        assert_eq!(square.pixel_count, 1600);
        assert_eq!(
            square.bbox,
            Rect {
                x: 20,
                y: 20,
                w: 40,
                h: 40
            }
        );
        assert_eq!(square.measures.area, 39.0 * 39.0);
        assert_eq!(square.measures.centroid, (39.5, 39.5));
        assert_eq!((square.mean_color, square.dominant_color), (RED, RED));
        assert_eq!(square.shape, Shape::Square);
        assert_eq!(square.position, Position::TopLeft);
        assert_eq!((square.parent, square.holes), (None, 0));

        let ring_px = count(|c, _, _| c == BLUE);
        let (ring_i, ring) = find(&regions, "blue", BorderKind::Outer);
        assert_eq!(ring.pixel_count, ring_px);
        assert_eq!((ring.parent, ring.holes), (None, 1));
        assert_eq!(ring.shape, Shape::Circle);
        assert_eq!(ring.mean_color, BLUE);

        // The hole's own pixels: the background inside the ring, minus the dot.
        let hole_px =
            count(|c, x, y| c == BG && (f64::from(x) - 130.0).hypot(f64::from(y) - 70.0) <= 15.0);
        let (hole_i, hole) = find(&regions, "gray", BorderKind::Hole);
        assert_eq!(hole.pixel_count, hole_px);
        assert_eq!(hole.parent, Some(ring_i));
        assert_eq!(hole.mean_color, BG);

        let dots: Vec<&Region> = regions.iter().filter(|r| r.color_name == "green").collect();
        assert_eq!(dots.len(), 2);
        let dot = dots.iter().find(|r| r.pixel_count > 4).unwrap();
        assert_eq!(dot.pixel_count, count(|c, x, _| c == GREEN && x < 150));
        assert_eq!(dot.parent, Some(hole_i));
        let speck = dots.iter().find(|r| r.pixel_count == 4).unwrap();
        assert_eq!(
            (speck.parent, speck.size, speck.position),
            (None, SizeClass::Tiny, Position::BottomRight)
        );

        // Sorted by salience, descending; salience within [0, 1].
        for pair in regions.windows(2) {
            assert!(pair[0].salience >= pair[1].salience);
        }
        assert!(regions.iter().all(|r| (0.0..=1.0).contains(&r.salience)));
    }

    #[test]
    fn without_holes_islands_hang_from_the_ring() {
        let s = scene();
        let opts = RegionOptions {
            holes: false,
            ..all()
        };
        let regions = analyze(&s.rgb, &s.gray, &s.mask, &s.contours, &opts);
        assert_eq!(regions.len(), 4);
        assert!(regions.iter().all(|r| r.kind == BorderKind::Outer));
        let (ring_i, ring) = find(&regions, "blue", BorderKind::Outer);
        assert_eq!(ring.holes, 1);
        let dot = regions
            .iter()
            .find(|r| r.color_name == "green" && r.pixel_count > 4)
            .unwrap();
        assert_eq!(dot.parent, Some(ring_i));
    }

    #[test]
    fn filtering_and_ranking() {
        let s = scene();
        let min5 = RegionOptions {
            min_area: MinArea::Pixels(5),
            ..all()
        };
        let regions = analyze(&s.rgb, &s.gray, &s.mask, &s.contours, &min5);
        assert!(regions.iter().all(|r| r.pixel_count >= 5));
        assert_eq!(regions.len(), 4);
        // 1 % of 30 000 pixels = 300: the square, the ring and the hole (437 px) stay.
        let pct = RegionOptions {
            min_area: MinArea::Percent(1.0),
            ..all()
        };
        let regions = analyze(&s.rgb, &s.gray, &s.mask, &s.contours, &pct);
        assert!(regions.iter().all(|r| r.pixel_count >= 300), "{regions:#?}");
        let top2 = RegionOptions {
            max_regions: 2,
            ..all()
        };
        let everything = analyze(&s.rgb, &s.gray, &s.mask, &s.contours, &all());
        let two = analyze(&s.rgb, &s.gray, &s.mask, &s.contours, &top2);
        assert_eq!(two.len(), 2);
        for (a, b) in two.iter().zip(&everything) {
            assert_eq!(a.contour, b.contour);
        }
        // Deterministic.
        assert_eq!(
            everything,
            analyze(&s.rgb, &s.gray, &s.mask, &s.contours, &all())
        );
    }

    #[test]
    fn salience_follows_the_documented_formula() {
        let s = scene();
        let regions = analyze(&s.rgb, &s.gray, &s.mask, &s.contours, &all());
        let (_, square) = find(&regions, "red", BorderKind::Outer);
        let n = 200.0 * 150.0;
        let gray = |c: [u8; 3]| {
            f64::from(
                crate::vision::preprocess::to_gray(&RgbImage::from_pixel(1, 1, Rgb(c)))
                    .get_pixel(0, 0)
                    .0[0],
            )
        };
        let total: f64 = s.gray.as_raw().iter().map(|&v| f64::from(v)).sum();
        let inside = 1600.0 * gray(RED);
        let contrast = (gray(RED) - (total - inside) / (n - 1600.0)).abs() / 255.0;
        let d = (39.5f64 - 99.5).hypot(39.5 - 74.5);
        let centrality = 1.0 - d / 100f64.hypot(75.0);
        let expected = 0.5 * (1600.0 / n).sqrt() + 0.3 * contrast + 0.2 * centrality;
        assert!((square.salience - expected).abs() < 1e-12);
    }

    #[test]
    fn dominant_colour_is_the_fullest_bin() {
        // 60 % pure red, 40 % dark red in one square component.
        let rgb = RgbImage::from_fn(20, 20, |x, y| {
            if !(5..15).contains(&x) || !(5..15).contains(&y) {
                Rgb([0, 0, 0])
            } else if x < 11 {
                Rgb([250, 10, 10])
            } else {
                Rgb([90, 10, 10])
            }
        });
        let gray = crate::vision::preprocess::to_gray(&rgb);
        let mask = GrayImage::from_fn(20, 20, |x, y| {
            Luma([if (5..15).contains(&x) && (5..15).contains(&y) {
                255
            } else {
                0
            }])
        });
        let contours = find_contours(&mask);
        let r = analyze(&rgb, &gray, &mask, &contours, &all());
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].dominant_color, [250, 10, 10]);
        assert_eq!(r[0].mean_color, [186, 10, 10]);
        assert_eq!(r[0].color_name, "red");
        assert_eq!(r[0].size, SizeClass::Large); // 100 of 400 pixels
    }

    #[test]
    fn large_regions_sample_the_histogram_but_average_every_pixel() {
        // 400×300 = 120 000 pixels, far above the sample size; stripes of 3 colours
        // in proportion 5:3:2 with a period dividing the width, so a fixed sampling
        // step could alias onto one colour; the sample must find the majority.
        let colour = |x: u32| match x % 10 {
            0..=4 => [200u8, 40, 40],
            5..=7 => [40, 40, 200],
            _ => [40, 200, 40],
        };
        let rgb = RgbImage::from_fn(400, 300, |x, _| Rgb(colour(x)));
        let gray = crate::vision::preprocess::to_gray(&rgb);
        let mask = GrayImage::from_pixel(400, 300, Luma([255]));
        let r = analyze(&rgb, &gray, &mask, &find_contours(&mask), &all());
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].dominant_color, [200, 40, 40]);
        // Exact mean over all pixels: (5·200 + 3·40 + 2·40) / 10 = 120 for red.
        assert_eq!(r[0].mean_color, [120, 72, 88]);
    }

    #[test]
    fn channel_sums_match_a_plain_loop() {
        let px: Vec<u8> = (0..3 * 1000).map(|i| (i * 37 % 251) as u8).collect();
        for len in [0, 3, 45, 48, 51, 3 * 1000] {
            let mut expected = [0u64; 3];
            for (j, &b) in px[..len].iter().enumerate() {
                expected[j % 3] += u64::from(b);
            }
            assert_eq!(channel_sums(&px[..len]), expected);
        }
    }

    #[test]
    fn components_touching_the_edge_and_full_images() {
        // Foreground along the left edge and a full-image foreground.
        let mask = GrayImage::from_fn(30, 20, |x, _| Luma([if x < 10 { 255 } else { 0 }]));
        let rgb = RgbImage::from_pixel(30, 20, Rgb([10, 10, 200]));
        let gray = crate::vision::preprocess::to_gray(&rgb);
        let r = analyze(&rgb, &gray, &mask, &find_contours(&mask), &all());
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].pixel_count, 200);
        assert_eq!(
            r[0].bbox,
            Rect {
                x: 0,
                y: 0,
                w: 10,
                h: 20
            }
        );
        let full = GrayImage::from_pixel(30, 20, Luma([255]));
        let r = analyze(&rgb, &gray, &full, &find_contours(&full), &all());
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].pixel_count, r[0].size), (600, SizeClass::Huge));
        let empty = GrayImage::new(30, 20);
        assert!(analyze(&rgb, &gray, &empty, &find_contours(&empty), &all()).is_empty());
    }

    #[test]
    fn inconsistent_inputs_are_reported() {
        let s = scene();
        let small = GrayImage::new(10, 10);
        assert!(matches!(
            try_analyze(&s.rgb, &s.gray, &small, &s.contours, &all()),
            Err(AnalyzeError::SizeMismatch { .. })
        ));
        assert!(analyze(&s.rgb, &s.gray, &small, &s.contours, &all()).is_empty());
        let outside = vec![Contour {
            points: vec![Point::new(5, 5), Point::new(500, 5)],
            kind: BorderKind::Outer,
            parent: None,
        }];
        let err = try_analyze(&s.rgb, &s.gray, &s.mask, &outside, &all()).unwrap_err();
        assert!(err.to_string().contains("(500, 5)"), "{err}");
        let on_background = vec![Contour {
            points: vec![Point::new(0, 0)],
            kind: BorderKind::Outer,
            parent: None,
        }];
        assert!(matches!(
            try_analyze(&s.rgb, &s.gray, &s.mask, &on_background, &all()),
            Err(AnalyzeError::NotOnMask { contour: 0, .. })
        ));
        // A parent cycle and a dangling parent index must not hang or panic.
        let mut cyclic = s.contours.clone();
        let n = cyclic.len();
        cyclic[0].parent = Some(n - 1);
        cyclic[n - 1].parent = Some(0);
        cyclic[1].parent = Some(10_000);
        let r = analyze(&s.rgb, &s.gray, &s.mask, &cyclic, &all());
        assert_eq!(r.len(), 5);
    }

    #[test]
    fn run_end_finds_transitions() {
        let row = [
            0u8, 0, 0, 7, 7, 7, 7, 7, 7, 7, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3,
        ];
        assert_eq!(run_end(&row, 0, false), 3);
        assert_eq!(run_end(&row, 3, true), 12);
        assert_eq!(run_end(&row, 12, false), 21);
        assert_eq!(run_end(&row, 21, true), 22);
        assert_eq!(run_end(&row, 22, true), 22);
        // A 0x80 byte must not be mistaken for zero by the word trick.
        let tricky = [0x80u8, 0x01, 0xff, 0x80, 0x80, 0x01, 0x01, 0x80, 0x80, 0];
        assert_eq!(run_end(&tricky, 0, true), 9);
    }
}
