//! What each provider's API looks like: the request it takes and the answer it gives, both
//! whole and streamed. Pure functions over JSON; no I/O.

use super::LlmError;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::fmt;
use std::str::FromStr;

/// The request formats mmprompt speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// OpenAI Chat Completions (`/v1/chat/completions`); also llama.cpp, vLLM and most
    /// OpenAI-compatible servers.
    OpenAi,
    /// OpenAI Responses (`/v1/responses`).
    OpenAiResponses,
    /// Ollama's native chat API (`/api/chat`).
    Ollama,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// Google Gemini `generateContent`.
    Gemini,
}

impl Provider {
    /// Every provider, in the order `--help` lists them.
    pub const ALL: [Provider; 5] = [
        Provider::OpenAi,
        Provider::OpenAiResponses,
        Provider::Ollama,
        Provider::Anthropic,
        Provider::Gemini,
    ];

    /// The name used on the command line and in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::OpenAiResponses => "openai-responses",
            Provider::Ollama => "ollama",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
        }
    }

    /// The public endpoint used when neither a profile nor `--endpoint` names one.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Provider::OpenAi | Provider::OpenAiResponses => "https://api.openai.com",
            Provider::Ollama => "http://127.0.0.1:11434",
            Provider::Anthropic => "https://api.anthropic.com",
            Provider::Gemini => "https://generativelanguage.googleapis.com",
        }
    }

    /// The environment variable holding the API key by default; Ollama needs none.
    pub fn default_key_env(self) -> Option<&'static str> {
        match self {
            Provider::OpenAi | Provider::OpenAiResponses => Some("OPENAI_API_KEY"),
            Provider::Ollama => None,
            Provider::Anthropic => Some("ANTHROPIC_API_KEY"),
            Provider::Gemini => Some("GEMINI_API_KEY"),
        }
    }

    /// Whether the API takes audio inputs at all.
    pub fn accepts_audio(self) -> bool {
        matches!(self, Provider::OpenAi | Provider::Gemini)
    }

    /// Audio formats the API takes, by MIME type.
    pub fn audio_formats(self) -> &'static [&'static str] {
        match self {
            Provider::OpenAi => &["audio/wav", "audio/mpeg"],
            Provider::Gemini => &["audio/wav", "audio/mpeg", "audio/flac", "audio/ogg"],
            _ => &[],
        }
    }

    /// Whether streamed answers come as NDJSON lines rather than server-sent events.
    pub fn streams_ndjson(self) -> bool {
        self == Provider::Ollama
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<_> = Provider::ALL.iter().map(|p| p.as_str()).collect();
                format!(
                    "unknown provider {s:?} (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// A media file attached to a prompt, already fitted to the provider's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    /// The file it came from, for messages.
    pub name: String,
    /// MIME type of `bytes`.
    pub mime: String,
    /// The encoded media.
    pub bytes: Vec<u8>,
}

impl Attachment {
    /// Whether this is an image (otherwise audio).
    pub fn is_image(&self) -> bool {
        self.mime.starts_with("image/")
    }

    fn base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.bytes)
    }

    fn data_url(&self) -> String {
        format!("data:{};base64,{}", self.mime, self.base64())
    }
}

/// Everything a request says, before it is shaped for one provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// The model name.
    pub model: String,
    /// The system instruction.
    pub system: String,
    /// The user message text (template with the fragments filled in).
    pub user: String,
    /// Media attached after the text.
    pub attachments: Vec<Attachment>,
    /// JSON Schema for the structured-output slot.
    pub answer_schema: Option<Value>,
    /// Sampling temperature.
    pub temperature: f64,
    /// Cap on generated tokens.
    pub max_tokens: u32,
    /// Stream the answer.
    pub stream: bool,
}

/// A request ready for the HTTP client; header values may hold the API key.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// Absolute URL.
    pub url: String,
    /// Headers, the key among them.
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Value,
}

/// Version of the Anthropic API the request shapes follow.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The name the structured-output slot gives the answer schema where one is required.
const SCHEMA_NAME: &str = "mmprompt_answer";

/// Builds the provider's request for `prompt` at `endpoint` (a base URL such as
/// `http://127.0.0.1:8080`; a trailing `/v1` is tolerated).
///
/// Fails when an attachment is not allowed by the provider, naming it.
///
/// # Errors
/// [`LlmError::AttachmentRefused`] when the provider does not take an attachment of the
/// prompt.
pub fn build_request(
    provider: Provider,
    endpoint: &str,
    prompt: &Prompt,
    api_key: Option<&str>,
) -> Result<HttpRequest, LlmError> {
    for a in &prompt.attachments {
        if !a.is_image() && !provider.audio_formats().contains(&a.mime.as_str()) {
            return Err(LlmError::AttachmentRefused {
                provider,
                name: a.name.clone(),
                reason: if provider.accepts_audio() {
                    format!("{} does not take {} audio", provider, a.mime)
                } else {
                    format!("{provider} does not accept audio inputs")
                },
            });
        }
    }
    let base = endpoint.trim_end_matches('/');
    let v1 = base.strip_suffix("/v1").unwrap_or(base);
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    let (url, body) = match provider {
        Provider::OpenAi => {
            if let Some(k) = api_key {
                headers.push(("authorization".into(), format!("Bearer {k}")));
            }
            (format!("{v1}/v1/chat/completions"), openai_chat(prompt))
        }
        Provider::OpenAiResponses => {
            if let Some(k) = api_key {
                headers.push(("authorization".into(), format!("Bearer {k}")));
            }
            (format!("{v1}/v1/responses"), openai_responses(prompt))
        }
        Provider::Ollama => {
            if let Some(k) = api_key {
                headers.push(("authorization".into(), format!("Bearer {k}")));
            }
            (format!("{base}/api/chat"), ollama(prompt))
        }
        Provider::Anthropic => {
            if let Some(k) = api_key {
                headers.push(("x-api-key".into(), k.to_string()));
            }
            headers.push(("anthropic-version".into(), ANTHROPIC_VERSION.into()));
            (format!("{v1}/v1/messages"), anthropic(prompt))
        }
        Provider::Gemini => {
            // The key goes in a header, never the URL, so URLs are safe to log.
            if let Some(k) = api_key {
                headers.push(("x-goog-api-key".into(), k.to_string()));
            }
            let base = base.strip_suffix("/v1beta").unwrap_or(base);
            let model = prompt
                .model
                .strip_prefix("models/")
                .unwrap_or(&prompt.model);
            let url = if prompt.stream {
                format!("{base}/v1beta/models/{model}:streamGenerateContent?alt=sse")
            } else {
                format!("{base}/v1beta/models/{model}:generateContent")
            };
            (url, gemini(prompt))
        }
    };
    Ok(HttpRequest { url, headers, body })
}

fn openai_chat(p: &Prompt) -> Value {
    let content = if p.attachments.is_empty() {
        Value::String(p.user.clone())
    } else {
        let mut parts = vec![json!({"type": "text", "text": p.user})];
        for a in &p.attachments {
            parts.push(if a.is_image() {
                json!({"type": "image_url", "image_url": {"url": a.data_url(), "detail": "auto"}})
            } else {
                let format = if a.mime == "audio/mpeg" { "mp3" } else { "wav" };
                json!({"type": "input_audio", "input_audio": {"data": a.base64(), "format": format}})
            });
        }
        Value::Array(parts)
    };
    let mut body = json!({
        "model": p.model,
        "messages": [
            {"role": "system", "content": p.system},
            {"role": "user", "content": content},
        ],
        "temperature": p.temperature,
        "max_tokens": p.max_tokens,
        "stream": p.stream,
    });
    if p.stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    if let Some(schema) = &p.answer_schema {
        body["response_format"] = json!({
            "type": "json_schema",
            "json_schema": {"name": SCHEMA_NAME, "schema": schema},
        });
    }
    body
}

fn openai_responses(p: &Prompt) -> Value {
    let mut parts = vec![json!({"type": "input_text", "text": p.user})];
    for a in &p.attachments {
        // Only images reach here: the Responses API takes no audio (checked above).
        parts.push(json!({"type": "input_image", "image_url": a.data_url()}));
    }
    let mut body = json!({
        "model": p.model,
        "instructions": p.system,
        "input": [{"role": "user", "content": parts}],
        "temperature": p.temperature,
        "max_output_tokens": p.max_tokens,
        "stream": p.stream,
    });
    if let Some(schema) = &p.answer_schema {
        body["text"] =
            json!({"format": {"type": "json_schema", "name": SCHEMA_NAME, "schema": schema}});
    }
    body
}

fn ollama(p: &Prompt) -> Value {
    let mut user = json!({"role": "user", "content": p.user});
    if !p.attachments.is_empty() {
        user["images"] = p
            .attachments
            .iter()
            .map(|a| Value::String(a.base64()))
            .collect();
    }
    let mut body = json!({
        "model": p.model,
        "messages": [{"role": "system", "content": p.system}, user],
        "stream": p.stream,
        "options": {"temperature": p.temperature, "num_predict": p.max_tokens},
    });
    if let Some(schema) = &p.answer_schema {
        body["format"] = schema.clone();
    }
    body
}

fn anthropic(p: &Prompt) -> Value {
    let mut parts = Vec::new();
    // Anthropic recommends images before the text that refers to them.
    for a in &p.attachments {
        parts.push(json!({
            "type": "image",
            "source": {"type": "base64", "media_type": a.mime, "data": a.base64()},
        }));
    }
    parts.push(json!({"type": "text", "text": p.user}));
    let mut body = json!({
        "model": p.model,
        "max_tokens": p.max_tokens,
        "system": p.system,
        "messages": [{"role": "user", "content": parts}],
        "temperature": p.temperature,
        "stream": p.stream,
    });
    if let Some(schema) = &p.answer_schema {
        body["output_config"] = json!({"format": {"type": "json_schema", "schema": schema}});
    }
    body
}

fn gemini(p: &Prompt) -> Value {
    let mut parts = vec![json!({"text": p.user})];
    for a in &p.attachments {
        parts.push(json!({"inline_data": {"mime_type": a.mime, "data": a.base64()}}));
    }
    let mut config = json!({"temperature": p.temperature, "maxOutputTokens": p.max_tokens});
    if let Some(schema) = &p.answer_schema {
        config["responseMimeType"] = json!("application/json");
        config["responseJsonSchema"] = schema.clone();
    }
    json!({
        "systemInstruction": {"parts": [{"text": p.system}]},
        "contents": [{"role": "user", "parts": parts}],
        "generationConfig": config,
    })
}

/// Token counts a provider reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: Option<u64>,
    /// Generated tokens.
    pub output_tokens: Option<u64>,
}

impl Usage {
    /// As JSON for the saved response.
    pub fn to_json(self) -> Value {
        json!({"inputTokens": self.input_tokens, "outputTokens": self.output_tokens})
    }

    fn merge(&mut self, other: Usage) {
        self.input_tokens = other.input_tokens.or(self.input_tokens);
        self.output_tokens = other.output_tokens.or(self.output_tokens);
    }
}

/// A whole answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    /// The generated text.
    pub text: String,
    /// The provider's id for the response, when it gives one.
    pub response_id: Option<String>,
    /// Token counts.
    pub usage: Usage,
    /// Why generation stopped, in the provider's words.
    pub finish_reason: Option<String>,
}

fn u(v: &Value) -> Option<u64> {
    v.as_u64()
}

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// Reads a whole (non-streamed) answer body.
///
/// # Errors
/// [`LlmError::Provider`] when the body carries an error object, or
/// [`LlmError::BadResponse`] when it lacks the fields the provider documents.
pub fn parse_answer(provider: Provider, body: &Value) -> Result<Answer, LlmError> {
    if let Some(msg) = error_message(body) {
        return Err(LlmError::Provider { message: msg });
    }
    let mut a = Answer::default();
    match provider {
        Provider::OpenAi => {
            let choice = &body["choices"][0];
            a.text = s(&choice["message"]["content"]).unwrap_or_default();
            a.finish_reason = s(&choice["finish_reason"]);
            a.response_id = s(&body["id"]);
            a.usage = Usage {
                input_tokens: u(&body["usage"]["prompt_tokens"]),
                output_tokens: u(&body["usage"]["completion_tokens"]),
            };
            if choice.is_null() {
                return Err(shape("no choices[0]"));
            }
        }
        Provider::OpenAiResponses => {
            if let Some(t) = body["output_text"].as_str() {
                a.text = t.to_string();
            } else {
                for item in body["output"].as_array().into_iter().flatten() {
                    for c in item["content"].as_array().into_iter().flatten() {
                        if c["type"] == "output_text" {
                            a.text.push_str(c["text"].as_str().unwrap_or(""));
                        }
                    }
                }
            }
            a.response_id = s(&body["id"]);
            a.finish_reason = s(&body["status"]);
            a.usage = Usage {
                input_tokens: u(&body["usage"]["input_tokens"]),
                output_tokens: u(&body["usage"]["output_tokens"]),
            };
            if !body["output"].is_array() && body["output_text"].is_null() {
                return Err(shape("no output"));
            }
        }
        Provider::Ollama => {
            a.text = s(&body["message"]["content"]).ok_or_else(|| shape("no message"))?;
            a.finish_reason = s(&body["done_reason"]);
            a.usage = Usage {
                input_tokens: u(&body["prompt_eval_count"]),
                output_tokens: u(&body["eval_count"]),
            };
        }
        Provider::Anthropic => {
            let content = body["content"]
                .as_array()
                .ok_or_else(|| shape("no content"))?;
            for c in content {
                if c["type"] == "text" {
                    a.text.push_str(c["text"].as_str().unwrap_or(""));
                }
            }
            a.response_id = s(&body["id"]);
            a.finish_reason = s(&body["stop_reason"]);
            a.usage = Usage {
                input_tokens: u(&body["usage"]["input_tokens"]),
                output_tokens: u(&body["usage"]["output_tokens"]),
            };
        }
        Provider::Gemini => {
            let chunk = gemini_chunk(body);
            if body["candidates"].as_array().is_none() {
                return Err(shape("no candidates"));
            }
            a.text = chunk.text;
            a.response_id = chunk.response_id;
            a.usage = chunk.usage;
            a.finish_reason = chunk.finish_reason;
        }
    }
    Ok(a)
}

fn shape(what: &str) -> LlmError {
    LlmError::BadResponse(format!("unexpected answer shape: {what}"))
}

fn gemini_chunk(body: &Value) -> Answer {
    let mut a = Answer::default();
    let cand = &body["candidates"][0];
    for p in cand["content"]["parts"].as_array().into_iter().flatten() {
        // Parts flagged `thought` are the model's reasoning, not its answer.
        if p["thought"] != Value::Bool(true) {
            a.text.push_str(p["text"].as_str().unwrap_or(""));
        }
    }
    a.finish_reason = s(&cand["finishReason"]);
    a.response_id = s(&body["responseId"]);
    a.usage = Usage {
        input_tokens: u(&body["usageMetadata"]["promptTokenCount"]),
        output_tokens: u(&body["usageMetadata"]["candidatesTokenCount"]),
    };
    a
}

/// The error message in an error body, in any provider's spelling: `{"error":{"message":..}}`
/// (OpenAI, Anthropic, Gemini, llama.cpp) or `{"error":".."}` (Ollama).
pub fn error_message(body: &Value) -> Option<String> {
    let e = body.get("error")?;
    if let Some(m) = e.as_str() {
        return Some(m.to_string());
    }
    let m = e.get("message").and_then(Value::as_str)?;
    let kind = e
        .get("type")
        .or_else(|| e.get("status"))
        .and_then(Value::as_str);
    Some(match kind {
        Some(k) => format!("{m} ({k})"),
        None => m.to_string(),
    })
}

/// One event of a streamed answer: an SSE event (name and data) or one NDJSON line
/// (no name).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// The SSE `event:` field, if any.
    pub event: Option<String>,
    /// The data, parsed as JSON.
    pub data: Value,
}

/// Folds streamed events into an [`Answer`], handing each text delta out as it comes.
#[derive(Debug, Default)]
pub struct StreamState {
    answer: Answer,
    done: bool,
}

impl StreamState {
    /// Applies one event. Returns the text it adds (possibly empty), or the error the
    /// stream carried.
    ///
    /// # Errors
    /// [`LlmError::Stream`] with the provider's message when the event reports an error;
    /// other events, whatever their shape, only add what they carry.
    pub fn apply(&mut self, provider: Provider, ev: &StreamEvent) -> Result<String, LlmError> {
        let d = &ev.data;
        let name = ev.event.as_deref().unwrap_or("");
        if name == "error" || name == "response.failed" || d.get("error").is_some() {
            let msg = error_message(d)
                .or_else(|| error_message(&d["response"]))
                .unwrap_or_else(|| d.to_string());
            return Err(LlmError::Stream(msg));
        }
        let mut delta = String::new();
        match provider {
            Provider::OpenAi => {
                let choice = &d["choices"][0];
                if let Some(t) = choice["delta"]["content"].as_str() {
                    delta.push_str(t);
                }
                if let Some(r) = choice["finish_reason"].as_str() {
                    self.answer.finish_reason = Some(r.to_string());
                }
                if self.answer.response_id.is_none() {
                    self.answer.response_id = s(&d["id"]);
                }
                if d["usage"].is_object() {
                    self.answer.usage.merge(Usage {
                        input_tokens: u(&d["usage"]["prompt_tokens"]),
                        output_tokens: u(&d["usage"]["completion_tokens"]),
                    });
                }
            }
            Provider::OpenAiResponses => match d["type"].as_str().unwrap_or(name) {
                "response.output_text.delta" => delta.push_str(d["delta"].as_str().unwrap_or("")),
                "response.created" => self.answer.response_id = s(&d["response"]["id"]),
                "response.completed" | "response.incomplete" => {
                    let r = &d["response"];
                    self.answer.response_id = s(&r["id"]).or(self.answer.response_id.take());
                    self.answer.finish_reason = s(&r["status"]);
                    self.answer.usage.merge(Usage {
                        input_tokens: u(&r["usage"]["input_tokens"]),
                        output_tokens: u(&r["usage"]["output_tokens"]),
                    });
                    self.done = true;
                }
                _ => {}
            },
            Provider::Ollama => {
                if let Some(t) = d["message"]["content"].as_str() {
                    delta.push_str(t);
                }
                if d["done"] == Value::Bool(true) {
                    self.answer.finish_reason = s(&d["done_reason"]);
                    self.answer.usage = Usage {
                        input_tokens: u(&d["prompt_eval_count"]),
                        output_tokens: u(&d["eval_count"]),
                    };
                    self.done = true;
                }
            }
            Provider::Anthropic => match d["type"].as_str().unwrap_or(name) {
                "message_start" => {
                    let m = &d["message"];
                    self.answer.response_id = s(&m["id"]);
                    self.answer.usage.merge(Usage {
                        input_tokens: u(&m["usage"]["input_tokens"]),
                        output_tokens: u(&m["usage"]["output_tokens"]),
                    });
                }
                "content_block_delta" if d["delta"]["type"] == "text_delta" => {
                    delta.push_str(d["delta"]["text"].as_str().unwrap_or(""));
                }
                "message_delta" => {
                    self.answer.finish_reason = s(&d["delta"]["stop_reason"]);
                    self.answer.usage.merge(Usage {
                        input_tokens: u(&d["usage"]["input_tokens"]),
                        output_tokens: u(&d["usage"]["output_tokens"]),
                    });
                }
                "message_stop" => self.done = true,
                _ => {}
            },
            Provider::Gemini => {
                let chunk = gemini_chunk(d);
                delta = chunk.text;
                self.answer.response_id = chunk.response_id.or(self.answer.response_id.take());
                self.answer.usage.merge(chunk.usage);
                if chunk.finish_reason.is_some() {
                    self.answer.finish_reason = chunk.finish_reason;
                }
            }
        }
        self.answer.text.push_str(&delta);
        Ok(delta)
    }

    /// Marks the end of the stream (`[DONE]` or the end of the body) and returns the
    /// answer. Fails when a provider that announces its end (Anthropic, Ollama, the
    /// Responses API) did not.
    ///
    /// # Errors
    /// [`LlmError::Stream`] when the stream ended before the provider's end marker.
    pub fn finish(self, provider: Provider, saw_done_marker: bool) -> Result<Answer, LlmError> {
        let announced = match provider {
            Provider::OpenAi => saw_done_marker || self.answer.finish_reason.is_some(),
            Provider::Gemini => true,
            Provider::OpenAiResponses | Provider::Ollama | Provider::Anthropic => self.done,
        };
        if announced {
            Ok(self.answer)
        } else {
            Err(LlmError::Stream(
                "the stream ended before the answer was complete".into(),
            ))
        }
    }
}

/// Removes base64 payloads from a request body for display: each becomes a short note
/// with its decoded size.
pub fn elide_media(body: &Value) -> Value {
    fn walk(v: &Value, parent_key: &str) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    out.insert(k.clone(), walk(x, k));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, parent_key)).collect()),
            Value::String(s) if s.len() > 256 => {
                let payload = s.split_once(";base64,").map_or(s.as_str(), |(_, d)| d);
                let looks_b64 = payload.len() > 256
                    && payload
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
                if looks_b64 && matches!(parent_key, "data" | "url" | "image_url" | "images") {
                    Value::String(format!("<{} bytes of base64 media>", payload.len() * 3 / 4))
                } else {
                    v.clone()
                }
            }
            _ => v.clone(),
        }
    }
    walk(body, "")
}
