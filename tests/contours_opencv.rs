//! Our border following must equal `cv2.findContours(RETR_TREE, CHAIN_APPROX_NONE)`.
//!
//! The references under `tests/data/contours/` are produced by
//! `tests/ref/make_contour_refs.py`. Contours are matched as sets (OpenCV lists them in
//! tree order, we in raster order); each must have the same points in the same order
//! starting at the same pixel, the same kind, and the same parent through the matching.

use mmprompt::vision::contours::{find_contours, BorderKind, Contour, ContourFinder};
use mmprompt::vision::Point;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ref {
    points: Vec<(i32, i32)>,
    hole: bool,
    parent: Option<usize>,
}

/// The committed references, or another directory written by the generator (e.g. its
/// `--stress` cases) named by `MMPROMPT_CONTOUR_REFS`.
fn data_dir() -> PathBuf {
    match std::env::var_os("MMPROMPT_CONTOUR_REFS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/contours"),
    }
}

fn cases() -> Vec<(String, PathBuf)> {
    let dir = data_dir();
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut cases: Vec<(String, PathBuf)> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .map(|p| {
            let name = p.file_stem().expect("stem").to_string_lossy().into_owned();
            (name, p)
        })
        .collect();
    cases.sort();
    cases
}

fn load_ref(json: &Path) -> (String, u32, u32, Vec<Ref>) {
    let text = std::fs::read_to_string(json)
        .unwrap_or_else(|e| panic!("missing reference {}: {e}", json.display()));
    let doc: Value = serde_json::from_str(&text).expect("reference JSON");
    let version = doc["opencv_version"]
        .as_str()
        .expect("opencv_version")
        .to_owned();
    let width = doc["width"].as_u64().expect("width") as u32;
    let height = doc["height"].as_u64().expect("height") as u32;
    let contours = doc["contours"]
        .as_array()
        .expect("contours")
        .iter()
        .map(|c| Ref {
            points: c["points"]
                .as_array()
                .expect("points")
                .iter()
                .map(|p| {
                    let xy = p.as_array().expect("point");
                    (
                        xy[0].as_i64().expect("x") as i32,
                        xy[1].as_i64().expect("y") as i32,
                    )
                })
                .collect(),
            hole: c["is_hole"].as_bool().expect("is_hole"),
            parent: c["parent"].as_u64().map(|p| p as usize),
        })
        .collect();
    (version, width, height, contours)
}

fn ours_as_refs(contours: &[Contour]) -> Vec<Ref> {
    contours
        .iter()
        .map(|c| Ref {
            points: c.points.iter().map(|p: &Point| (p.x, p.y)).collect(),
            hole: c.kind == BorderKind::Hole,
            parent: c.parent,
        })
        .collect()
}

/// Rotates a closed point list to start at its minimum `(y, x)` point, so borders can
/// be compared independently of where tracing began.
fn normalised(points: &[(i32, i32)]) -> Vec<(i32, i32)> {
    let Some(k) = (0..points.len()).min_by_key(|&i| (points[i].1, points[i].0, i)) else {
        return Vec::new();
    };
    let mut v = points[k..].to_vec();
    v.extend_from_slice(&points[..k]);
    v
}

fn describe(c: &Ref) -> String {
    let head: Vec<_> = c.points.iter().take(6).collect();
    format!(
        "{} border, {} points, starts {:?}, parent {:?}, first points {:?}",
        if c.hole { "hole" } else { "outer" },
        c.points.len(),
        c.points.first(),
        c.parent,
        head
    )
}

/// A border up to its starting point: whether it is a hole, and its normalised points.
type ShapeKey = (bool, Vec<(i32, i32)>);

/// Compares one case; returns a description of the first difference.
fn compare(ours: &[Ref], theirs: &[Ref]) -> Result<(), String> {
    // Several borders can share a normalised point list (e.g. both sides of a 1-pixel
    // line), so match through a multimap keyed by kind and points.
    let mut by_shape: HashMap<ShapeKey, Vec<usize>> = HashMap::new();
    for (j, c) in theirs.iter().enumerate().rev() {
        by_shape
            .entry((c.hole, normalised(&c.points)))
            .or_default()
            .push(j);
    }
    let mut ours_to_theirs = vec![usize::MAX; ours.len()];
    for (i, c) in ours.iter().enumerate() {
        let key = (c.hole, normalised(&c.points));
        match by_shape.get_mut(&key).and_then(Vec::pop) {
            Some(j) => ours_to_theirs[i] = j,
            None => {
                return Err(format!(
                    "our contour #{i} has no equal in OpenCV's output: {}",
                    describe(c)
                ))
            }
        }
    }
    if let Some((_, left)) = by_shape.iter().find(|(_, v)| !v.is_empty()) {
        let j = left[0];
        return Err(format!(
            "OpenCV contour #{j} has no equal in ours: {}",
            describe(&theirs[j])
        ));
    }
    if ours.len() != theirs.len() {
        return Err(format!(
            "{} contours, OpenCV has {}",
            ours.len(),
            theirs.len()
        ));
    }
    for (i, c) in ours.iter().enumerate() {
        let j = ours_to_theirs[i];
        let t = &theirs[j];
        if c.points.first() != t.points.first() {
            return Err(format!(
                "our contour #{i} (OpenCV #{j}) starts at {:?}, OpenCV's at {:?}",
                c.points.first(),
                t.points.first()
            ));
        }
        let mapped = c.parent.map(|p| ours_to_theirs[p]);
        if mapped != t.parent {
            return Err(format!(
                "our contour #{i} (OpenCV #{j}, {}) has parent {:?} = OpenCV #{:?}, OpenCV says {:?}",
                describe(c),
                c.parent,
                mapped,
                t.parent
            ));
        }
    }
    Ok(())
}

#[test]
fn equals_opencv_on_every_reference_case() {
    let cases = cases();
    assert!(
        !cases.is_empty(),
        "no reference images in {}; run `python3 tests/ref/make_contour_refs.py`",
        data_dir().display()
    );
    let mut finder = ContourFinder::new();
    let mut reused = Vec::new();
    let mut failures = String::new();
    let mut checked = 0;
    for (name, png) in &cases {
        let (version, width, height, theirs) = load_ref(&png.with_extension("json"));
        let img = image::open(png)
            .unwrap_or_else(|e| panic!("{name}: cannot load {}: {e}", png.display()))
            .to_luma8();
        assert_eq!(
            (img.width(), img.height()),
            (width, height),
            "{name}: image size differs from the reference"
        );
        let fresh = find_contours(&img);
        // The reusable finder, fed the cases one after another, must agree exactly.
        finder.find_into(&img, &mut reused);
        assert_eq!(fresh, reused, "{name}: reused ContourFinder differs");
        if let Err(e) = compare(&ours_as_refs(&fresh), &theirs) {
            let _ = writeln!(failures, "case {name} (OpenCV {version}): {e}");
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "mismatches with OpenCV:\n{failures}");
    eprintln!("{checked} cases equal OpenCV, starting points included");
}

#[test]
fn compare_reports_differences() {
    let a = Ref {
        points: vec![(0, 0), (0, 1)],
        hole: false,
        parent: None,
    };
    let one = std::slice::from_ref(&a);
    let rotated = Ref {
        points: vec![(0, 1), (0, 0)],
        ..a.clone()
    };
    assert!(compare(one, one).is_ok());
    let err = compare(&[rotated], one).expect_err("start differs");
    assert!(err.contains("starts at"), "{err}");
    let hole = Ref {
        hole: true,
        ..a.clone()
    };
    assert!(compare(&[hole], one).is_err());
    assert!(compare(&[], one).is_err());
    let child = Ref {
        points: vec![(5, 5)],
        hole: false,
        parent: Some(0),
    };
    let orphan = Ref {
        parent: None,
        ..child.clone()
    };
    let err = compare(&[a.clone(), child], &[a, orphan]).expect_err("parent differs");
    assert!(err.contains("parent"), "{err}");
}
