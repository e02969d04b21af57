//! A virtual microphone for live tests: ALSA's `file` plugin reading a FIFO that a feeder
//! thread fills at real-time pace, selected through `$XDG_CONFIG_HOME/alsa/asoundrc`.
//!
//! The plugin delivers exactly what the feeder writes, in the configuration cpal opens it
//! with: 48 kHz, 2 channels, f32 (cpal's default for a device that accepts anything). A
//! `plug` in front to convert from S16 mono was tried and is lossy here: the plug reads the
//! FIFO through mmap, so a read that finds fewer bytes than it wants pads with zeros or
//! drops the rest, and the stream runs faster than real time. The feeder therefore writes
//! f32 frames; mono signals are written to every channel, which the downmix averages back
//! to exactly the same values.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The rate the virtual device runs at.
pub const RATE: u32 = 48_000;
/// Samples per feeder write: 10 ms.
const CHUNK: usize = (RATE / 100) as usize;
/// How far ahead of real time the feeder may be.
const AHEAD: Duration = Duration::from_millis(20);

/// What the feeder does once the signal is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Keep writing silence until stopped.
    Silence,
    /// Keep the FIFO open but write nothing more (a device that went quiet).
    Stall,
}

/// A temporary ALSA configuration with a FIFO-backed capture device `vmic` (also the
/// default) and its feeder.
pub struct VirtualMic {
    pub dir: tempfile::TempDir,
    pub fifo: PathBuf,
    stop: Arc<AtomicBool>,
    /// When the current pass of the signal started (the FIFO was opened), as nanoseconds
    /// after `epoch`; the signal restarts from 0 each time cpal reopens the device.
    pass_start_ns: Arc<AtomicU64>,
    /// Frames of the current pass written so far.
    written: Arc<AtomicU64>,
    pub epoch: Instant,
}

impl VirtualMic {
    /// Starts a feeder writing `signal` (mono, 48 kHz) to `channels` channels, then `tail`.
    pub fn start(signal: Vec<f32>, channels: usize, tail: Tail) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("mic.fifo");
        let made = Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success(), "mkfifo failed");
        std::fs::create_dir_all(dir.path().join("alsa")).expect("alsa dir");
        std::fs::write(
            dir.path().join("alsa/asoundrc"),
            format!(
                "pcm.vmic {{ type file; slave.pcm \"null\"; file \"/dev/null\"; infile \"{}\"; format \"raw\"\n\
                 hint {{ show on; description \"Virtual mic (FIFO)\" }} }}\n\
                 pcm.!default \"vmic\"\n",
                fifo.display()
            ),
        )
        .expect("asoundrc");
        let stop = Arc::new(AtomicBool::new(false));
        let pass_start_ns = Arc::new(AtomicU64::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let (f, s, p, w) = (
            fifo.clone(),
            Arc::clone(&stop),
            Arc::clone(&pass_start_ns),
            Arc::clone(&written),
        );
        std::thread::spawn(move || feed(&f, &signal, channels, tail, &s, &p, &w, epoch));
        Self {
            dir,
            fifo,
            stop,
            pass_start_ns,
            written,
            epoch,
        }
    }

    /// `XDG_CONFIG_HOME` for a process that should see the device.
    pub fn config_home(&self) -> &Path {
        self.dir.path()
    }

    /// Frames of the signal written in the current pass.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// When the current pass started.
    pub fn pass_start(&self) -> Instant {
        self.epoch + Duration::from_nanos(self.pass_start_ns.load(Ordering::Acquire))
    }

    /// Real time at which frame `i` of the current pass was due (it is written at most
    /// 20 ms earlier).
    pub fn due(&self, frame: u64) -> Instant {
        self.pass_start() + Duration::from_secs_f64(frame as f64 / f64::from(RATE))
    }
}

impl Drop for VirtualMic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // A feeder blocked opening the FIFO for writing is released by a reader.
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags_nonblock()
            .open(&self.fifo);
    }
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(0o4000) // O_NONBLOCK
    }
}

#[allow(clippy::too_many_arguments)]
fn feed(
    fifo: &Path,
    signal: &[f32],
    channels: usize,
    tail: Tail,
    stop: &AtomicBool,
    pass_start_ns: &AtomicU64,
    written: &AtomicU64,
    epoch: Instant,
) {
    let mut bytes = Vec::with_capacity(CHUNK * channels * 4);
    'reopen: while !stop.load(Ordering::Acquire) {
        // Blocks until the device opens the FIFO; cpal opens it more than once, and each
        // pass starts the signal again so the stream that stays open gets all of it.
        let Ok(mut out) = std::fs::OpenOptions::new().write(true).open(fifo) else {
            return;
        };
        let start = Instant::now();
        pass_start_ns.store(
            start.duration_since(epoch).as_nanos() as u64,
            Ordering::Release,
        );
        written.store(0, Ordering::Release);
        let mut at = 0usize;
        loop {
            if stop.load(Ordering::Acquire) {
                return;
            }
            if at >= signal.len() && tail == Tail::Stall {
                // Quiet but open: poll the stop flag at a slow pace.
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            let due = start + Duration::from_secs_f64(at as f64 / f64::from(RATE));
            if let Some(wait) = due.checked_duration_since(Instant::now() + AHEAD) {
                std::thread::sleep(wait); // pacing a clock, not synchronising
            }
            bytes.clear();
            for i in at..at + CHUNK {
                let v = signal.get(i).copied().unwrap_or(0.0);
                for _ in 0..channels {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
            }
            if out.write_all(&bytes).is_err() {
                continue 'reopen; // the device closed it (broken pipe)
            }
            at += CHUNK;
            written.store(at as u64, Ordering::Release);
        }
    }
}

/// A running `mmprompt live` whose stdout lines are collected with their arrival times.
/// How a live run ended.
pub struct Exit {
    /// Its exit code (`None`: killed at the limit).
    pub code: Option<i32>,
    /// Everything it wrote on stderr.
    pub stderr: String,
    /// Its stdout lines, each with the instant it arrived.
    pub lines: Vec<(Instant, String)>,
}

impl Exit {
    /// The stdout lines parsed as JSON.
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.lines
            .iter()
            .map(|(_, l)| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }
}

pub struct LiveRun {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<(Instant, String)>>>,
    stderr: Arc<Mutex<String>>,
}

impl LiveRun {
    /// Starts `mmprompt live ARGS` against `mic`.
    pub fn start(mic: &VirtualMic, args: &[&str]) -> Self {
        let mut child = crate::common::mmprompt()
            .arg("live")
            .args(args)
            .env("XDG_CONFIG_HOME", mic.config_home())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mmprompt runs");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout piped");
        let l = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                l.lock().expect("lines").push((Instant::now(), line));
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr piped");
        let e = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut s);
            e.lock().expect("stderr").push_str(&s);
        });
        Self {
            child,
            lines,
            stderr,
        }
    }

    /// The lines so far, parsed.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .map(|(_, l)| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }

    /// Sends a signal by name (`INT`, `TERM`).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(ok.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit, killing it past `limit`; returns its code, stderr and
    /// every stdout line with the instant it arrived.
    pub fn wait(mut self, limit: Duration) -> Exit {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break Some(s);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // The readers end with the process; give them a bounded moment.
        let until = Instant::now() + Duration::from_secs(2);
        while (Arc::strong_count(&self.stderr) > 1 || Arc::strong_count(&self.lines) > 1)
            && Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let stderr = self.stderr.lock().expect("stderr").clone();
        assert!(
            status.is_some(),
            "mmprompt live did not exit within {limit:?}; stderr:\n{stderr}"
        );
        Exit {
            code: status.and_then(|s| s.code()),
            stderr,
            lines: self.lines.lock().expect("lines").clone(),
        }
    }
}

/// Polls `cond` every 10 ms until it holds, panicking with `what` after `limit`.
pub fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
