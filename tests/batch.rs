//! Batch runs end to end: parallel order, the manifest, resume, and crash safety under SIGKILL.

mod audio_signals;
mod common;

use common::{mmprompt, run, stderr};

use mmprompt::jobs::batch::{compact_manifest, ManifestLine, Status, MANIFEST_NAME};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `in/img-NN.png` for `n` images, plus a truncated PNG (an error) and a text file (skipped).
fn make_inputs(dir: &Path, n: u32) -> Vec<String> {
    let inp = dir.join("in");
    std::fs::create_dir_all(&inp).unwrap();
    let mut names = Vec::new();
    for i in 0..n {
        let name = format!("img-{i:02}.png");
        std::fs::write(inp.join(&name), common::shapes_png(i)).unwrap();
        names.push(name);
    }
    let good = common::shapes_png(99);
    std::fs::write(inp.join("broken.png"), &good[..good.len() / 2]).unwrap();
    std::fs::write(inp.join("notes.txt"), b"not media\n").unwrap();
    names
}

fn manifest_text(out: &Path) -> String {
    std::fs::read_to_string(out.join(MANIFEST_NAME)).unwrap_or_default()
}

/// Every line but possibly a torn last one parses.
fn parsed_lines(text: &str) -> Vec<ManifestLine> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        match serde_json::from_str::<ManifestLine>(l) {
            Ok(m) => out.push(m),
            Err(e) => assert!(
                i + 1 == lines.len() && !text.ends_with('\n'),
                "line {i} is not a manifest line ({e}): {l}"
            ),
        }
    }
    out
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    common::walk_files(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect()
}

/// Checks a finished run: one line per input in its final state, valid outputs, no temps.
fn assert_final_state(dir: &Path, names: &[String]) -> Vec<ManifestLine> {
    let out = dir.join("out");
    let text = manifest_text(&out);
    assert!(text.ends_with('\n'), "manifest ends with a torn line");
    let lines = parsed_lines(&text);
    let paths: Vec<&str> = lines.iter().map(|l| l.path.as_str()).collect();
    let unique: HashSet<&str> = paths.iter().copied().collect();
    assert_eq!(
        unique.len(),
        paths.len(),
        "duplicate manifest lines:\n{text}"
    );
    assert_eq!(lines.len(), names.len() + 2, "{text}");
    let by_path: BTreeMap<&str, &ManifestLine> =
        lines.iter().map(|l| (l.path.as_str(), l)).collect();
    for n in names {
        let l = by_path[format!("in/{n}").as_str()];
        assert_eq!(l.status, Status::Ok, "{n}: {l:?}");
        assert_eq!(l.kind.as_deref(), Some("image"));
        assert!(l.sha256.as_ref().is_some_and(|s| s.len() == 64));
        let output = l.output.as_ref().expect("output recorded");
        let doc: Value = serde_json::from_slice(&std::fs::read(dir.join(output)).unwrap())
            .unwrap_or_else(|e| panic!("{output}: {e}"));
        common::assert_valid(&doc, output);
        assert_eq!(doc["totalItems"].as_u64(), l.count.map(|c| c as u64), "{n}");
    }
    let broken = by_path["in/broken.png"];
    assert_eq!(broken.status, Status::Error);
    assert_eq!(broken.code.as_deref(), Some("corrupt"), "{broken:?}");
    assert!(broken.output.is_none());
    assert_eq!(by_path["in/notes.txt"].status, Status::Skipped);
    assert_eq!(temp_files(&out), Vec::<PathBuf>::new());
    lines
}

#[test]
fn sigkill_at_any_point_then_resume_leaves_one_line_per_input_and_valid_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let names = make_inputs(d, 40);
    let mut killed_mid_run = 0;
    for k in [1usize, 6, 15, 28] {
        let mut child = mmprompt()
            .args(["extract", "in", "--out", "out", "--jobs", "2"])
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Poll the manifest until k more lines are there (or the run ended), with a bounded
        // total wait; the short sleep only keeps the poll from spinning.
        let before = manifest_text(&d.join("out")).lines().count();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = manifest_text(&d.join("out")).lines().count();
            if now >= before + k || child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "no progress after 30 s");
            std::thread::sleep(Duration::from_millis(2));
        }
        // Child::kill is SIGKILL on Unix: no destructors, no cleanup.
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill();
        child.wait().unwrap();
        // Whatever the kill left is readable: whole lines, at most a torn last one.
        parsed_lines(&manifest_text(&d.join("out")));
    }
    assert!(killed_mid_run >= 1, "every run finished before its kill");

    let out = run(&["extract", "in", "--out", "out", "--jobs", "2"], d);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("broken.png"), "{err}");
    let first = assert_final_state(d, &names);

    // Nothing changed: everything but the failed input is up to date, and the manifest keeps
    // one line per input.
    let out = run(&["extract", "in", "--out", "out"], d);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "0 written to out, 1 failed, 1 skipped (not media), {} skipped (up to date)",
            names.len()
        )),
        "{err}"
    );
    let second = assert_final_state(d, &names);
    for (a, b) in first.iter().zip(&second) {
        if a.status == Status::Ok {
            assert_eq!(a, b, "an up-to-date line was rewritten");
        }
    }
}

#[test]
fn resume_redoes_changed_inputs_changed_parameters_and_everything_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let names = make_inputs(d, 4);
    let out = run(&["extract", "in", "--out", "out"], d);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("4 written to out"),
        "{}",
        stderr(&out)
    );

    std::fs::write(d.join("in").join(&names[0]), common::shapes_png(77)).unwrap();
    let out = run(&["extract", "in", "--out", "out"], d);
    assert!(
        stderr(&out)
            .contains("1 written to out, 1 failed, 1 skipped (not media), 3 skipped (up to date)"),
        "{}",
        stderr(&out)
    );

    // Another parameter changes every output, so nothing is up to date.
    let out = run(&["extract", "in", "--out", "out", "--blur", "2"], d);
    assert!(
        stderr(&out).contains("4 written to out, 1 failed, 1 skipped (not media), 0 skipped"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &["extract", "in", "--out", "out", "--blur", "2", "--force"],
        d,
    );
    assert!(
        stderr(&out).contains("4 written to out, 1 failed, 1 skipped (not media), 0 skipped"),
        "{}",
        stderr(&out)
    );
    // A deleted output is redone even though its line says ok.
    std::fs::remove_file(d.join(format!("out/in/{}.jsonld", names[1]))).unwrap();
    let out = run(&["extract", "in", "--out", "out", "--blur", "2"], d);
    assert!(
        stderr(&out).contains("1 written to out, 1 failed, 1 skipped (not media), 3 skipped"),
        "{}",
        stderr(&out)
    );
    assert_final_state(d, &names);
}

#[test]
fn stdout_keeps_input_order_whatever_the_job_count() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let names = make_inputs(d, 12);
    let one = run(&["extract", "in", "--format", "ndjson", "--jobs", "1"], d);
    let many = run(&["extract", "in", "--format", "ndjson", "--jobs", "4"], d);
    assert_eq!(many.status.code(), Some(2), "{}", stderr(&many));
    assert_eq!(one.stdout, many.stdout);
    let urls: Vec<String> = String::from_utf8(many.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| {
            let doc: Value = serde_json::from_str(l).unwrap();
            doc["about"]["contentUrl"].as_str().unwrap().to_owned()
        })
        .collect();
    let expected: Vec<String> = names.iter().map(|n| format!("in/{n}")).collect();
    assert_eq!(urls, expected);
    let err = stderr(&many);
    assert!(err.contains("files/s") && err.contains("slowest:"), "{err}");
}

#[test]
fn compaction_keeps_the_last_line_per_path_and_drops_a_torn_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(MANIFEST_NAME);
    let text = concat!(
        r#"{"path":"a","status":"error","code":"io"}"#,
        "\n",
        r#"{"path":"b","status":"ok"}"#,
        "\n",
        r#"{"path":"a","status":"ok","sha256":"00"}"#,
        "\n",
        r#"{"path":"c","sta"#
    );
    std::fs::write(&p, text).unwrap();
    let lines = compact_manifest(&p).unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].path, "a");
    assert_eq!(lines[0].status, Status::Ok);
    assert_eq!(lines[1].path, "b");
    let again = std::fs::read_to_string(&p).unwrap();
    assert_eq!(again.lines().count(), 2);
    assert!(again.ends_with('\n'));
    assert_eq!(compact_manifest(&p).unwrap(), lines);
}

fn output_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    common::walk_files(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".jsonld"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p.strip_prefix(dir).unwrap().to_path_buf(), bytes)
        })
        .collect()
}

#[test]
fn shards_are_disjoint_and_their_union_is_a_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let names = make_inputs(d, 16);
    let whole = run(&["extract", "in", "--out", "all"], d);
    assert_eq!(whole.status.code(), Some(2), "{}", stderr(&whole));
    let mut seen: Vec<String> = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let out = run(&["extract", "in", "--out", "parts", "--shard", &shard], d);
        assert!(
            out.status.code().is_some_and(|c| c <= 2),
            "{}",
            stderr(&out)
        );
        let text = std::fs::read_to_string(d.join(format!("parts/index-{k}-of-3.ndjson")))
            .unwrap_or_default();
        seen.extend(parsed_lines(&text).into_iter().map(|l| l.path));
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "shards overlap: {seen:?}");
    let mut expected: Vec<String> = names.iter().map(|n| format!("in/{n}")).collect();
    expected.extend(["in/broken.png".into(), "in/notes.txt".into()]);
    expected.sort();
    assert_eq!(sorted, expected);
    assert_eq!(output_files(&d.join("all")), output_files(&d.join("parts")));
    for bad in ["0/3", "4/3", "1/0", "x", "1/2/3"] {
        let out = run(&["extract", "in", "--out", "o", "--shard", bad], d);
        assert_eq!(out.status.code(), Some(1), "{bad}: {}", stderr(&out));
    }
}

#[test]
fn files_from_reads_paths_from_a_file_or_stdin() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let names = make_inputs(d, 3);
    std::fs::write(
        d.join("list.txt"),
        format!("in/{}\r\n\nin/{}\n", names[2], names[0]),
    )
    .unwrap();
    let out = run(
        &["extract", "--files-from", "list.txt", "--format", "text"],
        d,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let heads: Vec<&str> = text.lines().filter(|l| l.starts_with("image:")).collect();
    assert_eq!(heads.len(), 2, "{text}");
    assert!(
        heads[0].contains(&names[2]) && heads[1].contains(&names[0]),
        "{text}"
    );

    let mut child = mmprompt()
        .args(["extract", "--files-from", "-", "--out", "o"])
        .current_dir(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "in/{}\nin/{}", names[1], names[2]).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = parsed_lines(&manifest_text(&d.join("o")));
    let paths: Vec<&str> = lines.iter().map(|l| l.path.as_str()).collect();
    assert_eq!(paths.len(), 2);
    assert!(paths.contains(&format!("in/{}", names[1]).as_str()));
}

#[test]
fn a_partial_audio_result_is_an_error_line_with_its_output() {
    use audio_signals::{pcm16, raw_wav};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = pcm16(1.0, 16_000);
    // The header claims three times the data: a partial document plus an error.
    std::fs::write(
        d.join("liar.wav"),
        raw_wav(1, 16_000, 16, 1, good.len() as u32 * 3, &good),
    )
    .unwrap();
    let out = run(&["extract", "liar.wav", "--out", "o"], d);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let lines = parsed_lines(&manifest_text(&d.join("o")));
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(l.status, Status::Error);
    assert_eq!(l.kind.as_deref(), Some("audio"));
    assert!(l.code.is_some() && l.message.is_some(), "{l:?}");
    let output = l.output.as_ref().expect("partial output recorded");
    let doc: Value = serde_json::from_slice(&std::fs::read(d.join(output)).unwrap()).unwrap();
    common::assert_valid(&doc, output);
}

/// The shared walk the batch checks above rely on: with a walk that missed nested files,
/// "no temporary file left" and "the same outputs both ways" would pass without looking.
#[test]
fn the_shared_walk_lists_nested_files_sorted_and_does_not_follow_links() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for rel in ["b.txt", "a/z.jsonld", "a/deep/er/x.tmp", "c/.hidden"] {
        let p = d.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, rel).unwrap();
    }
    std::fs::create_dir(d.join("empty")).unwrap();
    std::os::unix::fs::symlink(".", d.join("a/loop")).unwrap();
    let got: Vec<String> = common::walk_files(d)
        .iter()
        .map(|p| p.strip_prefix(d).unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        got,
        [
            "a/deep/er/x.tmp",
            "a/loop",
            "a/z.jsonld",
            "b.txt",
            "c/.hidden"
        ]
    );
    assert_eq!(temp_files(d), [d.join("a/deep/er/x.tmp")]);
}

/// Counts the `fsync` and `fdatasync` calls of `extract ARGS` and its workers, by strace.
/// Each process gets its own log (`-ff`): in one shared log, calls made at the same moment
/// by two processes are split into `<unfinished ...>` and `resumed` lines.
fn sync_calls(dir: &Path, args: &[&str]) -> (usize, usize) {
    let logs = dir.join(format!("strace-{}", args.len()));
    std::fs::create_dir_all(&logs).expect("log folder");
    let o = std::process::Command::new("strace")
        .args(["-f", "-ff", "-qq", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(logs.join("log"))
        .arg(env!("CARGO_BIN_EXE_mmprompt"))
        .args(["extract", "in", "--out", "out", "-q", "--force"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("strace runs");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let text: String = std::fs::read_dir(&logs)
        .expect("strace logs")
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).expect("strace log"))
        .collect();
    let count = |call: &str| {
        text.lines()
            .filter(|l| l.contains(&format!("{call}(")) && l.contains("= 0"))
            .count()
    };
    (count("fsync"), count("fdatasync"))
}

#[test]
fn durable_runs_sync_every_output_and_manifest_line_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let names = make_inputs(dir.path(), 3);
    assert_eq!(sync_calls(dir.path(), &[]), (0, 0));
    let (fsyncs, datasyncs) = sync_calls(dir.path(), &["--durable"]);
    // Each of the 3 outputs: its data, then its folder after the rename (a compaction adds
    // two more, but only when it changes the manifest). Each of the 5 manifest lines (3
    // outputs, the broken PNG, the text file) is synced as it is appended.
    assert!(fsyncs >= 2 * names.len(), "{fsyncs} fsync calls");
    assert!(datasyncs >= names.len() + 2, "{datasyncs} fdatasync calls");
    assert_final_state(dir.path(), &names);
    let o = run(
        &["extract", "in", "--durable", "--format", "text"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "--durable needs --out");
}
