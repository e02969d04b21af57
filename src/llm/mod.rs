//! Talking to LLM endpoints: provider request shapes ([`provider`]), stream framing
//! ([`stream`]), the retrying HTTP client ([`http`]) and endpoint profiles ([`config`]).
//!
//! API keys only ever live in memory: they are read from the environment, and [`redact`]
//! removes them from anything shown or saved.

pub mod config;
pub mod http;
pub mod provider;
pub mod stream;

pub use provider::{Attachment, Prompt, Provider};

use std::time::Duration;

/// Why talking to an endpoint failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    /// A profile or config file is wrong.
    #[error("{0}")]
    Config(String),
    /// The API key variable is not set.
    #[error("the API key variable {var} is not set (or is empty); export it, or pick another with --api-key-env")]
    MissingKey {
        /// The variable's name.
        var: String,
    },
    /// The provider does not take this attachment.
    #[error("cannot attach {name}: {reason}")]
    AttachmentRefused {
        /// The provider.
        provider: Provider,
        /// The file.
        name: String,
        /// Why.
        reason: String,
    },
    /// The server could not be reached.
    #[error("cannot reach {url}: {detail}{}", attempts_note(*.attempts))]
    Connect {
        /// Where.
        url: String,
        /// What the network said.
        detail: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The total timeout passed.
    #[error("{url} did not answer within {}s (the total timeout)", after.as_secs_f64())]
    Timeout {
        /// Where.
        url: String,
        /// The timeout.
        after: Duration,
    },
    /// The server answered with an error status.
    #[error("the server answered {status}: {message}{}", attempts_note(*.attempts))]
    Status {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The server asked to wait longer than allowed.
    #[error("the server answered {status} and asked to retry after {}s, longer than the {}s allowed", wait.as_secs(), limit.as_secs())]
    RetryAfterTooLong {
        /// HTTP status.
        status: u16,
        /// Requested wait.
        wait: Duration,
        /// The allowed maximum.
        limit: Duration,
    },
    /// A successful status carried an error object.
    #[error("the provider reported an error: {message}")]
    Provider {
        /// The provider's message.
        message: String,
    },
    /// A streamed answer broke or carried an error.
    #[error("stream error: {0}")]
    Stream(String),
    /// The answer was not what the provider documents.
    #[error("{0}")]
    BadResponse(String),
}

fn attempts_note(n: u32) -> String {
    if n > 1 {
        format!(" (after {n} attempts)")
    } else {
        String::new()
    }
}

impl LlmError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            LlmError::Config(_) => "config",
            LlmError::MissingKey { .. } => "missing_api_key",
            LlmError::AttachmentRefused { .. } => "attachment_refused",
            LlmError::Connect { .. } => "connect",
            LlmError::Timeout { .. } => "timeout",
            LlmError::Status { .. } => "http_status",
            LlmError::RetryAfterTooLong { .. } => "retry_after_too_long",
            LlmError::Provider { .. } => "provider_error",
            LlmError::Stream(_) => "stream",
            LlmError::BadResponse(_) => "bad_response",
        }
    }

    /// Whether another attempt may succeed: connection failures only. A timeout used the
    /// whole budget, so it is not retried.
    pub fn is_transient(&self) -> bool {
        matches!(self, LlmError::Connect { .. })
    }

    pub(crate) fn with_attempts(mut self, n: u32) -> Self {
        if let LlmError::Connect { attempts, .. } | LlmError::Status { attempts, .. } = &mut self {
            *attempts = n;
        }
        self
    }

    /// The same error with every secret replaced.
    pub fn redacted(self, secrets: &[&str]) -> Self {
        let r = |s: String| redact(&s, secrets);
        match self {
            LlmError::Connect {
                url,
                detail,
                attempts,
            } => LlmError::Connect {
                url: r(url),
                detail: r(detail),
                attempts,
            },
            LlmError::Status {
                status,
                message,
                attempts,
            } => LlmError::Status {
                status,
                message: r(message),
                attempts,
            },
            LlmError::Provider { message } => LlmError::Provider {
                message: r(message),
            },
            LlmError::Stream(m) => LlmError::Stream(r(m)),
            LlmError::BadResponse(m) => LlmError::BadResponse(r(m)),
            other => other,
        }
    }

    pub(crate) fn from_ureq(e: &ureq::Error, url: &str, total: Duration) -> Self {
        match e {
            ureq::Error::Timeout(ureq::Timeout::Connect) => LlmError::Connect {
                url: url.into(),
                detail: "connection timed out".into(),
                attempts: 1,
            },
            ureq::Error::Timeout(_) => LlmError::Timeout {
                url: url.into(),
                after: total,
            },
            ureq::Error::Io(io) => LlmError::Connect {
                url: url.into(),
                detail: io.to_string(),
                attempts: 1,
            },
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => LlmError::Connect {
                url: url.into(),
                detail: e.to_string(),
                attempts: 1,
            },
            ureq::Error::BodyExceedsLimit(n) => {
                LlmError::BadResponse(format!("the answer exceeds {n} bytes"))
            }
            other => LlmError::Connect {
                url: url.into(),
                detail: other.to_string(),
                attempts: 1,
            },
        }
    }

    pub(crate) fn from_io_read(e: &std::io::Error) -> Self {
        let text = e.to_string();
        if text.contains("timeout") || text.contains("timed out") {
            LlmError::Stream(format!("timed out while reading the answer ({text})"))
        } else {
            LlmError::Stream(format!(
                "the connection broke while reading the answer ({text})"
            ))
        }
    }
}

impl From<crate::framing::FramingError> for LlmError {
    fn from(e: crate::framing::FramingError) -> Self {
        use crate::framing::FramingError;
        match e {
            FramingError::Read(e) => LlmError::from_io_read(&e),
            FramingError::LineTooLong | FramingError::Malformed(_) => {
                LlmError::Stream(e.to_string())
            }
        }
    }
}

/// Replaces each secret (and its base64 and `Bearer` forms would contain it verbatim) in
/// `text` with `[redacted]`. Secrets shorter than 4 characters are left alone: they would
/// blank ordinary words and protect nothing.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if s.len() >= 4 {
            out = out.replace(s, "[redacted]");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_replaces_every_occurrence_and_keeps_short_values() {
        assert_eq!(
            redact("key sk-abc123 and sk-abc123!", &["sk-abc123"]),
            "key [redacted] and [redacted]!"
        );
        assert_eq!(redact("a b c", &["b"]), "a b c");
        let e = LlmError::Status {
            status: 401,
            message: "bad key sk-abc123".into(),
            attempts: 1,
        }
        .redacted(&["sk-abc123"]);
        assert!(!e.to_string().contains("sk-abc123"));
    }
}
