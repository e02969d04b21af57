//! What a batch tells the user while it runs (the CLI's [`BatchSink`]): per-file error
//! lines, progress and the final summary, all on stderr so stdout stays clean for documents.
//!
//! Progress is an `indicatif` bar on a terminal and plain periodic lines otherwise (a log file
//! or CI output would fill with bar redraws). A line is written whenever another 5 % of the
//! files is done, or two seconds after the previous one, whichever comes first; the 5 % rule
//! makes the lines depend on counts alone for small batches (every file of a batch of 20 or
//! fewer), so tests see them without sleeping.
//!
//! With [`LogFormat::Json`] every line is a `tracing` event (target `mmprompt`) with an
//! `event` field (`error`, `progress`, `slow_file`, `summary`, `fatal`); the binary installs a
//! JSON subscriber, so each becomes one JSON object per line with `timestamp`, `level` and
//! the fields flattened. Error events carry `path`, `code` and `message` as the manifest does.
//! A program embedding the library implements [`BatchSink`] itself instead.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mmprompt::jobs::batch::{BatchSink, Summary};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How log, progress, error and summary lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `mmprompt: error: PATH: reason` and friends, for people.
    #[default]
    Text,
    /// One JSON object per line, for programs.
    Json,
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// No progress at all (`--quiet`, or a single input printed to stdout).
    #[default]
    Off,
    /// A live bar (stderr is a terminal).
    Bar,
    /// Periodic log lines (stderr is a file or a pipe).
    Lines,
}

/// Everything that shapes what a run reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportOptions {
    /// Line format.
    pub format: LogFormat,
    /// Progress display.
    pub progress: ProgressMode,
    /// Whether to write the summary at the end (errors are always written).
    pub summary: bool,
}

/// Fraction of the files between two progress lines, as a divisor (5 %).
const LINE_STEPS: usize = 20;
/// Longest time between two progress lines.
const LINE_INTERVAL: Duration = Duration::from_secs(2);

/// Whether a progress line is due after `done` of `total` files, given the 5 % step of the
/// previous line and the time since it; returns the step to remember.
fn line_due(done: usize, total: usize, last_step: usize, since: Duration) -> Option<usize> {
    let step = done * LINE_STEPS / total.max(1);
    (step > last_step || since >= LINE_INTERVAL).then_some(step)
}

#[derive(Debug)]
struct State {
    done: usize,
    failed: usize,
    bytes: u64,
    last_step: usize,
    last_line: Instant,
}

/// Writes the lines of one run; shared by the workers.
#[derive(Debug)]
pub struct Reporter {
    options: ReportOptions,
    total_files: usize,
    total_bytes: u64,
    out: Option<PathBuf>,
    /// Set when the batch starts on its inputs, so preparing the run (sizing the inputs,
    /// compacting the manifest) counts in neither the rate nor the ETA.
    start: OnceLock<Instant>,
    bar: OnceLock<ProgressBar>,
    state: Mutex<State>,
}

/// Writes one line to stderr. A closed stderr leaves nobody to tell, so failures are ignored.
fn write_line(line: &str) {
    super::common::say_line(line);
}

impl Reporter {
    /// A reporter for `total_files` inputs holding `total_bytes` (the bar's rate and ETA are
    /// in bytes, since file sizes vary far more than per-byte cost), writing to `out` (it
    /// names the folder in the summary).
    pub fn new(
        options: ReportOptions,
        total_files: usize,
        total_bytes: u64,
        out: Option<PathBuf>,
    ) -> Self {
        Self {
            options,
            total_files,
            total_bytes,
            out,
            start: OnceLock::new(),
            bar: OnceLock::new(),
            state: Mutex::new(State {
                done: 0,
                failed: 0,
                bytes: 0,
                last_step: 0,
                last_line: Instant::now(),
            }),
        }
    }

    /// Starts the clock and, on a terminal, draws the bar.
    fn start(&self) {
        let _ = self.start.set(Instant::now());
        if self.options.progress == ProgressMode::Bar && self.bar.get().is_none() {
            let bar =
                ProgressBar::with_draw_target(Some(self.total_bytes), ProgressDrawTarget::stderr());
            // The template is a constant, so this only falls back if indicatif changes it.
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{wide_bar}] {msg} {binary_bytes_per_sec} ETA {eta}",
            ) {
                bar.set_style(style);
            }
            bar.set_message(format!("0/{} files, 0 failed", self.total_files));
            bar.enable_steady_tick(Duration::from_millis(200));
            let _ = self.bar.set(bar);
        }
    }

    /// Writes a line above the bar, if there is one, so the bar is redrawn below it.
    fn emit(&self, line: &str) {
        match self.bar.get() {
            Some(bar) => bar.suspend(|| write_line(line)),
            None => write_line(line),
        }
    }

    /// An error about `path`; `message` already names the path (it is what the manifest
    /// records), `code` is the manifest's code. Written even with `--quiet`.
    fn error(&self, path: &str, code: &str, message: &str) {
        match self.options.format {
            LogFormat::Text => self.emit(&format!("mmprompt: error: {message}")),
            LogFormat::Json => {
                tracing::error!(target: "mmprompt", event = "error", path, code, message)
            }
        }
    }

    /// Counts an error found before the run (a bad argument) in the live failure count.
    fn count_failure(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.failed += 1;
        }
    }

    /// One input finished (`bytes` read, `failed` or not).
    fn done(&self, bytes: u64, failed: bool) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        s.done += 1;
        s.bytes += bytes;
        if failed {
            s.failed += 1;
        }
        match self.options.progress {
            ProgressMode::Off => {}
            ProgressMode::Bar => {
                if let Some(bar) = self.bar.get() {
                    bar.inc(bytes);
                    bar.set_message(format!(
                        "{}/{} files, {} failed",
                        s.done, self.total_files, s.failed
                    ));
                }
            }
            ProgressMode::Lines => {
                if let Some(step) =
                    line_due(s.done, self.total_files, s.last_step, s.last_line.elapsed())
                {
                    s.last_step = step;
                    s.last_line = Instant::now();
                    // Under the lock, so lines leave in count order.
                    self.progress_line(&s);
                }
            }
        }
    }

    fn progress_line(&self, s: &State) {
        let secs = self
            .start
            .get()
            .map_or(0.0, |t| t.elapsed().as_secs_f64())
            .max(1e-9);
        let rate = s.bytes as f64 / secs;
        let left = self.total_bytes.saturating_sub(s.bytes) as f64;
        // Unknown until something has been read.
        let eta = (rate > 0.0).then(|| left / rate);
        let pct = 100 * s.done / self.total_files.max(1);
        match self.options.format {
            LogFormat::Text => self.emit(&format!(
                "mmprompt: progress: {}/{} files ({pct}%), {} failed, {:.2} MB/s, ETA {}",
                s.done,
                self.total_files,
                s.failed,
                rate / 1e6,
                eta.map_or_else(|| "?".to_owned(), |e| format!("{e:.0} s"))
            )),
            LogFormat::Json => tracing::info!(
                target: "mmprompt",
                event = "progress",
                done = s.done,
                total = self.total_files,
                failed = s.failed,
                bytesPerSecond = rate.round(),
                etaSeconds = eta.map(f64::round),
            ),
        }
    }

    /// Clears the bar and, unless quiet, writes the summary of the run.
    fn finish(&self, summary: &Summary) {
        let out = self.out.as_deref();
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
        if !self.options.summary {
            return;
        }
        match self.options.format {
            LogFormat::Text => {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(summary.report(out).as_bytes());
            }
            LogFormat::Json => {
                let secs = summary.elapsed.as_secs_f64().max(1e-9);
                let processed = summary.ok + summary.failed;
                for (p, d) in &summary.slowest {
                    tracing::info!(target: "mmprompt", event = "slow_file", path = %p, ms = d.as_millis() as u64);
                }
                tracing::info!(
                    target: "mmprompt",
                    event = "summary",
                    out = out.map(|o| o.to_string_lossy().into_owned()),
                    ok = summary.ok,
                    failed = summary.failed,
                    notMedia = summary.not_media,
                    skipped = summary.skipped,
                    upToDate = summary.up_to_date,
                    bytes = summary.bytes,
                    elapsedMs = summary.elapsed.as_millis() as u64,
                    filesPerSecond = processed as f64 / secs,
                );
            }
        }
    }
}

impl BatchSink for Reporter {
    fn started(&self) {
        self.start();
    }
    fn walk_error(&self, path: &str, code: &str, message: &str) {
        self.error(path, code, message);
        self.count_failure();
    }
    fn file_error(&self, path: &str, code: &str, message: &str) {
        self.error(path, code, message);
    }
    fn file_done(&self, bytes: u64, failed: bool) {
        self.done(bytes, failed);
    }
    fn finished(&self, summary: &Summary) {
        self.finish(summary);
    }
}

impl Drop for Reporter {
    /// A run ended by a fatal error never reaches [`Reporter::finish`]; the bar must not be
    /// left on screen above the error message.
    fn drop(&mut self) {
        if let Some(bar) = self.bar.get() {
            if !bar.is_finished() {
                bar.finish_and_clear();
            }
        }
    }
}

/// Reports an error that ended the whole run, in `format`.
pub fn fatal(format: LogFormat, message: &str) {
    match format {
        LogFormat::Text => write_line(&format!("mmprompt: error: {message}")),
        LogFormat::Json => tracing::error!(target: "mmprompt", event = "fatal", message),
    }
}

/// Installs the JSON subscriber for [`LogFormat::Json`]: one object per line on stderr,
/// event fields flattened beside `timestamp`, `level` and `target`. For binaries; a library
/// user installs their own. Does nothing if a subscriber is already set.
pub fn install_json_logging() {
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(true)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulates a run of `total` instant files and returns after which ones a line came.
    fn lines_for(total: usize) -> Vec<usize> {
        let mut last = 0;
        let mut at = Vec::new();
        for done in 1..=total {
            if let Some(step) = line_due(done, total, last, Duration::ZERO) {
                last = step;
                at.push(done);
            }
        }
        at
    }

    #[test]
    fn progress_lines_come_every_five_percent_or_every_file_of_a_small_batch() {
        assert_eq!(lines_for(7), (1..=7).collect::<Vec<_>>());
        let big = lines_for(1000);
        assert_eq!(big.len(), 20);
        assert_eq!(big.first(), Some(&50));
        assert_eq!(big.last(), Some(&1000));
        // A slow file brings a line even without a new step.
        assert_eq!(line_due(51, 1000, 1, LINE_INTERVAL), Some(1));
        assert_eq!(line_due(51, 1000, 1, Duration::from_millis(10)), None);
    }
}
