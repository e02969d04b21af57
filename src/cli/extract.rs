//! `mmprompt extract`: files and folders to documents, on stdout or in an output folder.

use super::common::{is_broken_pipe, usage_error, ContextArg, EXIT_FAILED, EXIT_OK};
use super::report::{self, LogFormat, ProgressMode, ReportOptions, Reporter};
use clap::ValueEnum;
use mmprompt::doc::ContextMode;
use mmprompt::jobs::batch::{self, BatchOptions, OutputFormat};
use mmprompt::jobs::extract::{AudioParams, ExtractOptions};
use mmprompt::jobs::fsio::{Durability, Walk, WalkOptions};
use mmprompt::jobs::worker::{self, Isolation};
use mmprompt::media::audio::{DEFAULT_MAX_SECONDS, MAX_SOURCE_CHANNELS, MAX_SOURCE_RATE};
use mmprompt::media::image::DEFAULT_MAX_PIXELS;
use mmprompt::vision::backend::OPENCV_UNAVAILABLE;
use mmprompt::vision::params::SegmentMode;
use mmprompt::vision::pipeline::{Backend, ImageParams, MinAreaArg};
use mmprompt::vision::preprocess::{Invert, Threshold};
use mmprompt::vision::regions::RegionOptions;
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
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
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

    /// How regions are found: color (colour segmentation, objects first: photographs and
    /// scenes) or threshold (gray threshold and border following exactly as OpenCV: scans,
    /// documents, silhouettes). Default: threshold when --threshold or --invert is given,
    /// else color.
    #[arg(long, value_name = "color|threshold")]
    segment: Option<SegmentMode>,

    /// Gaussian blur sigma in pixels before thresholding; 0 disables it. Color mode
    /// smooths its working image by half this sigma.
    #[arg(long, value_name = "SIGMA", default_value_t = 1.0, value_parser = parse_sigma)]
    blur: f32,

    /// Threshold mode: otsu | fixed:N | adaptive:BLOCK,C | canny:LOW,HIGH [default: otsu].
    #[arg(long, value_name = "MODE")]
    threshold: Option<Threshold>,

    /// Threshold mode's foreground polarity: auto (minority side), yes (dark is
    /// foreground), no (bright is) [default: auto].
    #[arg(long, value_name = "auto|yes|no")]
    invert: Option<Invert>,

    /// Image backend: rust (built in) or opencv (decode, and in threshold mode blur,
    /// threshold and contours, in OpenCV; needs a build with `--features opencv`).
    #[arg(long, value_name = "rust|opencv", default_value = "rust")]
    backend: Backend,

    /// Keep the N most salient regions; 0 keeps all.
    #[arg(long, value_name = "N", default_value_t = 64)]
    max_regions: usize,

    /// Drop regions smaller than this: pixels (50) or percent of the image (0.5%).
    #[arg(long, value_name = "PX|PCT%", default_value = "0.02%")]
    min_area: MinAreaArg,

    /// Threshold mode: also report hole borders as regions (in color mode what fills a hole
    /// is a region of its own).
    #[arg(long)]
    holes: bool,

    /// Refuse images with more pixels than this (decompression-bomb guard).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PIXELS)]
    max_pixels: u64,

    /// Refuse images whose decoded size in their own pixel format (width × height × bytes
    /// per pixel: 3 for 8-bit RGB, 8 for 16-bit RGBA) is over SIZE, e.g. 512M or 2G.
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = parse_image_bytes)]
    max_image_bytes: u64,

    /// Refer to the JSON-LD context by IRI, or embed it.
    #[arg(long, value_enum, default_value_t = ContextArg::Ref)]
    context: ContextArg,

    /// Also write a PNG beside each output (needs --out): the regions drawn and labelled
    /// over the image, or a spectrogram with the labelled segments as bands.
    #[arg(long)]
    overlay: bool,

    /// Audio: analysis sample rate in Hz (audio is downmixed and resampled to it).
    #[arg(
        long,
        value_name = "HZ",
        default_value_t = 16_000,
        help_heading = "Audio"
    )]
    sample_rate: u32,

    /// Audio: frame length in milliseconds.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 25.0,
        help_heading = "Audio"
    )]
    frame_ms: f32,

    /// Audio: hop between frames in milliseconds.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 10.0,
        help_heading = "Audio"
    )]
    hop_ms: f32,

    /// Audio: refuse a file that declares more than this many seconds, and stop decoding
    /// a stream that declares no length there, keeping what was decoded (at most a week).
    #[arg(long, value_name = "S", default_value_t = DEFAULT_MAX_SECONDS, help_heading = "Audio", value_parser = parse_seconds)]
    max_seconds: f64,

    /// Audio: refuse streams that declare a higher sample rate, before anything is
    /// allocated for them (1000 to 768000).
    #[arg(long, value_name = "HZ", default_value_t = MAX_SOURCE_RATE, help_heading = "Audio",
          value_parser = clap::value_parser!(u32).range(1000..=i64::from(MAX_SOURCE_RATE)))]
    max_source_rate: u32,

    /// Audio: refuse streams that declare more channels (1 to 64).
    #[arg(long, value_name = "N", default_value_t = MAX_SOURCE_CHANNELS, help_heading = "Audio",
          value_parser = parse_channels)]
    max_channels: usize,
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

fn parse_sigma(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !v.is_finite() || !(0.0..=100.0).contains(&v) {
        return Err(format!("'{s}' must be between 0 and 100"));
    }
    Ok(v)
}

pub(crate) fn run(args: &ExtractArgs) -> anyhow::Result<u8> {
    if args.durable && args.out.is_none() {
        return usage_error("--durable syncs the files written under --out, so it needs --out DIR");
    }
    if args.overlay && args.out.is_none() {
        return usage_error("--overlay writes PNG files beside the outputs, so it needs --out DIR");
    }
    let segment = match args.segment {
        Some(SegmentMode::Color) if args.threshold.is_some() || args.invert.is_some() => {
            return usage_error(
                "--threshold and --invert apply to --segment threshold, not --segment color",
            );
        }
        Some(mode) => mode,
        None if args.threshold.is_some() || args.invert.is_some() => SegmentMode::Threshold,
        None => SegmentMode::Color,
    };
    let options = ExtractOptions {
        image: ImageParams {
            segment,
            blur: args.blur,
            threshold: args.threshold.unwrap_or(Threshold::Otsu),
            invert: args.invert.unwrap_or(Invert::Auto),
            regions: RegionOptions {
                max_regions: args.max_regions,
                min_area: args.min_area.0,
                holes: args.holes,
            },
            max_pixels: args.max_pixels,
            max_bytes: args.max_image_bytes,
            backend: args.backend,
        },
        audio: AudioParams {
            rate: args.sample_rate,
            frame_ms: args.frame_ms,
            hop_ms: args.hop_ms,
            max_seconds: args.max_seconds,
            max_source_rate: args.max_source_rate,
            max_channels: args.max_channels,
        },
        context: match args.context {
            ContextArg::Ref => ContextMode::Reference,
            ContextArg::Inline => ContextMode::Inline,
        },
        overlay: args.overlay,
    };
    if !args.backend.is_available() {
        return usage_error(OPENCV_UNAVAILABLE);
    }
    if let Err(e) = options.audio.analyzer_config().validate() {
        return usage_error(&format!("audio parameters: {e}"));
    }
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

/// `--max-seconds` and `--file-timeout`: a finite number of seconds, more than 0 and at
/// most a week.
fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !v.is_finite() || v <= 0.0 || v > 7.0 * 86_400.0 {
        return Err(format!(
            "'{s}' must be more than 0 and at most 604800 (a week)"
        ));
    }
    Ok(v)
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

/// `--max-memory`: a [`size`]; 0 is no limit. Under 64 MiB no worker could even start.
fn parse_size(s: &str) -> Result<u64, String> {
    let bytes = size(s)?;
    if bytes != 0 && bytes < 64 << 20 {
        return Err(format!(
            "'{s}' is under 64M, too little for a worker to start"
        ));
    }
    Ok(bytes)
}

/// `--max-image-bytes`: a [`size`] of at least one byte.
fn parse_image_bytes(s: &str) -> Result<u64, String> {
    match size(s)? {
        0 => Err(format!("'{s}' must be at least 1")),
        n => Ok(n),
    }
}

/// Bytes with an optional K, M, G or T suffix (powers of 1024).
fn size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("'{s}': the suffix is K, M, G or T")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size like 4G or 512M"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// `--max-channels`: 1 to [`MAX_SOURCE_CHANNELS`].
fn parse_channels(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_SOURCE_CHANNELS).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{s}' must be a whole number from 1 to {MAX_SOURCE_CHANNELS}"
        )),
    }
}
