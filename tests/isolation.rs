//! Isolated workers: an input whose worker process runs out of memory, is killed, or
//! outlives `--file-timeout` costs that input one `error` line (`memory`, `crashed`,
//! `timeout`), a fresh worker takes the next input, and the batch exits 2. Batches write
//! the same documents with and without isolation.

mod common;

use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// A 10000×10000 RGB PNG (300 MB decoded, a few hundred KB on disk) with some structure,
/// so decoding and analysing it takes seconds in a test build.
fn big_png(path: &Path) {
    let img = image::RgbImage::from_fn(10_000, 10_000, |x, y| {
        if (x / 500 + y / 500) % 2 == 0 {
            image::Rgb([200, 40, 40])
        } else {
            image::Rgb([30, 30, 160])
        }
    });
    img.save(path).expect("write the big PNG");
}

fn small_png(path: &Path) {
    std::fs::write(path, common::shapes_png(3)).expect("write a small PNG");
}

fn line_for<'a>(lines: &'a [Value], path: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["path"] == path)
        .unwrap_or_else(|| panic!("no manifest line for {path}: {lines:?}"))
}

/// Sets up `big.png` then `small.png` in a temporary folder.
fn inputs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    big_png(&dir.path().join("big.png"));
    small_png(&dir.path().join("small.png"));
    dir
}

/// `extract big.png small.png --jobs 1 --out out ARGS` in `dir`: the big input goes first,
/// to the first worker.
fn extract(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = common::mmprompt();
    c.args([
        "extract",
        "big.png",
        "small.png",
        "--jobs",
        "1",
        "--out",
        "out",
        "-q",
    ])
    .args(args)
    .current_dir(dir)
    .env_remove("RUST_BACKTRACE");
    c
}

/// The exit code is 2, stderr has one error line, for big.png, with `code`'s words and no
/// panic text; the small input after it still has its output.
fn check_only_big_failed(dir: &Path, o: &std::process::Output, code: &str, words: &str) {
    let stderr = common::stderr(o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with("mmprompt: error: big.png: "),
        "{stderr}"
    );
    assert!(errors[0].contains(words), "{stderr}");
    let lines = common::manifest(&dir.join("out"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    let big = line_for(&lines, "big.png");
    assert_eq!(big["status"], "error");
    assert_eq!(big["code"], code, "{big}");
    assert!(big.get("output").is_none());
    assert!(!dir.join("out/big.png.jsonld").exists());
    let small = line_for(&lines, "small.png");
    assert_eq!(small["status"], "ok", "{small}");
    assert!(dir.join("out/small.png.jsonld").is_file());
}

#[test]
fn an_input_over_the_memory_limit_costs_only_itself() {
    let dir = inputs();
    let o = extract(dir.path(), &["--max-memory", "256M"])
        .output()
        .expect("runs");
    check_only_big_failed(
        dir.path(),
        &o,
        "memory",
        "over its limit of 256 MiB (--max-memory)",
    );
    // Without the limit the same input is fine: the failure was the limit's.
    let o = common::mmprompt()
        .args([
            "extract",
            "big.png",
            "--isolation",
            "process",
            "--format",
            "text",
        ])
        .current_dir(dir.path())
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
}

#[test]
fn an_input_over_the_time_limit_is_stopped_and_the_next_gets_a_new_worker() {
    let dir = inputs();
    let started = Instant::now();
    let o = extract(dir.path(), &["--file-timeout", "1"])
        .output()
        .expect("runs");
    check_only_big_failed(dir.path(), &o, "timeout", "--file-timeout 1 s");
    // The big input alone takes several seconds; being stopped at one, the run is short.
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// Pids of the processes whose parent is `parent` and whose command line says `--worker`.
fn workers_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // Field 4 (after the parenthesised name, which may hold spaces) is the parent.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if ppid == Some(parent) && cmdline.split(|b| *b == 0).any(|a| a == b"--worker") {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_worker_that_crashes_costs_its_input_and_a_new_one_takes_the_next() {
    let dir = inputs();
    let child = extract(dir.path(), &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    // The first worker gets big.png (--jobs 1, input order) and takes seconds over it; an
    // abort delivered from outside stands for a crash inside a decoder. (Not SIGSEGV: the
    // Rust runtime's stack-overflow handler returns from one that no fault caused.)
    let deadline = Instant::now() + Duration::from_secs(60);
    let worker = loop {
        if let Some(pid) = workers_of(child.id()).first() {
            break *pid;
        }
        assert!(Instant::now() < deadline, "no worker process appeared");
        std::thread::sleep(Duration::from_millis(5));
    };
    let killed = std::process::Command::new("kill")
        .args(["-ABRT", &worker.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let o = child.wait_with_output().expect("finishes");
    check_only_big_failed(dir.path(), &o, "crashed", "signal 6 (SIGABRT)");
}

#[test]
fn isolated_and_in_process_batches_write_the_same_documents() {
    let root = common::root();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut outputs = Vec::new();
    for mode in ["process", "none"] {
        let out = dir.path().join(mode);
        let o = common::mmprompt()
            .arg("extract")
            .arg(root.join("samples"))
            .args(["--isolation", mode, "-q", "--out"])
            .arg(&out)
            .output()
            .expect("runs");
        assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
        let files: Vec<_> = common::walk_files(&out)
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "jsonld"))
            .map(|f| {
                let rel = f.strip_prefix(&out).expect("inside").to_path_buf();
                (rel, std::fs::read(&f).expect("read"))
            })
            .collect();
        assert!(files.len() >= 10, "{files:?}");
        outputs.push(files);
    }
    let (a, b) = (&outputs[0], &outputs[1]);
    assert_eq!(a.len(), b.len());
    for ((ra, da), (rb, db)) in a.iter().zip(b) {
        assert_eq!(ra, rb);
        assert!(da == db, "{} differs between the modes", ra.display());
    }
}

#[test]
fn isolation_options_are_checked_as_usage() {
    let dir = tempfile::tempdir().expect("tempdir");
    small_png(&dir.path().join("small.png"));
    for args in [
        &["--max-memory", "lots"][..],
        &["--max-memory", "10M"],
        &["--max-memory", "99999999999T"],
        &["--file-timeout", "NaN"],
        &["--file-timeout", "0"],
        &["--file-timeout", "inf"],
        &["--isolation", "none", "--file-timeout", "5"],
        &["--isolation", "none", "--max-memory", "1G"],
        &["--isolation", "fork"],
    ] {
        let o = common::mmprompt()
            .args(["extract", "small.png"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("runs");
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", common::stderr(&o));
    }
    // One input with a limit runs isolated, and is fine.
    let o = common::mmprompt()
        .args([
            "extract",
            "small.png",
            "--max-memory",
            "2G",
            "--file-timeout",
            "600",
        ])
        .current_dir(dir.path())
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
}
