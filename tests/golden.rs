//! Golden outputs for samples/: any change in what the pipeline says about them shows up
//! here. Regenerate with `MMPROMPT_BLESS=1 cargo test --test golden` (or `make golden`) and
//! review the diff.

mod common;

use mmprompt::jsonld::{self, ContextMode, SourceInfo};
use mmprompt::media::image::{decode_file, DecodeOptions};
use mmprompt::pipeline::{analyze_image, ImageParams};

#[test]
fn samples_match_their_golden_files() {
    let bless = std::env::var_os("MMPROMPT_BLESS").is_some();
    let golden_dir = common::root().join("tests/golden");
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for rel in common::sample_images() {
        let params = ImageParams::default();
        let decoded = decode_file(&common::root().join(&rel), &DecodeOptions::default()).unwrap();
        let analysis = analyze_image(&decoded.rgb, &params);
        let source = SourceInfo {
            content_url: rel.to_string_lossy().into_owned(),
            mime: decoded.mime.to_owned(),
            sha256: decoded.sha256.clone(),
            byte_len: decoded.byte_len,
        };
        let doc = jsonld::image_document(&source, &analysis, &params, ContextMode::Reference);
        let name = rel.file_name().unwrap().to_string_lossy().into_owned();
        let outputs = [
            (
                format!("{name}.jsonld"),
                serde_json::to_string_pretty(&doc).unwrap() + "\n",
            ),
            (
                format!("{name}.txt"),
                jsonld::image_text(&source, &analysis),
            ),
        ];
        for (file, got) in outputs {
            let path = golden_dir.join(&file);
            if bless {
                std::fs::create_dir_all(&golden_dir).unwrap();
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            checked += 1;
            match std::fs::read_to_string(&path) {
                Ok(want) if want == got => {}
                Ok(want) => {
                    let line = want
                        .lines()
                        .zip(got.lines())
                        .position(|(a, b)| a != b)
                        .map_or(want.lines().count().min(got.lines().count()), |i| i);
                    mismatches.push(format!("{file}: first difference at line {}", line + 1));
                }
                Err(e) => mismatches.push(format!("{file}: {e}")),
            }
        }
    }
    assert!(bless || checked >= 8, "too few golden files checked");
    assert!(
        mismatches.is_empty(),
        "golden mismatches (review, then MMPROMPT_BLESS=1 to accept):\n{}",
        mismatches.join("\n")
    );
}
