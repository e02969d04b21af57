//! Times the whole audio path per file: streaming decode (symphonia, downmix, resample to
//! 16 kHz) into the analyzer, then the JSON-LD document, as `benches/vs_librosa.py` needs.
//!
//! ```text
//! cargo run --release --example time_audio -- [--repeat N] [--segments] [--no-vad] [--pipelined] FILE...
//! ```
//!
//! Prints one tab-separated line per file: path, median wall seconds over the repeats,
//! decoded duration in seconds, segment count. `--segments` also prints each segment (label,
//! start, end), which is handy for comparing label output between builds. `--no-vad` turns
//! the neural voice detector off, to show its share of the time (librosa has no such stage).
//! `--pipelined` decodes as `mmprompt extract` does, with the analysis free to run on a
//! second thread (`decode_stream_pipelined`); without it everything runs on one thread.

use mmprompt::audio::{Analyzer, AnalyzerConfig, SegmentCollector};
use mmprompt::doc::{audio_document, AudioSourceInfo, ContextMode, SourceInfo};
use mmprompt::media::audio::{decode_stream, decode_stream_pipelined, AudioDecodeOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// One timed run: decode into the analyzer, build the document. Returns the segments and
/// the decoded duration.
fn run_once(
    path: &Path,
    vad: bool,
    pipelined: bool,
) -> Result<(SegmentCollector, f64, usize), String> {
    let cfg = AnalyzerConfig {
        vad,
        ..AnalyzerConfig::default()
    };
    let mut analyzer = Analyzer::new(cfg).map_err(|e| e.to_string())?;
    let mut out = SegmentCollector::default();
    let options = AudioDecodeOptions {
        target_rate: cfg.sample_rate,
        ..AudioDecodeOptions::default()
    };
    let mut push = |samples: &[f32]| analyzer.push(samples, &mut out);
    let info = if pipelined {
        decode_stream_pipelined(path, &options, &mut push)
    } else {
        decode_stream(path, &options, &mut push)
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    analyzer.finish(&mut out);
    let source = AudioSourceInfo {
        file: SourceInfo {
            content_url: path.display().to_string(),
            mime: info.mime.to_string(),
            sha256: info.sha256.clone(),
            byte_len: info.byte_len,
        },
        duration_s: info.duration_s,
        sample_rate: info.sample_rate,
        channels: info.channels,
    };
    let doc = audio_document(
        &source,
        &out.0,
        serde_json::json!({}),
        None,
        ContextMode::Reference,
    );
    // Serialising is part of the path to a prompt fragment, so it is timed too.
    let text = serde_json::to_string(&doc).map_err(|e| e.to_string())?;
    Ok((out, info.duration_s, text.len()))
}

fn main() -> ExitCode {
    let mut repeat = 1usize;
    let mut show_segments = false;
    let mut vad = true;
    let mut pipelined = false;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--repeat" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => repeat = n,
                _ => {
                    eprintln!("--repeat needs a positive count");
                    return ExitCode::from(2);
                }
            },
            "--segments" => show_segments = true,
            "--no-vad" => vad = false,
            "--pipelined" => pipelined = true,
            _ => files.push(PathBuf::from(arg)),
        }
    }
    if files.is_empty() {
        eprintln!("usage: time_audio [--repeat N] [--segments] [--no-vad] [--pipelined] FILE...");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for path in &files {
        let mut times = Vec::with_capacity(repeat);
        let mut last = None;
        for _ in 0..repeat {
            let t = Instant::now();
            match run_once(path, vad, pipelined) {
                Ok(r) => {
                    times.push(t.elapsed().as_secs_f64());
                    last = Some(r);
                }
                Err(e) => {
                    eprintln!("{e}");
                    failed = true;
                    break;
                }
            }
        }
        let Some((segments, duration, _)) = last else {
            continue;
        };
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "{}\t{median:.6}\t{duration:.3}\t{}",
            path.display(),
            segments.0.len()
        );
        if show_segments {
            for s in &segments.0 {
                println!("  {}\t{:.3}\t{:.3}", s.label, s.start_s, s.end_s);
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
