//! Geometric measures of a border: area, perimeter, moments, polygon, hull, rotated box.
//!
//! All functions take the border as OpenCV does (`CHAIN_APPROX_NONE` points, implicitly
//! closed) and agree with the OpenCV function named on each; the reference tests in
//! this module compare them with values written by `tests/ref/make_measure_refs.py`.
//! imageproc's geometry helpers are not used: its Douglas–Peucker recurses (deep
//! stacks on long borders) and is not OpenCV's closed-curve variant, its
//! `min_area_rect` rounds corners to integers and reports no angle, and its hull
//! sort relies on a non-total comparator.

use super::Point;

/// A rotated rectangle as OpenCV `minAreaRect` reports it.
///
/// Angle convention (OpenCV ≥ 4.5.1): `angle` is in (0°, 90°], measured from the +x
/// axis towards +y (clockwise on screen, since y points down), and `width` is the
/// side along that direction, `height` the other. An axis-aligned box therefore has
/// angle 90° and `width` equal to its vertical extent. OpenCV reports 180° or −90°
/// for collinear input; we normalise those too (same rectangle, angle in (0°, 90°]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RotatedRect {
    /// Centre x.
    pub cx: f64,
    /// Centre y.
    pub cy: f64,
    /// Width: the side along `angle`.
    pub width: f64,
    /// Height: the side perpendicular to `angle`.
    pub height: f64,
    /// Angle in degrees, in (0, 90] (0 only for an empty point set).
    pub angle: f64,
}

/// The first polygon moments, normalised like `cv2.moments` so `m00 >= 0` whatever
/// the border's orientation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Moments {
    /// Area.
    pub m00: f64,
    /// First moment in x.
    pub m10: f64,
    /// First moment in y.
    pub m01: f64,
}

/// Douglas–Peucker tolerance as a fraction of the perimeter, the usual OpenCV idiom
/// `approxPolyDP(c, 0.02 * arcLength(c, true), true)`.
pub const POLYGON_TOLERANCE: f64 = 0.02;

/// Shoelace area with its sign: positive when the points run counter-clockwise in
/// x-right/y-up axes (clockwise on screen). Exact integer sum, halved once.
pub fn signed_area(points: &[Point]) -> f64 {
    if points.len() < 3 {
        return 0.0;
    }
    let mut prev = points[points.len() - 1];
    let mut s = 0i128;
    for &p in points {
        s += i128::from(prev.x) * i128::from(p.y) - i128::from(prev.y) * i128::from(p.x);
        prev = p;
    }
    s as f64 * 0.5
}

/// `cv2.contourArea(points)`: absolute shoelace area of the closed polygon.
pub fn contour_area(points: &[Point]) -> f64 {
    signed_area(points).abs()
}

/// `cv2.arcLength(points, closed)`.
///
/// OpenCV takes square roots in `f32`; we use `f64`, so long borders differ from
/// OpenCV by about 1e-7 relative. Like OpenCV, a closed two-point curve counts the
/// segment twice.
pub fn arc_length(points: &[Point], closed: bool) -> f64 {
    if points.len() < 2 {
        return 0.0;
    }
    let seg = |a: Point, b: Point| {
        let (dx, dy) = (
            f64::from(b.x) - f64::from(a.x),
            f64::from(b.y) - f64::from(a.y),
        );
        (dx * dx + dy * dy).sqrt()
    };
    let open: f64 = points.windows(2).map(|w| seg(w[0], w[1])).sum();
    if closed {
        open + seg(points[points.len() - 1], points[0])
    } else {
        open
    }
}

/// `cv2.moments(points)` restricted to m00, m10, m01 (Green's theorem over the
/// closed polygon; exact integer sums). All zero when |m00| ≤ `FLT_EPSILON`, as in
/// OpenCV.
pub fn moments(points: &[Point]) -> Moments {
    if points.len() < 3 {
        return Moments::default();
    }
    let (mut a, mut mx, mut my) = (0i128, 0i128, 0i128);
    let mut prev = points[points.len() - 1];
    for &p in points {
        let cross = i128::from(prev.x) * i128::from(p.y) - i128::from(prev.y) * i128::from(p.x);
        a += cross;
        mx += cross * i128::from(i64::from(prev.x) + i64::from(p.x));
        my += cross * i128::from(i64::from(prev.y) + i64::from(p.y));
        prev = p;
    }
    let m00 = a as f64 * 0.5;
    if m00.abs() <= f64::from(f32::EPSILON) {
        return Moments::default();
    }
    let sign = m00.signum();
    Moments {
        m00: m00.abs(),
        m10: sign * mx as f64 / 6.0,
        m01: sign * my as f64 / 6.0,
    }
}

/// Axis-aligned bounds `(min, max)` of the points, inclusive.
pub fn bounds(points: &[Point]) -> Option<(Point, Point)> {
    let first = *points.first()?;
    Some(points.iter().fold((first, first), |(lo, hi), p| {
        (
            Point::new(lo.x.min(p.x), lo.y.min(p.y)),
            Point::new(hi.x.max(p.x), hi.y.max(p.y)),
        )
    }))
}

/// Centroid `(m10/m00, m01/m00)` from [`moments`].
///
/// Falls back to the mean of the points when m00 is zero (single pixels, lines), and
/// also when the moment centroid falls outside the points' bounding box, which only
/// a self-overlapping polygon can cause; `(0, 0)` for no points.
pub fn centroid(points: &[Point]) -> (f64, f64) {
    let Some((lo, hi)) = bounds(points) else {
        return (0.0, 0.0);
    };
    let m = moments(points);
    if m.m00 > 0.0 {
        let (cx, cy) = (m.m10 / m.m00, m.m01 / m.m00);
        let inside = |v: f64, a: i32, b: i32| v >= f64::from(a) - 1e-9 && v <= f64::from(b) + 1e-9;
        if inside(cx, lo.x, hi.x) && inside(cy, lo.y, hi.y) {
            return (cx, cy);
        }
    }
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0i64, 0i64), |(sx, sy), p| {
        (sx + i64::from(p.x), sy + i64::from(p.y))
    });
    (sx as f64 / n, sy as f64 / n)
}

/// `cv2.approxPolyDP(points, epsilon, closed)`, the same vertices in the same order.
///
/// A closed curve is first cut at two nearly farthest points (three rounds of
/// "farthest from the current start"), each half is split at its farthest point from
/// the chord until within `epsilon`, and a final sweep drops vertices lying within
/// `epsilon/√2` of the line through their neighbours (only on lines that are neither
/// horizontal nor vertical, as OpenCV does). Iterative, so long borders cannot
/// overflow the stack. A negative or NaN `epsilon` counts as 0.
pub fn approx_poly_dp(points: &[Point], epsilon: f64, closed: bool) -> Vec<Point> {
    let n = points.len();
    if n == 0 {
        return Vec::new();
    }
    let eps = if epsilon > 0.0 { epsilon } else { 0.0 };
    let eps2 = eps * eps;
    let f = |p: Point| (f64::from(p.x), f64::from(p.y));
    let mut out: Vec<Point> = Vec::with_capacity(16);
    // Index ranges (start, end) along the curve, wrapping for closed curves.
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let mut treat_closed = closed;
    let mut init_rounds = 3;
    if !closed {
        if points[0] != points[n - 1] {
            stack.push((0, n - 1));
        } else {
            treat_closed = true;
            init_rounds = 1;
        }
    }
    if treat_closed {
        let (mut start, mut far) = (0usize, 0usize);
        let mut within = false;
        for _ in 0..init_rounds {
            start = (start + far) % n;
            let (sx, sy) = f(points[start]);
            let mut max_d = 0.0;
            for j in 1..n {
                let (px, py) = f(points[(start + j) % n]);
                let d = (px - sx) * (px - sx) + (py - sy) * (py - sy);
                if d > max_d {
                    max_d = d;
                    far = j;
                }
            }
            within = max_d <= eps2;
        }
        if within {
            out.push(points[start]);
        } else {
            let end = (start + far) % n;
            stack.push((end, start));
            stack.push((start, end));
        }
    }
    while let Some((start, end)) = stack.pop() {
        let (sx, sy) = f(points[start]);
        let (ex, ey) = f(points[end]);
        let mut pos = (start + 1) % n;
        let mut within = true;
        let mut split = start;
        if pos != end {
            let (dx, dy) = (ex - sx, ey - sy);
            let mut max_d = 0.0;
            while pos != end {
                let (px, py) = f(points[pos]);
                let d = ((py - sy) * dx - (px - sx) * dy).abs();
                if d > max_d {
                    max_d = d;
                    split = pos;
                }
                pos = (pos + 1) % n;
            }
            within = max_d * max_d <= eps2 * (dx * dx + dy * dy);
        }
        if within {
            out.push(points[start]);
        } else {
            stack.push((split, end));
            stack.push((start, split));
        }
    }
    if !treat_closed {
        out.push(points[n - 1]);
    }
    cleanup_collinear(&mut out, eps2, closed);
    out
}

/// OpenCV's last approxPolyDP stage, an in-place sweep that may wrap around.
fn cleanup_collinear(dst: &mut Vec<Point>, eps2: f64, closed: bool) {
    let count = dst.len();
    if count == 0 {
        return;
    }
    let next = |p: usize| if p + 1 >= count { 0 } else { p + 1 };
    let f = |p: Point| (f64::from(p.x), f64::from(p.y));
    let mut new_count = count;
    let mut pos = if closed { count - 1 } else { 0 };
    let mut start = dst[pos];
    pos = next(pos);
    let mut wpos = pos;
    let mut pt = dst[pos];
    pos = next(pos);
    let open = usize::from(!closed);
    let mut i = open;
    while i < count - open && new_count > 2 {
        let end = dst[pos];
        pos = next(pos);
        let ((sx, sy), (px, py), (ex, ey)) = (f(start), f(pt), f(end));
        let (dx, dy) = (ex - sx, ey - sy);
        let dist = ((px - sx) * dy - (py - sy) * dx).abs();
        let forward = (px - sx) * (ex - px) + (py - sy) * (ey - py);
        if dist * dist <= 0.5 * eps2 * (dx * dx + dy * dy)
            && dx != 0.0
            && dy != 0.0
            && forward >= 0.0
        {
            new_count -= 1;
            dst[wpos] = end;
            start = end;
            wpos = next(wpos);
            pt = dst[pos];
            pos = next(pos);
            i += 2;
            continue;
        }
        dst[wpos] = pt;
        start = pt;
        wpos = next(wpos);
        pt = end;
        i += 1;
    }
    if !closed {
        dst[wpos] = pt;
    }
    dst.truncate(new_count);
}

fn cross(o: Point, a: Point, b: Point) -> i128 {
    (i128::from(a.x) - i128::from(o.x)) * (i128::from(b.y) - i128::from(o.y))
        - (i128::from(a.y) - i128::from(o.y)) * (i128::from(b.x) - i128::from(o.x))
}

/// Convex hull, without collinear points, starting at the top-most (then left-most)
/// point and running clockwise on screen — the order `cv2.convexHull` returns for
/// a contour with default arguments, up to the starting vertex.
///
/// Only the left-most and right-most point of each row can be on the hull, so when
/// the points span few rows (always, for a traced border) they are bucketed by row
/// instead of sorted: O(n + rows). Otherwise a sort is used.
pub fn convex_hull(points: &[Point]) -> Vec<Point> {
    let Some((lo, hi)) = bounds(points) else {
        return Vec::new();
    };
    let rows = (i64::from(hi.y) - i64::from(lo.y) + 1) as usize;
    let mut cand: Vec<Point> = if rows <= 2 * points.len() + 64 {
        let mut ext: Vec<(i32, i32)> = vec![(i32::MAX, i32::MIN); rows];
        for p in points {
            let e = &mut ext[(i64::from(p.y) - i64::from(lo.y)) as usize];
            e.0 = e.0.min(p.x);
            e.1 = e.1.max(p.x);
        }
        let mut c = Vec::with_capacity(2 * rows);
        for (i, &(a, b)) in ext.iter().enumerate() {
            if a <= b {
                let y = lo.y + i as i32;
                c.push(Point::new(a, y));
                if b != a {
                    c.push(Point::new(b, y));
                }
            }
        }
        c
    } else {
        let mut c = points.to_vec();
        c.sort_unstable_by_key(|p| (p.y, p.x));
        c.dedup();
        c
    };
    if cand.len() < 3 {
        cand.dedup();
        return cand;
    }
    // Monotone chain over points sorted by (y, x): the first pass walks from the
    // top-left point along the top and down the right side, the second back up the
    // left; keeping only `cross > 0` turns drops collinear points.
    let mut hull: Vec<Point> = Vec::with_capacity(cand.len() + 1);
    for &p in &cand {
        while hull.len() >= 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0 {
            hull.pop();
        }
        hull.push(p);
    }
    let lower = hull.len() + 1;
    for &p in cand.iter().rev().skip(1) {
        while hull.len() >= lower && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0 {
            hull.pop();
        }
        hull.push(p);
    }
    hull.pop();
    if hull.len() == 2 && hull[0] == hull[1] {
        hull.pop();
    }
    hull
}

/// Normalises an edge direction and its side lengths into OpenCV's convention.
fn normalised_rect(cx: f64, cy: f64, along: f64, across: f64, angle_deg: f64) -> RotatedRect {
    let (mut w, mut h, mut a) = (along, across, angle_deg);
    // Each quarter turn swaps which side lies along the angle.
    while a <= 0.0 {
        a += 90.0;
        std::mem::swap(&mut w, &mut h);
    }
    while a > 90.0 {
        a -= 90.0;
        std::mem::swap(&mut w, &mut h);
    }
    RotatedRect {
        cx,
        cy,
        width: w,
        height: h,
        angle: a,
    }
}

/// `cv2.minAreaRect(points)`: the smallest-area enclosing rectangle, by rotating
/// calipers over the convex hull (one rectangle side on a hull edge), in O(hull).
///
/// Side extents are exact integer projections; among equal areas the first hull
/// edge wins, so the result is deterministic. See [`RotatedRect`] for the angle.
pub fn min_area_rect(points: &[Point]) -> RotatedRect {
    let hull = convex_hull(points);
    let m = hull.len();
    match m {
        0 => {
            return RotatedRect {
                cx: 0.0,
                cy: 0.0,
                width: 0.0,
                height: 0.0,
                angle: 0.0,
            }
        }
        1 => {
            return RotatedRect {
                cx: f64::from(hull[0].x),
                cy: f64::from(hull[0].y),
                width: 0.0,
                height: 0.0,
                angle: 90.0,
            }
        }
        2 => {
            let (a, b) = (hull[0], hull[1]);
            let (dx, dy) = (
                f64::from(b.x) - f64::from(a.x),
                f64::from(b.y) - f64::from(a.y),
            );
            return normalised_rect(
                (f64::from(a.x) + f64::from(b.x)) * 0.5,
                (f64::from(a.y) + f64::from(b.y)) * 0.5,
                dx.hypot(dy),
                0.0,
                dy.atan2(dx).to_degrees(),
            );
        }
        _ => {}
    }
    let at = |i: usize| hull[i % m];
    let dot = |p: Point, e: (i128, i128)| i128::from(p.x) * e.0 + i128::from(p.y) * e.1;
    // cross(e, p): distance from the edge's line times |e|; the hull lies on the side
    // where it is smallest at the edge itself.
    let perp = |p: Point, e: (i128, i128)| e.0 * i128::from(p.y) - e.1 * i128::from(p.x);
    let edge = |i: usize| {
        let (a, b) = (at(i), at(i + 1));
        (
            i128::from(b.x) - i128::from(a.x),
            i128::from(b.y) - i128::from(a.y),
        )
    };
    let advance = |mut k: usize, e: (i128, i128), key: &dyn Fn(Point, (i128, i128)) -> i128| {
        for _ in 0..m {
            if key(at(k + 1), e) >= key(at(k), e) {
                k += 1;
            } else {
                break;
            }
        }
        k
    };
    let neg_dot = |p: Point, e: (i128, i128)| -dot(p, e);
    // The hull runs clockwise on screen, so the far side is where perp is largest or
    // smallest depending on orientation; detect it once.
    let orient = {
        let e = edge(0);
        let probe = (1..m)
            .map(|k| perp(at(k), e) - perp(at(0), e))
            .find(|v| *v != 0);
        if probe.unwrap_or(1) > 0 {
            1i128
        } else {
            -1
        }
    };
    let far_key = |p: Point, e: (i128, i128)| orient * perp(p, e);
    let first_max = |key: &dyn Fn(Point, (i128, i128)) -> i128, e: (i128, i128)| {
        (0..m)
            .max_by_key(|&k| (key(at(k), e), std::cmp::Reverse(k)))
            .unwrap_or(0)
    };
    let e0 = edge(0);
    let (mut i_max, mut i_min, mut i_far) = (
        first_max(&dot, e0),
        first_max(&neg_dot, e0),
        first_max(&far_key, e0),
    );
    let mut best: Option<(f64, usize, i128, i128, i128, i128)> = None;
    for i in 0..m {
        let e = edge(i);
        if e == (0, 0) {
            continue;
        }
        if i > 0 {
            i_max = advance(i_max, e, &dot);
            i_min = advance(i_min, e, &neg_dot);
            i_far = advance(i_far, e, &far_key);
        }
        let (hi_u, lo_u) = (dot(at(i_max), e), dot(at(i_min), e));
        let (base_n, far_n) = (perp(at(i), e), perp(at(i_far), e));
        let len2 = (e.0 * e.0 + e.1 * e.1) as f64;
        let area = (hi_u - lo_u) as f64 * (far_n - base_n).abs() as f64 / len2;
        if best.is_none_or(|b| area < b.0) {
            best = Some((area, i, hi_u, lo_u, base_n, far_n));
        }
    }
    let Some((_, i, hi_u, lo_u, base_n, far_n)) = best else {
        return min_area_rect(&hull[..2]);
    };
    let e = edge(i);
    let (ex, ey) = (e.0 as f64, e.1 as f64);
    let len = ex.hypot(ey);
    let (u, n) = ((ex / len, ey / len), (-ey / len, ex / len));
    let (mid_u, mid_n) = (
        (hi_u + lo_u) as f64 * 0.5 / len,
        (base_n + far_n) as f64 * 0.5 / len,
    );
    normalised_rect(
        u.0 * mid_u + n.0 * mid_n,
        u.1 * mid_u + n.1 * mid_n,
        (hi_u - lo_u) as f64 / len,
        (far_n - base_n).abs() as f64 / len,
        ey.atan2(ex).to_degrees(),
    )
}

/// Everything measured on one border.
#[derive(Debug, Clone, PartialEq)]
pub struct Measures {
    /// [`contour_area`].
    pub area: f64,
    /// [`arc_length`], closed.
    pub perimeter: f64,
    /// [`centroid`].
    pub centroid: (f64, f64),
    /// The outline reported as the region's polygon: [`faithful_polygon`].
    pub polygon: Vec<Point>,
    /// [`approx_poly_dp`] with tolerance [`POLYGON_TOLERANCE`] × perimeter, closed: the
    /// coarse polygon the shape words count corners on.
    pub shape_polygon: Vec<Point>,
    /// [`convex_hull`].
    pub hull: Vec<Point>,
    /// Area of the hull.
    pub hull_area: f64,
    /// `area / hull_area` clamped to [0, 1]; 1 when the hull has no area (the
    /// border is its own hull).
    pub solidity: f64,
    /// `4π·area / perimeter²`; 0 for a zero perimeter.
    pub circularity: f64,
    /// [`min_area_rect`].
    pub rotated: RotatedRect,
}

/// `area / hull_area` clamped to [0, 1]; 1 when the hull has no area, since a border
/// without area is its own hull.
pub fn solidity(area: f64, hull_area: f64) -> f64 {
    if hull_area > 0.0 {
        (area / hull_area).clamp(0.0, 1.0)
    } else {
        1.0
    }
}

/// `4π·area / perimeter²`: 1 for a perfect disc, less for anything else; 0 for a zero
/// perimeter.
pub fn circularity(area: f64, perimeter: f64) -> f64 {
    if perimeter > 0.0 {
        4.0 * std::f64::consts::PI * area / (perimeter * perimeter)
    } else {
        0.0
    }
}

/// The least IoU a reported polygon keeps with the outline it simplifies.
pub const MIN_POLYGON_IOU: f64 = 0.9;
/// Outlines are compared on at most about this many sample points.
const IOU_SAMPLES: u64 = 1 << 14;

/// Drops repeated vertices and spikes (a vertex where the outline turns straight back),
/// which make a polygon invalid without changing its area.
fn drop_spikes(poly: &mut Vec<Point>) {
    let mut changed = true;
    while changed && poly.len() >= 3 {
        changed = false;
        let n = poly.len();
        for i in 0..n {
            let (a, b, c) = (poly[(i + n - 1) % n], poly[i], poly[(i + 1) % n]);
            let back = cross(a, b, c) == 0 && dot(a, b, c) <= 0;
            if a == b || back {
                poly.remove(i);
                changed = true;
                break;
            }
        }
    }
}

/// Dot product of `b - a` and `c - b`: negative when the path a→b→c turns back.
fn dot(a: Point, b: Point, c: Point) -> i128 {
    let d = |p: Point, q: Point| {
        (
            i128::from(q.x) - i128::from(p.x),
            i128::from(q.y) - i128::from(p.y),
        )
    };
    let ((x1, y1), (x2, y2)) = (d(a, b), d(b, c));
    x1 * x2 + y1 * y2
}

fn orient(a: Point, b: Point, c: Point) -> i32 {
    cross(a, b, c).signum() as i32
}

fn on_segment(a: Point, b: Point, p: Point) -> bool {
    p.x >= a.x.min(b.x) && p.x <= a.x.max(b.x) && p.y >= a.y.min(b.y) && p.y <= a.y.max(b.y)
}

/// Whether segments `ab` and `cd` share a point.
fn segments_touch(a: Point, b: Point, c: Point, d: Point) -> bool {
    let (o1, o2, o3, o4) = (
        orient(a, b, c),
        orient(a, b, d),
        orient(c, d, a),
        orient(c, d, b),
    );
    if o1 * o2 < 0 && o3 * o4 < 0 {
        return true;
    }
    (o1 == 0 && on_segment(a, b, c))
        || (o2 == 0 && on_segment(a, b, d))
        || (o3 == 0 && on_segment(c, d, a))
        || (o4 == 0 && on_segment(c, d, b))
}

/// Whether the closed polygon is simple: at least three vertices, non-zero area, no two
/// edges meeting except neighbours at their shared vertex, and no neighbours folding
/// back over each other. A simple polygon is a valid OGC polygon.
pub fn is_simple(poly: &[Point]) -> bool {
    let n = poly.len();
    if n < 3 || signed_area(poly) == 0.0 {
        return false;
    }
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        if a == b {
            return false;
        }
        let c = poly[(i + 2) % n];
        // Neighbours may only share their common vertex.
        if cross(a, b, c) == 0 && dot(a, b, c) < 0 {
            return false;
        }
        for j in i + 2..n {
            if i == 0 && j == n - 1 {
                continue;
            }
            if segments_touch(a, b, poly[j], poly[(j + 1) % n]) {
                return false;
            }
        }
    }
    true
}

/// Samples the pixels an outline covers, on a grid of `step` pixels from `origin`:
/// a sample is inside when it lies within half a pixel, along its row, of the polygon
/// cut at a quarter pixel above or below the sample's centre. Through pixel centres,
/// that covers the border pixels themselves, as `cv2.fillPoly` does.
fn raster(poly: &[Point], origin: Point, cols: usize, rows: usize, step: usize) -> Vec<bool> {
    let mut out = vec![false; cols * rows];
    let n = poly.len();
    let (ox, oy, st) = (f64::from(origin.x), f64::from(origin.y), step as f64);
    // Crossings per sample line (two per row: a quarter pixel above and below), found
    // edge by edge so the cost is linear in the vertices plus the crossings.
    let mut lines: Vec<Vec<f64>> = vec![Vec::new(); rows * 2];
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        let (ay, by) = (f64::from(a.y), f64::from(b.y));
        if ay == by {
            continue;
        }
        let (lo, hi) = (ay.min(by), ay.max(by));
        for (k, dy) in [(0usize, -0.25), (1, 0.25)] {
            // A line at py crosses the edge when lo <= py < hi.
            let r0 = ((lo - oy - dy) / st).ceil().max(0.0) as usize;
            let r1 = (((hi - oy - dy) / st).ceil().max(0.0) as usize).min(rows);
            for r in r0..r1 {
                let py = oy + (r * step) as f64 + dy;
                if py < lo || py >= hi {
                    continue;
                }
                let t = (py - ay) / (by - ay);
                lines[r * 2 + k].push(f64::from(a.x) + t * f64::from(b.x - a.x));
            }
        }
    }
    for (j, xs) in lines.iter_mut().enumerate() {
        let r = j / 2;
        xs.sort_by(f64::total_cmp);
        for span in xs.chunks_exact(2) {
            let lo = ((span[0] - 0.5 - ox) / st).ceil().max(0.0);
            let hi = ((span[1] + 0.5 - ox) / st).floor();
            if hi < lo {
                continue;
            }
            let (lo, hi) = (lo as usize, (hi as usize).min(cols.saturating_sub(1)));
            if let Some(row) = out.get_mut(r * cols..(r + 1) * cols) {
                for v in row.iter_mut().take(hi + 1).skip(lo) {
                    *v = true;
                }
            }
        }
    }
    out
}

/// The sampling grid [`outline_iou`] uses over the box `lo..=hi`: columns, rows and
/// step, coarse enough to bound the work.
fn sample_grid(lo: Point, hi: Point) -> (usize, usize, usize) {
    let (w, h) = (
        (i64::from(hi.x) - i64::from(lo.x) + 1).max(1) as u64,
        (i64::from(hi.y) - i64::from(lo.y) + 1).max(1) as u64,
    );
    let mut step = (((w as f64) * (h as f64) / IOU_SAMPLES as f64).sqrt() as u64).max(1);
    while w.div_ceil(step).saturating_mul(h.div_ceil(step)) > IOU_SAMPLES {
        step += 1;
    }
    (
        w.div_ceil(step) as usize,
        h.div_ceil(step) as usize,
        step as usize,
    )
}

/// IoU of two sampled areas; 0 when neither covers a sample, since a shape that slips
/// between the samples cannot be judged faithful.
fn sampled_iou(a: &[bool], b: &[bool]) -> f64 {
    let (mut inter, mut union) = (0u64, 0u64);
    for (&x, &y) in a.iter().zip(b) {
        inter += u64::from(x && y);
        union += u64::from(x || y);
    }
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

/// IoU of the areas two closed outlines cover, sampled over the box `lo..=hi` on a grid
/// of at most about 16 000 points: a sample is covered when it lies within half a pixel,
/// along its row, of the outline cut a quarter pixel above or below it, so an outline
/// through pixel centres covers its border pixels, as `cv2.fillPoly` does. `lo..=hi`
/// must hold both outlines; outlines that cover no sample give 0.
pub fn outline_iou(a: &[Point], b: &[Point], lo: Point, hi: Point) -> f64 {
    let (cols, rows, step) = sample_grid(lo, hi);
    sampled_iou(
        &raster(a, lo, cols, rows, step),
        &raster(b, lo, cols, rows, step),
    )
}

/// The polygon reported for a border: a Douglas–Peucker simplification that is simple
/// (never crosses or touches itself) and covers nearly the same pixels as the border
/// (IoU ≥ [`MIN_POLYGON_IOU`]), with the fewest vertices the halving search finds.
///
/// `coarse` is the border simplified at [`POLYGON_TOLERANCE`] × `perimeter`, OpenCV's
/// idiom; when it already passes both checks it is the answer, so simple shapes keep
/// their OpenCV polygon. Otherwise the tolerance is halved until both checks pass, down
/// to half a pixel; then the convex hull is used. A border without area (a line or a
/// single pixel) has no valid polygon through its pixel centres; it gets its box
/// widened by one pixel to the right and below, the smallest valid polygon that covers
/// the pixels.
pub fn faithful_polygon(points: &[Point], coarse: &[Point], perimeter: f64) -> Vec<Point> {
    let Some((lo, hi)) = bounds(points) else {
        return coarse.to_vec();
    };
    if contour_area(points) == 0.0 {
        let (x1, y1) = (hi.x.saturating_add(1), hi.y.saturating_add(1));
        return vec![
            lo,
            Point::new(lo.x, y1),
            Point::new(x1, y1),
            Point::new(x1, lo.y),
        ];
    }
    let passes =
        |poly: &[Point]| is_simple(poly) && outline_iou(poly, points, lo, hi) >= MIN_POLYGON_IOU;
    let mut poly = coarse.to_vec();
    drop_spikes(&mut poly);
    if passes(&poly) {
        return poly;
    }
    let mut eps = POLYGON_TOLERANCE * perimeter / 2.0;
    while eps >= 0.5 {
        let mut poly = approx_poly_dp(points, eps, true);
        drop_spikes(&mut poly);
        if passes(&poly) {
            return poly;
        }
        eps /= 2.0;
    }
    let hull = convex_hull(points);
    if is_simple(&hull) {
        return hull;
    }
    coarse.to_vec()
}

/// Computes all [`Measures`] of a closed border.
pub fn measure(points: &[Point]) -> Measures {
    let area = contour_area(points);
    let perimeter = arc_length(points, true);
    let hull = convex_hull(points);
    let hull_area = contour_area(&hull);
    let solidity = solidity(area, hull_area);
    let circularity = circularity(area, perimeter);
    let shape_polygon = approx_poly_dp(points, POLYGON_TOLERANCE * perimeter, true);
    Measures {
        area,
        perimeter,
        centroid: centroid(points),
        polygon: faithful_polygon(points, &shape_polygon, perimeter),
        shape_polygon,
        rotated: min_area_rect(points),
        hull,
        hull_area,
        solidity,
        circularity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i32, i32)]) -> Vec<Point> {
        v.iter().map(|&(x, y)| Point::new(x, y)).collect()
    }

    /// Border of an axis-aligned filled rectangle in OpenCV's tracing order
    /// (down the left side first, i.e. counter-clockwise on screen).
    fn rect_border(x0: i32, y0: i32, w: i32, h: i32) -> Vec<Point> {
        let (x1, y1) = (x0 + w - 1, y0 + h - 1);
        let mut v = Vec::new();
        for y in y0..y1 {
            v.push(Point::new(x0, y));
        }
        for x in x0..x1 {
            v.push(Point::new(x, y1));
        }
        for y in (y0 + 1..=y1).rev() {
            v.push(Point::new(x1, y));
        }
        for x in (x0 + 1..=x1).rev() {
            v.push(Point::new(x, y0));
        }
        v
    }

    #[test]
    fn rectangle_measures() {
        let b = rect_border(2, 3, 10, 5);
        let m = measure(&b);
        assert_eq!(m.area, 36.0); // 9 × 4 between pixel centres
        assert_eq!(m.perimeter, 26.0);
        assert_eq!(m.centroid, (6.5, 5.0));
        assert_eq!(m.hull, pts(&[(2, 3), (11, 3), (11, 7), (2, 7)]));
        assert_eq!(m.hull_area, 36.0);
        assert_eq!(m.solidity, 1.0);
        assert_eq!(m.polygon.len(), 4);
        let r = m.rotated;
        assert_eq!(
            (r.cx, r.cy, r.width, r.height, r.angle),
            (6.5, 5.0, 4.0, 9.0, 90.0)
        );
    }

    /// A border traced from a mask drawn by `inside`.
    fn traced(w: u32, h: u32, inside: impl Fn(u32, u32) -> bool) -> Vec<Point> {
        let mask = image::GrayImage::from_fn(w, h, |x, y| {
            image::Luma([if inside(x, y) { 255 } else { 0 }])
        });
        let cs = crate::vision::contours::find_contours(&mask);
        cs.into_iter()
            .filter(|c| c.kind == crate::vision::contours::BorderKind::Outer)
            .max_by_key(|c| c.points.len())
            .map(|c| c.points)
            .unwrap_or_default()
    }

    #[test]
    fn simple_polygon_check() {
        let square = pts(&[(0, 0), (10, 0), (10, 10), (0, 10)]);
        assert!(is_simple(&square));
        // A bow tie crosses itself; a spike folds back; three points on a line have no area.
        assert!(!is_simple(&pts(&[(0, 0), (10, 10), (10, 0), (0, 10)])));
        assert!(!is_simple(&pts(&[
            (0, 0),
            (10, 0),
            (10, 10),
            (10, 20),
            (10, 10),
            (0, 10)
        ])));
        assert!(!is_simple(&pts(&[(0, 0), (5, 0), (10, 0)])));
        // Two loops touching at one vertex.
        assert!(!is_simple(&pts(&[
            (0, 0),
            (4, 0),
            (4, 4),
            (8, 4),
            (8, 8),
            (4, 8),
            (4, 4),
            (0, 4)
        ])));
    }

    #[test]
    fn outline_iou_of_known_shapes() {
        let a = rect_border(0, 0, 10, 10);
        let (lo, hi) = bounds(&a).unwrap();
        assert!((outline_iou(&a, &a, lo, hi) - 1.0).abs() < 1e-12);
        // The left half of the square: 5 of 10 columns.
        let half = pts(&[(0, 0), (4, 0), (4, 9), (0, 9)]);
        assert!(
            (outline_iou(&half, &a, lo, hi) - 0.5).abs() < 1e-9,
            "{}",
            outline_iou(&half, &a, lo, hi)
        );
    }

    #[test]
    fn polygons_are_simple_and_faithful() {
        // A lizard-like outline (a body with thin limbs and a tail), a crescent, a comb
        // and a disc: the coarse Douglas–Peucker polygon of the first three crosses
        // itself or covers far less than the border.
        let shapes: Vec<Vec<Point>> = vec![
            traced(200, 120, |x, y| {
                let (fx, fy) = (x as f64, y as f64);
                let body = ((fx - 90.0) / 50.0).powi(2) + ((fy - 60.0) / 14.0).powi(2) <= 1.0;
                let tail = (140..195).contains(&x) && (fy - 60.0 - (fx - 140.0) * 0.3).abs() < 2.0;
                let legs = [60.0, 110.0]
                    .iter()
                    .any(|&lx| (fx - lx).abs() < 2.5 && (30..90).contains(&y));
                body || tail || legs
            }),
            traced(120, 120, |x, y| {
                let (fx, fy) = (x as f64, y as f64);
                (fx - 60.0).hypot(fy - 60.0) <= 50.0 && (fx - 80.0).hypot(fy - 60.0) > 42.0
            }),
            traced(160, 80, |x, y| y >= 60 || (x % 16 < 4 && y >= 5)),
            traced(100, 100, |x, y| {
                (x as f64 - 50.0).hypot(y as f64 - 50.0) <= 40.0
            }),
        ];
        for border in &shapes {
            let m = measure(border);
            let (lo, hi) = bounds(border).unwrap();
            assert!(is_simple(&m.polygon), "{:?}", m.polygon);
            let iou = outline_iou(&m.polygon, border, lo, hi);
            assert!(
                iou >= MIN_POLYGON_IOU,
                "IoU {iou} with {} vertices",
                m.polygon.len()
            );
            assert!(
                m.polygon.len() < border.len() / 2,
                "{} of {}",
                m.polygon.len(),
                border.len()
            );
        }
        // The disc keeps its OpenCV polygon: it already passes.
        let disc = &shapes[3];
        let m = measure(disc);
        assert_eq!(m.polygon, m.shape_polygon);
    }

    #[test]
    fn lines_get_their_pixel_box() {
        let line = pts(&[(3, 5), (4, 5), (5, 5), (6, 5), (5, 5), (4, 5)]);
        let m = measure(&line);
        assert!(is_simple(&m.polygon), "{:?}", m.polygon);
        assert_eq!(m.polygon, pts(&[(3, 5), (3, 6), (7, 6), (7, 5)]));
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(contour_area(&[]), 0.0);
        assert_eq!(arc_length(&[], true), 0.0);
        assert_eq!(centroid(&[]), (0.0, 0.0));
        assert!(approx_poly_dp(&[], 1.0, true).is_empty());
        assert!(convex_hull(&[]).is_empty());
        assert_eq!(min_area_rect(&[]).width, 0.0);
        let one = pts(&[(4, 5)]);
        assert_eq!(centroid(&one), (4.0, 5.0));
        assert_eq!(approx_poly_dp(&one, 1.0, true), one);
        assert_eq!(convex_hull(&one), one);
        let r = min_area_rect(&one);
        assert_eq!((r.cx, r.cy, r.width, r.height), (4.0, 5.0, 0.0, 0.0));
        let line = pts(&[(0, 0), (1, 0), (2, 0), (3, 0), (2, 0), (1, 0)]);
        let m = measure(&line);
        assert_eq!(m.area, 0.0);
        assert_eq!(m.perimeter, 6.0);
        assert_eq!(m.centroid, (1.5, 0.0));
        assert_eq!(m.solidity, 1.0);
        assert_eq!(m.hull, pts(&[(0, 0), (3, 0)]));
        let r = m.rotated;
        assert_eq!(
            (r.cx, r.cy, r.width, r.height, r.angle),
            (1.5, 0.0, 0.0, 3.0, 90.0)
        );
        assert_eq!(arc_length(&pts(&[(0, 0), (3, 4)]), true), 10.0);
        // Repeated points and NaN tolerance must not panic.
        let same = pts(&[(1, 1), (1, 1), (1, 1)]);
        assert_eq!(approx_poly_dp(&same, f64::NAN, true), pts(&[(1, 1)]));
        assert_eq!(convex_hull(&same), pts(&[(1, 1)]));
    }

    #[test]
    fn rotated_rect_angle_convention_matches_opencv() {
        // Values from cv2.minAreaRect (OpenCV 4.10).
        let r = min_area_rect(&pts(&[(0, 0), (10, 3), (9, 6), (-1, 3)]));
        assert!((r.angle - 16.699_244).abs() < 1e-4, "{r:?}");
        assert!((r.width - 10.536_09).abs() < 1e-4 && (r.height - 3.160_827).abs() < 1e-4);
        let r = min_area_rect(&pts(&[(0, 0), (10, -3), (11, 0), (1, 3)]));
        assert!((r.angle - 73.300_76).abs() < 1e-4, "{r:?}");
        assert!((r.width - 3.160_827).abs() < 1e-4 && (r.height - 10.536_09).abs() < 1e-4);
        assert!((r.cx - 5.5).abs() < 1e-9 && r.cy.abs() < 1e-9);
        let r = min_area_rect(&pts(&[(0, 0), (10, 10), (5, 15), (-5, 5)]));
        assert!((r.angle - 45.0).abs() < 1e-9 && (r.width - 200f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn moments_ignore_orientation() {
        let b = rect_border(0, 0, 11, 6);
        let mut r = b.clone();
        r.reverse();
        assert_eq!(moments(&b), moments(&r));
        assert_eq!(moments(&b).m00, 50.0);
    }
}

/// Comparisons with OpenCV values written by `tests/ref/make_measure_refs.py`.
#[cfg(test)]
mod opencv_refs {
    use super::*;
    use serde_json::Value;

    fn contours() -> Vec<Value> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/measure/contours.json");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let list = v["contours"].as_array().unwrap().clone();
        assert!(list.len() >= 15);
        list
    }

    fn points(v: &Value) -> Vec<Point> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| Point::new(p[0].as_i64().unwrap() as i32, p[1].as_i64().unwrap() as i32))
            .collect()
    }

    fn f(v: &Value) -> f64 {
        v.as_f64().unwrap()
    }

    #[test]
    fn area_perimeter_centroid() {
        for c in contours() {
            let id = format!("{}#{}", c["canvas"], c["index"]);
            let pts = points(&c["points"]);
            // Exact: integer shoelace in both.
            assert_eq!(contour_area(&pts), f(&c["area"]), "{id}");
            // OpenCV sums f32 square roots: 1e-6 relative.
            let p = f(&c["perimeter"]);
            assert!(
                (arc_length(&pts, true) - p).abs() <= 1e-6 * p.max(1.0),
                "{id}"
            );
            let m = moments(&pts);
            let m00 = f(&c["m00"]);
            assert!((m.m00 - m00).abs() <= 1e-9, "{id}");
            if m00 > 0.0 {
                let (cx, cy) = centroid(&pts);
                assert!((cx - f(&c["m10"]) / m00).abs() < 1e-9, "{id}");
                assert!((cy - f(&c["m01"]) / m00).abs() < 1e-9, "{id}");
            }
        }
    }

    #[test]
    fn douglas_peucker_is_identical() {
        for c in contours() {
            let pts = points(&c["points"]);
            let ours = approx_poly_dp(&pts, POLYGON_TOLERANCE * arc_length(&pts, true), true);
            assert_eq!(
                ours,
                points(&c["polygon"]),
                "{}#{}",
                c["canvas"],
                c["index"]
            );
        }
    }

    #[test]
    fn hull_has_the_same_vertices_and_area() {
        for c in contours() {
            let id = format!("{}#{}", c["canvas"], c["index"]);
            let pts = points(&c["points"]);
            let ours = convex_hull(&pts);
            assert_eq!(contour_area(&ours), f(&c["hull_area"]), "{id}");
            // Same cyclic order; OpenCV may start at another vertex.
            let theirs = points(&c["hull"]);
            assert_eq!(ours.len(), theirs.len(), "{id}");
            let shift = theirs.iter().position(|p| Some(p) == ours.first());
            let rotated: Vec<Point> = match shift {
                Some(k) => theirs[k..].iter().chain(&theirs[..k]).copied().collect(),
                None => theirs.clone(),
            };
            assert_eq!(ours, rotated, "{id}");
        }
    }

    /// OpenCV computes the box in f32: 1e-3 absolute on pixel-scale values. Where
    /// several boxes tie for the minimum (flagged by the script) only the area is
    /// compared, since either box is a correct answer.
    #[test]
    fn min_area_rect_matches() {
        for c in contours() {
            let id = format!("{}#{}", c["canvas"], c["index"]);
            let pts = points(&c["points"]);
            let r = min_area_rect(&pts);
            let e: Vec<f64> = c["rect"].as_array().unwrap().iter().map(f).collect();
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-3 * b.abs().max(1.0);
            assert!(
                close(r.width * r.height, e[2] * e[3]),
                "{id}: {r:?} vs {e:?}"
            );
            if c["rect_unique"].as_bool().unwrap() && e[2] > 0.0 && e[3] > 0.0 {
                assert!(
                    close(r.cx, e[0]) && close(r.cy, e[1]),
                    "{id}: {r:?} vs {e:?}"
                );
                assert!(
                    close(r.width, e[2]) && close(r.height, e[3]),
                    "{id}: {r:?} vs {e:?}"
                );
                assert!(close(r.angle, e[4]), "{id}: {r:?} vs {e:?}");
            }
        }
    }
}
