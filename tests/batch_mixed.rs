//! A batch over a messy media folder: every file's fate is checked from the manifest, under
//! each walking flag, and the stderr lines are checked for `--log-format json` and `--quiet`.
//!
//! The folder is built in the target's temporary directory rather than in /tmp because, run
//! as root, the binary drops to `nobody` (so that a mode-000 file is really unreadable), and
//! `nobody` must be able to walk the folder and write the output.

#![cfg(unix)]

mod audio_signals;
mod common;

use common::{euid, mmprompt, stderr};

use mmprompt::jobs::batch::{ManifestLine, Status, MANIFEST_NAME};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Builds `BASE/media` (see the file list below) in a fresh directory named `name`.
fn build(name: &str) -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("batch-mixed-{name}"));
    if base.exists() {
        // A previous failed run may have left the locked file; make it removable.
        let _ = std::fs::set_permissions(
            base.join("media/locked.png"),
            std::fs::Permissions::from_mode(0o644),
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
    let m = base.join("media");
    for d in ["sub/deeper", ".hiddendir"] {
        std::fs::create_dir_all(m.join(d)).unwrap();
    }
    let good = common::shapes_png(1);
    let pcm = audio_signals::pcm16(1.0, 16_000);
    let tone = audio_signals::raw_wav(1, 16_000, 16, 1, pcm.len() as u32, &pcm);
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("good.png", good.clone()),
        ("sub/deeper/nested.png", common::shapes_png(2)),
        ("sub/tone.wav", tone),
        // The header claims three times the data: a partial document plus an error.
        (
            "sub/truncated.wav",
            audio_signals::raw_wav(1, 16_000, 16, 1, pcm.len() as u32 * 3, &pcm),
        ),
        // Half a PNG: sniffed as an image, fails to decode.
        ("corrupt.png", good[..good.len() / 2].to_vec()),
        // A WAV header over garbage that claims an unsupported codec.
        (
            "corrupt.wav",
            audio_signals::raw_wav(1, 16_000, 16, 0x55AA, 64, &[7u8; 64]),
        ),
        ("empty.png", Vec::new()),
        ("notes.txt", b"not media\n".to_vec()),
        ("sub/readme.md", b"# hello\n".to_vec()),
        (".hidden.png", common::shapes_png(3)),
        (".hiddendir/inside.png", common::shapes_png(4)),
        ("locked.png", common::shapes_png(5)),
    ];
    for (name, bytes) in &files {
        std::fs::write(m.join(name), bytes).unwrap();
    }
    std::os::unix::fs::symlink(".", m.join("loop")).unwrap();
    std::os::unix::fs::symlink("good.png", m.join("link.png")).unwrap();
    std::os::unix::fs::symlink("missing.png", m.join("dangling.png")).unwrap();
    // Opening a FIFO to sniff it would block forever; it must be set aside unopened.
    let fifo = Command::new("mkfifo").arg(m.join("pipe")).status().unwrap();
    assert!(fifo.success());
    std::fs::set_permissions(m.join("locked.png"), std::fs::Permissions::from_mode(0o000)).unwrap();
    // `nobody` writes the outputs.
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o777)).unwrap();
    base
}

/// Runs `mmprompt extract media --out out EXTRA...` in `base`, as `nobody` when root.
fn run(base: &Path, extra: &[&str]) -> Output {
    let mut cmd = common::mmprompt();
    cmd.args(["extract", "media", "--out", "out"])
        .args(extra)
        .current_dir(base);
    if euid() == Some(0) {
        cmd.uid(65534).gid(65534);
    }
    cmd.output().unwrap()
}

fn manifest(base: &Path) -> Vec<ManifestLine> {
    let text = std::fs::read_to_string(base.join("out").join(MANIFEST_NAME)).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `path -> (status, code)` as the test states it.
type Expected = BTreeMap<String, (Status, Option<String>)>;

fn expect(entries: &[(&str, Status, Option<&str>)]) -> Expected {
    entries
        .iter()
        .map(|(p, s, c)| (format!("media/{p}"), (*s, c.map(str::to_owned))))
        .collect()
}

/// Every `.jsonld` file below `out`, relative to it.
fn outputs(out: &Path) -> BTreeSet<String> {
    common::walk_files(out)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".jsonld"))
        .map(|p| p.strip_prefix(out).unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Runs one variant and checks the manifest file by file, the exit code, the error lines
/// and that outputs exist exactly for the inputs whose line records one.
fn check(name: &str, extra: &[&str], expected: &Expected) -> (PathBuf, Output) {
    let base = build(name);
    let out = run(&base, extra);
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    let lines = manifest(&base);
    let got: Expected = lines
        .iter()
        .map(|l| (l.path.clone(), (l.status, l.code.clone())))
        .collect();
    assert_eq!(got.len(), lines.len(), "one line per path:\n{lines:#?}");
    assert_eq!(&got, expected, "{name}: manifest differs\n{err}");

    let failed = lines.iter().filter(|l| l.status == Status::Error).count();
    let want_code = if failed > 0 { 2 } else { 0 };
    assert_eq!(out.status.code(), Some(want_code), "{err}");
    // One error line per failure, naming the file.
    for l in lines.iter().filter(|l| l.status == Status::Error) {
        assert!(
            err.lines()
                .any(|e| e.starts_with("mmprompt: error: ") && e.contains(&l.path)),
            "no error line names {}:\n{err}",
            l.path
        );
    }
    let error_lines = err
        .lines()
        .filter(|l| l.starts_with("mmprompt: error: "))
        .count();
    assert_eq!(error_lines, failed, "{err}");

    let recorded: BTreeSet<String> = lines
        .iter()
        .filter_map(|l| l.output.as_ref())
        .map(|o| o.strip_prefix("out/").unwrap_or(o).to_owned())
        .collect();
    for l in &lines {
        // ok always has an output; an error has one only when it is a partial result.
        assert_eq!(
            l.output.is_some(),
            l.status == Status::Ok || l.path == PARTIAL,
            "{l:?}"
        );
    }
    assert_eq!(outputs(&base.join("out")), recorded, "{err}");
    (base, out)
}

/// The input whose error line comes with a (partial) output.
const PARTIAL: &str = "media/sub/truncated.wav";

/// The outcome every variant that walks `sub` shares.
const GOOD: [(&str, Status, Option<&str>); 4] = [
    ("good.png", Status::Ok, None),
    ("sub/deeper/nested.png", Status::Ok, None),
    ("sub/tone.wav", Status::Ok, None),
    ("sub/truncated.wav", Status::Error, Some("truncated")),
];

fn with_good(rest: &[(&str, Status, Option<&str>)]) -> Expected {
    let mut all: Vec<_> = GOOD.to_vec();
    all.extend_from_slice(rest);
    expect(&all)
}

#[test]
fn default_walk_records_every_file() {
    let expected = with_good(&[
        ("corrupt.png", Status::Error, Some("corrupt")),
        ("corrupt.wav", Status::Error, Some("unsupported")),
        ("empty.png", Status::Skipped, Some("not_media")),
        ("notes.txt", Status::Skipped, Some("not_media")),
        ("sub/readme.md", Status::Skipped, Some("not_media")),
        ("locked.png", Status::Error, Some("io")),
        ("loop", Status::Skipped, Some("symlink")),
        ("link.png", Status::Skipped, Some("symlink")),
        ("dangling.png", Status::Skipped, Some("symlink")),
        ("pipe", Status::Skipped, Some("not_file")),
    ]);
    let (_, out) = check("default", &[], &expected);
    let err = stderr(&out);
    // Not a terminal: plain progress lines, the last one at 100 %.
    assert!(
        err.lines()
            .any(|l| l.starts_with("mmprompt: progress: ") && l.contains("(100%)")),
        "{err}"
    );
    assert!(err.contains("skipped (links not followed"), "{err}");
}

#[test]
fn follow_symlinks_takes_links_and_reports_the_loop_once() {
    let expected = with_good(&[
        ("corrupt.png", Status::Error, Some("corrupt")),
        ("corrupt.wav", Status::Error, Some("unsupported")),
        ("empty.png", Status::Skipped, Some("not_media")),
        ("notes.txt", Status::Skipped, Some("not_media")),
        ("sub/readme.md", Status::Skipped, Some("not_media")),
        ("locked.png", Status::Error, Some("io")),
        ("loop", Status::Error, Some("symlink_loop")),
        ("link.png", Status::Ok, None),
        ("dangling.png", Status::Error, Some("not_found")),
        ("pipe", Status::Skipped, Some("not_file")),
    ]);
    let (_, out) = check("follow", &["--follow-symlinks"], &expected);
    let err = stderr(&out);
    let loops: Vec<&str> = err.lines().filter(|l| l.contains("loop")).collect();
    assert_eq!(loops.len(), 1, "{err}");
    assert!(loops[0].contains("media/loop"), "{err}");
}

#[test]
fn hidden_takes_hidden_files_and_directories() {
    let expected = with_good(&[
        (".hidden.png", Status::Ok, None),
        (".hiddendir/inside.png", Status::Ok, None),
        ("corrupt.png", Status::Error, Some("corrupt")),
        ("corrupt.wav", Status::Error, Some("unsupported")),
        ("empty.png", Status::Skipped, Some("not_media")),
        ("notes.txt", Status::Skipped, Some("not_media")),
        ("sub/readme.md", Status::Skipped, Some("not_media")),
        ("locked.png", Status::Error, Some("io")),
        ("loop", Status::Skipped, Some("symlink")),
        ("link.png", Status::Skipped, Some("symlink")),
        ("dangling.png", Status::Skipped, Some("symlink")),
        ("pipe", Status::Skipped, Some("not_file")),
    ]);
    check("hidden", &["--hidden"], &expected);
}

#[test]
fn include_and_exclude_filter_by_relative_path() {
    // Only top-level PNGs that are not broken: `sub` is pruned, and `*.wav`, `*.txt`,
    // `*.md` and `loop` do not match the include.
    let expected = expect(&[
        ("good.png", Status::Ok, None),
        ("empty.png", Status::Skipped, Some("not_media")),
        ("link.png", Status::Skipped, Some("symlink")),
        ("dangling.png", Status::Skipped, Some("symlink")),
    ]);
    check(
        "filters",
        &[
            "--include",
            "*.png",
            "--exclude",
            "sub",
            "--exclude",
            "corrupt*",
            "--exclude",
            "locked.png",
        ],
        &expected,
    );
}

#[test]
fn an_output_directory_inside_the_input_is_not_walked() {
    let base = build("inside");
    // `nobody` creates the output directory inside the input.
    std::fs::set_permissions(base.join("media"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let run_inside = || {
        let mut cmd = common::mmprompt();
        cmd.args(["extract", "media", "--out", "media/out", "--overlay", "-q"])
            .current_dir(&base);
        if euid() == Some(0) {
            cmd.uid(65534).gid(65534);
        }
        cmd.output().unwrap()
    };
    let first = run_inside();
    assert_eq!(first.status.code(), Some(2), "{}", stderr(&first));
    assert!(base.join("media/out/media/good.png.overlay.png").exists());
    // The second run must not take the first run's overlays (PNGs) or outputs as inputs.
    let second = run_inside();
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    let text = std::fs::read_to_string(base.join("media/out").join(MANIFEST_NAME)).unwrap();
    for line in text.lines() {
        let l: ManifestLine = serde_json::from_str(line).unwrap();
        assert!(!l.path.starts_with("media/out"), "{text}");
    }
    assert!(text.contains("\"media/good.png\""), "{text}");
}

#[test]
fn a_bad_glob_is_a_usage_error() {
    let base = build("badglob");
    let out = run(&base, &["--include", "a[b"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("a[b"), "{}", stderr(&out));
}

#[test]
fn json_log_lines_parse_and_name_the_failed_files() {
    let base = build("json");
    let out = run(&base, &["--log-format", "json"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let events = |kind: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|v| v["event"].as_str() == Some(kind))
            .collect()
    };
    let errors = events("error");
    let named: BTreeSet<&str> = errors.iter().filter_map(|v| v["path"].as_str()).collect();
    assert_eq!(
        named,
        BTreeSet::from([
            "media/corrupt.png",
            "media/corrupt.wav",
            "media/locked.png",
            PARTIAL
        ]),
        "{err}"
    );
    for e in &errors {
        // tracing's JSON formatter spells levels in capitals.
        assert_eq!(e["level"], "ERROR");
        assert_eq!(e["target"], "mmprompt");
        assert!(e["timestamp"].is_string(), "{e}");
        assert!(e["code"].is_string() && e["message"].is_string(), "{e}");
    }
    let progress = events("progress");
    assert!(!progress.is_empty(), "{err}");
    assert!(progress.iter().any(|p| p["done"] == p["total"]), "{err}");
    let summary = events("summary");
    assert_eq!(summary.len(), 1, "{err}");
    assert_eq!(summary[0]["failed"], 4);
    assert_eq!(summary[0]["ok"], 3);
    assert!(!events("slow_file").is_empty(), "{err}");

    // An error that ends the run is a `fatal` event: here the output dir is a file.
    let blocker = base.join("blocker");
    std::fs::write(&blocker, b"x").expect("write");
    let out = mmprompt()
        .args([
            "extract",
            "media",
            "--out",
            "blocker",
            "--log-format",
            "json",
        ])
        .current_dir(&base)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let fatal: Vec<Value> = stderr(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "fatal")
        .collect();
    assert_eq!(fatal.len(), 1, "{}", stderr(&out));
    assert!(
        fatal[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("blocker")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn quiet_prints_only_error_lines() {
    let base = build("quiet");
    let out = run(&base, &["--quiet"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(
        lines.iter().all(|l| l.starts_with("mmprompt: error: ")),
        "{err}"
    );
    assert!(base.join("out/media/good.png.jsonld").exists());
}
