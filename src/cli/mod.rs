//! The `mmprompt` command line: a thin layer over the library, and the only code that
//! writes to a terminal. One file per command ([`extract`], [`llm`] for `prompt` and
//! `send`, [`live`]); [`report`] turns a batch's events into error, progress and summary
//! lines; this file holds the top-level parser, the exit codes and `schema`.

use clap::{Parser, Subcommand};
use common::{is_broken_pipe, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use mmprompt::doc;
use std::io::Write;
use std::process::ExitCode;

/// `eprintln!` for every line the command line writes to stderr: the line has its control
/// characters escaped (see [`common::escape_controls`]), so nothing from outside (a file
/// name, a server's words) can end it and forge another.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::common::say_line(&format!($($arg)*))
    };
}

mod common;
mod extract;
mod live;
mod llm;
mod report;

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
    Extract(Box<extract::ExtractArgs>),
    /// Assemble the prompt for an LLM endpoint and print it without sending (a dry run).
    #[command(after_help = llm::PROMPT_HELP)]
    Prompt(Box<llm::DryRunArgs>),
    /// Assemble the prompt, post it, stream the answer and save it with its citations.
    #[command(after_help = llm::SEND_HELP)]
    Send(Box<llm::SendArgs>),
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
    Live(Box<live::LiveArgs>),
    /// Print the JSON Schema of the output, or with --context the JSON-LD context.
    Schema {
        /// Print the JSON-LD context instead of the JSON Schema.
        #[arg(long)]
        context: bool,
    },
}

/// Each image allocates several frame-sized buffers; the system allocator hands such blocks
/// back to the kernel on free, so every image paid for fresh zeroed pages again (a fifth of
/// the run time at 1080p in `perf`). mimalloc keeps and reuses them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Parses the command line, runs the command and turns its outcome into the exit code.
pub fn main() -> ExitCode {
    // A panic the library catches (a decoder tripping on a hostile file) becomes that
    // file's one error line; only panics nothing catches print, escaped like every line.
    std::panic::set_hook(Box::new(|info| {
        if !mmprompt::panics::is_quiet() {
            say!("mmprompt: internal error: {info}");
        }
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    let result = match cli.command {
        Command::Extract(args) => extract::run(&args),
        Command::Prompt(args) => llm::prompt(&args),
        Command::Send(args) => llm::send(&args),
        Command::Live(args) => live::run(&args),
        Command::Schema { context } => schema(context).map(|()| EXIT_OK),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(EXIT_OK),
        Err(e) => {
            say!("mmprompt: error: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn schema(context: bool) -> anyhow::Result<()> {
    let text = if context { doc::CONTEXT } else { doc::SCHEMA };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}
