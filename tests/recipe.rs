//! The scale-out recipes of docs/recipes.md, run on engines that exist on this machine: GNU
//! parallel running shards into one output directory, and the lines-in/lines-out pipe
//! contract that Spark's `RDD.pipe` (and any other data engine's pipe operator) relies on.
//!
//! We ship no scheduler, so these recipes are the product: if sharding or the pipe contract
//! breaks, users' clusters silently drop or duplicate work. The tests therefore run the real
//! binary through the real engine instead of re-testing `--shard` in isolation.

mod audio_signals;
mod common;

use common::stderr;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Upper bound for any one child; far above the ~1 s the runs take, so only a hang trips it.
const DEADLINE: Duration = Duration::from_secs(300);

/// Waits for `child` at most [`DEADLINE`]; on expiry kills it (SIGKILL by pid, since the
/// handle lives in the waiting thread) and fails, so a hung engine cannot hang the test run.
/// The wait happens on a thread and the deadline on a channel: no polling, no sleeps.
fn wait_bounded(child: Child, what: &str) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(out) => out.unwrap_or_else(|e| panic!("{what}: cannot wait: {e}")),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{what}: still running after {DEADLINE:?}; killed");
        }
    }
}

/// A mixed folder as users have them: images at two depths, two WAVs and a non-media file
/// (which must also land in exactly one shard's manifest, as `skipped`). Returns the media
/// paths relative to `dir`, in a deliberately unsorted order for the pipe test.
fn make_folder(dir: &Path) -> Vec<String> {
    use audio_signals::{pcm16, raw_wav};
    let mut media = Vec::new();
    for i in 0..14u32 {
        let rel = if i % 3 == 0 {
            format!("in/sub/pic-{i:02}.png")
        } else {
            format!("in/pic-{i:02}.png")
        };
        let p = dir.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, common::shapes_png(i)).unwrap();
        media.push(rel);
    }
    for (name, seconds, rate) in [("tone-a.wav", 1.0, 16_000), ("tone-b.wav", 1.5, 22_050)] {
        let pcm = pcm16(seconds, rate);
        let rel = format!("in/sub/{name}");
        std::fs::write(
            dir.join(&rel),
            raw_wav(1, rate, 16, 1, pcm.len() as u32, &pcm),
        )
        .unwrap();
        media.push(rel);
    }
    std::fs::write(dir.join("in/README.txt"), b"not media\n").unwrap();
    // Interleave kinds and depths so "in order" cannot pass by accident of a sorted walk.
    media.reverse();
    media.swap(1, 9);
    media
}

/// Every file below `dir` (relative path -> bytes), minus the manifests, which are compared
/// line by line instead because their names differ by design and they hold timings.
fn outputs(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    for p in common::walk_files(dir) {
        let rel = p.strip_prefix(dir).unwrap().to_path_buf();
        if rel.parent() == Some(Path::new("")) && rel.to_string_lossy().ends_with(".ndjson") {
            continue;
        }
        found.insert(rel, std::fs::read(&p).unwrap());
    }
    found
}

/// Manifest lines by input path, without the fields that legitimately differ between runs
/// (timing) or output directories (the output path, checked through the files instead).
fn manifest(path: &Path) -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{}: torn last line",
        path.display()
    );
    text.lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: bad line ({e}): {l}", path.display()));
            let obj = v.as_object_mut().unwrap();
            obj.remove("elapsedMs");
            let had_output = obj.remove("output").is_some();
            obj.insert("hadOutput".into(), had_output.into());
            let p = obj["path"].as_str().unwrap().to_owned();
            (p, v)
        })
        .collect()
}

/// Fails (does not skip) without GNU parallel: a recipe test that silently passes when its
/// engine is absent would prove nothing. moreutils ships another `parallel` with other
/// flags, hence the version check.
fn require_gnu_parallel() {
    let hint = "GNU parallel is required: `make test` installs it (Makefile APT_PACKAGES), \
                or run `apt-get install parallel`";
    let out = Command::new("parallel")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `parallel` ({e}). {hint}"));
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && version.contains("GNU parallel"),
        "`parallel --version` is not GNU parallel: {version}{}. {hint}",
        stderr(&out)
    );
}

#[test]
fn gnu_parallel_over_three_shards_equals_one_unsharded_run() {
    require_gnu_parallel();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let media = make_folder(d);

    let single = common::mmprompt()
        .args(["extract", "in", "--out", "single", "--jobs", "2"])
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let single = wait_bounded(single, "unsharded run");
    assert_eq!(single.status.code(), Some(0), "{}", stderr(&single));

    // The docs/recipes.md command, with the binary's full path. -q quotes each word for the
    // shell parallel runs jobs in; --halt makes one failing shard fail the whole run; the
    // three shards run at once and share the output directory, as on one big machine.
    let sharded = Command::new("parallel")
        .args(["--will-cite", "-q", "-j", "3", "--halt", "now,fail=1"])
        .args([
            common::MMPROMPT,
            "extract",
            "in",
            "--out",
            "sharded",
            "--jobs",
            "1",
        ])
        .args(["--shard", "{}/3", ":::", "1", "2", "3"])
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sharded = wait_bounded(sharded, "parallel");
    assert_eq!(sharded.status.code(), Some(0), "{}", stderr(&sharded));

    // Same files, byte for byte: the shards wrote exactly what one run writes, no more
    // (no leftover temporaries, no stray index.ndjson) and no less.
    let want = outputs(&d.join("single"));
    let got = outputs(&d.join("sharded"));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "different output files"
    );
    for (rel, bytes) in &want {
        assert!(got[rel] == *bytes, "{}: contents differ", rel.display());
    }
    assert_eq!(want.len(), media.len(), "one output per media input");

    let mut names: Vec<String> = std::fs::read_dir(d.join("sharded"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ndjson"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "index-1-of-3.ndjson",
            "index-2-of-3.ndjson",
            "index-3-of-3.ndjson"
        ]
    );

    // Every input exactly once across the shards, each line as the single run recorded it.
    let reference: BTreeMap<String, Value> = manifest(&d.join("single/index.ndjson"))
        .into_iter()
        .collect();
    let mut union: BTreeMap<String, Value> = BTreeMap::new();
    for name in &names {
        let lines = manifest(&d.join("sharded").join(name));
        // A shard that got nothing would leave the split itself untested.
        assert!(
            !lines.is_empty(),
            "{name} is empty: the split is degenerate"
        );
        for (path, line) in lines {
            assert!(
                union.insert(path.clone(), line).is_none(),
                "{path} is in more than one shard's manifest (or twice in {name})"
            );
        }
    }
    assert_eq!(
        union.keys().collect::<BTreeSet<_>>(),
        reference.keys().collect::<BTreeSet<_>>(),
        "the shards' manifests cover other inputs than the single run"
    );
    assert_eq!(
        union.len(),
        media.len() + 1,
        "media plus the skipped text file"
    );
    for (path, line) in &union {
        assert_eq!(line, &reference[path], "{path}: manifest line differs");
    }
}

/// Feeds `paths` (one per line) to `--files-from - --format ndjson` on stdin from another
/// thread, as Spark's PipedRDD does, so a child that fills its stdout pipe before reading
/// all of stdin could not deadlock the test, only time out.
fn pipe(dir: &Path, paths: &[&str], jobs: &str) -> Output {
    let mut child = common::mmprompt()
        .args(["extract", "--files-from", "-", "--format", "ndjson"])
        .args(["--jobs", jobs])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input: String = paths.iter().map(|p| format!("{p}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = wait_bounded(child, "mmprompt --files-from -");
    writer.join().unwrap().expect("stdin accepted every path");
    out
}

#[test]
fn files_from_stdin_to_ndjson_is_one_document_per_input_line_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let media = make_folder(d);
    let paths: Vec<&str> = media.iter().map(String::as_str).collect();

    // More workers than cores, so finishing order differs from input order.
    let out = pipe(d, &paths, "4");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    assert!(text.ends_with('\n'), "last document is not a whole line");
    let lines: Vec<&str> = text.lines().collect();
    // Every line a document: diagnostics (progress, summary) must stay on stderr.
    assert_eq!(lines.len(), paths.len(), "lines in != lines out:\n{text}");
    for (line, path) in lines.iter().zip(&paths) {
        let doc: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{path}: not one JSON ({e})"));
        assert_eq!(doc["about"]["contentUrl"], *path, "out of order");
        common::assert_valid(&doc, path);
    }

    // An empty partition is normal in a data engine: nothing out, success.
    let out = pipe(d, &[], "2");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

/// What docs/recipes.md tells pipe users about failures: a bad input prints no line (so
/// join on `about.contentUrl`, never on line position), is named on stderr, and the exit
/// code is 2, which Scala's `RDD.pipe` turns into a failed task.
#[test]
fn a_failed_input_in_the_pipe_prints_no_line_names_itself_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let media = make_folder(d);
    let paths = [
        media[0].as_str(),
        "in/missing.png",
        "in/README.txt",
        media[1].as_str(),
    ];
    let out = pipe(d, &paths, "2");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let urls: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["about"]["contentUrl"].to_string())
        .collect();
    assert_eq!(
        urls,
        [format!("\"{}\"", media[0]), format!("\"{}\"", media[1])]
    );
    assert!(
        err.contains("in/missing.png") && err.contains("in/README.txt"),
        "{err}"
    );
}
