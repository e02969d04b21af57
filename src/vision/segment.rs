//! Colour segmentation, the default way regions are found: it owns the working image,
//! the graph segmentation, the hierarchy of merged segments and the choice of which of
//! them are objects.
//!
//! A global threshold splits a photograph by brightness, so a background in two tones
//! swallows whatever object matches one of them. Here regions come from colour instead:
//!
//! 1. **Working image.** Images over [`SegmentParams::work_pixels`] are averaged down by
//!    an integer factor (box filter in linear light), then converted to CIE Lab and
//!    smoothed by a Gaussian of `sigma`.
//! 2. **Graph segmentation** (Felzenszwalb & Huttenlocher 2004): pixels are nodes,
//!    8-neighbours are joined by edges weighted by their Lab distance (ΔE), and edges
//!    are taken in increasing weight; two components merge when the edge is no heavier
//!    than either one's internal difference plus `k / size`. Components smaller than
//!    `min_size` are then merged into their nearest neighbour. Edges are bucket-sorted
//!    on a 1/8 ΔE grid, so the whole step is linear in the pixels.
//! 3. **Hierarchy** (the grouping of Uijlings et al. 2013, "Selective Search"): adjacent
//!    segments are merged greedily, most similar pair first (colour histogram, size,
//!    how well they fill their joint box, and how weak the edge between them is), down
//!    to one region. Every segment and every merge is a candidate, so an object made of
//!    several colours is still one candidate.
//! 4. **Objects first.** Each candidate gets an object score, a logistic model of its
//!    boundary contrast, colour contrast with its neighbours, size, width, frame contact
//!    and its parent in the hierarchy, fitted on the region benchmark's tuning part. The
//!    frame's background (touching three or more sides, or most of the image) and edge
//!    slivers score 0 and are never reported. [`select`] takes candidates best first,
//!    parts of a taken region after everything else, and drops near-duplicates of a
//!    taken region (nested with it and covering [`NEAR_DUPLICATE_IOU`] of its pixels or
//!    [`NESTED_BOX_IOU`] of its box, or sharing its box).
//!
//! Inside a hierarchy two candidates are either nested or disjoint, so every mask IoU
//! the selection needs is a ratio of pixel counts: nothing is rasterised until the kept
//! regions are traced.

use image::RgbImage;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

/// Two candidates, one inside the other, whose pixel counts are closer than this ratio
/// are the same region for the selection: the lower-scored one is skipped (see
/// [`select`] for the other duplicate rules).
pub const NEAR_DUPLICATE_IOU: f64 = 0.7;

/// The parameters of [`segment`]; the defaults were chosen on the tuning part of the
/// region benchmark (`tests/regions/`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentParams {
    /// Graph segmentation scale `k` for a working image of 100 000 pixels; scaled with
    /// the working image's pixel count, so the segments of an object do not depend on
    /// the image's resolution. Larger gives larger segments.
    pub scale: f32,
    /// Gaussian sigma on the working image, in working pixels; 0 disables it.
    pub sigma: f32,
    /// Smallest segment, as a fraction of the working image's pixels.
    pub min_size: f64,
    /// The working image has at most about this many pixels.
    pub work_pixels: u64,
}

impl Default for SegmentParams {
    fn default() -> Self {
        Self {
            scale: 50.0,
            sigma: 0.5,
            min_size: 0.00025,
            work_pixels: 500_000,
        }
    }
}

/// One node of the hierarchy: a segment (the first [`Segmentation::leaves`] nodes) or
/// the merge of two earlier nodes.
#[derive(Debug, Clone)]
pub struct Node {
    /// Pixels of the working image in this node.
    pub pixels: u64,
    /// Pixels of the source image its working pixels stand for (blocks at the right and
    /// bottom edges may be partial).
    pub source_pixels: u64,
    /// Bounding box in working pixels: min x, min y, max x, max y (inclusive).
    pub bbox: [u32; 4],
    /// Sum of the working image's sRGB values over the node's pixels.
    pub rgb_sum: [u64; 3],
    /// Sum of the working image's Lab values over the node's pixels.
    pub lab_sum: [f64; 3],
    /// Mean Lab distance between this node's mean colour and each neighbour's, weighted
    /// by the length of their shared boundary, when the node was formed.
    pub neighbour_contrast: f64,
    /// The two nodes merged into this one; `None` for a segment.
    pub children: Option<[u32; 2]>,
    /// The node this one was merged into; `None` for the root.
    pub parent: Option<u32>,
    /// Working-image pixels of the node that lie on the image frame.
    pub frame_pixels: u64,
    /// 4-neighbour pixel pairs with one pixel inside and one outside the node.
    pub boundary_len: u64,
    /// Sum of the Lab distances across those pairs.
    pub boundary_weight: f64,
    /// Object score in [0, 1] (see the module notes); 0 for the root.
    pub score: f64,
    /// First leaf position of the subtree in depth-first order: the subtree's leaves are
    /// `order[first..first + count]` in [`Segmentation::leaf_order`].
    first: u32,
    count: u32,
}

/// The result of [`segment`]: the segment of every working pixel and the hierarchy.
#[derive(Debug, Clone)]
pub struct Segmentation {
    /// Working image width.
    pub width: u32,
    /// Working image height.
    pub height: u32,
    /// Source pixels per working pixel along each axis.
    pub factor: u32,
    /// Leaf segment of each working pixel, row by row.
    pub labels: Vec<u32>,
    /// Number of segments; nodes `0..leaves` are the segments.
    pub leaves: usize,
    /// Segments and merges; the last node is the root (the whole image).
    pub nodes: Vec<Node>,
    /// Depth-first position of each leaf (see [`Node`]).
    leaf_pos: Vec<u32>,
    /// Working image in sRGB, row by row.
    pub rgb: Vec<[u8; 3]>,
}

impl Segmentation {
    /// Whether `inner` is `outer` or lies inside it in the hierarchy.
    ///
    /// # Panics
    /// When either node is out of range.
    pub fn contains(&self, outer: usize, inner: usize) -> bool {
        let (o, i) = (&self.nodes[outer], &self.nodes[inner]);
        o.first <= i.first && i.first + i.count <= o.first + o.count
    }

    /// Whether working pixel `p` (row-major index) belongs to `node`.
    ///
    /// # Panics
    /// When `node` or `p` is out of range.
    pub fn pixel_in(&self, node: usize, p: usize) -> bool {
        self.leaf_range(node)
            .contains(&self.leaf_pos[self.labels[p] as usize])
    }

    /// The depth-first positions of `node`'s segments: a pixel belongs to `node` when its
    /// entry in [`Segmentation::pixel_positions`] lies in this range.
    ///
    /// # Panics
    /// When `node` is out of range.
    pub fn leaf_range(&self, node: usize) -> std::ops::Range<u32> {
        let n = &self.nodes[node];
        n.first..n.first + n.count
    }

    /// The depth-first position of each working pixel's segment (see
    /// [`Segmentation::leaf_range`]), row by row: one table for testing many nodes.
    pub fn pixel_positions(&self) -> Vec<u32> {
        self.labels
            .iter()
            .map(|&l| self.leaf_pos[l as usize])
            .collect()
    }
}

// ---------------------------------------------------------------------------------
// Working image.

fn srgb_to_linear(v: u8) -> f32 {
    let c = f32::from(v) / 255.0;
    if c <= 0.040_45 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(c: f32) -> u8 {
    let c = c.clamp(0.0, 1.0);
    let v = if c <= 0.003_130_8 {
        12.92 * c
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    };
    (v * 255.0 + 0.5) as u8
}

fn lab_f(t: f32) -> f32 {
    if t > 0.008_856 {
        t.cbrt()
    } else {
        7.787 * t + 16.0 / 116.0
    }
}

/// CIE Lab (D65) of a linear-light RGB triple.
fn linear_to_lab(r: f32, g: f32, b: f32) -> [f32; 3] {
    let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
    let (fx, fy, fz) = (lab_f(x), lab_f(y), lab_f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// The working image: sRGB and Lab per working pixel, and the reduction factor.
struct Work {
    width: usize,
    height: usize,
    factor: u32,
    rgb: Vec<[u8; 3]>,
    lab: Vec<[f32; 3]>,
}

fn working_image(src: &RgbImage, work_pixels: u64) -> Work {
    let (sw, sh) = (src.width() as usize, src.height() as usize);
    let total = (sw as u64) * (sh as u64);
    let mut factor = 1u32;
    while total > work_pixels.max(1) * u64::from(factor) * u64::from(factor) {
        factor += 1;
    }
    let f = factor as usize;
    let (w, h) = (sw.div_ceil(f), sh.div_ceil(f));
    let lut: Vec<f32> = (0..=255u8).map(srgb_to_linear).collect();
    let raw = src.as_raw();
    let mut rgb = Vec::with_capacity(w * h);
    let mut lab = Vec::with_capacity(w * h);
    if f == 1 {
        for p in raw.chunks_exact(3) {
            rgb.push([p[0], p[1], p[2]]);
            lab.push(linear_to_lab(
                lut[p[0] as usize],
                lut[p[1] as usize],
                lut[p[2] as usize],
            ));
        }
    } else {
        // Box average in linear light, block row by block row.
        let mut acc = vec![[0f32; 3]; w];
        let mut cnt = vec![0u32; w];
        for by in 0..h {
            acc.fill([0.0; 3]);
            cnt.fill(0);
            for y in by * f..((by + 1) * f).min(sh) {
                let row = &raw[y * sw * 3..(y + 1) * sw * 3];
                for (x, p) in row.chunks_exact(3).enumerate() {
                    let a = &mut acc[x / f];
                    a[0] += lut[p[0] as usize];
                    a[1] += lut[p[1] as usize];
                    a[2] += lut[p[2] as usize];
                    cnt[x / f] += 1;
                }
            }
            for (a, &n) in acc.iter().zip(&cnt) {
                let n = n.max(1) as f32;
                let (r, g, b) = (a[0] / n, a[1] / n, a[2] / n);
                rgb.push([linear_to_srgb(r), linear_to_srgb(g), linear_to_srgb(b)]);
                lab.push(linear_to_lab(r, g, b));
            }
        }
    }
    Work {
        width: w,
        height: h,
        factor,
        rgb,
        lab,
    }
}

/// Separable Gaussian blur of the Lab planes, edges clamped.
fn smooth(lab: &mut [[f32; 3]], w: usize, h: usize, sigma: f32) {
    if sigma.is_nan() || sigma <= 0.0 || w == 0 || h == 0 {
        return;
    }
    let r = (sigma * 3.0).ceil().max(1.0) as isize;
    let mut k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    let mut line = vec![[0f32; 3]; w];
    for row in lab.chunks_exact_mut(w) {
        for (x, out) in line.iter_mut().enumerate() {
            let mut a = [0f32; 3];
            for (j, &kv) in k.iter().enumerate() {
                let xx = (x as isize + j as isize - r).clamp(0, w as isize - 1) as usize;
                for c in 0..3 {
                    a[c] += kv * row[xx][c];
                }
            }
            *out = a;
        }
        row.copy_from_slice(&line);
    }
    // Row by row: each output row is a weighted sum of whole input rows.
    let src = lab.to_vec();
    for (y, out_row) in lab.chunks_exact_mut(w).enumerate() {
        out_row.fill([0.0; 3]);
        for (j, &kv) in k.iter().enumerate() {
            let yy = (y as isize + j as isize - r).clamp(0, h as isize - 1) as usize;
            for (o, p) in out_row.iter_mut().zip(&src[yy * w..(yy + 1) * w]) {
                o[0] += kv * p[0];
                o[1] += kv * p[1];
                o[2] += kv * p[2];
            }
        }
    }
}

fn dist(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    let (d0, d1, d2) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    (d0 * d0 + d1 * d1 + d2 * d2).sqrt()
}

// ---------------------------------------------------------------------------------
// Graph segmentation.

/// Edge weights are bucketed on this grid (buckets per ΔE unit).
const BUCKETS_PER_DE: f32 = 8.0;
/// Heavier edges share the last bucket; they never join components of a sane scale.
const MAX_BUCKET: usize = 8 * 256;

struct Forest {
    parent: Vec<u32>,
    size: Vec<u32>,
    /// Internal difference plus `k / size`, the merge threshold of each root.
    thresh: Vec<f32>,
}

impl Forest {
    fn find(&mut self, mut i: u32) -> u32 {
        while self.parent[i as usize] != i {
            let p = self.parent[i as usize];
            self.parent[i as usize] = self.parent[p as usize];
            i = p;
        }
        i
    }
    fn union(&mut self, a: u32, b: u32) -> u32 {
        let (a, b) = if self.size[a as usize] >= self.size[b as usize] {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[b as usize] = a;
        self.size[a as usize] += self.size[b as usize];
        a
    }
}

/// Felzenszwalb–Huttenlocher on the working image; returns a compact label per pixel
/// (numbered in raster order of each segment's first pixel) and the segment count.
fn graph_segment(lab: &[[f32; 3]], w: usize, h: usize, k: f32, min_size: u32) -> (Vec<u32>, usize) {
    let n = w * h;
    // Edges right, down, down-right and down-left of each pixel, bucket-sorted.
    let mut edges: Vec<(u32, u32, u16)> = Vec::with_capacity(n * 4);
    let mut push = |a: usize, b: usize| {
        let wgt = dist(&lab[a], &lab[b]);
        let q = ((wgt * BUCKETS_PER_DE) as usize).min(MAX_BUCKET) as u16;
        edges.push((a as u32, b as u32, q));
    };
    for y in 0..h {
        for x in 0..w {
            let p = y * w + x;
            if x + 1 < w {
                push(p, p + 1);
            }
            if y + 1 < h {
                push(p, p + w);
                if x + 1 < w {
                    push(p, p + w + 1);
                }
                if x > 0 {
                    push(p, p + w - 1);
                }
            }
        }
    }
    let mut start = vec![0usize; MAX_BUCKET + 2];
    for e in &edges {
        start[e.2 as usize + 1] += 1;
    }
    for i in 0..=MAX_BUCKET {
        start[i + 1] += start[i];
    }
    let mut sorted = vec![(0u32, 0u32, 0u16); edges.len()];
    for e in &edges {
        let s = &mut start[e.2 as usize];
        sorted[*s] = *e;
        *s += 1;
    }
    drop(edges);

    let mut f = Forest {
        parent: (0..n as u32).collect(),
        size: vec![1; n],
        thresh: vec![k; n],
    };
    for &(a, b, q) in &sorted {
        let (ra, rb) = (f.find(a), f.find(b));
        if ra == rb {
            continue;
        }
        let wgt = f32::from(q) / BUCKETS_PER_DE;
        if wgt <= f.thresh[ra as usize] && wgt <= f.thresh[rb as usize] {
            let r = f.union(ra, rb);
            f.thresh[r as usize] = wgt + k / f.size[r as usize] as f32;
        }
    }
    for &(a, b, _) in &sorted {
        let (ra, rb) = (f.find(a), f.find(b));
        if ra != rb && (f.size[ra as usize] < min_size || f.size[rb as usize] < min_size) {
            f.union(ra, rb);
        }
    }
    let mut id = vec![u32::MAX; n];
    let mut labels = vec![0u32; n];
    let mut next = 0u32;
    for (p, label) in labels.iter_mut().enumerate() {
        let r = f.find(p as u32) as usize;
        if id[r] == u32::MAX {
            id[r] = next;
            next += 1;
        }
        *label = id[r];
    }
    (labels, next as usize)
}

// ---------------------------------------------------------------------------------
// Hierarchy.

/// Bins per Lab channel of the colour histograms the grouping compares.
const HIST_BINS: usize = 12;
const HIST_LEN: usize = 3 * HIST_BINS;

fn hist_bin(c: usize, v: f32) -> usize {
    let (lo, hi) = if c == 0 {
        (0.0, 100.0)
    } else {
        (-100.0, 100.0)
    };
    let t = ((v - lo) / (hi - lo)).clamp(0.0, 0.999_999);
    c * HIST_BINS + (t * HIST_BINS as f32) as usize
}

/// Shared boundary between two nodes: pixel pairs and the sum of their ΔE.
#[derive(Debug, Clone, Copy, Default)]
struct Shared {
    len: u64,
    weight: f64,
}

#[derive(PartialEq)]
struct Pair {
    sim: f64,
    a: u32,
    b: u32,
}
impl Eq for Pair {}
impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pair {
    fn cmp(&self, o: &Self) -> Ordering {
        self.sim
            .total_cmp(&o.sim)
            .then(o.a.cmp(&self.a))
            .then(o.b.cmp(&self.b))
    }
}

/// Similarity of two adjacent nodes for the greedy grouping, in [0, 4].
fn similarity(
    a: &Node,
    b: &Node,
    ha: &[f32],
    hb: &[f32],
    shared: Shared,
    image_pixels: f64,
) -> f64 {
    let colour: f32 = ha.iter().zip(hb).map(|(x, y)| x.min(*y)).sum::<f32>() / 3.0;
    let size = 1.0 - (a.pixels + b.pixels) as f64 / image_pixels;
    let bx0 = a.bbox[0].min(b.bbox[0]);
    let by0 = a.bbox[1].min(b.bbox[1]);
    let bx1 = a.bbox[2].max(b.bbox[2]);
    let by1 = a.bbox[3].max(b.bbox[3]);
    let boxed = f64::from(bx1 - bx0 + 1) * f64::from(by1 - by0 + 1);
    let fill = 1.0 - (boxed - (a.pixels + b.pixels) as f64) / image_pixels;
    let edge = if shared.len > 0 {
        (-(shared.weight / shared.len as f64) / 10.0).exp()
    } else {
        0.0
    };
    f64::from(colour) + size + fill + edge
}

fn mean_lab(n: &Node) -> [f64; 3] {
    let p = n.pixels.max(1) as f64;
    n.lab_sum.map(|v| v / p)
}

/// See [`Node::neighbour_contrast`].
fn neighbour_contrast(nodes: &[Node], i: usize, adj: &BTreeMap<u32, Shared>) -> f64 {
    let me = mean_lab(&nodes[i]);
    let (mut sum, mut len) = (0.0, 0u64);
    for (&j, s) in adj {
        let o = mean_lab(&nodes[j as usize]);
        let d = ((me[0] - o[0]).powi(2) + (me[1] - o[1]).powi(2) + (me[2] - o[2]).powi(2)).sqrt();
        sum += d * s.len as f64;
        len += s.len;
    }
    if len == 0 {
        0.0
    } else {
        sum / len as f64
    }
}

/// Runs the whole segmentation of `rgb` (see the module notes).
pub fn segment(rgb: &RgbImage, params: &SegmentParams) -> Segmentation {
    let mut work = working_image(rgb, params.work_pixels);
    let (w, h) = (work.width, work.height);
    let n = w * h;
    let mut unblurred = None;
    if params.sigma > 0.0 {
        unblurred = Some(work.lab.clone());
        smooth(&mut work.lab, w, h, params.sigma);
    }
    let k = params.scale * (n as f32 / 100_000.0).max(0.05);
    let min_size = ((params.min_size * n as f64).round() as u32).max(1);
    let (labels, leaves) = graph_segment(&work.lab, w, h, k, min_size);
    // Boundary contrast is measured on the unsmoothed image: smoothing spreads an edge
    // over several pixels and would halve it.
    let lab = unblurred.as_ref().unwrap_or(&work.lab);

    let image_pixels = n.max(1) as f64;
    // Source pixels per working column and row: whole blocks but the last.
    let block = |i: usize, len: u32| {
        let f = u64::from(work.factor);
        ((i as u64 + 1) * f).min(u64::from(len)) - (i as u64 * f)
    };
    let block_w: Vec<u64> = (0..w).map(|x| block(x, rgb.width())).collect();
    let block_h: Vec<u64> = (0..h).map(|y| block(y, rgb.height())).collect();
    let mut nodes: Vec<Node> = (0..leaves)
        .map(|_| Node {
            pixels: 0,
            source_pixels: 0,
            bbox: [u32::MAX, u32::MAX, 0, 0],
            rgb_sum: [0; 3],
            lab_sum: [0.0; 3],
            neighbour_contrast: 0.0,
            children: None,
            parent: None,
            frame_pixels: 0,
            boundary_len: 0,
            boundary_weight: 0.0,
            score: 0.0,
            first: 0,
            count: 1,
        })
        .collect();
    let mut hists = vec![0f32; leaves * HIST_LEN];
    let mut adj: Vec<BTreeMap<u32, Shared>> = vec![BTreeMap::new(); leaves];
    for (y, &bh) in block_h.iter().enumerate() {
        for (x, &bw) in block_w.iter().enumerate() {
            let p = y * w + x;
            let l = labels[p] as usize;
            let node = &mut nodes[l];
            node.pixels += 1;
            node.source_pixels += bw * bh;
            node.bbox[0] = node.bbox[0].min(x as u32);
            node.bbox[1] = node.bbox[1].min(y as u32);
            node.bbox[2] = node.bbox[2].max(x as u32);
            node.bbox[3] = node.bbox[3].max(y as u32);
            for c in 0..3 {
                node.rgb_sum[c] += u64::from(work.rgb[p][c]);
                node.lab_sum[c] += f64::from(lab[p][c]);
                hists[l * HIST_LEN + hist_bin(c, lab[p][c])] += 1.0;
            }
            if x == 0 || y == 0 || x + 1 == w || y + 1 == h {
                node.frame_pixels += 1;
            }
            let mut across = |q: usize| {
                let m = labels[q] as usize;
                if m != l {
                    let d = f64::from(dist(&lab[p], &lab[q]));
                    for (u, v) in [(l, m), (m, l)] {
                        let s = adj[u].entry(v as u32).or_default();
                        s.len += 1;
                        s.weight += d;
                        nodes[u].boundary_len += 1;
                        nodes[u].boundary_weight += d;
                    }
                }
            };
            if x + 1 < w {
                across(p + 1);
            }
            if y + 1 < h {
                across(p + w);
            }
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        let hsum = node.pixels.max(1) as f32;
        hists[i * HIST_LEN..(i + 1) * HIST_LEN]
            .iter_mut()
            .for_each(|v| *v /= hsum);
    }

    for i in 0..leaves {
        nodes[i].neighbour_contrast = neighbour_contrast(&nodes, i, &adj[i]);
    }

    // Greedy grouping with a lazily cleaned heap: a pair is stale once either side has
    // been merged.
    let mut heap = BinaryHeap::new();
    for (a, m) in adj.iter().enumerate() {
        for (&b, &s) in m.range((a as u32 + 1)..) {
            let sim = similarity(
                &nodes[a],
                &nodes[b as usize],
                &hists[a * HIST_LEN..(a + 1) * HIST_LEN],
                &hists[b as usize * HIST_LEN..(b as usize + 1) * HIST_LEN],
                s,
                image_pixels,
            );
            heap.push(Pair {
                sim,
                a: a as u32,
                b,
            });
        }
    }
    while let Some(Pair { a, b, .. }) = heap.pop() {
        let (ai, bi) = (a as usize, b as usize);
        if nodes[ai].parent.is_some() || nodes[bi].parent.is_some() {
            continue;
        }
        let id = nodes.len() as u32;
        let (na, nb) = (&nodes[ai], &nodes[bi]);
        let shared = adj[ai].get(&b).copied().unwrap_or_default();
        let merged = Node {
            pixels: na.pixels + nb.pixels,
            source_pixels: na.source_pixels + nb.source_pixels,
            bbox: [
                na.bbox[0].min(nb.bbox[0]),
                na.bbox[1].min(nb.bbox[1]),
                na.bbox[2].max(nb.bbox[2]),
                na.bbox[3].max(nb.bbox[3]),
            ],
            rgb_sum: [
                na.rgb_sum[0] + nb.rgb_sum[0],
                na.rgb_sum[1] + nb.rgb_sum[1],
                na.rgb_sum[2] + nb.rgb_sum[2],
            ],
            lab_sum: [
                na.lab_sum[0] + nb.lab_sum[0],
                na.lab_sum[1] + nb.lab_sum[1],
                na.lab_sum[2] + nb.lab_sum[2],
            ],
            neighbour_contrast: 0.0,
            children: Some([a, b]),
            parent: None,
            frame_pixels: na.frame_pixels + nb.frame_pixels,
            boundary_len: na.boundary_len + nb.boundary_len - 2 * shared.len,
            boundary_weight: (na.boundary_weight + nb.boundary_weight - 2.0 * shared.weight)
                .max(0.0),
            score: 0.0,
            first: 0,
            count: 0,
        };
        let (pa, pb) = (na.pixels as f32, nb.pixels as f32);
        let hist: Vec<f32> = (0..HIST_LEN)
            .map(|i| (hists[ai * HIST_LEN + i] * pa + hists[bi * HIST_LEN + i] * pb) / (pa + pb))
            .collect();
        hists.extend_from_slice(&hist);
        nodes[ai].parent = Some(id);
        nodes[bi].parent = Some(id);
        nodes.push(merged);
        let mut m = std::mem::take(&mut adj[ai]);
        for (k2, s) in std::mem::take(&mut adj[bi]) {
            let e = m.entry(k2).or_default();
            e.len += s.len;
            e.weight += s.weight;
        }
        m.remove(&a);
        m.remove(&b);
        let nc = neighbour_contrast(&nodes, id as usize, &m);
        nodes[id as usize].neighbour_contrast = nc;
        for (&c, &s) in &m {
            let ci = c as usize;
            adj[ci].remove(&a);
            adj[ci].remove(&b);
            adj[ci].insert(id, s);
            let sim = similarity(
                &nodes[id as usize],
                &nodes[ci],
                &hists[id as usize * HIST_LEN..(id as usize + 1) * HIST_LEN],
                &hists[ci * HIST_LEN..(ci + 1) * HIST_LEN],
                s,
                image_pixels,
            );
            heap.push(Pair {
                sim,
                a: c.min(id),
                b: c.max(id),
            });
        }
        adj.push(m);
    }

    // Depth-first leaf order from every root (one, unless the image is empty).
    let mut leaf_pos = vec![0u32; leaves];
    let mut next = 0u32;
    let roots: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].parent.is_none())
        .collect();
    for r in roots {
        let mut stack = vec![(r, false)];
        while let Some((i, done)) = stack.pop() {
            match (nodes[i].children, done) {
                (None, _) => {
                    leaf_pos[i] = next;
                    nodes[i].first = next;
                    nodes[i].count = 1;
                    next += 1;
                }
                (Some([a, b]), false) => {
                    nodes[i].first = next;
                    stack.push((i, true));
                    stack.push((b as usize, false));
                    stack.push((a as usize, false));
                }
                (Some(_), true) => nodes[i].count = next - nodes[i].first,
            }
        }
    }

    let root = nodes.len().saturating_sub(1);
    for i in 0..nodes.len() {
        nodes[i].score = if i == root && nodes[i].parent.is_none() {
            0.0
        } else {
            let parent = nodes[i].parent.map(|p| &nodes[p as usize]);
            object_score(&nodes[i], parent, w as u32, h as u32)
        };
    }
    Segmentation {
        width: w as u32,
        height: h as u32,
        factor: work.factor,
        labels,
        leaves,
        nodes,
        leaf_pos,
        rgb: work.rgb,
    }
}

/// Sides of the image frame a box touches.
fn sides_touched(b: &[u32; 4], w: u32, h: u32) -> u32 {
    u32::from(b[0] == 0)
        + u32::from(b[1] == 0)
        + u32::from(b[2] + 1 >= w)
        + u32::from(b[3] + 1 >= h)
}

/// Whether a node is the frame's background rather than something in it; `w` and `h`
/// are the working image's width and height.
pub fn is_background(node: &Node, w: u32, h: u32) -> bool {
    let area = node.pixels as f64 / (f64::from(w) * f64::from(h)).max(1.0);
    sides_touched(&node.bbox, w, h) >= 3 || area > 0.75
}

/// Regions narrower than this on average, in working pixels, are the blended pixels
/// along an edge: never reported.
const MIN_WIDTH: f64 = 2.0;

/// Two candidates whose boxes overlap more than this are one object and its rim, or
/// the same object with and without its contents: only the better one is kept, so no
/// two regions share an anchor.
const SAME_BOX_IOU: f64 = 0.9;

/// A candidate inside another whose box overlaps the other's more than this is the
/// same object with or without a piece: one anchor per object.
pub const NESTED_BOX_IOU: f64 = 0.5;

fn box_iou(a: &[u32; 4], b: &[u32; 4]) -> f64 {
    let ix = (a[2].min(b[2]) + 1).saturating_sub(a[0].max(b[0]));
    let iy = (a[3].min(b[3]) + 1).saturating_sub(a[1].max(b[1]));
    let inter = f64::from(ix) * f64::from(iy);
    let area = |r: &[u32; 4]| f64::from(r[2] - r[0] + 1) * f64::from(r[3] - r[1] + 1);
    inter / (area(a) + area(b) - inter)
}

/// The object score of a node (see the module notes), in (0, 1); 0 for the background
/// and for edge slivers.
///
/// A logistic model, fitted on the tuning part of the region benchmark (a node is
/// positive when its box overlaps an object's at IoU ≥ 0.5), then refined by a random
/// search for the precision of the top K after [`select`]. Its features:
/// the log area fraction and its square (mid sizes win), the log boundary contrast
/// (mean ΔE across the boundary) and log colour contrast with the neighbours, the
/// share of the boundary that is the image frame, the log mean width, the contrast
/// gained over the parent and the share of the parent's pixels, whether the node is a
/// segment or a merge, and whether it touches two sides of the frame.
fn object_score(node: &Node, parent: Option<&Node>, w: u32, h: u32) -> f64 {
    if is_background(node, w, h) || node.pixels == 0 {
        return 0.0;
    }
    // Thin regions (the blended pixels along an edge, a line) are edges, not objects:
    // mean width = 2·pixels / boundary length.
    let width = 2.0 * node.pixels as f64 / (node.boundary_len + node.frame_pixels).max(1) as f64;
    if width < MIN_WIDTH {
        return 0.0;
    }
    let contrast = |n: &Node| (n.boundary_weight / n.boundary_len.max(1) as f64).ln_1p();
    let la = (node.pixels as f64 / (f64::from(w) * f64::from(h)).max(1.0)).ln();
    let c = contrast(node);
    let frame_share =
        node.frame_pixels as f64 / (node.frame_pixels + node.boundary_len).max(1) as f64;
    let (gain, share) = parent.map_or((0.0, 0.0), |p| {
        (c - contrast(p), node.pixels as f64 / p.pixels.max(1) as f64)
    });
    let z = -6.33 + 0.0088 * la - 0.0803 * la * la
        + 0.619 * c
        + 1.777 * node.neighbour_contrast.ln_1p()
        - 30.58 * frame_share
        + 0.0949 * width.ln()
        + 0.4956 * gain
        + 1.0736 * share
        - 0.6718 * f64::from(u8::from(node.children.is_none()))
        - 0.1185 * f64::from(u8::from(sides_touched(&node.bbox, w, h) == 2));
    1.0 / (1.0 + (-z).exp())
}

/// The nodes to report, best first: not the background, at least `min_pixels` working
/// pixels, no near-duplicate of a better one; at most `max` (0: all).
///
/// Objects come first: a candidate inside one already taken is a part of it, and waits
/// until every candidate that is not inside a taken one has had its turn; then the
/// parts are taken, best first. A candidate nested with a taken one whose box overlaps
/// it at IoU > [`NESTED_BOX_IOU`] is the same object with or without a piece, and is
/// not reported: one anchor per object.
pub fn select(seg: &Segmentation, min_pixels: f64, max: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..seg.nodes.len())
        .filter(|&i| seg.nodes[i].score > 0.0 && seg.nodes[i].pixels as f64 >= min_pixels)
        .collect();
    order.sort_by(|&a, &b| {
        seg.nodes[b]
            .score
            .total_cmp(&seg.nodes[a].score)
            .then(a.cmp(&b))
    });
    let duplicate = |kept: &[usize], i: usize| {
        let (ni, pi) = (&seg.nodes[i], seg.nodes[i].pixels as f64);
        kept.iter().any(|&j| {
            let (nj, pj) = (&seg.nodes[j], seg.nodes[j].pixels as f64);
            let boxes = box_iou(&ni.bbox, &nj.bbox);
            let nested = seg.contains(i, j) || seg.contains(j, i);
            (nested && (pi.min(pj) / pi.max(pj) > NEAR_DUPLICATE_IOU || boxes > NESTED_BOX_IOU))
                || boxes > SAME_BOX_IOU
        })
    };
    let full = |kept: &[usize]| max > 0 && kept.len() >= max;
    let mut kept: Vec<usize> = Vec::new();
    let mut parts = Vec::new();
    for i in order {
        if full(&kept) {
            break;
        }
        if duplicate(&kept, i) {
            continue;
        }
        if kept.iter().any(|&j| seg.contains(j, i)) {
            parts.push(i);
        } else {
            kept.push(i);
        }
    }
    for i in parts {
        if full(&kept) {
            break;
        }
        if !duplicate(&kept, i) {
            kept.push(i);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn scene() -> RgbImage {
        // A gradient background in two tones with a red disc and a blue square.
        let mut img = RgbImage::from_fn(200, 150, |x, _| {
            let v = if x < 100 {
                60 + x as u8 / 4
            } else {
                180 + (x as u8 - 100) / 4
            };
            Rgb([v, v, v])
        });
        for y in 0..150u32 {
            for x in 0..200u32 {
                let (dx, dy) = (x as f32 - 60.0, y as f32 - 70.0);
                if dx * dx + dy * dy <= 25.0 * 25.0 {
                    img.put_pixel(x, y, Rgb([200, 30, 30]));
                }
                if (120..160).contains(&x) && (40..80).contains(&y) {
                    img.put_pixel(x, y, Rgb([30, 40, 200]));
                }
            }
        }
        img
    }

    #[test]
    fn objects_come_before_background() {
        let seg = segment(&scene(), &SegmentParams::default());
        let kept = select(&seg, 10.0, 3);
        assert!(kept.len() >= 2);
        let boxes: Vec<[u32; 4]> = kept.iter().map(|&i| seg.nodes[i].bbox).collect();
        // The two objects, give or take their blended rim, are the two best regions.
        for object in [[35, 45, 85, 95], [120, 40, 159, 79]] {
            assert!(
                boxes[..2].iter().any(|b| box_iou(b, &object) > 0.9),
                "{boxes:?}"
            );
        }
    }

    #[test]
    fn hierarchy_nests_and_counts() {
        let seg = segment(&scene(), &SegmentParams::default());
        let root = seg.nodes.len() - 1;
        assert_eq!(seg.nodes[root].pixels, 200 * 150);
        for i in 0..seg.nodes.len() {
            assert!(seg.contains(root, i));
            if let Some([a, b]) = seg.nodes[i].children {
                let (a, b) = (a as usize, b as usize);
                assert_eq!(
                    seg.nodes[i].pixels,
                    seg.nodes[a].pixels + seg.nodes[b].pixels
                );
                assert!(!seg.contains(a, b) && !seg.contains(b, a));
            }
        }
        let t = 5.min(root);
        let inside = (0..seg.labels.len())
            .filter(|&p| seg.pixel_in(t, p))
            .count() as u64;
        assert_eq!(inside, seg.nodes[t].pixels);
    }

    #[test]
    fn large_images_are_reduced_and_still_segmented() {
        let small = scene();
        let big = image::imageops::resize(&small, 1600, 1200, image::imageops::FilterType::Nearest);
        let seg = segment(&big, &SegmentParams::default());
        assert!(seg.factor >= 2);
        assert!(
            u64::from(seg.width) * u64::from(seg.height) <= SegmentParams::default().work_pixels
        );
        let kept = select(&seg, 10.0, 3);
        let f = seg.factor;
        let found = kept.iter().any(|&i| {
            let b = seg.nodes[i].bbox;
            (b[0] * f).abs_diff(120 * 8) <= 2 * f && (b[2] * f).abs_diff(160 * 8) <= 2 * f
        });
        assert!(found);
    }

    #[test]
    fn lab_of_white_and_black() {
        let w = linear_to_lab(1.0, 1.0, 1.0);
        assert!(
            (w[0] - 100.0).abs() < 0.01 && w[1].abs() < 0.01 && w[2].abs() < 0.01,
            "{w:?}"
        );
        let b = linear_to_lab(0.0, 0.0, 0.0);
        assert!(b[0].abs() < 0.01);
    }
}
