//! Isolated workers: a batch's decoding and analysis in child processes, so that an input
//! which aborts the process, exhausts its memory or never finishes costs that input one
//! `error` line, not the batch (the way Apache Tika forks its parsers).
//!
//! The coordinator ([`super::batch::run`] with [`BatchOptions::isolation`] set) keeps the
//! manifest, the sink and stdout; each of its threads owns one worker process, started
//! when first needed and again after one dies. A worker is a program that calls [`serve`]
//! with the same [`BatchOptions`]: it reads one request per line on stdin, extracts that
//! input and writes its outputs exactly as the in-process path does, and answers with one
//! JSON line on stdout. Nothing a worker prints on stderr reaches the user: the
//! coordinator keeps its last bytes only to tell an allocation failure from other crashes.
//!
//! The memory cap is the worker's address-space limit (`RLIMIT_AS`), which it sets on
//! itself from the first line the coordinator sends, before it reads any input.

use super::batch::{process_one, BatchOptions, BatchSink, Done, ManifestLine};
use super::fsio::Input;
use crate::media::MediaKind;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a batch runs its inputs in worker processes.
#[derive(Debug, Clone)]
pub struct Isolation {
    /// The program that starts a worker, and its arguments: a process that calls [`serve`]
    /// with the same [`BatchOptions`] as the coordinator (the `mmprompt` binary re-runs its
    /// own command line with a hidden `--worker` flag).
    pub command: Vec<OsString>,
    /// Environment variables set for each worker (added to the coordinator's own).
    pub env: Vec<(OsString, OsString)>,
    /// Address-space limit of each worker in bytes; `None` leaves it unlimited.
    pub max_memory: Option<u64>,
    /// Longest time one input may take before its worker is killed; `None` waits forever.
    pub file_timeout: Option<Duration>,
}

/// Why a worker could not serve.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Reading a request or writing an answer failed (the coordinator went away).
    #[error("worker pipe: {0}")]
    Io(#[from] std::io::Error),
    /// A request line is not what the coordinator sends.
    #[error("worker request: {0}")]
    Request(#[from] serde_json::Error),
    /// The address-space limit could not be set.
    #[error("cannot limit worker memory to {limit} bytes: {source}")]
    Limit {
        /// The limit asked for.
        limit: u64,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// The first line a coordinator sends to a new worker.
#[derive(Serialize, Deserialize)]
struct Hello {
    max_memory: Option<u64>,
}

/// One input to process. Paths travel as bytes, since file names need not be UTF-8.
#[derive(Serialize, Deserialize)]
struct Request {
    path: Vec<u8>,
    rel: Vec<u8>,
    name: Option<String>,
    kind: Option<MediaKind>,
    previous: Option<ManifestLine>,
    threads: usize,
}

/// What became of it: the in-process result, and the error events it raised.
#[derive(Serialize, Deserialize)]
struct Response {
    done: Done,
    errors: Vec<(String, String, String)>,
}

#[cfg(unix)]
fn path_bytes(p: &std::path::Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().to_vec()
}

#[cfg(unix)]
fn bytes_path(b: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(OsString::from_vec(b))
}

#[cfg(not(unix))]
fn path_bytes(p: &std::path::Path) -> Vec<u8> {
    p.to_string_lossy().into_owned().into_bytes()
}

#[cfg(not(unix))]
fn bytes_path(b: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&b).into_owned())
}

/// Collects a worker's error events for its answer.
#[derive(Default)]
struct Collect(Mutex<Vec<(String, String, String)>>);

impl BatchSink for Collect {
    fn file_error(&self, path: &str, code: &str, message: &str) {
        if let Ok(mut v) = self.0.lock() {
            v.push((path.to_owned(), code.to_owned(), message.to_owned()));
        }
    }
}

/// Sets this process's address-space limit.
fn limit_memory(bytes: u64) -> Result<(), WorkerError> {
    #[cfg(unix)]
    {
        let err = |source| WorkerError::Limit {
            limit: bytes,
            source,
        };
        // Never above a hard limit set from outside (prlimit, a container): only lowered.
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::AS).map_err(err)?;
        rlimit::setrlimit(rlimit::Resource::AS, bytes.min(hard), hard).map_err(err)
    }
    #[cfg(not(unix))]
    {
        let _ = bytes;
        Ok(())
    }
}

/// Ends this process when its parent does: a coordinator killed mid-batch must not leave
/// workers writing outputs behind the back of the run that resumes it. (Between inputs a
/// worker also ends, as its stdin closes.)
fn watch_parent() {
    #[cfg(unix)]
    {
        let parent = std::os::unix::process::parent_id();
        let _ = std::thread::Builder::new()
            .name("mmprompt-worker-watch".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_millis(50));
                if std::os::unix::process::parent_id() != parent {
                    std::process::exit(3);
                }
            });
    }
}

/// Serves a coordinator: reads its first line (the memory limit, applied at once), then
/// one request per line, and answers each with one line, until `input` ends. Outputs are
/// written under `options.out` as in-process batches write them. The process exits when
/// its parent ends.
///
/// # Errors
/// A [`WorkerError`] when a line cannot be read, parsed or answered, or the limit cannot
/// be set. Failures of inputs are answers, not errors.
pub fn serve(
    options: &BatchOptions,
    input: impl BufRead,
    mut output: impl Write,
) -> Result<(), WorkerError> {
    let params = super::batch::params_hash(&options.extract, options.format);
    let mut lines = input.lines();
    let Some(first) = lines.next() else {
        return Ok(());
    };
    let hello: Hello = serde_json::from_str(&first?)?;
    if let Some(limit) = hello.max_memory {
        limit_memory(limit)?;
    }
    watch_parent();
    // A pool per thread count asked for: the coordinator gives a worker more threads when
    // fewer inputs than workers are left.
    let mut pool: Option<(usize, rayon::ThreadPool)> = None;
    for line in lines {
        let request: Request = serde_json::from_str(&line?)?;
        let threads = request.threads.clamp(1, 1024);
        let planned = super::batch::Planned {
            input: Input {
                path: bytes_path(request.path),
                rel: bytes_path(request.rel),
                name: request.name,
            },
            kind: request.kind,
        };
        crate::vision::pipeline::set_native_threads(options.extract.image.backend, threads);
        if pool.as_ref().is_none_or(|(n, _)| *n != threads) {
            let built = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("mmprompt-worker-{i}"))
                .build()
                .map_err(std::io::Error::other)?;
            pool = Some((threads, built));
        }
        let sink = Collect::default();
        let run = || process_one(&planned, request.previous.as_ref(), options, &params, &sink);
        let done = match &pool {
            Some((_, p)) => p.install(run),
            None => run(),
        };
        let errors = sink.0.into_inner().unwrap_or_default();
        let mut answer = serde_json::to_vec(&Response { done, errors })?;
        answer.push(b'\n');
        output.write_all(&answer)?;
        output.flush()?;
    }
    Ok(())
}

/// Why a worker gave no answer for an input.
#[derive(Debug)]
pub(crate) struct Failure {
    /// `crashed`, `memory`, `timeout` or `worker` (could not start one).
    pub code: &'static str,
    /// What happened, without the input's name.
    pub reason: String,
    /// The worker's process id, when one ran: its temporary files are its own.
    pub pid: Option<u32>,
}

/// Bytes of a worker's stderr kept to classify its end.
const STDERR_TAIL: usize = 8 * 1024;

/// A running worker, owned by one coordinator thread.
pub(crate) struct Process {
    child: Child,
    stdin: Option<ChildStdin>,
    answers: Receiver<String>,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
    stderr_thread: Option<JoinHandle<()>>,
}

impl Process {
    fn spawn(isolation: &Isolation) -> std::io::Result<Self> {
        let Some((program, args)) = isolation.command.split_first() else {
            return Err(std::io::Error::other("no worker command"));
        };
        let mut child = Command::new(program)
            .args(args)
            .envs(isolation.env.iter().map(|(k, v)| (k, v)))
            // Nobody reads a worker's backtraces, and one would push the line that says
            // why it died out of the kept tail.
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (Some(mut stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("worker pipes missing"));
        };
        let (tx, answers) = mpsc::channel();
        // The reader ends when the worker's stdout closes, which is how a dead worker shows.
        std::thread::Builder::new()
            .name("mmprompt-worker-out".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })?;
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let tail = Arc::clone(&stderr_tail);
        let stderr_thread = std::thread::Builder::new()
            .name("mmprompt-worker-err".into())
            .spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stderr.read(&mut buf) {
                    if let Ok(mut t) = tail.lock() {
                        t.extend_from_slice(&buf[..n]);
                        let excess = t.len().saturating_sub(STDERR_TAIL);
                        t.drain(..excess);
                    }
                }
            })?;
        let mut hello = serde_json::to_vec(&Hello {
            max_memory: isolation.max_memory,
        })
        .map_err(std::io::Error::other)?;
        hello.push(b'\n');
        stdin.write_all(&hello)?;
        Ok(Self {
            child,
            stdin: Some(stdin),
            answers,
            stderr_tail,
            stderr_thread: Some(stderr_thread),
        })
    }

    /// Waits for the worker to end (it has, or was killed) and says why it did.
    fn ended(&mut self, isolation: &Isolation) -> Failure {
        self.stdin = None;
        let status = self.child.wait();
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        let tail = self
            .stderr_tail
            .lock()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .unwrap_or_default();
        classify(status.ok(), &tail, effective_limit(isolation.max_memory))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Closing stdin ends a worker between inputs; one still busy is stopped.
        self.stdin = None;
        match self.child.try_wait() {
            Ok(Some(_)) => {}
            _ => {
                let deadline = std::time::Instant::now() + Duration::from_secs(2);
                while std::time::Instant::now() < deadline {
                    if matches!(self.child.try_wait(), Ok(Some(_))) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// Names a worker's end: an allocation that failed under the limit is `memory`, any other
/// abnormal end `crashed`.
fn classify(status: Option<ExitStatus>, stderr_tail: &str, max_memory: Option<u64>) -> Failure {
    let how = match status {
        None => "ended (its exit status could not be read)".to_owned(),
        Some(s) => describe(s),
    };
    if stderr_tail.contains("memory allocation of") {
        let limit = max_memory.map_or_else(
            || "the memory available".to_owned(),
            |m| format!("its limit of {} (--max-memory)", format_bytes(m)),
        );
        return Failure {
            code: "memory",
            reason: format!("worker ran out of memory (over {limit}) and {how}"),
            pid: None,
        };
    }
    // A worker that gave up on its own says why in its last line; that line is ours, and
    // the caller escapes what it prints.
    let said = stderr_tail
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("mmprompt: worker: "))
        .map(|l| format!(": {}", l.chars().take(300).collect::<String>()))
        .unwrap_or_default();
    Failure {
        code: "crashed",
        reason: format!("worker process {how}{said}"),
        pid: None,
    }
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            let name = match sig {
                4 => " (SIGILL)",
                6 => " (SIGABRT)",
                7 => " (SIGBUS)",
                8 => " (SIGFPE)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            return format!("was killed by signal {sig}{name}");
        }
    }
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "ended abnormally".to_owned(),
    }
}

/// `4 GiB`, `11.8 GiB`, `512 MiB` or bytes.
pub(crate) fn format_bytes(n: u64) -> String {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    let units = |unit: u64, name: &str| {
        if n.is_multiple_of(unit) {
            format!("{} {name}", n / unit)
        } else {
            format!("{:.1} {name}", n as f64 / unit as f64)
        }
    };
    if n >= GIB {
        units(GIB, "GiB")
    } else if n >= MIB {
        units(MIB, "MiB")
    } else {
        format!("{n} bytes")
    }
}

/// The limit a worker ends up with: the one asked for, but never above the hard limit this
/// process inherited, which its workers inherit too.
fn effective_limit(asked: Option<u64>) -> Option<u64> {
    #[cfg(unix)]
    {
        let hard = rlimit::getrlimit(rlimit::Resource::AS)
            .ok()
            .map(|(_, hard)| hard)
            .filter(|&h| h != rlimit::INFINITY);
        match (asked, hard) {
            (Some(a), Some(h)) => Some(a.min(h)),
            (a, h) => a.or(h),
        }
    }
    #[cfg(not(unix))]
    {
        asked
    }
}

/// Runs `planned` in the worker held in `slot` (starting one when it is empty), replaying
/// the worker's error events to `sink`. A worker that dies, or is killed for going over
/// the time limit, leaves `slot` empty so the next input gets a fresh one.
pub(crate) fn dispatch(
    slot: &mut Option<Process>,
    isolation: &Isolation,
    planned: &super::batch::Planned,
    previous: Option<&ManifestLine>,
    threads: usize,
    sink: &dyn BatchSink,
) -> Result<Done, Failure> {
    let process = match slot {
        Some(p) => p,
        None => slot.insert(Process::spawn(isolation).map_err(|e| Failure {
            code: "worker",
            reason: format!("cannot start a worker process: {e}"),
            pid: None,
        })?),
    };
    let request = Request {
        path: path_bytes(&planned.input.path),
        rel: path_bytes(&planned.input.rel),
        name: planned.input.name.clone(),
        kind: planned.kind,
        previous: previous.cloned(),
        threads,
    };
    let sent = serde_json::to_vec(&request)
        .map_err(std::io::Error::other)
        .and_then(|mut line| {
            line.push(b'\n');
            match process.stdin.as_mut() {
                Some(stdin) => stdin.write_all(&line).and_then(|()| stdin.flush()),
                None => Err(std::io::Error::other("worker stdin closed")),
            }
        });
    let answer = match sent {
        // A worker that died between inputs shows here, or as no answer below.
        Err(_) => Err(RecvTimeoutError::Disconnected),
        Ok(()) => match isolation.file_timeout {
            Some(limit) => process.answers.recv_timeout(limit),
            None => process
                .answers
                .recv()
                .map_err(|_| RecvTimeoutError::Disconnected),
        },
    };
    let result = match answer {
        Ok(line) => match serde_json::from_str::<Response>(&line) {
            Ok(response) => {
                for (path, code, message) in &response.errors {
                    sink.file_error(path, code, message);
                }
                return Ok(response.done);
            }
            Err(e) => {
                let _ = process.child.kill();
                let mut failure = process.ended(isolation);
                failure.reason = format!("worker answered nonsense ({e}); {}", failure.reason);
                failure
            }
        },
        Err(RecvTimeoutError::Timeout) => {
            let _ = process.child.kill();
            let _ = process.ended(isolation);
            let secs = isolation.file_timeout.map_or(0.0, |d| d.as_secs_f64());
            Failure {
                code: "timeout",
                reason: format!("took longer than --file-timeout {secs} s; its worker was stopped"),
                pid: None,
            }
        }
        Err(RecvTimeoutError::Disconnected) => process.ended(isolation),
    };
    let pid = process.child.id();
    *slot = None;
    Err(Failure {
        pid: Some(pid),
        ..result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allocation_failure_is_memory_and_other_deaths_are_crashes() {
        let oom = classify(
            None,
            "memory allocation of 4294967296 bytes failed\n",
            Some(1 << 30),
        );
        assert_eq!(oom.code, "memory");
        assert!(
            oom.reason.contains("its limit of 1 GiB (--max-memory)"),
            "{}",
            oom.reason
        );
        let crash = classify(None, "mmprompt: internal error: boom", None);
        assert_eq!(crash.code, "crashed");
        assert_eq!(format_bytes(512 << 20), "512 MiB");
        assert_eq!(format_bytes(12_638_091_264), "11.8 GiB");
        assert_eq!(format_bytes(1000), "1000 bytes");
    }

    #[test]
    fn paths_cross_the_pipe_byte_for_byte() {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let raw = std::path::Path::new(std::ffi::OsStr::from_bytes(b"a\xff\nb.wav"));
            assert_eq!(bytes_path(path_bytes(raw)), raw);
        }
    }
}
