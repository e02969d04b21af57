//! Times our border following on PNG files, for side-by-side runs with OpenCV
//! (`benches/contours_vs_opencv.py` drives both).
//!
//! ```text
//! cargo run --release --example time_contours -- write [--clean] DIR [WxH ...]
//! cargo run --release --example time_contours -- time [--min-iters N] [--min-secs S] FILE.png ...
//! ```
//!
//! `write` renders the deterministic synthetic masks that `benches/contours.rs` also
//! uses (default sizes 640x480, 1920x1080, 3840x2160); `--clean` renders them without
//! speckle and sensor noise, a few dozen borders that leave only the raster scan to
//! measure. `time` prints one line per file:
//! `path width height contours median_ms_reused median_ms_oneshot iterations`, the
//! medians being over repeated runs with a reused `ContourFinder` and with the one-shot
//! `find_contours` wrapper.

use image::{GrayImage, Luma};
use mmprompt::vision::contours::{find_contours, ContourFinder};
use std::path::Path;
use std::time::{Duration, Instant};

/// Sizes rendered when `write` is given none.
pub const DEFAULT_SIZES: [(u32, u32); 3] = [(640, 480), (1920, 1080), (3840, 2160)];

/// A small deterministic generator (SplitMix64), so the masks do not depend on a
/// random-number crate's version.
pub struct SplitMix(u64);

impl SplitMix {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
}

/// A realistic binary mask: a photo-like gray image (lit background, bright and dark
/// overlapping shapes, rings, speckle blobs and sensor noise) thresholded with Otsu.
/// Shape sizes scale with the image, blob count with its area.
pub fn synthetic_mask(w: u32, h: u32) -> GrayImage {
    render_mask(w, h, true)
}

/// The shapes of [`synthetic_mask`] alone, without speckle or noise.
pub fn clean_mask(w: u32, h: u32) -> GrayImage {
    render_mask(w, h, false)
}

fn render_mask(w: u32, h: u32, noisy: bool) -> GrayImage {
    let mut rng = SplitMix::new(0x5eed ^ ((w as u64) << 32) ^ h as u64);
    let (wf, hf) = (w as f32, h as f32);
    let scale = wf.min(hf);
    let mut gray = vec![0f32; (w * h) as usize];
    for y in 0..h {
        for x in 0..w {
            gray[(y * w + x) as usize] =
                40.0 + 70.0 * (x as f32 / wf) * (0.6 + 0.4 * y as f32 / hf);
        }
    }
    // (cx, cy, rx, ry, ring thickness or 0 for filled, intensity)
    let mut shapes = Vec::new();
    for i in 0..40 {
        let bright = i % 4 != 3;
        let value = if bright {
            rng.range(150.0, 235.0)
        } else {
            rng.range(0.0, 35.0)
        };
        let rx = rng.range(0.02, 0.16) * scale;
        let ry = rx * rng.range(0.4, 1.6);
        let ring = if i % 5 == 0 {
            rng.range(0.005, 0.02) * scale
        } else {
            0.0
        };
        shapes.push((rng.unit() * wf, rng.unit() * hf, rx, ry, ring, value));
    }
    // Speckle: small blobs, about one per 2500 pixels.
    for _ in 0..(if noisy { w * h / 2500 } else { 0 }) {
        let r = rng.range(0.8, 4.0);
        let value = if rng.unit() < 0.7 { 200.0 } else { 10.0 };
        shapes.push((
            rng.unit() * wf,
            rng.unit() * hf,
            r,
            r * rng.range(0.6, 1.4),
            0.0,
            value,
        ));
    }
    for &(cx, cy, rx, ry, ring, value) in &shapes {
        let x0 = (cx - rx - 1.0).max(0.0) as u32;
        let x1 = ((cx + rx + 1.0) as u32).min(w);
        let y0 = (cy - ry - 1.0).max(0.0) as u32;
        let y1 = ((cy + ry + 1.0) as u32).min(h);
        for y in y0..y1 {
            for x in x0..x1 {
                let (dx, dy) = ((x as f32 - cx) / rx, (y as f32 - cy) / ry);
                let d = (dx * dx + dy * dy).sqrt();
                let inside = if ring > 0.0 {
                    d <= 1.0 && d >= 1.0 - ring / rx.min(ry)
                } else {
                    d <= 1.0
                };
                if inside {
                    gray[(y * w + x) as usize] = value;
                }
            }
        }
    }
    let mut img = GrayImage::new(w, h);
    for (p, &g) in img.pixels_mut().zip(&gray) {
        let noise = if noisy {
            (rng.unit() + rng.unit() + rng.unit() - 1.5) * 30.0
        } else {
            0.0
        };
        *p = Luma([(g + noise).clamp(0.0, 255.0) as u8]);
    }
    let t = otsu(&img);
    for p in img.pixels_mut() {
        p[0] = if p[0] > t { 255 } else { 0 };
    }
    img
}

/// Otsu's threshold: the level maximising the between-class variance.
pub fn otsu(img: &GrayImage) -> u8 {
    let mut hist = [0u64; 256];
    for p in img.pixels() {
        hist[p[0] as usize] += 1;
    }
    let total = img.pixels().len() as f64;
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut w0, mut sum0, mut best, mut best_t) = (0.0, 0.0, -1.0, 0u8);
    for (t, &c) in hist.iter().enumerate() {
        w0 += c as f64;
        sum0 += t as f64 * c as f64;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let (m0, m1) = (sum0 / w0, (sum_all - sum0) / w1);
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    best_t
}

/// Median of the wall-clock times of `f`, run at least `min_iters` times and for at
/// least `min_time`; medians because the machine is shared and noisy.
pub fn median_time(min_iters: usize, min_time: Duration, mut f: impl FnMut()) -> (Duration, usize) {
    f();
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < min_iters || start.elapsed() < min_time {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    (times[times.len() / 2], times.len())
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once('x')
        .ok_or_else(|| format!("size {s}: expected WxH"))?;
    let parse = |v: &str| v.parse::<u32>().map_err(|e| format!("size {s}: {e}"));
    Ok((parse(w)?, parse(h)?))
}

fn write(dir: &Path, sizes: &[(u32, u32)], clean: bool) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for &(w, h) in sizes {
        let (name, mask) = if clean {
            ("clean", clean_mask(w, h))
        } else {
            ("synthetic", synthetic_mask(w, h))
        };
        let path = dir.join(format!("{name}_{w}x{h}.png"));
        mask.save(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}

fn time(args: &[String]) -> Result<(), String> {
    let mut min_iters = 30;
    let mut min_secs = 2.0;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--min-iters" => {
                let v = it.next().ok_or("--min-iters needs a value")?;
                min_iters = v.parse().map_err(|e| format!("--min-iters: {e}"))?;
            }
            "--min-secs" => {
                let v = it.next().ok_or("--min-secs needs a value")?;
                min_secs = v.parse().map_err(|e| format!("--min-secs: {e}"))?;
            }
            _ => files.push(a.clone()),
        }
    }
    let min_time = Duration::from_secs_f64(min_secs);
    let mut finder = ContourFinder::new();
    let mut out = Vec::new();
    for f in &files {
        let img = image::open(f).map_err(|e| format!("{f}: {e}"))?.to_luma8();
        let (reused, n) = median_time(min_iters, min_time, || {
            finder.find_into(&img, &mut out);
        });
        let count = out.len();
        let (oneshot, _) = median_time(min_iters, min_time, || {
            std::hint::black_box(find_contours(&img));
        });
        println!(
            "{f} {} {} {count} {:.4} {:.4} {n}",
            img.width(),
            img.height(),
            reused.as_secs_f64() * 1e3,
            oneshot.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

#[allow(dead_code)] // Also compiled into benches/contours.rs for the generator alone.
fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let clean = args.get(1).is_some_and(|a| a == "--clean");
    if clean {
        args.remove(1);
    }
    let result = match args.first().map(String::as_str) {
        Some("write") if args.len() >= 2 => args[2..]
            .iter()
            .map(|s| parse_size(s))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|sizes| {
                let sizes = if sizes.is_empty() {
                    DEFAULT_SIZES.to_vec()
                } else {
                    sizes
                };
                write(Path::new(&args[1]), &sizes, clean)
            }),
        Some("time") => time(&args[1..]),
        _ => Err("usage: time_contours write [--clean] DIR [WxH ...] | time [--min-iters N] [--min-secs S] FILE.png ...".into()),
    };
    if let Err(e) = result {
        eprintln!("time_contours: {e}");
        std::process::exit(2);
    }
}
