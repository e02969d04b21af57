//! Suzuki–Abe border following, equal to OpenCV `findContours(RETR_TREE, CHAIN_APPROX_NONE)`.
//!
//! The image is treated as if surrounded by a one-pixel frame of background, so shapes
//! touching the image edge still get outer borders and an all-foreground image yields a
//! single outer border around the frame. Foreground is 8-connected, background
//! 4-connected. Every border starts at the pixel where the raster scan meets it and is
//! traced in the same direction as OpenCV, so point lists are identical, starting point
//! included.
//!
//! Images wider or taller than `i32::MAX - 2` pixels, or with more than `u32::MAX`
//! pixels once padded, yield no contours: neither [`Point`] nor the contour ids could
//! represent them.

use super::Point;
use image::GrayImage;
use std::cell::RefCell;

/// Whether a border is the outside of a foreground component or the inside of a hole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BorderKind {
    /// The border between a foreground component and the background around it.
    Outer,
    /// The border between a foreground component and a hole inside it.
    Hole,
}

/// One traced border.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contour {
    /// Every border pixel in tracing order (CHAIN_APPROX_NONE).
    pub points: Vec<Point>,
    /// Outer or hole border.
    pub kind: BorderKind,
    /// Index of the parent contour in the returned list (RETR_TREE semantics).
    pub parent: Option<usize>,
}

// Pixel states in the padded mark buffer. Suzuki–Abe writes signed border numbers into
// the image; we only keep the sign information here (whether a border has passed, and
// whether it examined the 0-pixel to the east) and record which border wrote it in a
// separate id buffer, so the raster scan stays on one byte per pixel and no number
// ever wraps.
const BG: u8 = 0;
const FG: u8 = 1;
/// A border passed through here without examining the 0-pixel to the east (`+NBD`).
const SEEN: u8 = 2;
/// A border examined the 0-pixel to the east of this pixel (`-NBD`): no hole may start here.
const SEEN_RIGHT: u8 = 3;

/// Chain-code steps, counter-clockwise on screen starting east (OpenCV's numbering).
const DX: [i32; 8] = [1, 1, 0, -1, -1, -1, 0, 1];
const DY: [i32; 8] = [0, -1, -1, -1, 0, 1, 1, 1];

/// Reusable scratch for border following.
///
/// Finding contours needs a padded copy of the image and a per-pixel owner buffer;
/// keeping them here lets repeated calls (video frames, batches) skip the allocation.
#[derive(Debug, Default, Clone)]
pub struct ContourFinder {
    marks: Vec<u8>,
    /// Index of the border that last wrote each pixel; only read where `marks >= SEEN`,
    /// so stale values from earlier images never matter and it is never cleared.
    owner: Vec<u32>,
    points: Vec<Point>,
}

impl ContourFinder {
    /// Creates a finder with empty scratch; buffers grow on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Finds all borders of the non-zero pixels of `binary`.
    pub fn find(&mut self, binary: &GrayImage) -> Vec<Contour> {
        let mut out = Vec::new();
        self.find_into(binary, &mut out);
        out
    }

    /// Like [`ContourFinder::find`], but writes into `out`, reusing the point buffers of
    /// the contours already in it. `out` is truncated to the contours found.
    ///
    /// Contours are listed in the order the raster scan meets their starting pixels, so a
    /// parent always comes before its children.
    pub fn find_into(&mut self, binary: &GrayImage, out: &mut Vec<Contour>) {
        let (w, h) = (binary.width() as usize, binary.height() as usize);
        let limit = (i32::MAX - 2) as usize;
        let padded = (w + 2).checked_mul(h + 2);
        let len = match padded {
            Some(len) if w > 0 && h > 0 && w <= limit && h <= limit && len <= u32::MAX as usize => {
                len
            }
            _ => {
                out.clear();
                return;
            }
        };
        let stride = w + 2;
        self.prepare(binary.as_raw(), w, h);
        if self.owner.len() < len {
            // A fresh zeroed allocation is lazily backed by the OS; `resize` would touch
            // every page although only border pixels are ever written.
            self.owner = vec![0; len];
        }
        let mut scan = Scan {
            marks: &mut self.marks,
            owner: &mut self.owner,
            stride,
            deltas: neighbour_offsets(stride),
            scratch: &mut self.points,
            out,
            count: 0,
        };
        scan.run(w, h);
        let count = scan.count;
        out.truncate(count);
    }

    /// Copies `src` into the padded mark buffer as `BG`/`FG`.
    fn prepare(&mut self, src: &[u8], w: usize, h: usize) {
        let stride = w + 2;
        self.marks.resize(stride * (h + 2), BG);
        let (top, rest) = self.marks.split_at_mut(stride);
        top.fill(BG);
        let (body, bottom) = rest.split_at_mut(stride * h);
        bottom.fill(BG);
        for (dst, src) in body.chunks_exact_mut(stride).zip(src.chunks_exact(w)) {
            let (first, tail) = dst.split_at_mut(1);
            first[0] = BG;
            let (inner, last) = tail.split_at_mut(w);
            for (d, &s) in inner.iter_mut().zip(src) {
                *d = u8::from(s != 0);
            }
            last.fill(BG);
        }
    }
}

/// Padded pixel count up to which [`find_contours`] keeps its thread's scratch between
/// calls (about 5 bytes per pixel: 42 MB at this limit, enough for 3840x2160).
const RETAIN_LIMIT: usize = 1 << 23;

thread_local! {
    static SHARED: RefCell<ContourFinder> = RefCell::new(ContourFinder::new());
}

/// Finds all borders of the non-zero pixels of `binary`.
///
/// Uses a per-thread [`ContourFinder`], so repeated calls skip allocating and clearing
/// the scratch buffers (the allocator would otherwise zero the owner buffer every
/// time). Scratch for images above about 8 megapixels is released after the call.
pub fn find_contours(binary: &GrayImage) -> Vec<Contour> {
    let shared = SHARED.try_with(|cell| {
        let mut finder = cell.try_borrow_mut().ok()?;
        let out = finder.find(binary);
        if finder.marks.len() > RETAIN_LIMIT {
            *finder = ContourFinder::new();
        }
        Some(out)
    });
    match shared {
        Ok(Some(out)) => out,
        // Thread-local storage is being torn down: fall back to fresh scratch.
        _ => ContourFinder::new().find(binary),
    }
}

/// Offsets of the eight neighbours in chain-code order, repeated twice so a
/// counter-clockwise search can run past east without wrapping the index.
fn neighbour_offsets(stride: usize) -> [usize; 16] {
    let mut d = [0usize; 16];
    for (s, slot) in d.iter_mut().enumerate() {
        let k = s & 7;
        let off = DX[k] as isize + DY[k] as isize * stride as isize;
        *slot = off as usize;
    }
    d
}

/// Little-endian word `k` of a 32-byte block.
#[inline(always)]
fn word(block: &[u8; 32], k: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&block[8 * k..8 * k + 8]);
    u64::from_le_bytes(b)
}

/// Index of the first non-zero byte of `diff`, a XOR of little-endian words.
#[inline(always)]
fn first_set_byte(diff: u64) -> usize {
    (diff.trailing_zeros() / 8) as usize
}

/// Returns the first index `>= x` at which `row` differs from `v`, or `row.len()`.
#[inline]
fn skip_run(row: &[u8], x: usize, v: u8) -> usize {
    let pattern = u64::from_ne_bytes([v; 8]);
    let mut pos = x;
    let mut rest = row.get(x..).unwrap_or_default();
    // Noisy masks have short runs: settle those with one word before the block loop.
    if let Some((head, tail)) = rest.split_first_chunk::<8>() {
        let diff = u64::from_le_bytes(*head) ^ pattern;
        if diff != 0 {
            return pos + first_set_byte(diff);
        }
        pos += 8;
        rest = tail;
    }
    // Long runs of background or filled interior dominate real masks; compare 32 bytes
    // per step with plain words, since the crate forbids unsafe SIMD.
    while let Some((block, tail)) = rest.split_first_chunk::<32>() {
        let d = [
            word(block, 0) ^ pattern,
            word(block, 1) ^ pattern,
            word(block, 2) ^ pattern,
            word(block, 3) ^ pattern,
        ];
        if (d[0] | d[1]) | (d[2] | d[3]) != 0 {
            for (k, &diff) in d.iter().enumerate() {
                if diff != 0 {
                    return pos + 8 * k + first_set_byte(diff);
                }
            }
        }
        pos += 32;
        rest = tail;
    }
    while let Some((head, tail)) = rest.split_first_chunk::<8>() {
        let diff = u64::from_le_bytes(*head) ^ pattern;
        if diff != 0 {
            return pos + first_set_byte(diff);
        }
        pos += 8;
        rest = tail;
    }
    pos + rest.iter().take_while(|&&b| b == v).count()
}

/// State of one raster scan.
struct Scan<'a> {
    marks: &'a mut [u8],
    owner: &'a mut [u32],
    stride: usize,
    deltas: [usize; 16],
    scratch: &'a mut Vec<Point>,
    out: &'a mut Vec<Contour>,
    count: usize,
}

impl Scan<'_> {
    fn run(&mut self, w: usize, h: usize) {
        let stride = self.stride;
        for y in 1..=h {
            let row0 = y * stride;
            // The right padding column is never a starting point: a pixel next to it is
            // on an outer border that has already examined it.
            let end = row0 + w + 1;
            let mut x = row0 + 1;
            let mut prev = BG;
            // Rightmost pixel on this row, left of `x`, that a border has written
            // (Suzuki's LNBD as a position); `None` stands for the frame.
            let mut last: Option<usize> = None;
            loop {
                x = row0 + skip_run(&self.marks[row0..end], x - row0, prev);
                if x >= end {
                    break;
                }
                let p = self.marks[x];
                if prev == BG && p == FG {
                    self.start(x, row0, BorderKind::Outer, last);
                    last = Some(x);
                    prev = self.marks[x];
                } else if p == BG && (prev == FG || prev == SEEN) {
                    if prev == SEEN {
                        last = Some(x - 1);
                    }
                    self.start(x - 1, row0, BorderKind::Hole, last);
                    last = Some(x - 1);
                    prev = BG;
                } else {
                    if prev >= SEEN {
                        last = Some(x - 1);
                    }
                    prev = p;
                }
                x += 1;
            }
        }
    }

    /// Decides the parent of a new border from the border that wrote `last`, traces it,
    /// and appends it to the output.
    fn start(&mut self, at: usize, row0: usize, kind: BorderKind, last: Option<usize>) {
        let parent = match last {
            None => None,
            Some(pos) => {
                let id = self.owner[pos] as usize;
                match self.out.get(id) {
                    // Same kind: siblings share the parent; otherwise the earlier border
                    // directly encloses (hole) or is enclosed by (outer) the new one.
                    Some(c) if c.kind == kind => c.parent,
                    Some(_) => Some(id),
                    None => None,
                }
            }
        };
        let id = self.count;
        let y = row0 / self.stride;
        let x = at - row0;
        let origin = Point::new(x as i32 - 1, y as i32 - 1);
        let reuse = id < self.out.len();
        let points: &mut Vec<Point> = if reuse {
            &mut self.out[id].points
        } else {
            &mut *self.scratch
        };
        points.clear();
        trace(
            self.marks,
            self.owner,
            &self.deltas,
            at,
            origin,
            kind == BorderKind::Hole,
            id as u32,
            points,
        );
        if reuse {
            let c = &mut self.out[id];
            c.kind = kind;
            c.parent = parent;
        } else {
            self.out.push(Contour {
                points: self.scratch.as_slice().to_vec(),
                kind,
                parent,
            });
        }
        self.count += 1;
    }
}

/// Follows one border from `i0` (Suzuki–Abe steps 3.1–3.5), marking the pixels it passes
/// and appending them to `points` in tracing order.
#[allow(clippy::too_many_arguments)]
fn trace(
    marks: &mut [u8],
    owner: &mut [u32],
    deltas: &[usize; 16],
    i0: usize,
    origin: Point,
    hole: bool,
    id: u32,
    points: &mut Vec<Point>,
) {
    // Search clockwise from the 0-pixel that made this a starting point: west of an
    // outer start, east of a hole start.
    let first = if hole { 0 } else { 4 };
    let mut s = first;
    let mut i1 = None;
    for _ in 0..8 {
        s = (s + 7) & 7;
        let n = i0.wrapping_add(deltas[s]);
        if marks[n] != BG {
            i1 = Some(n);
            break;
        }
    }
    let Some(i1) = i1 else {
        marks[i0] = SEEN_RIGHT;
        owner[i0] = id;
        points.push(origin);
        return;
    };

    let (mut i3, mut pt) = (i0, origin);
    loop {
        // `s` points back at the previous pixel; search counter-clockwise after it.
        let back = s;
        let mut i4 = i3;
        for _ in 0..8 {
            s += 1;
            i4 = i3.wrapping_add(deltas[s & 15]);
            if marks[i4] != BG {
                break;
            }
        }
        s &= 7;
        // The east neighbour was examined (and is 0) exactly when the search wrapped
        // past direction 0 before finding `i4`.
        if s.wrapping_sub(1) < back {
            marks[i3] = SEEN_RIGHT;
            owner[i3] = id;
        } else if marks[i3] == FG {
            marks[i3] = SEEN;
            owner[i3] = id;
        }
        points.push(pt);
        pt.x += DX[s];
        pt.y += DY[s];
        if i4 == i0 && i3 == i1 {
            break;
        }
        i3 = i4;
        s = (s + 4) & 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(rows: &[&str]) -> GrayImage {
        let h = rows.len() as u32;
        let w = rows.first().map_or(0, |r| r.len()) as u32;
        GrayImage::from_fn(w, h, |x, y| {
            let c = rows[y as usize].as_bytes()[x as usize];
            image::Luma([if c == b'#' { 255 } else { 0 }])
        })
    }

    fn pts(list: &[(i32, i32)]) -> Vec<Point> {
        list.iter().map(|&(x, y)| Point::new(x, y)).collect()
    }

    #[test]
    fn empty_and_blank_images_have_no_contours() {
        assert!(find_contours(&GrayImage::new(0, 0)).is_empty());
        assert!(find_contours(&GrayImage::new(0, 5)).is_empty());
        assert!(find_contours(&GrayImage::new(7, 3)).is_empty());
    }

    #[test]
    fn single_pixel_is_a_one_point_outer_border() {
        let c = find_contours(&img(&["...", ".#.", "..."]));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].points, pts(&[(1, 1)]));
        assert_eq!(c[0].kind, BorderKind::Outer);
        assert_eq!(c[0].parent, None);
    }

    #[test]
    fn one_by_one_foreground() {
        let c = find_contours(&img(&["#"]));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].points, pts(&[(0, 0)]));
    }

    #[test]
    fn block_is_traced_counter_clockwise_on_screen_from_its_top_left() {
        let c = find_contours(&img(&["##", "##"]));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].points, pts(&[(0, 0), (0, 1), (1, 1), (1, 0)]));
    }

    #[test]
    fn all_foreground_gives_one_border_around_the_frame() {
        let c = find_contours(&img(&["###", "###", "###"]));
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].points,
            pts(&[
                (0, 0),
                (0, 1),
                (0, 2),
                (1, 2),
                (2, 2),
                (2, 1),
                (2, 0),
                (1, 0)
            ])
        );
    }

    #[test]
    fn shape_touching_left_edge_is_outer() {
        let c = find_contours(&img(&["#..", "#..", "..."]));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind, BorderKind::Outer);
        assert_eq!(c[0].points, pts(&[(0, 0), (0, 1)]));
    }

    #[test]
    fn ring_has_a_hole_child_and_island_grandchild() {
        let c = find_contours(&img(&[
            "#######", //
            "#.....#", //
            "#..#..#", //
            "#.....#", //
            "#######", //
        ]));
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].kind, BorderKind::Outer);
        assert_eq!(c[0].parent, None);
        assert_eq!(c[1].kind, BorderKind::Hole);
        assert_eq!(c[1].parent, Some(0));
        // The hole starts at the pixel left of the first hole pixel and runs clockwise.
        assert_eq!(c[1].points[0], Point::new(0, 1));
        assert_eq!(c[1].points[1], Point::new(1, 0));
        assert_eq!(c[2].kind, BorderKind::Outer);
        assert_eq!(c[2].parent, Some(1));
        assert_eq!(c[2].points, pts(&[(3, 2)]));
    }

    #[test]
    fn finder_is_reusable_across_sizes_and_contents() {
        let mut finder = ContourFinder::new();
        let big = img(&["#.#.#", ".....", "#####", "#...#", "#####"]);
        let small = img(&["#"]);
        let mut out = Vec::new();
        finder.find_into(&big, &mut out);
        let first = out.clone();
        assert_eq!(first.len(), 5);
        finder.find_into(&small, &mut out);
        assert_eq!(out, find_contours(&small));
        finder.find_into(&big, &mut out);
        assert_eq!(out, first);
        assert_eq!(finder.find(&big), first);
    }

    #[test]
    fn skip_run_finds_first_difference() {
        let mut row = vec![0u8; 40];
        assert_eq!(skip_run(&row, 0, 0), 40);
        assert_eq!(skip_run(&row, 3, 1), 3);
        row[21] = 1;
        assert_eq!(skip_run(&row, 0, 0), 21);
        assert_eq!(skip_run(&row, 21, 1), 22);
        assert_eq!(skip_run(&row, 38, 0), 40);
    }
}
