//! The `mmprompt` command line: a thin layer over the library.

use clap::{Parser, Subcommand, ValueEnum};
use mmprompt::backend::{Backend, OPENCV_UNAVAILABLE};
use mmprompt::batch::{self, BatchOptions, LogFormat, OutputFormat, ProgressMode, ReportOptions};
use mmprompt::extract::{AudioParams, ExtractOptions};
use mmprompt::fsio::{Walk, WalkOptions};
use mmprompt::jsonld::{self, ContextMode};
use mmprompt::media::audio::DEFAULT_MAX_SECONDS;
use mmprompt::media::image::DEFAULT_MAX_PIXELS;
use mmprompt::pipeline::{ImageParams, MinAreaArg};
use mmprompt::vision::preprocess::{Invert, Threshold};
use mmprompt::vision::regions::RegionOptions;
use std::io::{IsTerminal, Write};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;

mod cmd_llm;

/// Exit code when every input succeeded.
const EXIT_OK: u8 = 0;
/// Exit code for a usage error: bad flags or a combination that cannot work.
const EXIT_USAGE: u8 = 1;
/// Exit code when at least one input failed.
const EXIT_FAILED: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "mmprompt",
    version,
    about = "Turn images and audio into JSON-LD prompt fragments with spatial and temporal anchors",
    long_about = "Turn images and audio into JSON-LD prompt fragments with spatial and \
        temporal anchors.\n\n\
        Each region found in an image becomes a W3C Web Annotation whose target carries an\n\
        `xywh=` media fragment and an SVG polygon, and whose body carries its shape, size,\n\
        position, colour and measures. Each labelled segment of a recording becomes an\n\
        Annotation whose target carries a `t=start,end` media fragment.",
    after_help = "Exit codes: 0 all inputs succeeded, 1 usage error, 2 some inputs failed."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Extract anchored regions (images) and segments (audio) into JSON-LD or text.
    #[command(after_help = "Examples:\n  \
        mmprompt extract photo.jpg\n  \
        mmprompt extract recording.flac --format text\n  \
        mmprompt extract samples/ --out out/ --overlay\n  \
        mmprompt extract a.png b.png --format text --threshold adaptive:31,5\n\n\
        With --out DIR, input photos/a.png is written to DIR/photos/a.png.jsonld.\n\
        Exit codes: 0 all inputs succeeded, 1 usage error, 2 some inputs failed.")]
    // Boxed: the flags make this variant far larger than the other.
    Extract(Box<ExtractArgs>),
    /// Assemble the prompt for an LLM endpoint and print it without sending (a dry run).
    #[command(after_help = cmd_llm::PROMPT_HELP)]
    Prompt(Box<cmd_llm::DryRunArgs>),
    /// Assemble the prompt, post it, stream the answer and save it with its citations.
    #[command(after_help = cmd_llm::SEND_HELP)]
    Send(Box<cmd_llm::SendArgs>),
    /// Label a microphone live: one JSON-LD line per segment the moment it closes.
    #[command(after_help = "Examples:\n  \
        mmprompt live --list-devices\n  \
        mmprompt live --device hw:CARD=1,DEV=0 --record session.wav --out session.ndjson\n  \
        mmprompt live --input recording.flac --realtime\n\n\
        Each line is a JSON-LD Annotation anchored by t=start,end (seconds from the session \
        start) and by t=clock:START,END (ISO 8601 UTC). Ctrl-C or SIGTERM writes the open \
        segment, finalizes the recording and exits 0.\n\
        Exit codes: 0 stopped by a signal or input replayed, 1 usage error, 2 failure \
        (no such device, device lost, no data).")]
    Live(Box<LiveArgs>),
    /// Print the JSON Schema of the output, or with --context the JSON-LD context.
    Schema {
        /// Print the JSON-LD context instead of the JSON Schema.
        #[arg(long)]
        context: bool,
    },
}

#[derive(clap::Args, Debug)]
struct ExtractArgs {
    /// Image or audio files, or directories (walked recursively, in name order; hidden
    /// entries and symbolic links skipped; .gitignore files are not applied).
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
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<NonZeroUsize>,

    /// With --out: redo inputs whose output is already up to date (same input bytes and
    /// parameters, as recorded in DIR/index.ndjson).
    #[arg(long)]
    force: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonld)]
    format: Format,

    /// Gaussian blur sigma in pixels before thresholding; 0 disables it.
    #[arg(long, value_name = "SIGMA", default_value_t = 1.0, value_parser = parse_sigma)]
    blur: f32,

    /// Threshold: otsu | fixed:N | adaptive:BLOCK,C | canny:LOW,HIGH.
    #[arg(long, value_name = "MODE", default_value = "otsu")]
    threshold: Threshold,

    /// Foreground polarity: auto (minority side), yes (dark is foreground), no (bright is).
    #[arg(long, value_name = "auto|yes|no", default_value = "auto")]
    invert: Invert,

    /// Image backend: rust (built in) or opencv (decode, blur, threshold and contours in
    /// OpenCV; needs a build with `--features opencv`).
    #[arg(long, value_name = "rust|opencv", default_value = "rust")]
    backend: Backend,

    /// Keep the N most salient regions; 0 keeps all.
    #[arg(long, value_name = "N", default_value_t = 64)]
    max_regions: usize,

    /// Drop regions smaller than this: pixels (50) or percent of the image (0.5%).
    #[arg(long, value_name = "PX|PCT%", default_value = "0.02%")]
    min_area: MinAreaArg,

    /// Also report hole borders as regions.
    #[arg(long)]
    holes: bool,

    /// Refuse images with more pixels than this (decompression-bomb guard).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PIXELS)]
    max_pixels: u64,

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

    /// Audio: refuse to decode more than this many seconds.
    #[arg(long, value_name = "S", default_value_t = DEFAULT_MAX_SECONDS, help_heading = "Audio")]
    max_seconds: f64,
}

#[derive(clap::Args, Debug)]
struct LiveArgs {
    /// Capture from this input device (a name from --list-devices) [default: the system
    /// default input].
    #[arg(long, value_name = "NAME", conflicts_with = "input")]
    device: Option<String>,

    /// List the input devices, their default configurations and which is the default.
    #[arg(long, conflicts_with_all = ["device", "input", "record", "out"])]
    list_devices: bool,

    /// Also keep the raw capture (device rate and channels, 32-bit float) in FILE.
    #[arg(long, value_name = "FILE.wav")]
    record: Option<PathBuf>,

    /// Write the NDJSON lines to FILE instead of stdout.
    #[arg(long, value_name = "FILE.ndjson")]
    out: Option<PathBuf>,

    /// Replay FILE through the live path instead of capturing (needs --realtime).
    #[arg(long, value_name = "FILE", requires = "realtime")]
    input: Option<PathBuf>,

    /// With --input: deliver the file at real speed, as a device would.
    #[arg(long, requires = "input")]
    realtime: bool,

    /// Give up with an error when the device sends no audio for this many seconds.
    #[arg(long, value_name = "S", default_value_t = 5.0, value_parser = parse_timeout)]
    no_data_timeout: f64,

    /// Status lines on stderr (level, frames/s, overruns) even when stderr is not a
    /// terminal.
    #[arg(long, short = 'v')]
    verbose: bool,

    /// Refer to the JSON-LD context by IRI, or embed it in every line.
    #[arg(long, value_enum, default_value_t = ContextArg::Ref)]
    context: ContextArg,

    /// Analysis sample rate in Hz (capture is downmixed and resampled to it).
    #[arg(long, value_name = "HZ", default_value_t = 16_000)]
    sample_rate: u32,

    /// Frame length in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 25.0)]
    frame_ms: f32,

    /// Hop between frames in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10.0)]
    hop_ms: f32,

    /// Send recent segments to the LLM endpoint of this profile (mmprompt.toml), on a
    /// thread of its own: a slow endpoint coalesces windows, it never stalls capture.
    #[arg(long, value_name = "PROFILE", requires = "send_trigger")]
    send: Option<String>,

    /// With --send: send the rolling window every S seconds of audio.
    #[arg(long, value_name = "S", group = "send_trigger", requires = "send", value_parser = parse_timeout)]
    every: Option<f64>,

    /// With --send: send the window each time a segment with this label closes (e.g.
    /// voice:speech or speech).
    #[arg(long, value_name = "LABEL", group = "send_trigger", requires = "send")]
    on: Option<String>,

    /// With --send: seconds of recent segments in each window.
    #[arg(long, value_name = "S", default_value_t = 30.0, value_parser = parse_timeout)]
    window: f64,

    /// With --send: where answers (live-wN.response.json) and send.ndjson go.
    #[arg(long, value_name = "DIR", default_value = "out/live")]
    send_out: PathBuf,

    /// With --send: the config file holding the profile (default: the usual places).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn parse_timeout(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !v.is_finite() || v <= 0.0 || v > 86_400.0 {
        return Err(format!("'{s}' must be more than 0 and at most 86400"));
    }
    Ok(v)
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One pretty JSON-LD document per input.
    Jsonld,
    /// One JSON-LD document per line.
    Ndjson,
    /// Compact text lines for prompts.
    Text,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormatArg {
    /// `mmprompt: error: PATH: reason` lines.
    Text,
    /// One JSON object per line, with `level` and `event`.
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ContextArg {
    /// `"@context": "<stable IRI>"`.
    Ref,
    /// The context object embedded in each document.
    Inline,
}

fn parse_sigma(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !v.is_finite() || !(0.0..=100.0).contains(&v) {
        return Err(format!("'{s}' must be between 0 and 100"));
    }
    Ok(v)
}

/// Each image allocates several frame-sized buffers; the system allocator hands such blocks
/// back to the kernel on free, so every image paid for fresh zeroed pages again (a fifth of
/// the run time at 1080p in `perf`). mimalloc keeps and reuses them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    let result = match cli.command {
        Command::Extract(args) => extract(&args),
        Command::Prompt(args) => cmd_llm::prompt(&args),
        Command::Send(args) => cmd_llm::send(&args),
        Command::Live(args) => live(&args),
        Command::Schema { context } => schema(context).map(|()| EXIT_OK),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("mmprompt: error: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn schema(context: bool) -> anyhow::Result<()> {
    let text = if context {
        jsonld::CONTEXT
    } else {
        jsonld::SCHEMA
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

fn live(args: &LiveArgs) -> anyhow::Result<u8> {
    use mmprompt::capture;
    use mmprompt::live::{self, LiveOptions, NdjsonWriter};
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    if args.list_devices {
        let devices = capture::list_input_devices()?;
        let mut out = std::io::stdout().lock();
        if devices.is_empty() {
            writeln!(out, "no input devices")?;
        }
        for d in devices {
            let mark = if d.is_default { " (default)" } else { "" };
            let desc = d.description.map(|s| format!(" - {s}")).unwrap_or_default();
            let config = match d.default_config {
                Ok(c) => c,
                Err(e) => format!("cannot open: {e}"),
            };
            writeln!(out, "{}{mark}{desc}\n    default config: {config}", d.name)?;
        }
        return Ok(EXIT_OK);
    }
    let options = LiveOptions {
        audio: AudioParams {
            rate: args.sample_rate,
            frame_ms: args.frame_ms,
            hop_ms: args.hop_ms,
            ..AudioParams::default()
        },
        record: args.record.clone(),
        no_data_timeout: std::time::Duration::from_secs_f64(args.no_data_timeout),
        status: args.verbose || std::io::stderr().is_terminal(),
        context: match args.context {
            ContextArg::Ref => ContextMode::Reference,
            ContextArg::Inline => ContextMode::Inline,
        },
    };
    if let Err(e) = options.audio.analyzer_config().validate() {
        return usage_error(&format!("audio parameters: {e}"));
    }
    // The first SIGINT/SIGTERM asks for a clean stop; a second one, while stopping, exits at
    // once.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))?;
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let source = match &args.input {
        Some(path) => capture::replay_file(path, options.audio.rate)?,
        None => capture::open_device(args.device.as_deref())?,
    };
    if options.status {
        let f = source.format();
        eprintln!(
            "mmprompt: live: capturing '{}' at {} Hz, {} ch, {}",
            f.device, f.sample_rate, f.channels, f.sample_format
        );
    }
    let mut sender = match &args.send {
        None => None,
        Some(profile) => {
            let trigger = match (&args.every, &args.on) {
                (Some(s), _) => live::SendTrigger::Every(*s),
                (None, Some(l)) => live::SendTrigger::OnLabel(l.clone()),
                (None, None) => return usage_error("--send needs --every SECS or --on LABEL"),
            };
            match cmd_llm::live_sender(profile, args.config.as_deref(), &args.send_out)? {
                Ok(s) => Some(live::WindowSender::new(s, trigger, args.window)),
                Err(msg) => return usage_error(&msg),
            }
        }
    };
    let mut log = SegmentLog(options.status);
    let result = {
        let mut writer: NdjsonWriter<Box<dyn Write>> = NdjsonWriter(match &args.out {
            Some(path) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(path)
                    .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", path.display()))?,
            )),
            None => Box::new(std::io::stdout().lock()),
        });
        let mut consumers: Vec<&mut dyn live::SegmentConsumer> = vec![&mut writer, &mut log];
        if let Some(s) = sender.as_mut() {
            consumers.push(s);
        }
        live::run_session(source, &options, &mut consumers, &stop)
    };
    if let Some(s) = sender {
        let st = s.finish_sending();
        eprintln!(
            "mmprompt: live: sent {} of {} windows ({} failed, {} replaced by a newer one while the endpoint was busy)",
            st.sent, st.offered, st.failed, st.coalesced
        );
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mmprompt: error: {e} [{}]", e.code());
            return Ok(EXIT_FAILED);
        }
    };
    let c = summary.capture;
    if options.status || c.dropped_frames > 0 || c.device_xruns > 0 {
        eprintln!(
            "mmprompt: live: {} segments, {:.2} s analysed, {} frames captured, dropped {} frames, device overruns {}",
            summary.segments, summary.duration_s, c.frames, c.dropped_frames, c.device_xruns
        );
    }
    Ok(EXIT_OK)
}

/// With status lines on: one stderr line per segment, saying how much audio the segmenter
/// needed after the segment's end to close it (its hangover).
struct SegmentLog(bool);

impl mmprompt::live::SegmentConsumer for SegmentLog {
    fn on_segment(&mut self, s: &mmprompt::live::LiveSegment) -> std::io::Result<()> {
        if self.0 {
            eprintln!(
                "mmprompt: live: s{} {} {:.3}-{:.3} s, closed at {:.3} s",
                s.index + 1,
                s.segment.label.as_str(),
                s.segment.start_s,
                s.segment.end_s,
                s.decided_s
            );
        }
        Ok(())
    }
}

fn usage_error(msg: &str) -> anyhow::Result<u8> {
    eprintln!("mmprompt: usage error: {msg}");
    Ok(EXIT_USAGE)
}

fn extract(args: &ExtractArgs) -> anyhow::Result<u8> {
    if args.overlay && args.out.is_none() {
        return usage_error("--overlay writes PNG files beside the outputs, so it needs --out DIR");
    }
    let options = ExtractOptions {
        image: ImageParams {
            blur: args.blur,
            threshold: args.threshold,
            invert: args.invert,
            regions: RegionOptions {
                max_regions: args.max_regions,
                min_area: args.min_area.0,
                holes: args.holes,
            },
            max_pixels: args.max_pixels,
            backend: args.backend,
        },
        audio: AudioParams {
            rate: args.sample_rate,
            frame_ms: args.frame_ms,
            hop_ms: args.hop_ms,
            max_seconds: args.max_seconds,
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
            batch::report::install_json_logging();
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
    let batch_options = BatchOptions {
        extract: options,
        format: match args.format {
            Format::Jsonld => OutputFormat::Jsonld,
            Format::Ndjson => OutputFormat::Ndjson,
            Format::Text => OutputFormat::Text,
        },
        out: args.out.clone(),
        jobs: args
            .jobs
            .map(NonZeroUsize::get)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        force: args.force,
        shard: args.shard,
        report,
    };
    let mut stdout = std::io::stdout();
    let summary = match batch::run(&plan, &batch_options, &mut stdout) {
        Ok(s) => s,
        Err(e) if log_format == LogFormat::Json => {
            let e = anyhow::Error::from(e);
            if is_broken_pipe(&e) {
                return Ok(EXIT_OK);
            }
            batch::report::fatal(log_format, &format!("{e:#}"));
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
