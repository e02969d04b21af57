//! The one HTTP client: rustls, proxies from `HTTPS_PROXY`/`NO_PROXY`, a connect and a total
//! timeout, retries with backoff and jitter that honour `Retry-After`, and streamed answers.

use super::provider::{parse_answer, Answer, HttpRequest, Provider, StreamState};
use super::stream::{read_ndjson, read_sse, StreamEnd};
use super::{redact, LlmError};
use serde_json::Value;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufReader, Read};
use std::time::{Duration, Instant, SystemTime};

/// How a request is retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff; each later one doubles, up to `max_backoff`.
    pub base_backoff: Duration,
    /// Cap on one computed backoff.
    pub max_backoff: Duration,
    /// Longest server-requested wait (`Retry-After`) that is honoured; a longer one ends the
    /// retries with an error that says so.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// Statuses worth another attempt: timeouts, conflicts, rate limits, server errors and
/// Anthropic's 529 "overloaded".
pub const RETRY_STATUSES: [u16; 8] = [408, 409, 429, 500, 502, 503, 504, 529];

/// Whether a failed status may be retried. Anthropic answers 429 both for rate limits and
/// for an exhausted spend limit; only the first passes with time.
pub fn is_retryable(provider: Provider, status: u16, message: &str) -> bool {
    if !RETRY_STATUSES.contains(&status) {
        return false;
    }
    if provider == Provider::Anthropic && status == 429 {
        let m = message.to_ascii_lowercase();
        return !(m.contains("spend limit")
            || m.contains("spending limit")
            || m.contains("usage limit")
            || m.contains("credit balance"));
    }
    true
}

/// The wait a response asks for: `retry-after-ms` (milliseconds, OpenAI) first, then
/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &[(String, String)], now: SystemTime) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let v = get("retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Exponential backoff with "full jitter" between half and all of the step, so clients that
/// failed together do not retry together.
pub fn backoff(policy: &RetryPolicy, retry: u32, random: u64) -> Duration {
    let step = policy
        .base_backoff
        .saturating_mul(1u32 << retry.min(16))
        .min(policy.max_backoff);
    let frac = 0.5 + (random % 1000) as f64 / 2000.0;
    step.mul_f64(frac)
}

/// The wait before retry number `retry` (0 for the first) after a retryable error status:
/// what the server asked for in its headers, else the [`backoff`] with `random` as the
/// jitter. A server asking for longer than the policy's `max_retry_after` ends the retries.
///
/// # Errors
/// [`LlmError::RetryAfterTooLong`] when the server asks to wait longer than the policy allows.
pub fn status_retry_wait(
    policy: &RetryPolicy,
    status: u16,
    headers: &[(String, String)],
    now: SystemTime,
    retry: u32,
    random: u64,
) -> Result<Duration, LlmError> {
    match retry_after(headers, now) {
        Some(w) if w > policy.max_retry_after => Err(LlmError::RetryAfterTooLong {
            status,
            wait: w,
            limit: policy.max_retry_after,
        }),
        Some(w) => Ok(w),
        None => Ok(backoff(policy, retry, random)),
    }
}

fn random_u64() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// Timeouts and retry settings of a [`Client`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// Connection setup, TLS included.
    pub connect_timeout: Duration,
    /// The whole exchange, from connecting to the last byte of the answer.
    pub total_timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// Largest answer body read.
    pub max_body: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            max_body: 64 << 20,
        }
    }
}

/// What one posted request came to.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The answer.
    pub answer: Answer,
    /// The HTTP status of the last attempt.
    pub status: u16,
    /// The server's request id header, when sent.
    pub request_id: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// From the first attempt to the end of the answer.
    pub latency: Duration,
}

/// Called with each piece of text as it streams in.
pub type DeltaSink<'a> = &'a mut dyn FnMut(&str);
/// What a post reports as it goes; all text is already redacted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PostEvent<'a> {
    /// A line of the exchange (request, headers, answer) for `--verbose`.
    Trace(&'a str),
    /// An attempt failed with a transient error; the next starts after `wait`.
    Retry {
        /// The attempt that failed, from 1.
        attempt: u32,
        /// How long until the next one.
        wait: Duration,
        /// Why it failed.
        reason: &'a str,
    },
}

/// Called with each [`PostEvent`].
pub type EventSink<'a> = &'a mut dyn FnMut(PostEvent<'_>);

/// The HTTP client. Cheap to share across threads.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    options: ClientOptions,
}

impl Client {
    /// A client with the given timeouts. Proxies come from `HTTPS_PROXY`/`HTTP_PROXY`/
    /// `ALL_PROXY`, with hosts on `NO_PROXY` reached directly.
    pub fn new(options: ClientOptions) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(options.connect_timeout))
            .timeout_global(Some(options.total_timeout))
            .http_status_as_error(false)
            .proxy(ureq::Proxy::try_from_env())
            .user_agent(concat!("mmprompt/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self { agent, options }
    }

    /// The options this client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Posts `req`, retrying as the policy allows, and reads the answer; streamed text goes
    /// to `on_delta` as it arrives. `secrets` are removed from every trace line and error.
    ///
    /// # Errors
    /// An [`LlmError`] when the server cannot be reached within the retries, answers with an
    /// error status (after retries where the status is transient), asks to wait longer than
    /// allowed, times out, or sends an answer that is not what the provider documents. Its
    /// text never holds a value of `secrets`.
    pub fn post(
        &self,
        provider: Provider,
        req: &HttpRequest,
        stream: bool,
        secrets: &[&str],
        on_delta: DeltaSink<'_>,
        mut events: Option<EventSink<'_>>,
    ) -> Result<Exchange, LlmError> {
        let started = Instant::now();
        let body = serde_json::to_vec(&req.body)
            .map_err(|e| LlmError::BadResponse(format!("request body: {e}")))?;
        let policy = &self.options.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(t) = events.as_mut() {
                t(PostEvent::Trace(&redact(
                    &format!("> POST {} (attempt {attempt})", req.url),
                    secrets,
                )));
                for (k, v) in &req.headers {
                    t(PostEvent::Trace(&redact(
                        &format!("> {k}: {}", show_header(k, v)),
                        secrets,
                    )));
                }
                let shown = super::provider::elide_media(&req.body).to_string();
                t(PostEvent::Trace(&redact(
                    &format!("> {}", clip(&shown, 4000)),
                    secrets,
                )));
            }
            let mut builder = self.agent.post(&req.url);
            for (k, v) in &req.headers {
                builder = builder.header(k, v);
            }
            let sent = Instant::now();
            let result = builder.send(&body[..]);
            let (wait, reason) = match result {
                Err(e) => {
                    let err = LlmError::from_ureq(&e, &req.url, self.options.total_timeout);
                    if let Some(t) = events.as_mut() {
                        t(PostEvent::Trace(&redact(&format!("< {err}"), secrets)));
                    }
                    if !err.is_transient() || attempt >= policy.max_attempts {
                        return Err(err.with_attempts(attempt).redacted(secrets));
                    }
                    (backoff(policy, attempt - 1, random_u64()), err.to_string())
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers: Vec<(String, String)> = resp
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").into()))
                        .collect();
                    if let Some(t) = events.as_mut() {
                        t(PostEvent::Trace(&format!(
                            "< {status} ({} ms)",
                            sent.elapsed().as_millis()
                        )));
                        for (k, v) in &headers {
                            t(PostEvent::Trace(&redact(&format!("< {k}: {v}"), secrets)));
                        }
                    }
                    let request_id = ["x-request-id", "request-id", "x-goog-request-id"]
                        .iter()
                        .find_map(|n| {
                            headers
                                .iter()
                                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                                .map(|(_, v)| v.clone())
                        });
                    let reader = resp
                        .into_body()
                        .into_with_config()
                        .limit(self.options.max_body)
                        .reader();
                    if (200..300).contains(&status) {
                        let answer = if stream {
                            read_stream(provider, reader, on_delta)
                        } else {
                            read_whole(provider, reader)
                        }
                        .map_err(|e| e.with_attempts(attempt).redacted(secrets))?;
                        if let Some(t) = events.as_mut() {
                            t(PostEvent::Trace(&redact(
                                &format!("< answer: {}", clip(&answer.text, 4000)),
                                secrets,
                            )));
                        }
                        return Ok(Exchange {
                            answer,
                            status,
                            request_id,
                            attempts: attempt,
                            latency: started.elapsed(),
                        });
                    }
                    let message = error_body(reader);
                    if let Some(t) = events.as_mut() {
                        t(PostEvent::Trace(&redact(
                            &format!("< {}", clip(&message, 4000)),
                            secrets,
                        )));
                    }
                    let err = LlmError::Status {
                        status,
                        message: message.clone(),
                        attempts: attempt,
                    };
                    if !is_retryable(provider, status, &message) || attempt >= policy.max_attempts {
                        return Err(err.redacted(secrets));
                    }
                    let wait = status_retry_wait(
                        policy,
                        status,
                        &headers,
                        SystemTime::now(),
                        attempt - 1,
                        random_u64(),
                    )?;
                    (
                        wait,
                        format!(
                            "the server answered {status}: {}",
                            crate::doc::text::quote(&clip(&message, 200))
                        ),
                    )
                }
            };
            // A retry must not outlive the total timeout the user set.
            if started.elapsed() + wait > self.options.total_timeout {
                return Err(LlmError::Timeout {
                    url: req.url.clone(),
                    after: self.options.total_timeout,
                }
                .with_attempts(attempt));
            }
            // Told once, as a retry (the CLI prints it with or without --verbose).
            if let Some(t) = events.as_mut() {
                t(PostEvent::Retry {
                    attempt,
                    wait,
                    reason: &redact(&reason, secrets),
                });
            }
            std::thread::sleep(wait);
        }
    }
}

fn show_header(name: &str, value: &str) -> String {
    let n = name.to_ascii_lowercase();
    if n == "authorization" || n == "x-api-key" || n == "x-goog-api-key" || n.contains("token") {
        "[redacted]".into()
    } else {
        value.to_string()
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

fn read_whole(provider: Provider, mut reader: impl Read) -> Result<Answer, LlmError> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| LlmError::from_io_read(&e))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        LlmError::BadResponse(format!(
            "answer is not JSON ({e}): {}",
            clip(&String::from_utf8_lossy(&bytes), 200)
        ))
    })?;
    parse_answer(provider, &v)
}

fn read_stream(
    provider: Provider,
    reader: impl Read,
    on_delta: DeltaSink<'_>,
) -> Result<Answer, LlmError> {
    let mut reader = BufReader::new(reader);
    let mut state = StreamState::default();
    let mut on_event = |ev| {
        let delta = state.apply(provider, &ev)?;
        if !delta.is_empty() {
            on_delta(&delta);
        }
        Ok(())
    };
    let end = if provider.streams_ndjson() {
        read_ndjson(&mut reader, &mut on_event)?
    } else {
        read_sse(&mut reader, &mut on_event)?
    };
    state.finish(provider, end == StreamEnd::DoneMarker)
}

fn error_body(mut reader: impl Read) -> String {
    let mut bytes = Vec::new();
    let _ = reader.by_ref().take(1 << 20).read_to_end(&mut bytes);
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) => super::provider::error_message(&v).unwrap_or_else(|| v.to_string()),
        Err(_) => clip(String::from_utf8_lossy(&bytes).trim(), 500),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(k: &str, v: &str) -> Vec<(String, String)> {
        vec![(k.to_string(), v.to_string())]
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after(&h("Retry-After", "3"), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(&h("retry-after-ms", "250"), now),
            Some(Duration::from_millis(250))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(
            retry_after(&h("retry-after", &date), now),
            Some(Duration::from_secs(7))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(
            retry_after(&h("retry-after", &past), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&h("retry-after", "soon"), now), None);
        assert_eq!(retry_after(&h("retry-after", "-1"), now), None);
        assert_eq!(retry_after(&[], now), None);
    }

    #[test]
    fn retryable_statuses() {
        for s in RETRY_STATUSES {
            assert!(is_retryable(Provider::OpenAi, s, ""));
        }
        for s in [400, 401, 403, 404, 413, 422] {
            assert!(!is_retryable(Provider::OpenAi, s, ""));
        }
        assert!(is_retryable(
            Provider::Anthropic,
            429,
            "Number of requests has exceeded your rate limit"
        ));
        assert!(!is_retryable(
            Provider::Anthropic,
            429,
            "You have reached your specified workspace API usage limits (spend limit)"
        ));
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let p = RetryPolicy {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        for (retry, step) in [
            (0u32, 100u64),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (30, 1000),
        ] {
            for r in [0u64, 499, 999, 12345] {
                let d = backoff(&p, retry, r).as_secs_f64() * 1000.0;
                assert!(
                    d >= step as f64 * 0.5 - 1e-6 && d <= step as f64 + 1e-6,
                    "{retry} {d}"
                );
            }
        }
    }

    #[test]
    fn retry_after_details() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let both = vec![
            ("Retry-After".to_string(), "9".to_string()),
            ("Retry-After-Ms".to_string(), "1500".to_string()),
        ];
        // OpenAI's millisecond header wins over the seconds one, whatever the order.
        assert_eq!(retry_after(&both, now), Some(Duration::from_millis(1500)));
        let bad_ms = vec![
            ("retry-after-ms".to_string(), "-5".to_string()),
            ("retry-after".to_string(), " 2.5 ".to_string()),
        ];
        assert_eq!(retry_after(&bad_ms, now), Some(Duration::from_millis(2500)));
        assert_eq!(retry_after(&h("retry-after", "NaN"), now), None);
        assert_eq!(retry_after(&h("retry-after", "inf"), now), None);
        assert_eq!(retry_after(&h("x-retry-after", "3"), now), None);
        // The IMF-fixdate form, as RFC 9110 gives it, 1 h 30 s after `now`.
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            retry_after(&h("Retry-After", "Sun, 06 Nov 1994 09:50:07 GMT"), now),
            Some(Duration::from_secs(3630))
        );
    }

    #[test]
    fn a_retry_after_over_the_cap_ends_the_retries() {
        let p = RetryPolicy {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(120),
            ..RetryPolicy::default()
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let e = status_retry_wait(&p, 503, &h("retry-after", "3600"), now, 0, 0).unwrap_err();
        assert_eq!(e.code(), "retry_after_too_long");
        assert_eq!(
            e.to_string(),
            "the server answered 503 and asked to retry after 3600s, longer than the 120s allowed"
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(121));
        assert!(status_retry_wait(&p, 429, &h("retry-after", &later), now, 0, 0).is_err());
        // At the cap is still honoured, as asked, instead of the backoff.
        assert_eq!(
            status_retry_wait(&p, 429, &h("retry-after", "120"), now, 3, 0).unwrap(),
            Duration::from_secs(120)
        );
        assert_eq!(
            status_retry_wait(&p, 429, &h("retry-after-ms", "20"), now, 3, 0).unwrap(),
            Duration::from_millis(20)
        );
        // Nothing asked: the backoff of that retry (800 ms step, jitter 0 = half of it).
        assert_eq!(
            status_retry_wait(&p, 500, &[], now, 3, 0).unwrap(),
            Duration::from_millis(400)
        );
        assert_eq!(
            status_retry_wait(&p, 500, &h("retry-after", "later"), now, 0, 999).unwrap(),
            backoff(&p, 0, 999)
        );
    }

    #[test]
    fn which_failures_are_retried() {
        for p in Provider::ALL {
            assert!(is_retryable(p, 529, "Overloaded"), "{p}");
            assert!(is_retryable(p, 408, ""), "{p}");
            assert!(!is_retryable(p, 501, ""), "{p}");
            assert!(!is_retryable(p, 200, ""), "{p}");
        }
        // Only Anthropic's 429 is read for a spend limit; any spelling, any case.
        for m in [
            "Your credit balance is too low to access the Anthropic API.",
            "SPENDING LIMIT reached",
            "usage limit exceeded",
        ] {
            assert!(!is_retryable(Provider::Anthropic, 429, m), "{m}");
            assert!(is_retryable(Provider::OpenAi, 429, m), "{m}");
        }
        assert!(is_retryable(Provider::Anthropic, 503, "spend limit"));
        // Connection failures are retried; a used-up timeout and error statuses are not.
        let connect = LlmError::Connect {
            url: "u".into(),
            detail: "refused".into(),
            attempts: 1,
        };
        assert!(connect.is_transient());
        let timeout = LlmError::Timeout {
            url: "u".into(),
            after: Duration::from_secs(1),
        };
        assert!(!timeout.is_transient());
        let status = LlmError::Status {
            status: 503,
            message: "m".into(),
            attempts: 1,
        };
        assert!(!status.is_transient());
        assert_eq!(status.to_string(), "the server answered 503: m");
        assert_eq!(
            status.with_attempts(4).to_string(),
            "the server answered 503: m (after 4 attempts)"
        );
        assert_eq!(
            connect.with_attempts(2).to_string(),
            "cannot reach u: refused (after 2 attempts)"
        );
    }

    #[test]
    fn read_errors_say_whether_they_timed_out() {
        let t = std::io::Error::new(std::io::ErrorKind::TimedOut, "operation timed out");
        assert!(LlmError::from_io_read(&t)
            .to_string()
            .contains("timed out while reading"));
        let b = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
        assert!(LlmError::from_io_read(&b)
            .to_string()
            .contains("connection broke"));
    }

    #[test]
    fn secrets_are_hidden_in_traced_headers_and_long_text_is_clipped() {
        for k in [
            "Authorization",
            "x-api-key",
            "X-Goog-Api-Key",
            "x-auth-token",
        ] {
            assert_eq!(show_header(k, "sk-1"), "[redacted]", "{k}");
        }
        assert_eq!(show_header("anthropic-version", "2023-06-01"), "2023-06-01");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcdef", 3), "abc… (6 bytes)");
        // Never cuts a character in half: é is 2 bytes.
        assert_eq!(clip("aé", 2), "a… (3 bytes)");
    }

    /// The stream bodies `tests/fake_llm.py` sends, byte for byte in framing.
    fn fake_stream(p: Provider) -> String {
        let sse = |ev: Option<&str>, d: &str| match ev {
            Some(e) => format!("event: {e}\ndata: {d}\n\n"),
            None => format!("data: {d}\n\n"),
        };
        match p {
            Provider::OpenAi => [
                sse(None, r#"{"id": "c1", "choices": [{"index": 0, "delta": {"content": "ab"}, "finish_reason": null}]}"#),
                sse(None, r#"{"id": "c1", "choices": [{"index": 0, "delta": {"content": "c"}, "finish_reason": null}]}"#),
                sse(None, r#"{"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}"#),
                sse(None, r#"{"id": "c1", "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 7}}"#),
                sse(None, "[DONE]"),
            ]
            .concat(),
            Provider::OpenAiResponses => [
                sse(Some("response.created"), r#"{"type": "response.created", "response": {"id": "r1"}}"#),
                sse(Some("response.output_text.delta"), r#"{"type": "response.output_text.delta", "delta": "ab"}"#),
                sse(Some("response.output_text.delta"), r#"{"type": "response.output_text.delta", "delta": "c"}"#),
                sse(Some("response.completed"), r#"{"type": "response.completed", "response": {"id": "r1", "status": "completed", "usage": {"input_tokens": 11, "output_tokens": 7}}}"#),
            ]
            .concat(),
            Provider::Ollama => concat!(
                r#"{"message": {"role": "assistant", "content": "ab"}, "done": false}"#, "\n",
                r#"{"message": {"role": "assistant", "content": "c"}, "done": false}"#, "\n",
                r#"{"message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop", "prompt_eval_count": 11, "eval_count": 7}"#, "\n",
            )
            .to_string(),
            Provider::Anthropic => [
                sse(Some("message_start"), r#"{"type": "message_start", "message": {"id": "r1", "usage": {"input_tokens": 11, "output_tokens": 1}}}"#),
                sse(Some("ping"), r#"{"type": "ping"}"#),
                sse(Some("content_block_delta"), r#"{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ab"}}"#),
                sse(Some("content_block_delta"), r#"{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "c"}}"#),
                sse(Some("message_delta"), r#"{"type": "message_delta", "delta": {"stop_reason": "stop"}, "usage": {"output_tokens": 7}}"#),
                sse(Some("message_stop"), r#"{"type": "message_stop"}"#),
            ]
            .concat(),
            Provider::Gemini => [
                sse(None, r#"{"candidates": [{"content": {"parts": [{"text": "ab"}]}}], "responseId": "r1"}"#),
                sse(None, r#"{"candidates": [{"content": {"parts": [{"text": "c"}]}, "finishReason": "stop"}], "responseId": "r1", "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 7}}"#),
            ]
            .concat(),
        }
    }

    #[test]
    fn streamed_bodies_of_every_provider_become_one_answer() {
        for p in Provider::ALL {
            let body = fake_stream(p);
            let mut deltas = Vec::new();
            let a = read_stream(p, body.as_bytes(), &mut |d| deltas.push(d.to_string()))
                .unwrap_or_else(|e| panic!("{p}: {e}"));
            assert_eq!(deltas, ["ab", "c"], "{p}");
            assert_eq!(a.text, "abc", "{p}");
            assert_eq!(a.usage.input_tokens, Some(11), "{p}");
            assert_eq!(a.usage.output_tokens, Some(7), "{p}");
            assert_eq!(
                a.finish_reason.as_deref(),
                Some(if p == Provider::OpenAiResponses {
                    "completed"
                } else {
                    "stop"
                }),
                "{p}"
            );
            let want_id = if p == Provider::Ollama {
                None
            } else {
                Some(if p == Provider::OpenAi { "c1" } else { "r1" })
            };
            assert_eq!(a.response_id.as_deref(), want_id, "{p}");
            // Cut after its first event, every provider but Gemini knows it is incomplete.
            let sep = if p.streams_ndjson() { "\n" } else { "\n\n" };
            let cut = &body[..body.find(sep).unwrap() + sep.len()];
            let r = read_stream(p, cut.as_bytes(), &mut |_| {});
            if p == Provider::Gemini {
                assert_eq!(r.unwrap().text, "ab");
            } else {
                assert!(matches!(r, Err(LlmError::Stream(_))), "{p}: {r:?}");
            }
        }
    }

    #[test]
    fn whole_bodies_that_are_not_answers() {
        let e = read_whole(Provider::OpenAi, &b"<html>bad gateway</html>"[..]).unwrap_err();
        assert_eq!(e.code(), "bad_response");
        assert!(e.to_string().starts_with("answer is not JSON"), "{e}");
        assert!(e.to_string().ends_with("<html>bad gateway</html>"), "{e}");
        let e = read_whole(
            Provider::Anthropic,
            &br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#[..],
        )
        .unwrap_err();
        assert_eq!(e.code(), "provider_error");
        let a = read_whole(Provider::Ollama, &br#"{"message":{"content":"x"}}"#[..]).unwrap();
        assert_eq!(a.text, "x");
    }

    #[test]
    fn error_bodies_give_the_providers_message() {
        assert_eq!(
            error_body(&br#"{"error":{"message":"rate limited","type":"rate_limit_error"}}"#[..]),
            "rate limited (rate_limit_error)"
        );
        assert_eq!(error_body(&br#"{"error":"no model"}"#[..]), "no model");
        // JSON without an error object is shown whole; anything else as trimmed text.
        assert_eq!(error_body(&br#"{"detail":"x"}"#[..]), r#"{"detail":"x"}"#);
        assert_eq!(error_body(&b"\n  Bad Gateway \n"[..]), "Bad Gateway");
        let long = "x".repeat(600);
        assert_eq!(
            error_body(long.as_bytes()),
            format!("{}… (600 bytes)", "x".repeat(500))
        );
    }
}
