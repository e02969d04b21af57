//! Helpers shared by the integration tests: building documents the way the CLI does.
#![allow(dead_code)] // each test binary uses a different subset

use mmprompt::doc::{self, ContextMode, SourceInfo};
use mmprompt::media::image::{decode_file, DecodeOptions};
use mmprompt::vision::pipeline::{analyze_image, ImageParams};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Project root, so tests can run from any directory.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The image samples, sorted, as paths relative to the project root.
pub fn sample_images() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("samples"))
        .expect("samples/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("png" | "jpg" | "jpeg" | "webp" | "gif" | "bmp" | "tif" | "tiff")
            )
        })
        .map(|p| p.strip_prefix(root()).expect("under root").to_path_buf())
        .collect();
    out.sort();
    assert!(out.len() >= 4, "samples/ should hold the sample images");
    out
}

/// Decodes and analyses `rel` (relative to the root) and builds its document.
pub fn document_for(rel: &Path, params: &ImageParams, mode: ContextMode) -> Value {
    let decoded = decode_file(&root().join(rel), &DecodeOptions::default()).expect("decodes");
    let analysis = analyze_image(&decoded.rgb, params).expect("the Rust backend cannot fail");
    let source = SourceInfo {
        content_url: rel.to_string_lossy().into_owned(),
        mime: decoded.mime.to_owned(),
        sha256: decoded.sha256.clone(),
        byte_len: decoded.byte_len,
    };
    doc::image_document(&source, &analysis, params, mode)
}

/// Panics with every schema violation of `doc`.
pub fn assert_valid(doc: &Value, what: &str) {
    let schema: Value = serde_json::from_str(doc::SCHEMA).expect("schema parses");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: schema violations:\n{}",
        errors.join("\n")
    );
}

/// Expands each file with pyld (offline) and panics unless every property survives.
pub fn assert_expands(files: &[PathBuf]) {
    assert!(!files.is_empty(), "nothing to expand");
    let out = std::process::Command::new("python3")
        .arg(root().join("tests/jsonld_check.py"))
        .arg(root().join("schemas/anno.jsonld"))
        .args(files)
        .output()
        .expect("python3 runs (make test installs pyld)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "JSON-LD expansion check failed:\n{stdout}\n{stderr}"
    );
    let want = format!("{} passed, 0 failed", files.len());
    assert!(
        stdout.contains(&want),
        "unexpected checker output: {stdout}"
    );
}

/// PNG-encodes `img` in memory.
pub fn png_bytes(img: &image::RgbImage) -> Vec<u8> {
    let mut v = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Png)
        .expect("PNG encodes");
    v
}

/// A small picture with a few shapes whose positions depend on `seed`, so every file differs.
pub fn shapes_png(seed: u32) -> Vec<u8> {
    let (w, h) = (240u32, 180u32);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let cx = 40 + (seed * 37) % 60;
        let cy = 40 + (seed * 23) % 40;
        let dx = x as i64 - cx as i64;
        let dy = y as i64 - cy as i64;
        if dx * dx + dy * dy < 900 {
            image::Rgb([200, 30, 30])
        } else if (120 + seed % 40..200).contains(&x) && (90..150 - seed % 30).contains(&y) {
            image::Rgb([30, 60, 200])
        } else {
            image::Rgb([250, 250, 250])
        }
    });
    png_bytes(&img)
}

/// Path of the `mmprompt` binary built for this test run, for tests that hand it to another
/// program (GNU parallel, a shell) instead of starting it themselves.
pub const MMPROMPT: &str = env!("CARGO_BIN_EXE_mmprompt");

/// The `mmprompt` binary built for this test run.
pub fn mmprompt() -> std::process::Command {
    std::process::Command::new(MMPROMPT)
}

/// Every file below `dir`, recursively, sorted. Directories are walked, not listed; a
/// symbolic link is listed, never followed, so a link loop cannot hang a test. Panics
/// when a directory cannot be read: a test must not pass by seeing nothing.
pub fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries =
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot read {}: {e}", d.display()));
        for e in entries {
            let e = e.unwrap_or_else(|e| panic!("cannot read {}: {e}", d.display()));
            let kind = e
                .file_type()
                .unwrap_or_else(|err| panic!("cannot stat {}: {err}", e.path().display()));
            if kind.is_dir() {
                todo.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Runs `mmprompt ARGS` in `cwd` and collects its output.
pub fn run(args: &[&str], cwd: &Path) -> std::process::Output {
    mmprompt()
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the binary runs")
}

/// A command's stderr as text.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The effective uid, from /proc: root reads any file, so tests that need something
/// unreadable run the binary as `nobody` when this is 0.
pub fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The lines of a batch's manifest, `OUT/index.ndjson`, parsed.
pub fn manifest(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("index.ndjson"))
        .expect("the manifest")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}
