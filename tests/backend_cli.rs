//! `--backend` on the command line, in both kinds of build.

mod common;

use common::{png_bytes, root, run, stderr};
use serde_json::Value;

fn shapes_file(dir: &std::path::Path) -> std::path::PathBuf {
    let img = image::RgbImage::from_fn(80, 60, |x, y| {
        if (20..50).contains(&x) && (10..40).contains(&y) {
            image::Rgb([30, 60, 200])
        } else {
            image::Rgb([250, 250, 250])
        }
    });
    let path = dir.join("box.png");
    std::fs::write(&path, png_bytes(&img)).expect("write PNG");
    path
}

#[cfg(not(feature = "opencv"))]
#[test]
fn opencv_without_the_feature_is_a_usage_error_that_says_how_to_enable_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = shapes_file(dir.path());
    let out = run(
        &[
            "extract",
            "--backend",
            "opencv",
            file.to_str().expect("utf-8"),
        ],
        &root(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("built without OpenCV"), "{err}");
    assert!(err.contains("--features opencv"), "{err}");
    assert!(err.contains("libopencv-dev"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn an_unknown_backend_is_a_usage_error() {
    let out = run(&["extract", "--backend", "cuda", "x.png"], &root());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("rust or opencv"), "{}", stderr(&out));
}

#[test]
fn the_rust_backend_is_the_default_and_is_not_named_in_the_generator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = shapes_file(dir.path());
    let file = file.to_str().expect("utf-8");
    let plain = run(&["extract", file], &root());
    let named = run(&["extract", "--backend", "rust", file], &root());
    assert_eq!(plain.status.code(), Some(0), "{}", stderr(&plain));
    assert_eq!(plain.stdout, named.stdout);
    let doc: Value = serde_json::from_slice(&plain.stdout).expect("JSON");
    assert!(doc["generator"]["parameters"].get("backend").is_none());
}

#[cfg(feature = "opencv")]
#[test]
fn the_opencv_backend_gives_the_same_document_but_for_the_generator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = shapes_file(dir.path());
    let file = file.to_str().expect("utf-8");
    let rust = run(&["extract", file], &root());
    let cv = run(&["extract", "--backend", "opencv", file], &root());
    assert_eq!(cv.status.code(), Some(0), "{}", stderr(&cv));
    let mut rust: Value = serde_json::from_slice(&rust.stdout).expect("JSON");
    let mut cv: Value = serde_json::from_slice(&cv.stdout).expect("JSON");
    assert_eq!(cv["generator"]["parameters"]["backend"], "opencv");
    assert_eq!(cv["totalItems"], 1);
    rust.as_object_mut().expect("object").remove("generator");
    cv.as_object_mut().expect("object").remove("generator");
    assert_eq!(rust, cv);
}
