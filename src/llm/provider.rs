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

    /// Image formats the API takes as they are, by MIME type. GIF is left out: an animated
    /// one would be read as its first frame at best, so it is always re-encoded.
    pub fn image_formats(self) -> &'static [&'static str] {
        match self {
            Provider::OpenAi
            | Provider::OpenAiResponses
            | Provider::Anthropic
            | Provider::Gemini => &["image/jpeg", "image/png", "image/webp"],
            // Ollama's and llama.cpp's image loaders read JPEG and PNG everywhere.
            Provider::Ollama => &["image/jpeg", "image/png"],
        }
    }

    /// Largest image the API takes in one request, in bytes of the file.
    pub fn max_image_bytes(self) -> usize {
        match self {
            // Anthropic: 5 MB per image; OpenAI: 20 MB per image (chat); Gemini: 20 MB
            // per inline request.
            Provider::Anthropic => 5_000_000,
            _ => 20_000_000,
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
        if meets_strict(schema) {
            body["response_format"]["json_schema"]["strict"] = Value::Bool(true);
        }
    }
    body
}

/// Whether `schema` meets OpenAI's strict structured-output mode: every object lists all
/// its properties as required and allows no others (checked through properties, items,
/// `anyOf` and `$defs`). Strict mode is asked for only then, because a server in strict
/// mode refuses any other schema.
pub fn meets_strict(schema: &Value) -> bool {
    let Some(obj) = schema.as_object() else {
        return schema.is_boolean();
    };
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        let required: Vec<&str> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if obj.get("additionalProperties") != Some(&Value::Bool(false))
            || !props.keys().all(|k| required.contains(&k.as_str()))
            || !props.values().all(meets_strict)
        {
            return false;
        }
    } else if obj.get("type").and_then(Value::as_str) == Some("object")
        && obj.get("additionalProperties") != Some(&Value::Bool(false))
    {
        return false;
    }
    let nested = |key: &str| match obj.get(key) {
        None => true,
        Some(Value::Array(a)) => a.iter().all(meets_strict),
        Some(Value::Object(m)) if key == "$defs" || key == "definitions" => {
            m.values().all(meets_strict)
        }
        Some(v) => meets_strict(v),
    };
    ["items", "anyOf", "$defs", "definitions"]
        .into_iter()
        .all(nested)
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
        if meets_strict(schema) {
            body["text"]["format"]["strict"] = Value::Bool(true);
        }
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

pub use crate::framing::StreamEvent;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The request for `prompt` to a placeholder endpoint, which every provider takes.
    fn request(provider: Provider, prompt: &Prompt) -> HttpRequest {
        build_request(provider, "http://h", prompt, None).expect("the provider takes it")
    }

    const KEY: &str = "sk-test-0123456789";

    fn png() -> Attachment {
        Attachment {
            name: "in/a.png".into(),
            mime: "image/png".into(),
            bytes: b"\x89PNG fake bytes".to_vec(),
        }
    }

    fn audio(mime: &str) -> Attachment {
        Attachment {
            name: "in/b.wav".into(),
            mime: mime.into(),
            bytes: b"RIFF fake wave".to_vec(),
        }
    }

    fn schema() -> Value {
        json!({"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]})
    }

    #[test]
    fn strict_mode_is_asked_for_exactly_when_the_schema_meets_it() {
        let strict = crate::prompt::default_answer_schema();
        assert!(meets_strict(&strict));
        assert!(!meets_strict(&schema()), "additional properties allowed");
        let optional = json!({"type": "object", "additionalProperties": false,
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a"]});
        assert!(!meets_strict(&optional));
        let nested = json!({"type": "object", "additionalProperties": false, "required": ["x"],
            "properties": {"x": {"type": "array", "items": {"type": "object",
                "properties": {"y": {"type": "string"}}, "required": ["y"]}}}});
        assert!(!meets_strict(&nested), "the inner object allows more");
        let mut p = prompt(false, true, vec![]);
        p.answer_schema = Some(strict.clone());
        let chat = build_request(Provider::OpenAi, "http://h", &p, None).unwrap();
        assert_eq!(chat.body["response_format"]["json_schema"]["strict"], true);
        assert_eq!(
            chat.body["response_format"]["json_schema"]["schema"],
            strict
        );
        let responses = build_request(Provider::OpenAiResponses, "http://h", &p, None).unwrap();
        assert_eq!(responses.body["text"]["format"]["strict"], true);
        p.answer_schema = Some(schema());
        let chat = build_request(Provider::OpenAi, "http://h", &p, None).unwrap();
        assert!(chat.body["response_format"]["json_schema"]
            .get("strict")
            .is_none());
    }

    fn prompt(stream: bool, with_schema: bool, attachments: Vec<Attachment>) -> Prompt {
        Prompt {
            model: "m-1".into(),
            system: "SYSTEM TEXT".into(),
            user: "USER TEXT".into(),
            attachments,
            answer_schema: with_schema.then(schema),
            temperature: 0.25,
            max_tokens: 77,
            stream,
        }
    }

    fn header<'a>(r: &'a HttpRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Standard base64 of the fixtures, written out so the encoder is checked too.
    const PNG_B64: &str = "iVBORyBmYWtlIGJ5dGVz";
    const WAV_B64: &str = "UklGRiBmYWtlIHdhdmU=";

    #[test]
    fn fixtures_encode_to_the_expected_base64() {
        assert_eq!(png().base64(), PNG_B64);
        assert_eq!(audio("audio/wav").base64(), WAV_B64);
        assert_eq!(png().data_url(), format!("data:image/png;base64,{PNG_B64}"));
    }

    #[test]
    fn the_key_is_only_ever_in_its_header_never_in_the_url_or_body() {
        let want = [
            (Provider::OpenAi, "authorization", format!("Bearer {KEY}")),
            (
                Provider::OpenAiResponses,
                "authorization",
                format!("Bearer {KEY}"),
            ),
            (Provider::Ollama, "authorization", format!("Bearer {KEY}")),
            (Provider::Anthropic, "x-api-key", KEY.to_string()),
            (Provider::Gemini, "x-goog-api-key", KEY.to_string()),
        ];
        for (p, name, value) in want {
            for stream in [false, true] {
                let r = build_request(
                    p,
                    "http://127.0.0.1:9/",
                    &prompt(stream, true, vec![png()]),
                    Some(KEY),
                )
                .unwrap();
                assert_eq!(header(&r, name), Some(value.as_str()), "{p}");
                let with_key: Vec<_> = r.headers.iter().filter(|(_, v)| v.contains(KEY)).collect();
                assert_eq!(with_key.len(), 1, "{p}: {with_key:?}");
                assert!(!r.url.contains(KEY), "{p}: {}", r.url);
                assert!(!r.body.to_string().contains(KEY), "{p}");
                assert_eq!(header(&r, "content-type"), Some("application/json"));
                // Without a key no credential header is sent at all.
                let r = build_request(p, "http://127.0.0.1:9", &prompt(stream, true, vec![]), None)
                    .unwrap();
                for h in ["authorization", "x-api-key", "x-goog-api-key"] {
                    assert_eq!(header(&r, h), None, "{p} {h}");
                }
            }
        }
    }

    #[test]
    fn urls_per_provider_tolerate_a_trailing_slash_and_v1() {
        let url = |p, endpoint: &str, model: &str, stream| {
            let mut pr = prompt(stream, false, vec![]);
            pr.model = model.into();
            build_request(p, endpoint, &pr, None).unwrap().url
        };
        for e in [
            "http://h:1",
            "http://h:1/",
            "http://h:1/v1",
            "http://h:1/v1/",
        ] {
            assert_eq!(
                url(Provider::OpenAi, e, "m", false),
                "http://h:1/v1/chat/completions"
            );
            assert_eq!(
                url(Provider::OpenAiResponses, e, "m", true),
                "http://h:1/v1/responses"
            );
            assert_eq!(
                url(Provider::Anthropic, e, "m", false),
                "http://h:1/v1/messages"
            );
        }
        assert_eq!(
            url(Provider::Ollama, "http://h:1/", "m", true),
            "http://h:1/api/chat"
        );
        for e in ["https://g", "https://g/", "https://g/v1beta"] {
            assert_eq!(
                url(Provider::Gemini, e, "gemini-x", false),
                "https://g/v1beta/models/gemini-x:generateContent"
            );
            assert_eq!(
                url(Provider::Gemini, e, "models/gemini-x", true),
                "https://g/v1beta/models/gemini-x:streamGenerateContent?alt=sse"
            );
        }
    }

    #[test]
    fn openai_chat_body() {
        let r = request(Provider::OpenAi, &prompt(false, true, vec![]));
        assert_eq!(
            r.body,
            json!({
                "model": "m-1",
                "messages": [
                    {"role": "system", "content": "SYSTEM TEXT"},
                    {"role": "user", "content": "USER TEXT"},
                ],
                "temperature": 0.25,
                "max_tokens": 77,
                "stream": false,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "mmprompt_answer", "schema": schema()},
                },
            })
        );
        // Streaming asks for the usage chunk; media become content parts after the text.
        let r = build_request(
            Provider::OpenAi,
            "http://h",
            &prompt(
                true,
                false,
                vec![png(), audio("audio/wav"), audio("audio/mpeg")],
            ),
            None,
        )
        .unwrap();
        assert_eq!(r.body["stream"], true);
        assert_eq!(r.body["stream_options"], json!({"include_usage": true}));
        assert!(r.body.get("response_format").is_none());
        assert_eq!(
            r.body["messages"][1]["content"],
            json!([
                {"type": "text", "text": "USER TEXT"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG_B64}"), "detail": "auto"}},
                {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "wav"}},
                {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "mp3"}},
            ])
        );
    }

    #[test]
    fn openai_responses_body() {
        let r = request(Provider::OpenAiResponses, &prompt(true, true, vec![png()]));
        assert_eq!(
            r.body,
            json!({
                "model": "m-1",
                "instructions": "SYSTEM TEXT",
                "input": [{"role": "user", "content": [
                    {"type": "input_text", "text": "USER TEXT"},
                    {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG_B64}")},
                ]}],
                "temperature": 0.25,
                "max_output_tokens": 77,
                "stream": true,
                "text": {"format": {"type": "json_schema", "name": "mmprompt_answer", "schema": schema()}},
            })
        );
    }

    #[test]
    fn ollama_body() {
        let r = request(Provider::Ollama, &prompt(false, true, vec![png()]));
        assert_eq!(
            r.body,
            json!({
                "model": "m-1",
                "messages": [
                    {"role": "system", "content": "SYSTEM TEXT"},
                    // Ollama takes bare base64, not data URLs.
                    {"role": "user", "content": "USER TEXT", "images": [PNG_B64]},
                ],
                "stream": false,
                "options": {"temperature": 0.25, "num_predict": 77},
                "format": schema(),
            })
        );
        let r = request(Provider::Ollama, &prompt(true, false, vec![]));
        assert_eq!(r.body["stream"], true);
        assert!(r.body["messages"][1].get("images").is_none());
        assert!(r.body.get("format").is_none());
    }

    #[test]
    fn anthropic_body() {
        let r = build_request(
            Provider::Anthropic,
            "http://h",
            &prompt(true, true, vec![png()]),
            Some(KEY),
        )
        .unwrap();
        assert_eq!(header(&r, "anthropic-version"), Some("2023-06-01"));
        assert_eq!(header(&r, "authorization"), None);
        assert_eq!(
            r.body,
            json!({
                "model": "m-1",
                "max_tokens": 77,
                // The system prompt is a top-level field, not a message.
                "system": "SYSTEM TEXT",
                "messages": [{"role": "user", "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
                    {"type": "text", "text": "USER TEXT"},
                ]}],
                "temperature": 0.25,
                "stream": true,
                "output_config": {"format": {"type": "json_schema", "schema": schema()}},
            })
        );
        let r = request(Provider::Anthropic, &prompt(false, false, vec![]));
        assert_eq!(header(&r, "anthropic-version"), Some("2023-06-01"));
        assert!(r.body.get("output_config").is_none());
        assert_eq!(r.body["stream"], false);
    }

    #[test]
    fn gemini_body() {
        let r = request(
            Provider::Gemini,
            &prompt(true, true, vec![png(), audio("audio/wav")]),
        );
        assert_eq!(
            r.body,
            json!({
                "systemInstruction": {"parts": [{"text": "SYSTEM TEXT"}]},
                "contents": [{"role": "user", "parts": [
                    {"text": "USER TEXT"},
                    {"inline_data": {"mime_type": "image/png", "data": PNG_B64}},
                    {"inline_data": {"mime_type": "audio/wav", "data": WAV_B64}},
                ]}],
                "generationConfig": {
                    "temperature": 0.25,
                    "maxOutputTokens": 77,
                    "responseMimeType": "application/json",
                    "responseJsonSchema": schema(),
                },
            })
        );
        // Streaming is chosen by the URL alone; no schema, no JSON mime type.
        let r = request(Provider::Gemini, &prompt(false, false, vec![]));
        assert_eq!(
            r.body["generationConfig"],
            json!({"temperature": 0.25, "maxOutputTokens": 77})
        );
        assert!(r.body.get("stream").is_none());
    }

    #[test]
    fn audio_is_refused_where_the_provider_cannot_take_it() {
        for p in [
            Provider::OpenAiResponses,
            Provider::Ollama,
            Provider::Anthropic,
        ] {
            let e = build_request(
                p,
                "http://h",
                &prompt(false, false, vec![png(), audio("audio/wav")]),
                None,
            )
            .unwrap_err();
            assert_eq!(e.code(), "attachment_refused", "{p}");
            assert_eq!(
                e.to_string(),
                format!("cannot attach in/b.wav: {p} does not accept audio inputs")
            );
        }
        // Providers that take audio still refuse formats they do not list.
        for (p, mime) in [
            (Provider::OpenAi, "audio/flac"),
            (Provider::Gemini, "audio/aac"),
        ] {
            let e = build_request(
                p,
                "http://h",
                &prompt(false, false, vec![audio(mime)]),
                None,
            )
            .unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("cannot attach in/b.wav: {p} does not take {mime} audio")
            );
        }
        for mime in ["audio/flac", "audio/ogg", "audio/mpeg"] {
            assert!(build_request(
                Provider::Gemini,
                "http://h",
                &prompt(false, false, vec![audio(mime)]),
                None
            )
            .is_ok());
        }
    }

    #[test]
    fn provider_names_round_trip_and_unknown_names_list_the_choices() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>(), Ok(p));
            assert_eq!(p.as_str().to_uppercase().parse::<Provider>(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        let e = "claude".parse::<Provider>().unwrap_err();
        assert_eq!(
            e,
            "unknown provider \"claude\" (expected one of: openai, openai-responses, ollama, anthropic, gemini)"
        );
        let ndjson: Vec<_> = Provider::ALL
            .into_iter()
            .filter(|p| p.streams_ndjson())
            .collect();
        assert_eq!(ndjson, [Provider::Ollama]);
        assert_eq!(Provider::Ollama.default_key_env(), None);
        assert_eq!(Provider::Gemini.default_key_env(), Some("GEMINI_API_KEY"));
    }

    fn provider_error(p: Provider, body: Value) -> String {
        match parse_answer(p, &body) {
            Err(LlmError::Provider { message }) => message,
            other => panic!("{p}: expected a provider error, got {other:?}"),
        }
    }

    fn bad_shape(p: Provider, body: Value) {
        match parse_answer(p, &body) {
            Err(LlmError::BadResponse(m)) => {
                assert!(m.starts_with("unexpected answer shape"), "{m}")
            }
            other => panic!("{p}: expected a shape error, got {other:?}"),
        }
    }

    fn usage(i: u64, o: u64) -> Usage {
        Usage {
            input_tokens: Some(i),
            output_tokens: Some(o),
        }
    }

    #[test]
    fn openai_chat_answer() {
        let a = parse_answer(
            Provider::OpenAi,
            &json!({
                "id": "chatcmpl-1", "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
            }),
        )
        .unwrap();
        assert_eq!(
            a,
            Answer {
                text: "hi".into(),
                response_id: Some("chatcmpl-1".into()),
                usage: usage(11, 7),
                finish_reason: Some("length".into()),
            }
        );
        bad_shape(Provider::OpenAi, json!({"id": "x", "choices": []}));
        assert_eq!(
            provider_error(
                Provider::OpenAi,
                json!({"error": {"message": "Invalid model", "type": "invalid_request_error", "code": null}})
            ),
            "Invalid model (invalid_request_error)"
        );
    }

    #[test]
    fn openai_responses_answer() {
        let body = json!({
            "id": "resp_1", "status": "completed",
            "output": [
                {"type": "reasoning", "summary": []},
                {"type": "message", "content": [
                    {"type": "output_text", "text": "a"},
                    {"type": "refusal", "refusal": "no"},
                    {"type": "output_text", "text": "b"},
                ]},
            ],
            "usage": {"input_tokens": 5, "output_tokens": 3},
        });
        let a = parse_answer(Provider::OpenAiResponses, &body).unwrap();
        assert_eq!(
            a,
            Answer {
                text: "ab".into(),
                response_id: Some("resp_1".into()),
                usage: usage(5, 3),
                finish_reason: Some("completed".into()),
            }
        );
        // The SDKs' convenience field wins when present.
        let a = parse_answer(
            Provider::OpenAiResponses,
            &json!({"output_text": "whole", "output": []}),
        )
        .unwrap();
        assert_eq!(a.text, "whole");
        bad_shape(Provider::OpenAiResponses, json!({"id": "resp_1"}));
    }

    #[test]
    fn ollama_answer() {
        let a = parse_answer(
            Provider::Ollama,
            &json!({"model": "m", "message": {"role": "assistant", "content": "yo"},
                    "done": true, "done_reason": "stop", "prompt_eval_count": 11, "eval_count": 7}),
        )
        .unwrap();
        assert_eq!(
            a,
            Answer {
                text: "yo".into(),
                response_id: None,
                usage: usage(11, 7),
                finish_reason: Some("stop".into()),
            }
        );
        bad_shape(Provider::Ollama, json!({"done": true}));
        // Ollama's errors are a bare string.
        assert_eq!(
            provider_error(Provider::Ollama, json!({"error": "model \"m\" not found"})),
            "model \"m\" not found"
        );
    }

    #[test]
    fn anthropic_answer() {
        let a = parse_answer(
            Provider::Anthropic,
            &json!({
                "id": "msg_1", "type": "message", "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "x"},
                    {"type": "text", "text": "one "},
                    {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                    {"type": "text", "text": "two"},
                ],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 11, "output_tokens": 7},
            }),
        )
        .unwrap();
        assert_eq!(
            a,
            Answer {
                text: "one two".into(),
                response_id: Some("msg_1".into()),
                usage: usage(11, 7),
                finish_reason: Some("end_turn".into()),
            }
        );
        bad_shape(
            Provider::Anthropic,
            json!({"id": "msg_1", "type": "message"}),
        );
        assert_eq!(
            provider_error(
                Provider::Anthropic,
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
            ),
            "Overloaded (overloaded_error)"
        );
    }

    #[test]
    fn gemini_answer() {
        let a = parse_answer(
            Provider::Gemini,
            &json!({
                "candidates": [{"content": {"role": "model", "parts": [
                    {"text": "thinking...", "thought": true},
                    {"text": "x"},
                    {"text": "y"},
                ]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 7, "totalTokenCount": 18},
                "responseId": "gem-1",
            }),
        )
        .unwrap();
        assert_eq!(
            a,
            Answer {
                text: "xy".into(),
                response_id: Some("gem-1".into()),
                usage: usage(11, 7),
                finish_reason: Some("STOP".into()),
            }
        );
        bad_shape(
            Provider::Gemini,
            json!({"promptFeedback": {"blockReason": "SAFETY"}}),
        );
        assert_eq!(
            provider_error(
                Provider::Gemini,
                json!({"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}})
            ),
            "API key not valid. (INVALID_ARGUMENT)"
        );
    }

    #[test]
    fn usage_json_names_both_counts_even_when_unknown() {
        assert_eq!(
            usage(3, 4).to_json(),
            json!({"inputTokens": 3, "outputTokens": 4})
        );
        assert_eq!(
            Usage::default().to_json(),
            json!({"inputTokens": null, "outputTokens": null})
        );
    }

    /// Applies `events` (name, data) in order; returns the deltas and the state.
    fn run_stream(p: Provider, events: &[(Option<&str>, Value)]) -> (Vec<String>, StreamState) {
        let mut st = StreamState::default();
        let mut deltas = Vec::new();
        for (name, data) in events {
            let ev = StreamEvent {
                event: name.map(str::to_string),
                data: data.clone(),
            };
            deltas.push(st.apply(p, &ev).unwrap());
        }
        (deltas, st)
    }

    fn stream_err(p: Provider, name: Option<&str>, data: Value) -> String {
        let ev = StreamEvent {
            event: name.map(str::to_string),
            data,
        };
        match StreamState::default().apply(p, &ev) {
            Err(LlmError::Stream(m)) => m,
            other => panic!("{p}: expected a stream error, got {other:?}"),
        }
    }

    #[test]
    fn openai_chat_stream() {
        let evs = [
            (
                None,
                json!({"id": "c1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "he"}, "finish_reason": null}]}),
            ),
            (
                None,
                json!({"id": "c1", "choices": [{"index": 0, "delta": {"content": "llo"}, "finish_reason": null}]}),
            ),
            (
                None,
                json!({"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            ),
            (
                None,
                json!({"id": "c1", "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 7}}),
            ),
        ];
        let (deltas, st) = run_stream(Provider::OpenAi, &evs);
        assert_eq!(deltas, ["he", "llo", "", ""]);
        let a = st.finish(Provider::OpenAi, true).unwrap();
        assert_eq!(
            a,
            Answer {
                text: "hello".into(),
                response_id: Some("c1".into()),
                usage: usage(11, 7),
                finish_reason: Some("stop".into()),
            }
        );
        // A finish reason alone also ends the answer (servers that send no [DONE]) ...
        let (_, st) = run_stream(Provider::OpenAi, &evs[..3]);
        assert_eq!(st.finish(Provider::OpenAi, false).unwrap().text, "hello");
        // ... but a stream cut before either is incomplete.
        let (_, st) = run_stream(Provider::OpenAi, &evs[..2]);
        assert!(matches!(
            st.finish(Provider::OpenAi, false),
            Err(LlmError::Stream(_))
        ));
        assert_eq!(
            stream_err(
                Provider::OpenAi,
                None,
                json!({"error": {"message": "context too long", "type": "invalid_request_error"}})
            ),
            "context too long (invalid_request_error)"
        );
    }

    #[test]
    fn openai_responses_stream() {
        let done = json!({"type": "response.completed", "response": {
            "id": "resp_1", "status": "completed", "usage": {"input_tokens": 11, "output_tokens": 7}}});
        let evs = [
            (
                Some("response.created"),
                json!({"type": "response.created", "response": {"id": "resp_1"}}),
            ),
            (
                Some("response.output_text.delta"),
                json!({"type": "response.output_text.delta", "delta": "ab"}),
            ),
            (
                Some("response.output_text.done"),
                json!({"type": "response.output_text.done", "text": "ab"}),
            ),
            (
                Some("response.output_text.delta"),
                json!({"type": "response.output_text.delta", "delta": "c"}),
            ),
            (Some("response.completed"), done),
        ];
        let (deltas, st) = run_stream(Provider::OpenAiResponses, &evs);
        assert_eq!(deltas, ["", "ab", "", "c", ""]);
        assert_eq!(
            st.finish(Provider::OpenAiResponses, false).unwrap(),
            Answer {
                text: "abc".into(),
                response_id: Some("resp_1".into()),
                usage: usage(11, 7),
                finish_reason: Some("completed".into()),
            }
        );
        // Without response.completed the answer is incomplete, even after a [DONE].
        let (_, st) = run_stream(Provider::OpenAiResponses, &evs[..4]);
        assert!(st.finish(Provider::OpenAiResponses, true).is_err());
        // An incomplete response still ends the stream, with its status as the reason.
        let (_, st) = run_stream(
            Provider::OpenAiResponses,
            &[(
                None,
                json!({"type": "response.incomplete", "response": {"status": "incomplete"}}),
            )],
        );
        let a = st.finish(Provider::OpenAiResponses, false).unwrap();
        assert_eq!(a.finish_reason.as_deref(), Some("incomplete"));
        assert_eq!(
            stream_err(
                Provider::OpenAiResponses,
                Some("response.failed"),
                json!({"type": "response.failed", "response": {"status": "failed",
                       "error": {"code": "server_error", "message": "boom"}}})
            ),
            "boom"
        );
    }

    #[test]
    fn ollama_stream() {
        let evs = [
            (
                None,
                json!({"message": {"role": "assistant", "content": "a"}, "done": false}),
            ),
            (
                None,
                json!({"message": {"role": "assistant", "content": "b"}, "done": false}),
            ),
            (
                None,
                json!({"message": {"role": "assistant", "content": ""}, "done": true,
                          "done_reason": "stop", "prompt_eval_count": 11, "eval_count": 7}),
            ),
        ];
        let (deltas, st) = run_stream(Provider::Ollama, &evs);
        assert_eq!(deltas, ["a", "b", ""]);
        assert_eq!(
            st.finish(Provider::Ollama, false).unwrap(),
            Answer {
                text: "ab".into(),
                response_id: None,
                usage: usage(11, 7),
                finish_reason: Some("stop".into()),
            }
        );
        let (_, st) = run_stream(Provider::Ollama, &evs[..2]);
        assert!(st.finish(Provider::Ollama, false).is_err());
        assert_eq!(
            stream_err(
                Provider::Ollama,
                None,
                json!({"error": "model runner has unexpectedly stopped"})
            ),
            "model runner has unexpectedly stopped"
        );
    }

    #[test]
    fn anthropic_stream() {
        let evs = [
            (
                Some("message_start"),
                json!({"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 11, "output_tokens": 1}}}),
            ),
            (
                Some("content_block_start"),
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            (Some("ping"), json!({"type": "ping"})),
            (
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
            ),
            (
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"a\""}}),
            ),
            (
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
            ),
            (
                Some("content_block_stop"),
                json!({"type": "content_block_stop", "index": 0}),
            ),
            (
                Some("message_delta"),
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}),
            ),
            (Some("message_stop"), json!({"type": "message_stop"})),
        ];
        let (deltas, st) = run_stream(Provider::Anthropic, &evs);
        assert_eq!(deltas, ["", "", "", "Hel", "", "lo", "", "", ""]);
        assert_eq!(
            st.finish(Provider::Anthropic, false).unwrap(),
            Answer {
                text: "Hello".into(),
                response_id: Some("msg_1".into()),
                // Input from message_start, output from the final message_delta.
                usage: usage(11, 7),
                finish_reason: Some("end_turn".into()),
            }
        );
        let (_, st) = run_stream(Provider::Anthropic, &evs[..8]);
        assert!(st.finish(Provider::Anthropic, true).is_err());
        assert_eq!(
            stream_err(
                Provider::Anthropic,
                Some("error"),
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
            ),
            "Overloaded (overloaded_error)"
        );
    }

    #[test]
    fn gemini_stream() {
        let chunk = |t: &str, last: bool| {
            let mut c = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": t}]}}], "responseId": "gem-1"});
            if last {
                c["candidates"][0]["finishReason"] = json!("STOP");
                c["usageMetadata"] = json!({"promptTokenCount": 11, "candidatesTokenCount": 7});
            }
            c
        };
        let evs = [
            (None, chunk("x", false)),
            (None, chunk("y", false)),
            (None, chunk("z", true)),
        ];
        let (deltas, st) = run_stream(Provider::Gemini, &evs);
        assert_eq!(deltas, ["x", "y", "z"]);
        // Gemini sends no end marker: the end of the body ends the answer.
        assert_eq!(
            st.finish(Provider::Gemini, false).unwrap(),
            Answer {
                text: "xyz".into(),
                response_id: Some("gem-1".into()),
                usage: usage(11, 7),
                finish_reason: Some("STOP".into()),
            }
        );
        assert_eq!(
            stream_err(
                Provider::Gemini,
                None,
                json!({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}})
            ),
            "overloaded (UNAVAILABLE)"
        );
    }

    #[test]
    fn elide_media_replaces_only_base64_payloads() {
        let big = png_sized(3000);
        let b64 = big.base64();
        let r = request(Provider::OpenAi, &prompt(false, false, vec![big.clone()]));
        let shown = elide_media(&r.body);
        assert_eq!(
            shown["messages"][1]["content"][1]["image_url"]["url"],
            "<3000 bytes of base64 media>"
        );
        assert!(!shown.to_string().contains(&b64[..64]));
        // Everything else is untouched, a long user text included.
        let mut long = prompt(false, false, vec![big]);
        long.user = "A".repeat(2000);
        for p in [Provider::Ollama, Provider::Anthropic, Provider::Gemini] {
            let r = build_request(p, "http://h", &long, None).unwrap();
            let shown = elide_media(&r.body);
            let text = shown.to_string();
            assert!(text.contains("<3000 bytes of base64 media>"), "{p}: {text}");
            assert!(text.contains(&"A".repeat(2000)), "{p}");
            assert!(!text.contains(&b64[..64]), "{p}");
        }
        let small = json!({"data": "QUJD", "text": "x"});
        assert_eq!(elide_media(&small), small);
    }

    fn png_sized(n: usize) -> Attachment {
        Attachment {
            bytes: (0..n).map(|i| (i * 7 % 251) as u8).collect(),
            ..png()
        }
    }
}
