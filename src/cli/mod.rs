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

/// `--version`: the version and the cargo features this binary was built with (every
/// binary has `cli`, and with it `live`, `llm` and `mcp`; `opencv` is optional).
#[cfg(feature = "opencv")]
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (features: cli, live, llm, mcp, opencv)"
);
#[cfg(not(feature = "opencv"))]
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (features: cli, live, llm, mcp)"
);

#[derive(Parser, Debug)]
#[command(
    name = "mmprompt",
    version = VERSION,
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
    /// Serve extract and prompt as MCP tools to an agent, over stdin and stdout.
    #[command(after_help = "Examples:\n  \
        mmprompt mcp --allow ~/photos --allow ~/recordings\n\n\
        An MCP client (Claude Desktop, an agent SDK) starts this command and speaks JSON-RPC\n\
        on its stdin and stdout. Tools: extract (a path inside an allowed folder, or the\n\
        file's bytes as base64) and prompt (a dry run). Resources: mmprompt://context and\n\
        mmprompt://schema. Paths outside every --allow folder are refused; without --allow\n\
        only content sent as bytes is read.")]
    Mcp {
        /// Let clients read files inside DIR (repeatable); symbolic links are resolved
        /// before the check.
        #[arg(long, value_name = "DIR")]
        allow: Vec<std::path::PathBuf>,
    },
    /// Print a shell completion script.
    #[command(after_help = "Examples:\n  \
        mmprompt completions bash > /usr/local/share/bash-completion/completions/mmprompt\n  \
        mmprompt completions zsh > \"${fpath[1]}/_mmprompt\"\n  \
        mmprompt completions fish > ~/.config/fish/completions/mmprompt.fish\n\n\
        `make install` puts all three where the shells look for them.")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print a man page (roff), or with --out DIR write one page per command into DIR.
    #[command(after_help = "Examples:\n  \
        mmprompt man | man -l -\n  \
        mmprompt man extract | man -l -\n  \
        mmprompt man --out /usr/local/share/man/man1")]
    Man {
        /// The command whose page to print (default: the top-level page).
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
        /// Write mmprompt.1 and mmprompt-COMMAND.1 for every command into DIR.
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        out: Option<std::path::PathBuf>,
    },
}

/// `completions`: the shells clap_complete writes scripts for that `make install` installs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
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
        Command::Mcp { allow } => mcp(&allow),
        Command::Completions { shell } => completions(shell).map(|()| EXIT_OK),
        Command::Man { command, out } => man(command.as_deref(), out.as_deref()),
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

fn mcp(allow: &[std::path::PathBuf]) -> anyhow::Result<u8> {
    let allowed = match mmprompt::mcp::Allowed::new(allow) {
        Ok(a) => a,
        Err(e) => return common::usage_error(&format!("--allow {e}")),
    };
    mmprompt::mcp::serve_stdio(mmprompt::mcp::Server::new(allowed))?;
    Ok(EXIT_OK)
}

fn completions(shell: Shell) -> anyhow::Result<()> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    match shell {
        Shell::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "mmprompt", &mut out)
        }
        Shell::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "mmprompt", &mut out)
        }
        Shell::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "mmprompt", &mut out)
        }
    }
    out.flush()?;
    Ok(())
}

/// The page of the top-level command, or of one subcommand (named `mmprompt-NAME`).
fn man_page(cmd: &clap::Command, name: Option<&str>) -> Option<Vec<u8>> {
    let page = match name {
        None => cmd.clone(),
        Some(name) => {
            let sub = cmd
                .get_subcommands()
                .find(|c| c.get_name() == name && !c.is_hide_set())?;
            sub.clone()
                .name(format!("mmprompt-{name}"))
                .version(VERSION)
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff).ok()?;
    Some(roff)
}

fn man(name: Option<&str>, out: Option<&std::path::Path>) -> anyhow::Result<u8> {
    use anyhow::Context as _;
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build();
    let Some(dir) = out else {
        let Some(page) = man_page(&cmd, name) else {
            let names: Vec<&str> = cmd
                .get_subcommands()
                .filter(|c| !c.is_hide_set() && c.get_name() != "help")
                .map(clap::Command::get_name)
                .collect();
            say!(
                "mmprompt: usage error: no command '{}'; the commands are {}",
                name.unwrap_or_default(),
                names.join(", ")
            );
            return Ok(common::EXIT_USAGE);
        };
        std::io::stdout().lock().write_all(&page)?;
        return Ok(EXIT_OK);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let mut names: Vec<Option<String>> = vec![None];
    names.extend(
        cmd.get_subcommands()
            .filter(|c| !c.is_hide_set() && c.get_name() != "help")
            .map(|c| Some(c.get_name().to_string())),
    );
    for name in names {
        let file = match &name {
            None => "mmprompt.1".to_string(),
            Some(n) => format!("mmprompt-{n}.1"),
        };
        let page = man_page(&cmd, name.as_deref())
            .with_context(|| format!("cannot render the page of {file}"))?;
        let path = dir.join(&file);
        std::fs::write(&path, page).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(EXIT_OK)
}
