//! The framing of streamed answers: server-sent events (OpenAI, Anthropic, Gemini) and
//! NDJSON (Ollama), read from any [`BufRead`]. Pure: it owns no connection and knows no
//! provider, so it is part of the core, where it is fuzzed without the HTTP client;
//! `llm::stream` reads the answers of real connections with it.

use serde_json::Value;
use std::io::BufRead;

/// One event of a streamed answer: an SSE event (name and data) or one NDJSON line
/// (no name).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// The SSE `event:` field, if any.
    pub event: Option<String>,
    /// The data, parsed as JSON.
    pub data: Value,
}

/// Why a stream's framing could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    /// The reader failed (a broken connection or a timeout), or the bytes are not UTF-8.
    #[error("{0}")]
    Read(#[source] std::io::Error),
    /// A line is longer than 16 MiB: this is not an event stream.
    #[error("a stream line exceeds 16 MiB")]
    LineTooLong,
    /// An event's data is not JSON, or a line is no SSE field.
    #[error("{0}")]
    Malformed(String),
}

/// What ended a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// OpenAI's `data: [DONE]`.
    DoneMarker,
    /// The body ended.
    Eof,
}

/// Longest line accepted; a line longer than this is not an event stream.
pub(crate) const MAX_LINE: usize = 16 << 20;

fn read_line(reader: &mut dyn BufRead, line: &mut String) -> Result<bool, FramingError> {
    line.clear();
    let n = std::io::Read::take(&mut *reader, MAX_LINE as u64 + 1)
        .read_line(line)
        .map_err(FramingError::Read)?;
    if line.len() > MAX_LINE {
        return Err(FramingError::LineTooLong);
    }
    Ok(n > 0)
}

fn parse_data(data: &str) -> Result<Value, FramingError> {
    serde_json::from_str(data).map_err(|e| {
        let shown: String = data.chars().take(120).collect();
        FramingError::Malformed(format!("malformed event data ({e}): {shown}"))
    })
}

/// Reads server-sent events, calling `on_event` for each one with data, until `[DONE]` or
/// the end of the body. Comments (`:`) and `id:`/`retry:` fields are ignored.
///
/// # Errors
/// A [`FramingError`] (converted into `E`) when reading breaks, a line exceeds 16 MiB or an
/// event is not JSON; or the first error `on_event` returns.
pub fn read_sse<E: From<FramingError>>(
    reader: &mut dyn BufRead,
    on_event: &mut dyn FnMut(StreamEvent) -> Result<(), E>,
) -> Result<StreamEnd, E> {
    let mut line = String::new();
    let mut event: Option<String> = None;
    let mut data = String::new();
    let mut has_data = false;
    loop {
        let more = read_line(reader, &mut line)?;
        let l = line.trim_end_matches(['\n', '\r']);
        if !more || l.is_empty() {
            if has_data {
                if data == "[DONE]" {
                    return Ok(StreamEnd::DoneMarker);
                }
                on_event(StreamEvent {
                    event: event.take(),
                    data: parse_data(&data)?,
                })?;
            }
            event = None;
            data.clear();
            has_data = false;
            if !more {
                return Ok(StreamEnd::Eof);
            }
            continue;
        }
        if l.starts_with(':') {
            continue;
        }
        let (field, value) = match l.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (l, ""),
        };
        match field {
            "event" => event = Some(value.to_string()),
            "data" => {
                if has_data {
                    data.push('\n');
                }
                data.push_str(value);
                has_data = true;
            }
            "id" | "retry" => {}
            other => {
                let shown: String = other.chars().take(60).collect();
                return Err(FramingError::Malformed(format!(
                    "malformed event stream: unexpected line {shown:?}"
                ))
                .into());
            }
        }
    }
}

/// Reads NDJSON lines, calling `on_event` for each, until the end of the body.
///
/// # Errors
/// A [`FramingError`] (converted into `E`) when reading breaks, a line exceeds 16 MiB or is
/// not JSON; or the first error `on_event` returns.
pub fn read_ndjson<E: From<FramingError>>(
    reader: &mut dyn BufRead,
    on_event: &mut dyn FnMut(StreamEvent) -> Result<(), E>,
) -> Result<StreamEnd, E> {
    let mut line = String::new();
    while read_line(reader, &mut line)? {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        on_event(StreamEvent {
            event: None,
            data: parse_data(l)?,
        })?;
    }
    Ok(StreamEnd::Eof)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(bytes: &[u8]) -> Result<Vec<StreamEvent>, FramingError> {
        let mut events = Vec::new();
        read_sse(&mut &bytes[..], &mut |e| -> Result<(), FramingError> {
            events.push(e);
            Ok(())
        })?;
        Ok(events)
    }

    #[test]
    fn each_failure_has_its_own_variant() {
        assert!(matches!(
            sse(b"data: {nope\n\n"),
            Err(FramingError::Malformed(_))
        ));
        assert!(matches!(
            sse(b"<html>\n\n"),
            Err(FramingError::Malformed(_))
        ));
        assert!(matches!(
            sse(b"data: \"\xff\"\n\n"),
            Err(FramingError::Read(_))
        ));
        let mut long = std::io::BufReader::new(std::io::Read::take(
            std::io::repeat(b'a'),
            (MAX_LINE + 1) as u64,
        ));
        let e = read_ndjson(&mut long, &mut |_| -> Result<(), FramingError> { Ok(()) });
        assert!(matches!(e, Err(FramingError::LineTooLong)));
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_read() {
        let mut line = vec![b' '; MAX_LINE - 3];
        line.splice(0..0, *b"{}");
        line.push(b'\n');
        let mut n = 0;
        read_ndjson(&mut &line[..], &mut |_| -> Result<(), FramingError> {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((line.len(), n), (MAX_LINE, 1));
    }
}
