//! Properties of border following on random small binary images, checked against
//! connected components computed independently by breadth-first search.
//!
//! Foreground is 8-connected, background 4-connected, and the image is surrounded by a
//! frame of background (as in OpenCV), so a background region is a hole exactly when it
//! does not reach the frame.

use image::{GrayImage, Luma};
use mmprompt::vision::contours::{find_contours, BorderKind, Contour, ContourFinder};
use mmprompt::vision::Point;
use proptest::prelude::*;
use std::collections::{HashSet, VecDeque};

const N8: [(i32, i32); 8] = [
    (1, 0),
    (1, -1),
    (0, -1),
    (-1, -1),
    (-1, 0),
    (-1, 1),
    (0, 1),
    (1, 1),
];
const N4: [(i32, i32); 4] = [(1, 0), (0, -1), (-1, 0), (0, 1)];

/// A binary image with its components, in padded coordinates (`-1..=w`, `-1..=h`).
struct Grid {
    w: i32,
    h: i32,
    fg: Vec<bool>,
    /// Component id of every pixel of the padded grid: foreground ids and background
    /// ids are separate numberings; background id 0 is the one touching the frame.
    comp: Vec<usize>,
    fg_count: usize,
    bg_count: usize,
}

impl Grid {
    fn new(img: &GrayImage) -> Self {
        let (w, h) = (img.width() as i32, img.height() as i32);
        let mut fg = vec![false; ((w + 2) * (h + 2)) as usize];
        for (x, y, p) in img.enumerate_pixels() {
            fg[((y as i32 + 1) * (w + 2) + x as i32 + 1) as usize] = p[0] != 0;
        }
        let mut g = Grid {
            w,
            h,
            fg,
            comp: vec![usize::MAX; ((w + 2) * (h + 2)) as usize],
            fg_count: 0,
            bg_count: 0,
        };
        // The padded corner is background, so the frame region gets id 0.
        for y in -1..=h {
            for x in -1..=w {
                let i = g.idx(x, y);
                if g.comp[i] != usize::MAX {
                    continue;
                }
                let is_fg = g.fg[i];
                let id = if is_fg {
                    g.fg_count += 1;
                    g.fg_count - 1
                } else {
                    g.bg_count += 1;
                    g.bg_count - 1
                };
                let steps: &[(i32, i32)] = if is_fg { &N8 } else { &N4 };
                let mut queue = VecDeque::from([(x, y)]);
                g.comp[i] = id;
                while let Some((cx, cy)) = queue.pop_front() {
                    for &(dx, dy) in steps {
                        let (nx, ny) = (cx + dx, cy + dy);
                        if nx < -1 || ny < -1 || nx > w || ny > h {
                            continue;
                        }
                        let j = g.idx(nx, ny);
                        if g.fg[j] == is_fg && g.comp[j] == usize::MAX {
                            g.comp[j] = id;
                            queue.push_back((nx, ny));
                        }
                    }
                }
            }
        }
        g
    }

    fn idx(&self, x: i32, y: i32) -> usize {
        ((y + 1) * (self.w + 2) + x + 1) as usize
    }

    fn is_fg(&self, x: i32, y: i32) -> bool {
        x >= 0 && y >= 0 && x < self.w && y < self.h && self.fg[self.idx(x, y)]
    }

    fn comp_at(&self, p: Point) -> usize {
        self.comp[self.idx(p.x, p.y)]
    }
}

fn image_strategy() -> impl Strategy<Value = GrayImage> {
    (1u32..=20, 1u32..=20, 0.0f64..=1.0).prop_flat_map(|(w, h, density)| {
        prop::collection::vec(prop::bool::weighted(density), (w * h) as usize).prop_map(
            move |bits| {
                GrayImage::from_fn(w, h, |x, y| {
                    Luma([if bits[(y * w + x) as usize] { 255 } else { 0 }])
                })
            },
        )
    })
}

fn check(img: &GrayImage, contours: &[Contour]) -> Result<(), TestCaseError> {
    let g = Grid::new(img);
    let mut on_border = HashSet::new();
    let mut outer_comps = HashSet::new();
    let mut hole_regions = HashSet::new();
    for (i, c) in contours.iter().enumerate() {
        prop_assert!(!c.points.is_empty(), "contour {} is empty", i);
        for p in &c.points {
            prop_assert!(
                g.is_fg(p.x, p.y),
                "contour {} point {:?} not foreground",
                i,
                p
            );
            on_border.insert(*p);
        }
        // Consecutive points, and the last and the first, are 8-neighbours.
        if c.points.len() > 1 {
            for k in 0..c.points.len() {
                let (a, b) = (c.points[k], c.points[(k + 1) % c.points.len()]);
                let d = ((a.x - b.x).abs(), (a.y - b.y).abs());
                prop_assert!(d.0.max(d.1) == 1, "contour {} steps {:?} -> {:?}", i, a, b);
            }
        } else {
            let p = c.points[0];
            prop_assert!(
                N8.iter().all(|&(dx, dy)| !g.is_fg(p.x + dx, p.y + dy)),
                "contour {} is a single point {:?} but the pixel has neighbours",
                i,
                p
            );
        }
        // A border runs along one foreground component.
        let comp = g.comp_at(c.points[0]);
        prop_assert!(c.points.iter().all(|&p| g.comp_at(p) == comp));
        let start = c.points[0];
        match c.kind {
            BorderKind::Outer => {
                prop_assert!(
                    outer_comps.insert(comp),
                    "two outer borders on one component"
                );
                // Outer borders start at the first pixel of their component in raster
                // order, so the pixel to the left is background of the enclosing region.
                let outside = g.comp[g.idx(start.x - 1, start.y)];
                prop_assert!(!g.is_fg(start.x - 1, start.y));
                match c.parent {
                    None => {
                        prop_assert_eq!(outside, 0, "outer {} has no parent but is enclosed", i)
                    }
                    Some(p) => {
                        prop_assert!(p < i, "parent {} listed after child {}", p, i);
                        let h = &contours[p];
                        prop_assert_eq!(
                            h.kind,
                            BorderKind::Hole,
                            "outer {} has an outer parent",
                            i
                        );
                        let s = h.points[0];
                        prop_assert_eq!(
                            g.comp[g.idx(s.x + 1, s.y)],
                            outside,
                            "outer {} is not inside the hole of its parent {}",
                            i,
                            p
                        );
                    }
                }
            }
            BorderKind::Hole => {
                // Hole borders start left of the first pixel of their hole.
                prop_assert!(!g.is_fg(start.x + 1, start.y));
                let region = g.comp[g.idx(start.x + 1, start.y)];
                prop_assert!(region != 0, "hole {} opens onto the frame", i);
                prop_assert!(hole_regions.insert(region), "two borders for one hole");
                let p = c
                    .parent
                    .ok_or_else(|| TestCaseError::fail(format!("hole {i} has no parent")))?;
                prop_assert!(p < i, "parent {} listed after child {}", p, i);
                let o = &contours[p];
                prop_assert_eq!(o.kind, BorderKind::Outer, "hole {} has a hole parent", i);
                prop_assert_eq!(
                    g.comp_at(o.points[0]),
                    comp,
                    "hole {} not in its parent's component",
                    i
                );
            }
        }
    }
    prop_assert_eq!(
        outer_comps.len(),
        g.fg_count,
        "outer borders vs 8-connected components"
    );
    prop_assert_eq!(
        hole_regions.len(),
        g.bg_count - 1,
        "hole borders vs enclosed 4-connected background"
    );
    // Every foreground pixel with a 4-neighbour in the background lies on some border.
    for y in 0..g.h {
        for x in 0..g.w {
            if g.is_fg(x, y) && N4.iter().any(|&(dx, dy)| !g.is_fg(x + dx, y + dy)) {
                prop_assert!(
                    on_border.contains(&Point::new(x, y)),
                    "border pixel ({}, {}) is on no contour",
                    x,
                    y
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn borders_agree_with_components(img in image_strategy()) {
        let contours = find_contours(&img);
        check(&img, &contours)?;
    }

    #[test]
    fn reused_finder_and_gray_values_change_nothing(
        imgs in prop::collection::vec(image_strategy(), 1..6)
    ) {
        let mut finder = ContourFinder::new();
        let mut out = Vec::new();
        for img in &imgs {
            finder.find_into(img, &mut out);
            prop_assert_eq!(&out, &find_contours(img));
            // Any non-zero byte is foreground.
            let mut gray = img.clone();
            for (i, p) in gray.pixels_mut().enumerate() {
                if p[0] != 0 {
                    p[0] = 1 + (i % 255) as u8;
                }
            }
            prop_assert_eq!(finder.find(&gray), out.clone());
        }
    }
}

#[test]
fn grid_components_sanity() {
    let img = GrayImage::from_fn(5, 5, |x, y| {
        Luma([
            if x == 0 || y == 0 || x == 4 || y == 4 || (x, y) == (2, 2) {
                255
            } else {
                0
            },
        ])
    });
    let g = Grid::new(&img);
    assert_eq!(g.fg_count, 2);
    assert_eq!(g.bg_count, 2);
}
