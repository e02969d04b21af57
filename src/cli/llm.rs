//! The `prompt` and `send` subcommands: flags, and the loop over requests. Everything they
//! do is in the library (`prompt`, `llm`, `send`).

use clap::Args;
use mmprompt::jobs::extract::ExtractOptions;
use mmprompt::llm::http::PostEvent;
use mmprompt::llm::http::{Client, ClientOptions, RetryPolicy};
use mmprompt::llm::redact;
use mmprompt::prompt::expand_inputs;
use mmprompt::prompt::settings::{PromptSettings, PromptSettingsError};
use mmprompt::send::{open_send_log, send_one, Outcome, RateLimiter, SendOptions};
use rayon::prelude::*;
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Flags shared by `prompt` and `send`.
#[derive(Args, Debug)]
pub(crate) struct PromptArgs {
    /// Media files (extracted on the fly), `.jsonld` documents written by `extract`, or
    /// folders of either (walked like `extract` walks them; a medium with its document
    /// beside it is read from the document).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// The endpoint and how the prompt is built, shared with the Python package and the
    /// MCP server.
    #[command(flatten)]
    pub settings: PromptSettings,
}

pub(crate) const PROMPT_HELP: &str = "Examples:\n  \
    mmprompt prompt photo.jpg --provider openai --model gpt-4o-mini\n  \
    mmprompt prompt out/photo.jpg.jsonld --profile local --max-prompt-tokens 800\n  \
    mmprompt prompt a.png b.wav --provider gemini --model gemini-2.5-flash --attach all --full-body\n\n\
    Prints the request that `send` would post (JSON: url, headers with keys redacted, body,\n\
    token account) and sends nothing. Exit codes: 0 ok, 1 usage error, 2 failure.";

pub(crate) const SEND_HELP: &str = "Examples:\n  \
    mmprompt send photo.jpg --provider openai --endpoint http://127.0.0.1:8080 --model smollm2-135m\n  \
    mmprompt send out/*.jsonld --profile claude --each --concurrency 4 --rate 60\n\n\
    The answer streams to stdout and is saved as <fragments>.response.json (one input) or\n\
    OUT/prompt-<hash>.response.json (several), with provider, model, request id, usage,\n\
    latency, text, the validated answer and its citations resolved to anchors. Each request\n\
    gets a line in OUT/send.ndjson; a later run skips requests whose saved answer matches and\n\
    retries the rest. Exit codes: 0 ok, 1 usage error, 2 some request failed.";

/// `prompt`-only flags.
#[derive(Args, Debug)]
pub(crate) struct DryRunArgs {
    #[command(flatten)]
    pub common: PromptArgs,
    /// Show attached media in full instead of eliding their base64.
    #[arg(long)]
    pub full_body: bool,
    /// Print only the exact request body (e.g. to pipe into curl).
    #[arg(long)]
    pub body_only: bool,
}

/// `send`-only flags.
#[derive(Args, Debug)]
pub(crate) struct SendArgs {
    #[command(flatten)]
    pub common: PromptArgs,
    /// Where fragments of media inputs, answers and send.ndjson go.
    #[arg(long, default_value = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// One prompt per input instead of one prompt over all inputs.
    #[arg(long)]
    pub each: bool,
    /// Requests in flight at once with --each.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub concurrency: usize,
    /// At most this many requests started per minute.
    #[arg(long, value_name = "PER_MIN")]
    pub rate: Option<f64>,
    /// Send again even when a saved answer matches the request.
    #[arg(long)]
    pub force: bool,
    /// Do not stream; print each answer when it is complete.
    #[arg(long)]
    pub no_stream: bool,
    /// Connection timeout in seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub connect_timeout: f64,
    /// Total timeout per attempt chain in seconds, from connecting to the last byte.
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    pub timeout: f64,
    /// Attempts in all per request (connection errors, 408/409/429/5xx/529).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub max_attempts: u32,
    /// First retry backoff in milliseconds (doubles per retry, with jitter).
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub retry_base_ms: u64,
    /// Trace each request and response on stderr, secrets redacted.
    #[arg(long)]
    pub verbose: bool,
    /// No answer text on stdout (it is still saved).
    #[arg(long)]
    pub quiet: bool,
    /// Count an answer that fails the answer schema as a failure (exit 2); by default it is
    /// saved with answerValid=false and a warning.
    #[arg(long)]
    pub strict: bool,
}

/// Finite and above zero (NaN is not).
fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// Builds the endpoint and the options shared by both commands; `Err` is a usage error.
fn options(
    a: &PromptArgs,
    out_dir: &Path,
    stream: bool,
) -> anyhow::Result<Result<SendOptions, String>> {
    match a
        .settings
        .send_options(ExtractOptions::default(), out_dir, stream)
    {
        Ok(o) => Ok(Ok(o)),
        Err(PromptSettingsError::Usage(e)) => Ok(Err(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// `mmprompt prompt`: the dry run.
pub(crate) fn prompt(args: &DryRunArgs) -> anyhow::Result<u8> {
    let opts = match options(&args.common, Path::new("out"), true)? {
        Ok(o) => o,
        Err(m) => return super::common::usage_error(&m),
    };
    let run = match mmprompt::send::dry_run(&args.common.inputs, &opts, args.full_body, |_| Ok(()))
    {
        Ok(run) => run,
        Err(e) => {
            say!("mmprompt: error: {e}");
            return Ok(super::common::EXIT_FAILED);
        }
    };
    let planned = &run.planned;
    let mut stdout = std::io::stdout().lock();
    if args.body_only {
        serde_json::to_writer(&mut stdout, &planned.request.body)?;
    } else {
        serde_json::to_writer_pretty(&mut stdout, &run.report)?;
    }
    writeln!(stdout)?;
    let a = &planned.assembled;
    say!(
        "prompt: {} tokens ({}{}), {} fragments kept, {} dropped{}{}",
        a.tokens,
        a.encoding.as_str(),
        opts.prompt
            .max_prompt_tokens
            .map_or(String::new(), |b| format!(", budget {b}")),
        a.kept.len(),
        a.dropped.len(),
        if a.dropped.is_empty() { "" } else { ": " },
        a.dropped.join(" ")
    );
    // The key is only looked at to show whether one would be sent; it is never printed.
    if opts.endpoint.api_key().is_err() {
        say!(
            "note: {} is not set; `send` would fail until it is",
            opts.endpoint
                .api_key_env
                .as_deref()
                .unwrap_or("the key variable")
        );
    }
    Ok(super::common::EXIT_OK)
}

/// `mmprompt send`.
pub(crate) fn send(args: &SendArgs) -> anyhow::Result<u8> {
    let stream = !args.no_stream;
    let mut opts = match options(&args.common, &args.out, stream)? {
        Ok(o) => o,
        Err(m) => return super::common::usage_error(&m),
    };
    opts.force = args.force;
    if args.concurrency == 0
        || args.max_attempts == 0
        || !positive(args.timeout)
        || !positive(args.connect_timeout)
    {
        return super::common::usage_error(
            "--concurrency, --max-attempts, --timeout and --connect-timeout must be positive",
        );
    }
    if args.rate.is_some_and(|r| !positive(r)) {
        return super::common::usage_error("--rate must be positive");
    }
    let key = match opts.endpoint.api_key() {
        Ok(k) => k,
        Err(e) => {
            say!("mmprompt: error: {e}");
            return Ok(super::common::EXIT_FAILED);
        }
    };
    let client = Client::new(ClientOptions {
        connect_timeout: Duration::from_secs_f64(args.connect_timeout),
        total_timeout: Duration::from_secs_f64(args.timeout),
        retry: RetryPolicy {
            max_attempts: args.max_attempts,
            base_backoff: Duration::from_millis(args.retry_base_ms),
            ..RetryPolicy::default()
        },
        ..ClientOptions::default()
    });
    let inputs = match expand_inputs(&args.common.inputs) {
        Ok(i) => i,
        Err(e) => {
            let secrets: Vec<&str> = key.as_deref().into_iter().collect();
            say!("mmprompt: error: {}", redact(&e.to_string(), &secrets));
            return Ok(super::common::EXIT_FAILED);
        }
    };
    let manifest = open_send_log(&args.out)?;
    let groups: Vec<Vec<PathBuf>> = if args.each {
        inputs.iter().map(|p| vec![p.clone()]).collect()
    } else {
        vec![inputs]
    };
    let limiter = args.rate.map(RateLimiter::per_minute);
    let failed = AtomicUsize::new(0);
    let secrets: Vec<&str> = key.as_deref().into_iter().collect();
    // Streaming several answers at once would interleave them; only a lone request streams.
    let live = groups.len() == 1 || args.concurrency == 1;
    let print_lock = Mutex::new(());
    let run = |group: &Vec<PathBuf>| {
        let name = group
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let mut streamed = false;
        let mut on_delta = |d: &str| {
            if live && !args.quiet {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(d.as_bytes());
                let _ = out.flush();
                streamed = true;
            }
        };
        // Retries are always told (a silent wait looks like a hang); the exchange itself
        // only with --verbose.
        let mut on_event = |ev: PostEvent<'_>| match ev {
            PostEvent::Trace(line) if args.verbose => say!("{line}"),
            PostEvent::Trace(_) => {}
            PostEvent::Retry {
                attempt,
                wait,
                reason,
            } => say!(
                "mmprompt: {name}: attempt {attempt} failed ({reason}); retrying in {:.1} s",
                wait.as_secs_f64()
            ),
        };
        if live && groups.len() > 1 && !args.quiet {
            println!("==> {name} <==");
        }
        let result = send_one(
            group,
            &opts,
            &client,
            key.as_deref(),
            &manifest,
            limiter.as_ref(),
            &mut on_delta,
            Some(&mut on_event),
        );
        let _guard = print_lock.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(Outcome::Ok { response, record }) => {
                if !args.quiet {
                    let mut out = std::io::stdout().lock();
                    if !streamed {
                        if !live {
                            let _ = writeln!(out, "==> {name} <==");
                        }
                        let _ = out.write_all(record["text"].as_str().unwrap_or("").as_bytes());
                    }
                    let _ = writeln!(out);
                }
                let unresolved: Vec<String> = record["unresolvedCitations"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(mmprompt::doc::text::quote)
                            .collect()
                    })
                    .unwrap_or_default();
                if !unresolved.is_empty() {
                    say!(
                        "warning: {name}: the answer cites {} that match no fragment shown: {}",
                        if unresolved.len() == 1 {
                            "an id"
                        } else {
                            "ids"
                        },
                        unresolved.join(", ")
                    );
                }
                if record["answerValid"] == Value::Bool(false) {
                    if args.strict {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    say!(
                        "warning: {name}: the answer does not match the answer schema: {}",
                        record["validationErrors"]
                    );
                }
                say!("saved {}", response.display());
            }
            Ok(Outcome::UpToDate { response }) => {
                say!(
                    "{name}: up to date ({}); --force sends again",
                    response.display()
                );
            }
            Err(e) => {
                if streamed {
                    println!();
                }
                failed.fetch_add(1, Ordering::Relaxed);
                say!(
                    "mmprompt: error: {name}: {}",
                    redact(&e.to_string(), &secrets)
                );
            }
        }
    };
    if groups.len() > 1 && args.concurrency > 1 {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(args.concurrency)
            .build()?;
        pool.install(|| groups.par_iter().for_each(run));
    } else {
        groups.iter().for_each(run);
    }
    let n = failed.load(Ordering::Relaxed);
    if n > 0 {
        say!(
            "{n} of {} requests failed; see {}",
            groups.len(),
            args.out.join(mmprompt::send::SEND_LOG_NAME).display()
        );
        Ok(super::common::EXIT_FAILED)
    } else {
        if !std::io::stderr().is_terminal() && args.verbose {
            say!("all {} requests done", groups.len());
        }
        Ok(super::common::EXIT_OK)
    }
}

/// A started sender for `live --send PROFILE`: the profile's endpoint, the built-in prompt
/// (answers whole, not streamed, since stdout carries the live lines). `Err` is a usage
/// error.
pub(crate) fn live_sender(
    profile: &str,
    config: Option<&Path>,
    out: &Path,
) -> anyhow::Result<Result<mmprompt::send::LiveSender, String>> {
    let args = PromptArgs {
        inputs: Vec::new(),
        settings: PromptSettings {
            profile: Some(profile.to_string()),
            config: config.map(Path::to_path_buf),
            ..PromptSettings::default()
        },
    };
    let mut opts = match options(&args, out, false)? {
        Ok(o) => o,
        Err(m) => return Ok(Err(m)),
    };
    opts.force = true;
    let key = match opts.endpoint.api_key() {
        Ok(k) => k,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let client = Client::new(ClientOptions::default());
    let sender = mmprompt::send::LiveSender::start(
        opts,
        client,
        key,
        Box::new(|line| say!("mmprompt: live: {line}")),
    )?;
    Ok(Ok(sender))
}
