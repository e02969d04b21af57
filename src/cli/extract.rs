//! `mmprompt extract`: files and folders to documents, on stdout or in an output folder.

use super::common::{is_broken_pipe, usage_error, EXIT_FAILED, EXIT_OK};
use super::report::{self, LogFormat, ProgressMode, ReportOptions, Reporter};
use clap::ValueEnum;
use mmprompt::jobs::batch::{self, BatchOptions, OutputFormat};
use mmprompt::jobs::fsio::{Durability, Walk, WalkOptions};
use mmprompt::jobs::settings::{parse_seconds, parse_size, ExtractSettings};
use mmprompt::jobs::worker::{self, Isolation};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub(crate) struct ExtractArgs {
    /// Image or audio files, or directories (walked recursively, in name order; hidden
    /// entries and symbolic links skipped; .gitignore files are not applied). `-` reads
    /// one input from standard input, typed by its content (named `-`, written as `stdin`).
    #[arg(required_unless_present = "files_from", value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Also walk hidden files and directories (names starting with `.`).
    #[arg(long)]
    hidden: bool,

    /// Follow symbolic links while walking directories; a link loop is reported once, as
    /// an error naming the link, and not followed.
    #[arg(long)]
    follow_symlinks: bool,

    /// Take only walked files whose path relative to the directory argument matches GLOB
    /// (repeatable; `*` also matches `/`, so `*.png` matches at any depth).
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,

    /// Leave out walked files and directories whose path relative to the directory
    /// argument matches GLOB (repeatable; wins over --include).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,

    /// No progress and no summary on stderr; error lines are still written.
    #[arg(long, short = 'q')]
    quiet: bool,

    /// Format of the error, progress and summary lines on stderr: text for people, or json
    /// (one tracing event per line: timestamp, level, event and its fields).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormatArg::Text)]
    log_format: LogFormatArg,

    /// Also take paths from FILE, one per line; `-` reads them from stdin.
    #[arg(long, value_name = "FILE")]
    files_from: Option<PathBuf>,

    /// Do only part K of N of the inputs (1 <= K <= N), split by a stable hash of each
    /// path relative to its argument; N runs with K = 1..N do every input exactly once.
    /// The manifest is then DIR/index-K-of-N.ndjson.
    #[arg(long, value_name = "K/N")]
    shard: Option<batch::Shard>,

    /// Write one output per input under DIR instead of printing to stdout.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Threads to use, and so the most inputs processed and decoded in memory at once; a
    /// thread with no input left helps with another's large image [default: cores].
    #[arg(long, short = 'j', value_name = "N", value_parser = parse_jobs)]
    jobs: Option<NonZeroUsize>,

    /// With --out: redo inputs whose output is already up to date (same input bytes and
    /// parameters, as recorded in DIR/index.ndjson).
    #[arg(long)]
    force: bool,

    /// Where inputs are decoded and analysed: process (one worker process per job, so an
    /// input that crashes, runs out of memory or hangs costs only itself: its error line
    /// says crashed, memory or timeout, and the batch goes on), none (threads of this
    /// process), or auto (process for two or more inputs, none for one).
    #[arg(long, value_enum, value_name = "MODE", default_value_t = IsolationArg::Auto)]
    isolation: IsolationArg,

    /// Address-space limit of each worker process (RLIMIT_AS), e.g. 4G or 512M; 0 for none.
    /// An input that needs more fails with code memory [default: physical memory divided by
    /// --jobs].
    #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
    max_memory: Option<u64>,

    /// Stop an input's worker process after this many seconds; the input fails with code
    /// timeout [default: no limit].
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    file_timeout: Option<f64>,

    /// With --out: sync each output and manifest line to the disk before counting it
    /// written, so a power cut loses nothing reported done (slower on most disks).
    #[arg(long)]
    durable: bool,

    /// Internal: serve a batch's inputs as an isolated worker (requests on stdin).
    #[arg(long, hide = true)]
    worker: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonld)]
    format: Format,

    /// The options that shape each document, shared with the Python package and the MCP
    /// server.
    #[command(flatten)]
    settings: ExtractSettings,

    /// Also write a PNG beside each output (needs --out): the regions drawn and labelled
    /// over the image, or a spectrogram with the labelled segments as bands.
    #[arg(long)]
    overlay: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One pretty JSON-LD document per input.
    Jsonld,
    /// One JSON-LD document per line.
    Ndjson,
    /// Compact text lines for prompts.
    Text,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum IsolationArg {
    /// Worker processes for two or more inputs, this process for one.
    Auto,
    /// Worker processes.
    Process,
    /// Threads of this process.
    None,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormatArg {
    /// `mmprompt: error: PATH: reason` lines.
    Text,
    /// One JSON object per line, with `level` and `event`.
    Json,
}

pub(crate) fn run(args: &ExtractArgs) -> anyhow::Result<u8> {
    if args.durable && args.out.is_none() {
        return usage_error("--durable syncs the files written under --out, so it needs --out DIR");
    }
    if args.overlay && args.out.is_none() {
        return usage_error("--overlay writes PNG files beside the outputs, so it needs --out DIR");
    }
    let mut options = match args.settings.to_options() {
        Ok(o) => o,
        Err(e) => return usage_error(&e.to_string()),
    };
    options.overlay = args.overlay;
    if args.isolation == IsolationArg::None
        && (args.max_memory.is_some() || args.file_timeout.is_some())
    {
        return usage_error(
            "--max-memory and --file-timeout apply to worker processes, not to --isolation none",
        );
    }
    let jobs = args
        .jobs
        .map(NonZeroUsize::get)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut batch_options = BatchOptions {
        extract: options,
        format: match args.format {
            Format::Jsonld => OutputFormat::Jsonld,
            Format::Ndjson => OutputFormat::Ndjson,
            Format::Text => OutputFormat::Text,
        },
        out: args.out.clone(),
        jobs,
        force: args.force,
        shard: args.shard,
        durability: if args.durable {
            Durability::Fsync
        } else {
            Durability::Cache
        },
        isolation: None,
    };
    if args.worker {
        // A worker's stdin and stdout are its coordinator's pipe; it reads no paths.
        return match worker::serve(
            &batch_options,
            std::io::stdin().lock(),
            std::io::stdout().lock(),
        ) {
            Ok(()) => Ok(EXIT_OK),
            Err(e) => {
                say!("mmprompt: worker: {e}");
                Ok(EXIT_FAILED)
            }
        };
    }

    let mut paths = args.paths.clone();
    if let Some(list) = &args.files_from {
        let read = if list.as_os_str() == "-" {
            batch::read_path_list(std::io::stdin().lock())
        } else {
            std::fs::File::open(list)
                .and_then(|f| batch::read_path_list(std::io::BufReader::new(f)))
        };
        match read {
            Ok(more) => paths.extend(more),
            Err(e) => return usage_error(&format!("--files-from {}: {e}", list.display())),
        }
    }
    // `-`: one input from standard input, read into a temporary file (decoders need to
    // seek), capped like a document so a pipe cannot fill the disk.
    let stdin_copy = match paths.iter().filter(|p| p.as_os_str() == "-").count() {
        0 => None,
        1 if args.files_from.as_deref() == Some(std::path::Path::new("-")) => {
            return usage_error("`-` and `--files-from -` cannot both read standard input")
        }
        1 => match copy_stdin() {
            Ok(tmp) => Some(tmp),
            Err(e) => return usage_error(&format!("-: {e}")),
        },
        _ => return usage_error("`-` (standard input) can be given once"),
    };
    if let Some(tmp) = &stdin_copy {
        for p in paths.iter_mut().filter(|p| p.as_os_str() == "-") {
            *p = tmp.path().to_path_buf();
        }
    }
    let walk = match Walk::new(&WalkOptions {
        hidden: args.hidden,
        follow_symlinks: args.follow_symlinks,
        include: args.include.clone(),
        exclude: args.exclude.clone(),
        skip_dir: args.out.clone(),
    }) {
        Ok(w) => w,
        Err(e) => return usage_error(&e.to_string()),
    };
    let mut plan = batch::plan(&paths, &walk);
    if let Some(tmp) = &stdin_copy {
        for p in plan
            .inputs
            .iter_mut()
            .filter(|p| p.input.path == tmp.path())
        {
            p.input.name = Some("-".into());
            p.input.rel = "stdin".into();
        }
    }
    if let Some(shard) = &args.shard {
        plan.retain_shard(shard);
    }
    if args.out.is_none() && plan.inputs.len() > 1 && args.format == Format::Jsonld {
        return usage_error(&format!(
            "{} inputs would print several JSON documents to stdout; use --out DIR, \
             or --format ndjson or --format text",
            plan.inputs.len()
        ));
    }
    let log_format = match args.log_format {
        LogFormatArg::Text => LogFormat::Text,
        LogFormatArg::Json => {
            report::install_json_logging();
            LogFormat::Json
        }
    };
    // A single input printed to stdout needs no progress or report; a batch does.
    let is_batch =
        args.out.is_some() || plan.inputs.len() + plan.not_media.len() + plan.skipped.len() > 1;
    let report = ReportOptions {
        format: log_format,
        progress: if args.quiet || !is_batch {
            ProgressMode::Off
        // JSON lines are for programs, so they never share stderr with a bar.
        } else if log_format == LogFormat::Text && std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines
        },
        summary: is_batch && !args.quiet,
    };
    let isolate = match args.isolation {
        IsolationArg::Process => true,
        IsolationArg::None => false,
        IsolationArg::Auto => {
            plan.inputs.len() > 1 || args.max_memory.is_some() || args.file_timeout.is_some()
        }
    };
    if isolate {
        batch_options.isolation = match worker_command() {
            Ok(command) => Some(Isolation {
                command,
                // The allocator reserves 1 GiB of address space up front by default, which
                // would count against --max-memory before any input is read.
                env: vec![("MIMALLOC_ARENA_RESERVE".into(), "64MiB".into())],
                max_memory: match args.max_memory {
                    Some(0) => None,
                    Some(n) => Some(n),
                    None => physical_memory().map(|m| m / jobs as u64),
                },
                file_timeout: args.file_timeout.map(Duration::from_secs_f64),
            }),
            Err(e) => return usage_error(&format!("cannot run worker processes: {e}")),
        };
    }
    // Sizes only feed the progress ETA (a stat per input), so they are skipped without it.
    let total_bytes = if report.progress == ProgressMode::Off {
        0
    } else {
        plan.inputs
            .iter()
            .map(|p| std::fs::metadata(&p.input.path).map_or(0, |m| m.len()))
            .sum()
    };
    let reporter = Reporter::new(report, plan.inputs.len(), total_bytes, args.out.clone());
    let mut stdout = std::io::stdout();
    let summary = match batch::run(&plan, &batch_options, &mut stdout, &reporter) {
        Ok(s) => s,
        Err(e) if log_format == LogFormat::Json => {
            let e = anyhow::Error::from(e);
            if is_broken_pipe(&e) {
                return Ok(EXIT_OK);
            }
            drop(reporter);
            report::fatal(log_format, &format!("{e:#}"));
            return Ok(EXIT_FAILED);
        }
        Err(e) => return Err(e.into()),
    };
    Ok(if summary.failed > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    })
}

/// Most threads `--jobs` takes: more than this is a typo, and each thread holds an input.
const MAX_JOBS: usize = 1024;

fn parse_jobs(s: &str) -> Result<NonZeroUsize, String> {
    let n: usize = s
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number"))?;
    match NonZeroUsize::new(n) {
        Some(n) if n.get() <= MAX_JOBS => Ok(n),
        _ => Err(format!("'{s}' must be between 1 and {MAX_JOBS}")),
    }
}

/// Most bytes `-` reads from standard input.
const MAX_STDIN_BYTES: u64 = 4 << 30;

/// Standard input copied into a temporary file that lives as long as the returned handle.
fn copy_stdin() -> Result<tempfile::NamedTempFile, String> {
    use std::io::Read;
    let mut tmp = tempfile::Builder::new()
        .prefix("mmprompt-stdin-")
        .tempfile()
        .map_err(|e| format!("cannot make a temporary file: {e}"))?;
    let copied = std::io::copy(
        &mut std::io::stdin().lock().take(MAX_STDIN_BYTES + 1),
        tmp.as_file_mut(),
    )
    .map_err(|e| format!("cannot read standard input: {e}"))?;
    if copied > MAX_STDIN_BYTES {
        return Err(format!("standard input is over {MAX_STDIN_BYTES} bytes"));
    }
    Ok(tmp)
}

/// The command that starts a worker: this program with this command line, marked
/// `--worker`, so a worker parses exactly the options its coordinator did.
fn worker_command() -> std::io::Result<Vec<OsString>> {
    let exe = std::env::current_exe()?;
    let mut command = vec![exe.into_os_string()];
    let mut args = std::env::args_os().skip(1);
    // The subcommand first; the flag right after it, so a `--` later on cannot turn it
    // into a path.
    command.extend(args.next());
    command.push("--worker".into());
    command.extend(args);
    Ok(command)
}

/// Physical memory in bytes, from /proc/meminfo.
fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `--max-memory`: a [`parse_size`]; 0 is no limit. Under 64 MiB no worker could even start.
fn parse_memory(s: &str) -> Result<u64, String> {
    let bytes = parse_size(s)?;
    if bytes != 0 && bytes < 64 << 20 {
        return Err(format!(
            "'{s}' is under 64M, too little for a worker to start"
        ));
    }
    Ok(bytes)
}
