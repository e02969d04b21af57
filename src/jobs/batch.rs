//! Batch jobs: many inputs through [`extract_file`] on a bounded worker pool, with a manifest
//! (`OUT/index.ndjson`) that makes a run observable while it goes and resumable after a crash.
//!
//! Memory is bounded by the pool, not by the number of inputs: the pool has `jobs` threads
//! and each runs one worker loop (a rayon broadcast, so no thread can pick up a second loop
//! while it waits inside its own file's parallel work), which takes the next input index
//! from a shared counter and holds at most one decoded input at a time. So at most `jobs`
//! decoded inputs are ever in flight, and parallel work inside a file (image bands, hashing)
//! only borrows threads whose loop has run out of inputs. Without `--out`, rendered texts
//! (not decoded media) that finish ahead of an earlier input wait in a reorder buffer so
//! stdout keeps input order.
//!
//! The manifest holds one JSON line per input. Lines are appended as files finish, each with a
//! single `write` call on a file opened for appending, so a killed run leaves whole lines (at
//! worst one torn last line, which the next run drops). A later line for a path supersedes an
//! earlier one; the manifest is compacted to one line per path at the start and at the end of
//! every run. Only one batch may write to an output directory at a time.

use crate::doc::ContextMode;
use crate::jobs::extract::{extract_as, extract_file, ExtractOptions};
use crate::jobs::fsio::{self, Durability, FsError, Input, Skipped};
use crate::jobs::manifest::{self, Manifest, ManifestError};
use crate::jobs::worker::{self, Isolation};
use crate::media::{sniff_file, MediaKind};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// File name of the manifest inside the output directory.
pub const MANIFEST_NAME: &str = "index.ndjson";

/// How each document is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One pretty JSON-LD document per input.
    Jsonld,
    /// One JSON-LD document per line.
    Ndjson,
    /// Compact text lines for prompts.
    Text,
}

impl OutputFormat {
    /// The name the command line uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jsonld => "jsonld",
            Self::Ndjson => "ndjson",
            Self::Text => "text",
        }
    }

    /// Output file suffix appended to the input's relative path.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Jsonld | Self::Ndjson => ".jsonld",
            Self::Text => ".txt",
        }
    }
}

/// Everything that shapes a batch run.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Per-file extraction parameters.
    pub extract: ExtractOptions,
    /// Output rendering.
    pub format: OutputFormat,
    /// Output directory; `None` prints to stdout in input order (no manifest, no resume).
    pub out: Option<PathBuf>,
    /// Worker count (at least 1); also the bound on decoded inputs in memory.
    pub jobs: usize,
    /// Redo inputs whose outputs are already up to date.
    pub force: bool,
    /// The part of the inputs this run does; it only names the manifest, the plan must
    /// already be filtered with [`Plan::retain_shard`].
    pub shard: Option<Shard>,
    /// Sync every output and manifest line to the disk before counting it written.
    pub durability: Durability,
    /// Run each input in a worker process ([`crate::jobs::worker`]) instead of on a thread
    /// of this one, so an input that aborts, runs out of memory or hangs costs only itself.
    pub isolation: Option<Isolation>,
}

/// What a batch tells its caller while it runs, in the manner of ripgrep's `Sink`: the
/// library writes no line itself, so a program embedding it decides what (if anything)
/// its user sees. The CLI turns these calls into error lines, a progress bar or log lines,
/// and the summary.
///
/// The workers call it concurrently, each as its own input finishes, so an
/// implementation synchronises what it keeps. Every method has a default that ignores the
/// event.
pub trait BatchSink: Sync {
    /// The output folder and the manifest are ready and the run starts on its inputs:
    /// the moment to start a clock or draw a progress bar. Called once, before any other
    /// event.
    fn started(&self) {}
    /// An argument could not be walked or read before the run started. It counts as a
    /// failure but not as a processed input, so no [`BatchSink::file_done`] follows.
    /// `message` names the path. The default ignores it.
    fn walk_error(&self, _path: &str, _code: &str, _message: &str) {}
    /// An input failed (or produced only a partial result); `code` and `message` are what
    /// its manifest line records, and `message` names the path. Followed by
    /// [`BatchSink::file_done`] for the same input.
    fn file_error(&self, _path: &str, _code: &str, _message: &str) {}
    /// An input finished: `bytes` were read for it, and it `failed` or not. Inputs whose
    /// outputs were up to date count too, with the bytes of their size.
    fn file_done(&self, _bytes: u64, _failed: bool) {}
    /// The run ended normally with `summary`. A run ended by a [`BatchError`] does not
    /// call it.
    fn finished(&self, _summary: &Summary) {}
}

/// A [`BatchSink`] that ignores every event, for callers that only want the [`Summary`]
/// and the manifest.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl BatchSink for Quiet {}

/// Final state of one input in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The output was written.
    Ok,
    /// No output, or (for a damaged audio stream) a partial one; `code` says why.
    Error,
    /// Not processed: not a media file, a symbolic link not followed or a special file.
    Skipped,
}

/// One manifest line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestLine {
    /// The input path as the batch opened it.
    pub path: String,
    /// Final state.
    pub status: Status,
    /// Lower-case hex SHA-256 of the input bytes, when they could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Hash of the effective parameters (see [`params_hash`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<String>,
    /// The output file, when one was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// `image` or `audio`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Regions (images) or segments (audio) in the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// Input size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Wall time spent on this input.
    #[serde(default)]
    pub elapsed_ms: u64,
    /// Machine-readable error or skip reason ([`crate::jobs::extract::ExtractError::code`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human-readable error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ManifestLine {
    fn new(path: String, status: Status) -> Self {
        Self {
            path,
            status,
            sha256: None,
            params: None,
            output: None,
            kind: None,
            count: None,
            bytes: None,
            elapsed_ms: 0,
            code: None,
            message: None,
        }
    }
}

/// Why a batch stopped as a whole (per-file failures never stop it).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The output directory or the manifest could not be prepared or compacted.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The manifest could not be read, compacted or appended to; going on would lose the
    /// record of finished work.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Printing to stdout failed (for example a closed pipe).
    #[error("cannot write to stdout: {0}")]
    Stdout(#[source] std::io::Error),
    /// The worker pool could not start.
    #[error("cannot start worker pool: {0}")]
    Pool(#[from] rayon::ThreadPoolBuildError),
}

/// Inputs sorted out before a run.
#[derive(Debug, Default)]
pub struct Plan {
    /// Inputs to extract, in input order.
    pub inputs: Vec<Planned>,
    /// Files found by walking a directory that are neither image nor audio.
    pub not_media: Vec<Input>,
    /// Entries found by walking that are not regular files to open (links not followed,
    /// FIFOs, sockets, devices).
    pub skipped: Vec<Skipped>,
    /// Arguments that could not be read.
    pub walk_errors: Vec<FsError>,
}

/// An input to extract, with its kind when planning sniffed it.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Where it is and where its outputs go.
    pub input: Input,
    /// The sniffed kind of a file found by walking; `None` for a file named on the command
    /// line (never sniffed in advance, see [`plan`]) or one that could not be opened.
    pub kind: Option<MediaKind>,
}

/// Expands `paths` (walking directories as `walk` says) and sorts the files found. Files
/// named on the command line are always attempted, so a mislabelled file gets a clear error;
/// files found by walking a directory are sniffed and non-media set aside. A file that
/// cannot even be opened for sniffing stays an input, so that it gets an error line and an
/// `error` manifest line instead of passing for a non-media file.
pub fn plan(paths: &[PathBuf], walk: &fsio::Walk) -> Plan {
    let found = fsio::expand(paths, walk);
    let mut plan = Plan {
        walk_errors: found.errors,
        skipped: found.skipped,
        ..Plan::default()
    };
    for input in found.inputs {
        let named = paths.iter().any(|p| p == &input.path);
        if named {
            plan.inputs.push(Planned { input, kind: None });
            continue;
        }
        match sniff_file(&input.path) {
            Ok(kind @ (MediaKind::Image | MediaKind::Audio)) => plan.inputs.push(Planned {
                input,
                kind: Some(kind),
            }),
            Err(_) => plan.inputs.push(Planned { input, kind: None }),
            Ok(MediaKind::Unknown) => plan.not_media.push(input),
        }
    }
    plan
}

/// One of N disjoint parts of a batch, for running N workers (machines or processes) over the
/// same inputs: every input falls in exactly one part, decided by a stable hash of its path
/// relative to its root argument (the output path), so it does not depend on the order of
/// the walk, on the machine, or on where the tree is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based part number, at most `count`.
    pub index: u64,
    /// Number of parts, at least 1.
    pub count: u64,
}

/// Why a `--shard` value is not usable.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not K/N with 1 <= K <= N (e.g. 2/4)")]
pub struct ShardParseError(String);

impl std::str::FromStr for Shard {
    type Err = ShardParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ShardParseError(s.to_owned());
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = k.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    /// Whether `input` belongs to this part.
    pub fn contains(&self, input: &Input) -> bool {
        let digest = Sha256::digest(input.rel.to_string_lossy().as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % self.count == self.index - 1
    }

    /// The manifest file name for this part, so parts sharing an output directory never
    /// compact each other's manifest.
    pub fn manifest_name(&self) -> String {
        format!("index-{}-of-{}.ndjson", self.index, self.count)
    }
}

impl Plan {
    /// Keeps only the inputs (and non-media files) of `shard`; argument errors stay, since
    /// every part should report them.
    pub fn retain_shard(&mut self, shard: &Shard) {
        self.inputs.retain(|p| shard.contains(&p.input));
        self.not_media.retain(|i| shard.contains(i));
        self.skipped.retain(|s| shard.contains(&s.input));
    }
}

/// Reads a list of paths, one per line (as `--files-from` takes it). Empty lines are skipped
/// and a trailing `\r` is dropped, so lists written on Windows work too.
///
/// # Errors
/// The I/O error of `reader`, or invalid UTF-8 in a line.
pub fn read_path_list(reader: impl std::io::BufRead) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for line in reader.lines() {
        let line = line?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if !line.is_empty() {
            paths.push(PathBuf::from(line));
        }
    }
    Ok(paths)
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Outputs written.
    pub ok: usize,
    /// Inputs (and unreadable arguments) that failed, partial results included.
    pub failed: usize,
    /// Inputs skipped because their output was up to date.
    pub up_to_date: usize,
    /// Files skipped because they are not media.
    pub not_media: usize,
    /// Walked entries skipped as links not followed or special files.
    pub skipped: usize,
    /// Input bytes processed (up-to-date inputs excluded).
    pub bytes: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// The slowest processed inputs, slowest first (at most three).
    pub slowest: Vec<(String, Duration)>,
}

impl Summary {
    /// The stderr report: counts, throughput and the slowest files.
    pub fn report(&self, out: Option<&Path>) -> String {
        // Only mentioned when there are some, so the usual line stays short.
        let links = if self.skipped > 0 {
            format!(
                ", {} skipped (links not followed, special files)",
                self.skipped
            )
        } else {
            String::new()
        };
        let mut s = match out {
            Some(out) => format!(
                "mmprompt: {} written to {}, {} failed, {} skipped (not media){links}, {} skipped (up to date)\n",
                self.ok,
                out.display(),
                self.failed,
                self.not_media,
                self.up_to_date
            ),
            None => format!(
                "mmprompt: {} ok, {} failed, {} skipped (not media){links}\n",
                self.ok, self.failed, self.not_media
            ),
        };
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let processed = self.ok + self.failed;
        s.push_str(&format!(
            "mmprompt: {processed} files in {:.2} s: {:.1} files/s, {:.2} MB/s",
            self.elapsed.as_secs_f64(),
            processed as f64 / secs,
            self.bytes as f64 / 1e6 / secs
        ));
        if !self.slowest.is_empty() {
            let list: Vec<String> = self
                .slowest
                .iter()
                .map(|(p, d)| format!("{p} ({} ms)", d.as_millis()))
                .collect();
            s.push_str(&format!("; slowest: {}", list.join(", ")));
        }
        s.push('\n');
        s
    }
}

/// Hash of everything that shapes an output, so a resumed run redoes an input whose output
/// was made with other parameters (or by another version of the program).
pub fn params_hash(options: &ExtractOptions, format: OutputFormat) -> String {
    let value = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "image": options.image.to_json(),
        "audio": options.audio.to_json(),
        "context": match options.context {
            ContextMode::Reference => "reference",
            ContextMode::Inline => "inline",
        },
        "overlay": options.overlay,
        "format": format.name(),
    });
    let digest = Sha256::digest(value.to_string().as_bytes());
    format!("{digest:x}")[..16].to_owned()
}

/// SHA-256 of a file, streamed so that a large input is never held whole for hashing.
///
/// # Errors
/// The I/O error when `path` cannot be opened or read.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Reads the manifest at `path`, keeps the last valid line per input path (in the order the
/// paths first appeared), drops lines that do not parse (a torn last line from a killed run)
/// and rewrites it atomically. A missing manifest is an empty one.
///
/// # Errors
/// A [`BatchError::Manifest`] when the manifest cannot be read or rewritten.
pub fn compact_manifest(path: &Path) -> Result<Vec<ManifestLine>, BatchError> {
    Ok(manifest::compact(path, manifest_key)?)
}

fn manifest_key(line: &ManifestLine) -> String {
    line.path.clone()
}

/// Shared, read-only state of a run.
struct Ctx {
    params: String,
    previous: HashMap<String, ManifestLine>,
}

/// Reorders finished stdout texts back into input order.
struct Printer<'w> {
    out: &'w mut (dyn Write + Send),
    next: usize,
    pending: BTreeMap<usize, Option<String>>,
}

impl Printer<'_> {
    fn finish(&mut self, index: usize, text: Option<String>) -> std::io::Result<()> {
        self.pending.insert(index, text);
        while let Some(text) = self.pending.remove(&self.next) {
            if let Some(t) = text {
                self.out.write_all(t.as_bytes())?;
            }
            self.next += 1;
        }
        Ok(())
    }
}

/// Per-run tallies, updated by the workers.
#[derive(Default)]
struct Tally {
    ok: usize,
    failed: usize,
    up_to_date: usize,
    bytes: u64,
    times: Vec<(String, Duration)>,
}

/// What one input came to.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    Ok,
    Failed,
    UpToDate,
}

/// One input's result, as the batch records and prints it; it crosses the pipe from an
/// isolated worker as it is.
#[derive(Serialize, Deserialize)]
pub(crate) struct Done {
    outcome: Outcome,
    line: Option<ManifestLine>,
    print: Option<String>,
    bytes: u64,
}

/// Runs `plan`: extracts every input on `options.jobs` workers, writes outputs and the
/// manifest (with `--out`) or prints to `stdout` in input order, and reports per-file errors
/// to `sink` as they happen. Only a failure that makes going on pointless (the manifest or
/// stdout cannot be written) ends the run early with an error.
///
/// # Errors
/// A [`BatchError`] when the output folder, the manifest or `stdout` cannot be written, or
/// the worker pool cannot be built. Failures of single inputs are not errors of the run:
/// they go to `sink` and the manifest, and are counted in the [`Summary`].
pub fn run(
    plan: &Plan,
    options: &BatchOptions,
    stdout: &mut (dyn Write + Send),
    sink: &dyn BatchSink,
) -> Result<Summary, BatchError> {
    let start = Instant::now();
    let params = params_hash(&options.extract, options.format);
    let mut manifest = None;
    let mut previous = HashMap::new();
    if let Some(out) = &options.out {
        std::fs::create_dir_all(out).map_err(|e| FsError {
            path: out.clone(),
            kind: fsio::FsErrorKind::Write(if out.exists() && !out.is_dir() {
                std::io::Error::other("it is a file, not a folder (--out names a folder)")
            } else {
                e
            }),
        })?;
        fsio::remove_stale_temps(out)?;
        let path = out.join(
            options
                .shard
                .map_or_else(|| MANIFEST_NAME.to_owned(), |s| s.manifest_name()),
        );
        for line in manifest::compact_with(&path, manifest_key, options.durability)? {
            previous.insert(line.path.clone(), line);
        }
        manifest = Some(Manifest::open(&path)?.with_durability(options.durability));
    }
    let fatal: Mutex<Option<BatchError>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    let fail = |e: BatchError| {
        stop.store(true, Ordering::SeqCst);
        if let Ok(mut f) = fatal.lock() {
            f.get_or_insert(e);
        }
    };
    let append = |line: &ManifestLine| {
        if let Some(m) = &manifest {
            if let Err(e) = m.append(line) {
                fail(e.into());
            }
        }
    };

    sink.started();
    let mut failed = 0;
    for e in &plan.walk_errors {
        let path = e.path.to_string_lossy().into_owned();
        sink.walk_error(&path, e.code(), &e.to_string());
        failed += 1;
        let mut line = ManifestLine::new(path, Status::Error);
        line.code = Some(e.code().to_owned());
        line.message = Some(e.to_string());
        append(&line);
    }
    for input in &plan.not_media {
        let mut line = ManifestLine::new(input.display_name(), Status::Skipped);
        line.code = Some("not_media".to_owned());
        append(&line);
    }
    for skipped in &plan.skipped {
        let mut line = ManifestLine::new(
            skipped.input.path.to_string_lossy().into_owned(),
            Status::Skipped,
        );
        line.code = Some(skipped.reason.code().to_owned());
        line.message = Some(skipped.reason.message().to_owned());
        append(&line);
    }

    let ctx = Ctx { params, previous };
    let tally = Mutex::new(Tally::default());
    let printer = Mutex::new(Printer {
        out: stdout,
        next: 0,
        pending: BTreeMap::new(),
    });
    let next = AtomicUsize::new(0);
    let jobs = options.jobs.max(1);
    // A native backend's own threads count against --jobs too: none beside busy workers,
    // all of them for a file that runs alone.
    crate::vision::pipeline::set_native_threads(
        options.extract.image.backend,
        if plan.inputs.len() >= jobs { 1 } else { jobs },
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("mmprompt-worker-{i}"))
        .build()?;
    let total = plan.inputs.len();
    let worker = || {
        // This thread's worker process, with isolation: started for the first input and
        // again after one dies.
        let mut process = None;
        loop {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let i = next.fetch_add(1, Ordering::SeqCst);
            let Some(planned) = plan.inputs.get(i) else {
                break;
            };
            let input = &planned.input;
            let previous = ctx.previous.get(&input.display_name());
            let started = Instant::now();
            let mut done = match &options.isolation {
                None => process_one(planned, previous, options, &ctx.params, sink),
                Some(isolation) => {
                    // Threads of workers that have run out of inputs go to the ones left.
                    let threads = (jobs / jobs.min(total - i).max(1)).max(1);
                    worker::dispatch(&mut process, isolation, planned, previous, threads, sink)
                        .unwrap_or_else(|f| worker_failed(input, &f, options, &ctx.params, sink))
                }
            };
            let elapsed = started.elapsed();
            if let Some(line) = done.line.as_mut() {
                line.elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
                append(line);
            }
            sink.file_done(done.bytes, matches!(done.outcome, Outcome::Failed));
            if options.out.is_none() {
                if let Ok(mut p) = printer.lock() {
                    if let Err(e) = p.finish(i, done.print.take()) {
                        fail(BatchError::Stdout(e));
                    }
                }
            }
            if let Ok(mut t) = tally.lock() {
                match done.outcome {
                    Outcome::Ok => t.ok += 1,
                    Outcome::Failed => t.failed += 1,
                    Outcome::UpToDate => t.up_to_date += 1,
                }
                if !matches!(done.outcome, Outcome::UpToDate) {
                    t.bytes += done.bytes;
                    t.times.push((input.display_name(), elapsed));
                }
            }
        }
    };
    // One loop per pool thread, from the thread's own broadcast queue: were the loops
    // ordinary spawned jobs, a thread waiting for a stolen half of its file's work could
    // steal a loop not yet started and run it to the end nested inside its own file, holding
    // that file back until the whole batch is done. A loop with no input left returns at once.
    pool.broadcast(|_| worker());
    if let Some(e) = fatal.into_inner().ok().flatten() {
        return Err(e);
    }
    if let Ok(p) = printer.into_inner() {
        p.out.flush().map_err(BatchError::Stdout)?;
    }
    // Drop the append handle before the rewrite so no line can land in the replaced file.
    let manifest_path = manifest.map(|m| m.path().to_path_buf());
    if let Some(path) = manifest_path {
        manifest::compact_with(&path, manifest_key, options.durability)?;
    }
    let mut t = tally.into_inner().unwrap_or_default();
    t.times
        .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    t.times.truncate(3);
    let summary = Summary {
        ok: t.ok,
        failed: failed + t.failed,
        up_to_date: t.up_to_date,
        not_media: plan.not_media.len(),
        skipped: plan.skipped.len(),
        bytes: t.bytes,
        elapsed: start.elapsed(),
        slowest: t.times,
    };
    sink.finished(&summary);
    Ok(summary)
}

impl Done {
    /// A failed input: the error goes to `sink` and into `line`, which becomes an `error`.
    fn failed(
        sink: &dyn BatchSink,
        mut line: ManifestLine,
        code: &str,
        message: String,
        print: Option<String>,
        bytes: u64,
    ) -> Self {
        sink.file_error(&line.path, code, &message);
        line.status = Status::Error;
        line.code = Some(code.to_owned());
        line.message = Some(message);
        Done {
            outcome: Outcome::Failed,
            line: Some(line),
            print,
            bytes,
        }
    }
}

/// An input whose worker gave no answer (`crashed`, `memory`, `timeout`): its manifest
/// line, and no temporary file of that worker left in its output folders.
fn worker_failed(
    input: &Input,
    f: &worker::Failure,
    options: &BatchOptions,
    params: &str,
    sink: &dyn BatchSink,
) -> Done {
    if let (Some(out), Some(pid)) = (&options.out, f.pid) {
        for suffix in [options.format.suffix(), ".overlay.png"] {
            let target = fsio::output_path(out, &input.rel, suffix);
            if let Some(dir) = target.parent() {
                fsio::remove_temps_of(dir, pid);
            }
        }
    }
    let name = input.display_name();
    let bytes = std::fs::metadata(&input.path).map_or(0, |m| m.len());
    let mut line = ManifestLine::new(name.clone(), Status::Error);
    line.params = Some(params.to_owned());
    line.bytes = Some(bytes);
    line.sha256 = sha256_file(&input.path).ok();
    let message = format!("{name}: {}", f.reason);
    Done::failed(sink, line, f.code, message, None, bytes)
}

/// Whether a previous run's `ok` line still stands for an input about to be redone as
/// `current` (hashed, with this run's parameters): the same bytes, made with the same
/// parameters, and the outputs still on disk. Anything else redoes the input.
fn still_stands(previous: &ManifestLine, current: &ManifestLine, outputs_present: bool) -> bool {
    previous.status == Status::Ok
        && previous.sha256 == current.sha256
        && previous.params == current.params
        && outputs_present
}

/// Extracts one input and, with `--out`, writes its outputs. Errors go to the sink as they
/// happen, and into the returned manifest line. `previous` is the input's line from an
/// earlier run, and `params` this run's [`params_hash`].
pub(crate) fn process_one(
    planned: &Planned,
    previous: Option<&ManifestLine>,
    options: &BatchOptions,
    params: &str,
    sink: &dyn BatchSink,
) -> Done {
    let input = &planned.input;
    let path_str = input.display_name();
    // A named input (`-`) is opened at a temporary path; messages name it as the user did.
    let named = |message: String| match &input.name {
        Some(name) => message.replace(&input.path.display().to_string(), name),
        None => message,
    };
    let bytes = std::fs::metadata(&input.path).map_or(0, |m| m.len());
    let mut line = ManifestLine::new(path_str.clone(), Status::Error);
    line.params = Some(params.to_owned());
    line.bytes = Some(bytes);
    let failed = |line: ManifestLine, code: &str, message: String, print: Option<String>| {
        Done::failed(sink, line, code, named(message), print, bytes)
    };
    let suffix = options.format.suffix();
    let targets = options.out.as_ref().map(|out| {
        (
            out,
            fsio::output_path(out, &input.rel, suffix),
            fsio::output_path(out, &input.rel, ".overlay.png"),
        )
    });
    // The input is hashed up front only when a previous run may already have done it;
    // otherwise the hash comes from the read that decodes it, so each file is read once.
    let previous_ok = previous.filter(|prev| !options.force && prev.status == Status::Ok);
    if let (Some((_, output, overlay)), Some(prev)) = (&targets, previous_ok) {
        match sha256_file(&input.path) {
            Ok(h) => line.sha256 = Some(h),
            Err(e) => {
                return failed(
                    line,
                    "io",
                    format!("{path_str}: cannot read file: {e}"),
                    None,
                )
            }
        }
        let outputs_present = output.is_file() && (!options.extract.overlay || overlay.is_file());
        if still_stands(prev, &line, outputs_present) {
            return Done {
                outcome: Outcome::UpToDate,
                line: None,
                print: None,
                bytes,
            };
        }
    }
    let extracted = match planned.kind {
        Some(kind) => extract_as(&input.path, &path_str, kind, &options.extract),
        None => extract_file(&input.path, &path_str, &options.extract),
    };
    let extracted = match extracted {
        Ok(x) => x,
        Err(e) => {
            // A failed input still records which bytes failed, when they can be read.
            if line.sha256.is_none() {
                line.sha256 = sha256_file(&input.path).ok();
            }
            return failed(line, e.code(), e.to_string(), None);
        }
    };
    line.sha256 = Some(extracted.sha256.clone());
    line.kind = Some(extracted.kind.name().to_owned());
    line.count = Some(extracted.count);
    let text = match options.format {
        OutputFormat::Text => Ok(extracted.text),
        OutputFormat::Jsonld => serde_json::to_string_pretty(&extracted.document),
        OutputFormat::Ndjson => serde_json::to_string(&extracted.document),
    };
    let mut text = match text {
        Ok(t) => t,
        Err(e) => return failed(line, "render", format!("{path_str}: {e}"), None),
    };
    if options.format != OutputFormat::Text {
        text.push('\n');
    }
    let mut print = None;
    match &targets {
        None => print = Some(text),
        Some((out, output, overlay)) => {
            if let Some(png) = &extracted.overlay_png {
                if let Err(e) = fsio::write_inside(out, overlay, png, options.durability) {
                    return failed(line, e.code(), e.to_string(), None);
                }
            }
            if let Err(e) = fsio::write_inside(out, output, text.as_bytes(), options.durability) {
                return failed(line, e.code(), e.to_string(), None);
            }
            line.output = Some(output.to_string_lossy().into_owned());
        }
    }
    // A stream damaged part-way still gets its document (what was decoded before the damage,
    // with the error recorded in it), and still counts as a failure.
    if let Some(e) = extracted.partial_error {
        let code = e.kind.code();
        return failed(line, code, format!("partial result written: {e}"), print);
    }
    line.status = Status::Ok;
    Done {
        outcome: Outcome::Ok,
        line: Some(line),
        print,
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sha: Option<&str>, params: Option<&str>) -> ManifestLine {
        let mut l = ManifestLine::new("a.png".into(), Status::Ok);
        l.sha256 = sha.map(str::to_owned);
        l.params = params.map(str::to_owned);
        l
    }

    #[test]
    fn a_previous_line_stands_only_for_the_same_bytes_parameters_and_outputs() {
        let prev = line(Some("h1"), Some("p1"));
        assert!(still_stands(&prev, &line(Some("h1"), Some("p1")), true));
        // Changed input, changed parameters, a deleted output: redo.
        assert!(!still_stands(&prev, &line(Some("h2"), Some("p1")), true));
        assert!(!still_stands(&prev, &line(Some("h1"), Some("p2")), true));
        assert!(!still_stands(&prev, &line(Some("h1"), Some("p1")), false));
        // Nor does a previous failure.
        let mut failed = prev.clone();
        failed.status = Status::Error;
        assert!(!still_stands(&failed, &line(Some("h1"), Some("p1")), true));
    }

    #[test]
    fn the_parameter_hash_follows_every_output_shaping_option() {
        let base = ExtractOptions::default();
        let h = params_hash(&base, OutputFormat::Jsonld);
        assert_eq!(h, params_hash(&base.clone(), OutputFormat::Jsonld));
        assert_eq!(h.len(), 16);
        assert_ne!(h, params_hash(&base, OutputFormat::Text));
        let mut other = base.clone();
        other.overlay = true;
        assert_ne!(h, params_hash(&other, OutputFormat::Jsonld));
        let mut other = base.clone();
        other.image.blur = 2.0;
        assert_ne!(h, params_hash(&other, OutputFormat::Jsonld));
        let mut other = base.clone();
        other.audio.hop_ms = 20.0;
        assert_ne!(h, params_hash(&other, OutputFormat::Jsonld));
        let mut other = base;
        other.context = ContextMode::Inline;
        assert_ne!(h, params_hash(&other, OutputFormat::Jsonld));
    }

    #[test]
    fn shards_parse_and_split_inputs_into_disjoint_parts_that_cover_them() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        for bad in ["0/4", "5/4", "2", "a/b", "1/0", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let inputs: Vec<Input> = (0..200)
            .map(|i| Input {
                path: PathBuf::from(format!("/data/{i}.png")),
                rel: PathBuf::from(format!("{i}.png")),
                name: None,
            })
            .collect();
        let parts: Vec<Shard> = (1..=3).map(|index| Shard { index, count: 3 }).collect();
        for input in &inputs {
            let owners = parts.iter().filter(|s| s.contains(input)).count();
            assert_eq!(owners, 1, "{}", input.rel.display());
        }
        // Every part gets some of 200 inputs, and the split ignores where the tree is mounted.
        for s in &parts {
            assert!(inputs.iter().any(|i| s.contains(i)));
        }
        let moved = Input {
            path: PathBuf::from("/elsewhere/7.png"),
            rel: PathBuf::from("7.png"),
            name: None,
        };
        assert_eq!(
            parts.iter().position(|s| s.contains(&moved)),
            parts.iter().position(|s| s.contains(&inputs[7]))
        );
        assert_ne!(parts[0].manifest_name(), parts[1].manifest_name());
    }

    #[test]
    fn path_lists_drop_empty_lines_and_carriage_returns() {
        let list = b"a.png\r\n\nsub dir/b.wav\n  c.png\r\n";
        assert_eq!(
            read_path_list(&list[..]).unwrap(),
            [
                PathBuf::from("a.png"),
                PathBuf::from("sub dir/b.wav"),
                PathBuf::from("  c.png")
            ]
        );
    }

    #[test]
    fn planning_sniffs_walked_files_but_always_attempts_named_ones() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("x.png");
        image::RgbImage::new(2, 2).save(&png).unwrap();
        let notes = dir.path().join("notes.txt");
        std::fs::write(&notes, "not media").unwrap();
        let walk = fsio::Walk::new(&fsio::WalkOptions::default()).unwrap();

        let walked = plan(&[dir.path().to_path_buf()], &walk);
        let kinds: Vec<_> = walked.inputs.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [Some(MediaKind::Image)]);
        assert_eq!(walked.not_media.len(), 1);
        assert_eq!(walked.not_media[0].path, notes);

        // Named on the command line, the text file is an input (and will get a clear error).
        let named = plan(&[notes.clone(), dir.path().join("missing.png")], &walk);
        assert_eq!(named.inputs.len(), 1);
        assert_eq!(named.inputs[0].kind, None);
        assert!(named.not_media.is_empty());
        assert_eq!(named.walk_errors.len(), 1);
    }

    #[test]
    fn stdout_texts_leave_in_input_order_whatever_order_they_finish_in() {
        let mut out: Vec<u8> = Vec::new();
        {
            let mut p = Printer {
                out: &mut out,
                next: 0,
                pending: BTreeMap::new(),
            };
            p.finish(2, Some("c".into())).unwrap();
            p.finish(1, None).unwrap();
            assert_eq!(p.next, 0, "nothing may leave before input 0");
            p.finish(0, Some("a".into())).unwrap();
            assert_eq!(p.next, 3);
            p.finish(3, Some("d".into())).unwrap();
        }
        assert_eq!(out, b"acd");
    }
}
