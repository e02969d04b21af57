//! Every document the pipeline can produce validates against the JSON Schema and expands in a
//! real JSON-LD processor with no property dropped.

mod common;

use common::{assert_expands, assert_valid, document_for, sample_images};
use image::{Rgb, RgbImage};
use mmprompt::doc::{self, ContextMode, SourceInfo};
use mmprompt::jobs::extract::{extract_file, ExtractOptions};
use mmprompt::vision::pipeline::{analyze_image, ImageParams};
use mmprompt::vision::preprocess::Threshold;
use mmprompt::vision::regions::{MinArea, RegionOptions};
use serde_json::Value;

fn synthetic_docs() -> Vec<(String, Value)> {
    let mut cases: Vec<(String, RgbImage)> = vec![
        (
            "one-pixel".into(),
            RgbImage::from_pixel(1, 1, Rgb([0, 0, 0])),
        ),
        (
            "all-white".into(),
            RgbImage::from_pixel(32, 24, Rgb([255; 3])),
        ),
        (
            "all-black".into(),
            RgbImage::from_pixel(32, 24, Rgb([0; 3])),
        ),
    ];
    let mut noise = RgbImage::new(97, 61);
    let mut state = 0x2545_f491_u32;
    for p in noise.pixels_mut() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let v = if state.is_multiple_of(3) { 0 } else { 255 };
        p.0 = [v, (state >> 8) as u8, v];
    }
    cases.push(("noise".into(), noise));
    let keep_all = ImageParams {
        blur: 0.0,
        regions: RegionOptions {
            max_regions: 0,
            min_area: MinArea::Pixels(0),
            holes: true,
        },
        ..ImageParams::default()
    };
    let mut out = Vec::new();
    for (name, img) in cases {
        for (tag, params) in [
            ("default", ImageParams::default()),
            ("all", keep_all.clone()),
        ] {
            let analysis = analyze_image(&img, &params).expect("the Rust backend cannot fail");
            let source = SourceInfo {
                content_url: format!("{name}.png"),
                mime: "image/png".into(),
                sha256: "0".repeat(64),
                byte_len: 1,
            };
            let doc = doc::image_document(&source, &analysis, &params, ContextMode::Reference);
            out.push((format!("{name}-{tag}"), doc));
        }
    }
    out
}

/// Real audio files in every container the tests ship, plus a truncated WAV whose
/// document carries the segments before the damage and the decode error.
fn audio_docs() -> Vec<(String, Value)> {
    let dir = common::root().join("tests/data/audio");
    let mut files: Vec<_> = common::walk_files(&dir)
        .into_iter()
        // Not the provenance notes, nor the one fixture of a codec we do not decode.
        .filter(|p| p.extension().is_some_and(|e| e != "json" && e != "md"))
        .filter(|p| !p.ends_with("codec_alac.m4a"))
        .collect();
    assert!(files.len() >= 5, "tests/data/audio should hold audio files");
    let tmp = tempfile::tempdir().unwrap();
    let wav = std::fs::read(dir.join("ref_mixed.wav")).unwrap();
    let cut = tmp.path().join("cut.wav");
    std::fs::write(&cut, &wav[..wav.len() / 2]).unwrap();
    files.push(cut);
    let mut out = Vec::new();
    let mut partial = 0;
    for (i, f) in files.iter().enumerate() {
        let options = ExtractOptions {
            context: if i % 2 == 0 {
                ContextMode::Reference
            } else {
                ContextMode::Inline
            },
            ..ExtractOptions::default()
        };
        let got = extract_file(f, &f.to_string_lossy(), &options)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        if got.partial_error.is_some() {
            partial += 1;
            assert!(got.document["decodeError"]["errorCode"].is_string());
        }
        assert!(got.count > 0, "{}: no segments", f.display());
        out.push((f.display().to_string(), got.document));
    }
    assert_eq!(
        partial, 1,
        "the truncated WAV should give a partial document"
    );
    out
}

fn all_docs() -> Vec<(String, Value)> {
    let mut docs = synthetic_docs();
    docs.extend(audio_docs());
    let variants = [
        ("default", ImageParams::default(), ContextMode::Reference),
        (
            "holes-inline",
            ImageParams {
                regions: RegionOptions {
                    holes: true,
                    max_regions: 0,
                    ..RegionOptions::default()
                },
                ..ImageParams::default()
            },
            ContextMode::Inline,
        ),
        (
            "adaptive",
            ImageParams {
                threshold: Threshold::Adaptive { block: 31, c: 5.0 },
                ..ImageParams::default()
            },
            ContextMode::Reference,
        ),
        (
            "canny",
            ImageParams {
                threshold: Threshold::Canny {
                    low: 50.0,
                    high: 100.0,
                },
                ..ImageParams::default()
            },
            ContextMode::Reference,
        ),
    ];
    for rel in sample_images() {
        for (tag, params, mode) in &variants {
            docs.push((
                format!("{}-{tag}", rel.display()),
                document_for(&rel, params, *mode),
            ));
        }
    }
    docs
}

#[test]
fn every_document_matches_the_schema() {
    let docs = all_docs();
    let regions: usize = docs
        .iter()
        .map(|(_, d)| d["items"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(
        regions > 20,
        "the corpus should exercise many regions, got {regions}"
    );
    for (name, doc) in &docs {
        assert_valid(doc, name);
        assert_eq!(
            doc["totalItems"].as_u64(),
            doc["items"].as_array().map(|a| a.len() as u64),
            "{name}"
        );
    }
}

#[test]
fn every_document_expands_without_losing_a_property() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, (_, doc)) in all_docs().iter().enumerate() {
        let p = dir.path().join(format!("doc{i}.jsonld"));
        std::fs::write(&p, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
        files.push(p);
    }
    assert_expands(&files);
}

#[test]
fn the_checker_catches_a_dropped_property() {
    // Guards the guard: an undefined term must make the expansion check fail.
    let mut doc = document_for(
        &sample_images()[0],
        &ImageParams::default(),
        ContextMode::Reference,
    );
    doc["items"][0]["body"]["notInTheContext"] = Value::from(1);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.jsonld");
    std::fs::write(&p, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .arg(common::root().join("tests/jsonld_check.py"))
        .arg(common::root().join("schemas/anno.jsonld"))
        .arg(&p)
        .output()
        .unwrap();
    assert!(!out.status.success(), "checker accepted a dropped property");
    let schema_errors = {
        let schema: Value = serde_json::from_str(doc::SCHEMA).unwrap();
        jsonschema::validator_for(&schema)
            .unwrap()
            .iter_errors(&doc)
            .count()
    };
    assert!(
        schema_errors > 0,
        "schema accepted an unknown body property"
    );
}

#[test]
fn shipped_context_and_schema_are_what_the_cli_prints() {
    let ctx: Value = serde_json::from_str(doc::CONTEXT).unwrap();
    assert!(ctx["@context"].is_object());
    let inline = doc::context_value(ContextMode::Inline);
    assert_eq!(inline, ctx["@context"]);
    for (flag, want) in [(None, doc::SCHEMA), (Some("--context"), doc::CONTEXT)] {
        let mut cmd = common::mmprompt();
        cmd.arg("schema");
        if let Some(f) = flag {
            cmd.arg(f);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
    }
}

#[test]
fn a_document_by_reference_expands_as_with_the_whole_context_inline() {
    // By reference, a consumer's loader needs only the W3C context; the extension beside it
    // must give every term the meaning the whole context gives it, or the two would be
    // different data.
    let dir = tempfile::tempdir().unwrap();
    let image = &sample_images()[0];
    let mut pair = Vec::new();
    for mode in [ContextMode::Reference, ContextMode::Inline] {
        let doc = document_for(image, &ImageParams::default(), mode);
        let p = dir.path().join(format!("{mode:?}.jsonld"));
        std::fs::write(&p, serde_json::to_vec(&doc).unwrap()).unwrap();
        pair.push(p);
    }
    let by_ref: Value = serde_json::from_slice(&std::fs::read(&pair[0]).unwrap()).unwrap();
    assert_eq!(by_ref["@context"][0], doc::ANNO_CONTEXT_IRI);
    let ext = by_ref["@context"][1]
        .as_object()
        .expect("the extension terms");
    // Only what the W3C context lacks, and the one term whose meaning differs on purpose
    // (a generator's `name` is schema:name, not a person's foaf:name).
    let anno: Value = serde_json::from_str(doc::ANNO_CONTEXT).unwrap();
    let overridden: Vec<&String> = ext
        .keys()
        .filter(|k| anno["@context"].get(k.as_str()).is_some())
        .collect();
    assert_eq!(overridden, ["name"]);
    for term in [
        "Annotation",
        "body",
        "target",
        "selector",
        "items",
        "oa",
        "dctypes",
    ] {
        assert!(!ext.contains_key(term), "{term} is the W3C context's");
    }
    for term in ["regionId", "mm", "salience"] {
        assert!(ext.contains_key(term), "{term} is ours");
    }
    let out = std::process::Command::new("python3")
        .arg(common::root().join("tests/jsonld_check.py"))
        .arg(common::root().join("schemas/anno.jsonld"))
        .arg("--same")
        .args(&pair)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The check can fail: a term redefined differently makes the expansions differ.
    let mut other = by_ref.clone();
    other["@context"][1]["regionId"] = Value::from("mm:somethingElse");
    let q = dir.path().join("other.jsonld");
    std::fs::write(&q, serde_json::to_vec(&other).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .arg(common::root().join("tests/jsonld_check.py"))
        .arg(common::root().join("schemas/anno.jsonld"))
        .arg("--same")
        .arg(&q)
        .arg(&pair[1])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
