//! Golden outputs for samples/ (images and audio): any change in what the pipeline says
//! about them shows up
//! here. Regenerate with `MMPROMPT_BLESS=1 cargo test --test golden` (or `make golden`) and
//! review the diff.

mod common;

use mmprompt::jobs::extract::{extract_file, ExtractOptions};
use mmprompt::media::{sniff_file, MediaKind};
use std::path::PathBuf;

/// Every media file under samples/ (images and audio), relative to the root, sorted.
fn sample_media() -> Vec<PathBuf> {
    common::walk_files(&common::root().join("samples"))
        .into_iter()
        .filter(|p| matches!(sniff_file(p), Ok(MediaKind::Image | MediaKind::Audio)))
        .map(|p| p.strip_prefix(common::root()).unwrap().to_path_buf())
        .collect()
}

#[test]
fn samples_match_their_golden_files() {
    let bless = std::env::var_os("MMPROMPT_BLESS").is_some();
    let golden_dir = common::root().join("tests/golden");
    let mut mismatches = Vec::new();
    let mut checked = 0;
    let media = sample_media();
    assert!(media.len() >= 5, "samples/ should hold images and audio");
    assert!(
        media.iter().any(|p| p.starts_with("samples/audio")),
        "the walk should reach the audio below samples/"
    );
    for rel in media {
        let got = extract_file(
            &common::root().join(&rel),
            &rel.to_string_lossy(),
            &ExtractOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        common::assert_valid(&got.document, &rel.to_string_lossy());
        let name = rel
            .strip_prefix("samples")
            .unwrap()
            .to_string_lossy()
            .replace('/', "__");
        let outputs = [
            (
                format!("{name}.jsonld"),
                serde_json::to_string_pretty(&got.document).unwrap() + "\n",
            ),
            (format!("{name}.txt"), got.text),
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
    assert!(bless || checked >= 10, "too few golden files checked");
    assert!(
        mismatches.is_empty(),
        "golden mismatches (review, then MMPROMPT_BLESS=1 to accept):\n{}",
        mismatches.join("\n")
    );
}
