//! `prompt` and `send` as library calls: load inputs, assemble the prompt, shape it for the
//! provider, post it, validate the answer against the schema, resolve its citations and
//! save the result atomically beside the fragments, with a manifest line per request.

use crate::jobs::extract::ExtractOptions;
use crate::jobs::fsio::{output_path, write_atomic, write_inside, Durability};
use crate::jobs::manifest::{Manifest, ManifestError};
use crate::llm::config::Endpoint;
use crate::llm::http::{Client, Exchange};
use crate::llm::provider::{build_request, elide_media, HttpRequest};
use crate::llm::{redact, LlmError};
use crate::prompt::{
    assemble, load_input, resolve_citations, Assembled, Input, PromptError, PromptOptions,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why a prompt was not sent or its answer not saved.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Assembly failed.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// The endpoint failed.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// The request body is over the cap even with attachments shrunk.
    #[error("the request body would be {bytes} bytes, over the {cap}-byte cap (--max-body-mb); attach fewer or smaller media")]
    BodyTooLarge {
        /// Body size.
        bytes: usize,
        /// The cap.
        cap: usize,
    },
    /// An output could not be written.
    #[error("{path}: cannot write: {detail}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The answer schema does not compile.
    #[error("answer schema: {0}")]
    Schema(String),
}

impl SendError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SendError::Prompt(e) => e.code(),
            SendError::Llm(e) => e.code(),
            SendError::BodyTooLarge { .. } => "body_too_large",
            SendError::Write { .. } => "write",
            SendError::Schema(_) => "answer_schema",
        }
    }
}

/// Everything `prompt` and `send` need besides the inputs.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Where to send.
    pub endpoint: Endpoint,
    /// How to build the prompt.
    pub prompt: PromptOptions,
    /// How media inputs are extracted.
    pub extract: ExtractOptions,
    /// Where fragments, answers and the manifest go.
    pub out_dir: PathBuf,
    /// Send again even when a saved answer matches the request.
    pub force: bool,
}

/// A prompt shaped for its provider.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The inputs.
    pub inputs: Vec<Input>,
    /// The assembled prompt.
    pub assembled: Assembled,
    /// The HTTP request (its headers may hold the key).
    pub request: HttpRequest,
    /// Hash of URL and body: a saved answer with the same hash answers the same request.
    pub request_hash: String,
}

/// Loads the inputs and shapes the request, shrinking attached images until the body fits
/// the cap.
///
/// # Errors
/// A [`SendError::Prompt`] when an input cannot be read or extracted or the prompt cannot be
/// assembled, or [`SendError::BodyTooLarge`] when the request is over the body cap.
pub fn plan(
    paths: &[PathBuf],
    opts: &SendOptions,
    api_key: Option<&str>,
) -> Result<Planned, SendError> {
    let inputs = paths
        .iter()
        .map(|p| load_input(p, &opts.extract))
        .collect::<Result<Vec<_>, _>>()?;
    plan_inputs(inputs, opts, api_key)
}

/// [`plan`] for inputs already loaded.
///
/// # Errors
/// As [`plan`], for inputs already loaded.
pub fn plan_inputs(
    inputs: Vec<Input>,
    opts: &SendOptions,
    api_key: Option<&str>,
) -> Result<Planned, SendError> {
    let ep = &opts.endpoint;
    let mut popts = opts.prompt.clone();
    let cap = popts.limits.max_body_bytes;
    loop {
        let assembled = assemble(&inputs, &popts, ep.provider, &ep.model)?;
        let request = build_request(ep.provider, &ep.base_url, &assembled.prompt, api_key)?;
        let body = serde_json::to_vec(&request.body).unwrap_or_default();
        if body.len() <= cap {
            let mut h = Sha256::new();
            h.update(request.url.as_bytes());
            h.update([0]);
            h.update(&body);
            let request_hash = format!("{:x}", h.finalize());
            return Ok(Planned {
                inputs,
                assembled,
                request,
                request_hash,
            });
        }
        let has_images = assembled.prompt.attachments.iter().any(|a| a.is_image());
        if !has_images || popts.limits.max_image_side <= 256 {
            return Err(SendError::BodyTooLarge {
                bytes: body.len(),
                cap,
            });
        }
        popts.limits.max_image_side /= 2;
    }
}

/// The dry-run report: where the request would go, its headers with secrets redacted, its
/// body (media elided unless `full`), and the token account.
pub fn dry_run_report(p: &Planned, opts: &SendOptions, full: bool, secrets: &[&str]) -> Value {
    let headers: serde_json::Map<String, Value> = p
        .request
        .headers
        .iter()
        .map(|(k, v)| {
            let shown = match k.as_str() {
                "authorization" | "x-api-key" | "x-goog-api-key" => "[redacted]".to_string(),
                _ => redact(v, secrets),
            };
            (k.clone(), Value::String(shown))
        })
        .collect();
    let body = if full {
        p.request.body.clone()
    } else {
        elide_media(&p.request.body)
    };
    let a = &p.assembled;
    json!({
        "provider": opts.endpoint.provider.as_str(),
        "model": opts.endpoint.model,
        "url": redact(&p.request.url, secrets),
        "apiKeyEnv": opts.endpoint.api_key_env,
        "headers": headers,
        "body": body,
        "tokens": {
            "count": a.tokens,
            "encoding": a.encoding.as_str(),
            "budget": opts.prompt.max_prompt_tokens,
            "kept": a.kept.len(),
            "dropped": a.dropped,
        },
        "attachments": a.attachments,
        "bodyBytes": serde_json::to_vec(&p.request.body).map(|b| b.len()).unwrap_or(0),
        "requestHash": p.request_hash,
    })
}

/// A dry run: the planned request and its report.
#[derive(Debug)]
pub struct DryRun {
    /// The request as `send` would post it (its headers may hold the key).
    pub planned: Planned,
    /// [`dry_run_report`] of it, keys redacted.
    pub report: Value,
}

/// What `mmprompt prompt`, the Python `prompt()` and the MCP `prompt` tool share: `inputs`
/// (files or folders) expanded, each file passed to `check` (a caller that confines paths
/// refuses one there), the request planned with the key from `opts`' environment variable
/// if it is set, and reported without it.
///
/// # Errors
/// The message of the first failure, with the key redacted: an input that cannot be
/// expanded, a file `check` refuses, or a request that cannot be planned.
pub fn dry_run(
    inputs: &[PathBuf],
    opts: &SendOptions,
    full: bool,
    check: impl Fn(&Path) -> Result<(), String>,
) -> Result<DryRun, String> {
    let key = opts.endpoint.api_key().ok().flatten();
    let secrets: Vec<&str> = key.as_deref().into_iter().collect();
    let paths =
        crate::prompt::expand_inputs(inputs).map_err(|e| redact(&e.to_string(), &secrets))?;
    for path in &paths {
        check(path)?;
    }
    let planned =
        plan(&paths, opts, key.as_deref()).map_err(|e| redact(&e.to_string(), &secrets))?;
    let report = dry_run_report(&planned, opts, full, &secrets);
    Ok(DryRun { planned, report })
}

/// Path of an input relative to nothing: root, prefix and `..` parts dropped, so outputs
/// of any input land inside the output folder.
fn contained(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

/// Where an input's fragments live: the `.jsonld` itself, or `OUT/<path>.jsonld`.
pub fn fragments_path(input: &Input, out_dir: &Path) -> PathBuf {
    if input.from_jsonld {
        input.path.clone()
    } else {
        output_path(out_dir, &contained(&input.path), ".jsonld")
    }
}

/// Where the answer to a prompt is saved: beside the fragments of a single input as
/// `<file>.response.json`, or `OUT/prompt-<hash>.response.json` for several.
pub fn response_path(p: &Planned, out_dir: &Path) -> PathBuf {
    if let [one] = p.inputs.as_slice() {
        let f = fragments_path(one, out_dir);
        let s = f.to_string_lossy();
        let stem = s.strip_suffix(".jsonld").unwrap_or(&s);
        PathBuf::from(format!("{stem}.response.json"))
    } else {
        out_dir.join(format!("prompt-{}.response.json", &p.request_hash[..16]))
    }
}

/// Whether a saved answer already answers this request.
pub fn up_to_date(p: &Planned, out_dir: &Path) -> bool {
    std::fs::read(response_path(p, out_dir))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .is_some_and(|v| v["requestHash"] == p.request_hash.as_str())
}

/// Writes the fragments of media inputs (extracted now) into the output folder.
///
/// # Errors
/// [`SendError::Write`] naming the file that could not be written.
pub fn save_fragments(p: &Planned, out_dir: &Path) -> Result<Vec<PathBuf>, SendError> {
    let mut paths = Vec::new();
    for input in &p.inputs {
        let path = fragments_path(input, out_dir);
        if !input.from_jsonld {
            let mut bytes = serde_json::to_vec_pretty(&input.document).unwrap_or_default();
            bytes.push(b'\n');
            write_inside(out_dir, &path, &bytes, Durability::Cache).map_err(|e| {
                SendError::Write {
                    path: path.clone(),
                    detail: e.to_string(),
                }
            })?;
        }
        paths.push(path);
    }
    Ok(paths)
}

/// Validates an answer text against the schema: `(parsed answer, errors)`.
///
/// # Errors
/// [`SendError::Schema`] when `schema` is not a valid JSON Schema. An answer that is not
/// JSON, or does not match, is no error: it comes back in the list of errors.
pub fn validate_answer(
    text: &str,
    schema: &Value,
) -> Result<(Option<Value>, Vec<String>), SendError> {
    let validator =
        jsonschema::validator_for(schema).map_err(|e| SendError::Schema(e.to_string()))?;
    // Models sometimes fence JSON in markdown; the fence is not part of the answer.
    let t = text.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .and_then(|x| x.strip_suffix("```"))
        .unwrap_or(t)
        .trim();
    match serde_json::from_str::<Value>(t) {
        Err(e) => Ok((None, vec![format!("the answer is not JSON: {e}")])),
        Ok(v) => {
            let errors: Vec<String> = validator
                .iter_errors(&v)
                .map(|e| format!("{}: {}", e.instance_path(), e))
                .collect();
            Ok((Some(v), errors))
        }
    }
}

/// Builds the saved response record.
///
/// # Errors
/// [`SendError::Schema`] when the answer schema is not a valid JSON Schema.
pub fn response_record(
    p: &Planned,
    opts: &SendOptions,
    ex: &Exchange,
    fragments: &[PathBuf],
    secrets: &[&str],
) -> Result<Value, SendError> {
    let text = redact(&ex.answer.text, secrets);
    let mut rec = json!({
        "provider": opts.endpoint.provider.as_str(),
        "model": opts.endpoint.model,
        "endpoint": redact(&opts.endpoint.base_url, secrets),
        "requestId": ex.request_id,
        "responseId": ex.answer.response_id,
        "status": ex.status,
        "attempts": ex.attempts,
        "latencyMs": ex.latency.as_millis() as u64,
        "usage": ex.answer.usage.to_json(),
        "finishReason": ex.answer.finish_reason,
        "text": text,
        "fragments": fragments.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        "promptTokens": {"count": p.assembled.tokens, "encoding": p.assembled.encoding.as_str(), "dropped": p.assembled.dropped},
        "requestHash": p.request_hash,
    });
    if let Some(schema) = &p.assembled.prompt.answer_schema {
        let (answer, errors) = validate_answer(&text, schema)?;
        rec["answerValid"] = Value::Bool(answer.is_some() && errors.is_empty());
        rec["validationErrors"] = json!(errors);
        if let Some(a) = &answer {
            let c = resolve_citations(a, &p.assembled.kept, &p.inputs);
            rec["citations"] = c["citations"].clone();
            rec["unresolvedCitations"] = c["unresolved"].clone();
        }
        rec["answer"] = answer.unwrap_or(Value::Null);
    }
    Ok(rec)
}

/// Saves the response record atomically.
///
/// # Errors
/// [`SendError::Write`] naming `path` when it cannot be written.
pub fn save_response(path: &Path, rec: &Value) -> Result<(), SendError> {
    let mut bytes = serde_json::to_vec_pretty(rec).unwrap_or_default();
    bytes.push(b'\n');
    write_atomic(path, &bytes).map_err(|e| SendError::Write {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// File name of the send log inside the output folder.
pub const SEND_LOG_NAME: &str = "send.ndjson";

/// Opens (creating `out_dir` and) the send log `OUT/send.ndjson`. It is a history, one line
/// per request made or skipped, so it is appended to and never compacted: a resumed run
/// shows which requests failed before.
///
/// # Errors
/// [`SendError::Write`] when the folder or the log cannot be created or opened.
pub fn open_send_log(out_dir: &Path) -> Result<Manifest, SendError> {
    let path = out_dir.join(SEND_LOG_NAME);
    std::fs::create_dir_all(out_dir).map_err(|e| SendError::Write {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    Manifest::open(&path).map_err(log_error)
}

/// A send-log failure as the `write` error sends have always given: the log's path and
/// the I/O error, without the manifest's own wording around it.
fn log_error(e: ManifestError) -> SendError {
    let path = e.path().to_path_buf();
    let detail = match e {
        ManifestError::Read { source, .. } | ManifestError::Write { source, .. } => {
            source.to_string()
        }
        ManifestError::Rewrite(fs) => fs.kind.to_string(),
    };
    SendError::Write { path, detail }
}

/// Spaces request starts at least `1/rate` seconds apart across threads.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// At most `per_minute` request starts per minute.
    pub fn per_minute(per_minute: f64) -> Self {
        Self {
            interval: Duration::from_secs_f64(60.0 / per_minute.max(1e-3)),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Blocks until this caller's slot.
    pub fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        let now = Instant::now();
        if slot > now {
            std::thread::sleep(slot - now);
        }
    }
}

/// The outcome of one request, for the manifest and the summary.
#[derive(Debug)]
pub enum Outcome {
    /// Sent and saved.
    Ok {
        /// Where the answer went.
        response: PathBuf,
        /// The saved record.
        record: Value,
    },
    /// A saved answer already matched.
    UpToDate {
        /// Its path.
        response: PathBuf,
    },
}

/// Plans, posts and saves one prompt over `paths`. Streamed text goes to `on_delta`; trace
/// lines (already redacted) to `trace`.
///
/// # Errors
/// A [`SendError`] when planning, posting, validating or saving fails, or the send log
/// cannot be appended to; the failure is recorded in the log first when it can be.
#[allow(clippy::too_many_arguments)]
pub fn send_one(
    paths: &[PathBuf],
    opts: &SendOptions,
    client: &Client,
    api_key: Option<&str>,
    manifest: &Manifest,
    limiter: Option<&RateLimiter>,
    on_delta: &mut dyn FnMut(&str),
    events: Option<crate::llm::http::EventSink<'_>>,
) -> Result<Outcome, SendError> {
    let secrets: Vec<&str> = api_key.into_iter().collect();
    let inputs: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let result = (|| -> Result<(Outcome, String), SendError> {
        let planned = plan(paths, opts, api_key)?;
        let fragments = save_fragments(&planned, &opts.out_dir)?;
        let response = response_path(&planned, &opts.out_dir);
        if !opts.force && up_to_date(&planned, &opts.out_dir) {
            return Ok((Outcome::UpToDate { response }, planned.request_hash));
        }
        // The limit spaces the requests themselves, so it applies after the (variable)
        // extraction time, right before posting.
        if let Some(l) = limiter {
            l.wait();
        }
        let ex = client.post(
            opts.endpoint.provider,
            &planned.request,
            planned.assembled.prompt.stream,
            &secrets,
            on_delta,
            events,
        )?;
        let record = response_record(&planned, opts, &ex, &fragments, &secrets)?;
        save_response(&response, &record)?;
        Ok((Outcome::Ok { response, record }, planned.request_hash))
    })();
    let line = match &result {
        Ok((Outcome::Ok { response, record }, hash)) => json!({
            "inputs": inputs, "status": "ok", "response": response.display().to_string(),
            "attempts": record["attempts"], "latencyMs": record["latencyMs"],
            "answerValid": record.get("answerValid"), "requestHash": hash,
        }),
        Ok((Outcome::UpToDate { response }, hash)) => json!({
            "inputs": inputs, "status": "skipped", "reason": "up_to_date",
            "response": response.display().to_string(), "requestHash": hash,
        }),
        Err(e) => json!({
            "inputs": inputs, "status": "error",
            "error": {"kind": e.code(), "message": redact(&e.to_string(), &secrets)},
        }),
    };
    manifest.append(&line).map_err(log_error)?;
    result.map(|(o, _)| o)
}

/// Sends prompts from a live session on a thread of its own, so capture never waits for an
/// endpoint. There is one slot: a window offered while a request is in flight replaces any
/// window still waiting (coalescing), so a slow endpoint costs windows, never capture time.
#[derive(Debug)]
pub struct LiveSender {
    shared: std::sync::Arc<LiveShared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct LiveState {
    waiting: Option<(String, crate::doc::Document)>,
    stopping: bool,
    busy: bool,
    stats: LiveSendStats,
}

#[derive(Debug, Default)]
struct LiveShared {
    state: Mutex<LiveState>,
    wake: std::sync::Condvar,
}

/// What a live sender did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveSendStats {
    /// Windows offered.
    pub offered: u64,
    /// Requests that succeeded.
    pub sent: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Windows replaced by a newer one before they could be sent.
    pub coalesced: u64,
}

/// What happened to an offered window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// It waits for (or starts) the next request.
    Queued,
    /// It replaced a window that was still waiting.
    Coalesced,
}

impl LiveSender {
    /// Starts the sender thread. Each answer is saved as `OUT/<name>.response.json` and
    /// reported through `report` (one line, already redacted), from the sender thread.
    ///
    /// # Errors
    /// [`SendError::Write`] when the output folder or the send log cannot be created, or
    /// (with the path `<thread>`) when the system cannot start the sender thread.
    pub fn start(
        opts: SendOptions,
        client: Client,
        api_key: Option<String>,
        report: Box<dyn FnMut(&str) + Send>,
    ) -> Result<Self, SendError> {
        let manifest = open_send_log(&opts.out_dir)?;
        let shared = std::sync::Arc::new(LiveShared::default());
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mmprompt-live-send".into())
            .spawn(move || {
                live_send_loop(&s, &opts, &client, api_key.as_deref(), &manifest, report)
            })
            .map_err(|e| SendError::Write {
                path: PathBuf::from("<thread>"),
                detail: e.to_string(),
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Offers a window (an mmprompt document) named `name`. Never blocks on the network.
    pub fn offer(&self, name: String, document: crate::doc::Document) -> Offer {
        let mut st = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        st.stats.offered += 1;
        let replaced = st.waiting.replace((name, document)).is_some();
        if replaced {
            st.stats.coalesced += 1;
        }
        self.shared.wake.notify_one();
        if replaced || st.busy {
            Offer::Coalesced
        } else {
            Offer::Queued
        }
    }

    /// Sends what is still waiting, stops the thread and returns the totals. The wait is
    /// bounded by the client's total timeout.
    pub fn finish(mut self) -> LiveSendStats {
        self.stop()
    }

    fn stop(&mut self) -> LiveSendStats {
        {
            let mut st = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
            st.stopping = true;
            self.shared.wake.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stats
    }
}

impl Drop for LiveSender {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop();
        }
    }
}

fn live_send_loop(
    shared: &LiveShared,
    opts: &SendOptions,
    client: &Client,
    api_key: Option<&str>,
    manifest: &Manifest,
    mut report: Box<dyn FnMut(&str) + Send>,
) {
    let secrets: Vec<&str> = api_key.into_iter().collect();
    loop {
        let (name, document) = {
            let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(job) = st.waiting.take() {
                    st.busy = true;
                    break job;
                }
                if st.stopping {
                    return;
                }
                st = shared.wake.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        };
        let input = Input {
            path: PathBuf::from(&name),
            kind: crate::media::MediaKind::Audio,
            document,
            media_path: None,
            from_jsonld: true,
        };
        let response = opts.out_dir.join(format!("{name}.response.json"));
        let result = (|| -> Result<Value, SendError> {
            let planned = plan_inputs(vec![input], opts, api_key)?;
            let ex = client.post(
                opts.endpoint.provider,
                &planned.request,
                false,
                &secrets,
                &mut |_| {},
                None,
            )?;
            let record = response_record(&planned, opts, &ex, &[], &secrets)?;
            save_response(&response, &record)?;
            Ok(record)
        })();
        let ok = result.is_ok();
        let (line, manifest_line) = match result {
            Ok(record) => (
                format!(
                    "sent {name}: {} ms, saved {}",
                    record["latencyMs"],
                    response.display()
                ),
                json!({"inputs": [name], "status": "ok", "response": response.display().to_string(),
                       "attempts": record["attempts"], "latencyMs": record["latencyMs"]}),
            ),
            Err(e) => {
                let msg = redact(&e.to_string(), &secrets);
                (
                    format!("send failed for {name}: {msg}"),
                    json!({"inputs": [name], "status": "error", "error": {"kind": e.code(), "message": msg}}),
                )
            }
        };
        let _ = manifest.append(&manifest_line);
        report(&line);
        let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        st.busy = false;
        if ok {
            st.stats.sent += 1;
        } else {
            st.stats.failed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::config::Endpoint;
    use crate::llm::Provider;
    use crate::prompt::PromptOptions;
    use std::io::Write;
    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// Answers one OpenAI chat request on `stream` with a fixed body.
    fn answer(stream: std::net::TcpStream) {
        let mut r = BufReader::new(stream);
        let mut len = 0usize;
        let mut line = String::new();
        while r.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            line.clear();
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).expect("request body");
        let text = r#"{"id":"x","choices":[{"message":{"content":"ok"},"finish_reason":"stop"}]}"#;
        let mut s = r.into_inner();
        write!(
            s,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
            text.len()
        )
        .expect("response");
    }

    fn window() -> crate::doc::Document {
        use crate::doc::model::{IsoSeconds, LiveWindowSource, SoundTypes};
        let about = LiveWindowSource {
            id: "urn:mmprompt:live:test:source".into(),
            kind: SoundTypes,
            name: "live".into(),
            sample_rate: 16000,
            channels: 1,
            start_time: "2026-01-01T00:00:00.000Z".into(),
            content_url: "live".into(),
            duration: IsoSeconds(1.0),
        };
        let context = crate::doc::Context::new(crate::doc::ContextMode::Reference);
        let page = crate::doc::LiveWindowPage::new(context, None, about, None, Vec::new());
        crate::doc::Document::LiveWindow(page)
    }

    #[test]
    fn a_slow_endpoint_coalesces_windows_and_never_blocks_the_offer() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (accepted_tx, accepted_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let server = std::thread::spawn(move || {
            for (i, conn) in listener.incoming().take(2).enumerate() {
                let conn = conn.expect("connection");
                accepted_tx.send(i).expect("report");
                if i == 0 {
                    release_rx.recv().expect("release");
                }
                answer(conn);
            }
        });
        let out = tempfile::tempdir().expect("tempdir");
        let opts = SendOptions {
            endpoint: Endpoint {
                provider: Provider::OpenAi,
                base_url: format!("http://127.0.0.1:{port}"),
                model: "m".into(),
                api_key_env: None,
            },
            prompt: PromptOptions {
                answer_schema: None,
                ..PromptOptions::default()
            },
            extract: ExtractOptions::default(),
            out_dir: out.path().to_path_buf(),
            force: true,
        };
        let lines = std::sync::Arc::new(Mutex::new(Vec::new()));
        let l2 = lines.clone();
        let sender = LiveSender::start(
            opts,
            Client::new(crate::llm::http::ClientOptions::default()),
            None,
            Box::new(move |l| l2.lock().expect("lock").push(l.to_string())),
        )
        .expect("starts");
        assert_eq!(sender.offer("w1".into(), window()), Offer::Queued);
        // The first request is now held by the server.
        assert_eq!(accepted_rx.recv().expect("accepted"), 0);
        assert_eq!(sender.offer("w2".into(), window()), Offer::Coalesced);
        assert_eq!(sender.offer("w3".into(), window()), Offer::Coalesced);
        release_tx.send(()).expect("release");
        let stats = sender.finish();
        server.join().expect("server");
        assert_eq!(
            stats,
            LiveSendStats {
                offered: 3,
                sent: 2,
                failed: 0,
                coalesced: 1
            }
        );
        assert!(out.path().join("w1.response.json").is_file());
        assert!(out.path().join("w3.response.json").is_file());
        assert!(!out.path().join("w2.response.json").exists());
        assert_eq!(lines.lock().expect("lock").len(), 2);
    }
}
