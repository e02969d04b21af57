//! Streamed answer framing: server-sent events (OpenAI, Anthropic, Gemini) and NDJSON
//! (Ollama). Pure readers over any [`BufRead`], so tests feed them bytes directly.

use super::provider::StreamEvent;
use super::LlmError;
use serde_json::Value;
use std::io::BufRead;

/// What ended a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// OpenAI's `data: [DONE]`.
    DoneMarker,
    /// The body ended.
    Eof,
}

/// Longest line accepted; a line longer than this is not an event stream.
const MAX_LINE: usize = 16 << 20;

fn read_line(reader: &mut dyn BufRead, line: &mut String) -> Result<bool, LlmError> {
    line.clear();
    let n = std::io::Read::take(&mut *reader, MAX_LINE as u64 + 1)
        .read_line(line)
        .map_err(|e| LlmError::from_io_read(&e))?;
    if line.len() > MAX_LINE {
        return Err(LlmError::Stream("a stream line exceeds 16 MiB".into()));
    }
    Ok(n > 0)
}

fn parse_data(data: &str) -> Result<Value, LlmError> {
    serde_json::from_str(data).map_err(|e| {
        let shown: String = data.chars().take(120).collect();
        LlmError::Stream(format!("malformed event data ({e}): {shown}"))
    })
}

/// Reads server-sent events, calling `on_event` for each one with data, until `[DONE]` or
/// the end of the body. Comments (`:`) and `id:`/`retry:` fields are ignored.
///
/// # Errors
/// [`LlmError::Stream`] when reading breaks or times out, or the first error `on_event`
/// returns.
pub fn read_sse(
    reader: &mut dyn BufRead,
    on_event: &mut dyn FnMut(StreamEvent) -> Result<(), LlmError>,
) -> Result<StreamEnd, LlmError> {
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
                return Err(LlmError::Stream(format!(
                    "malformed event stream: unexpected line {shown:?}"
                )));
            }
        }
    }
}

/// Reads NDJSON lines, calling `on_event` for each, until the end of the body.
///
/// # Errors
/// [`LlmError::Stream`] when reading breaks or times out, or a line is not JSON; or the first
/// error `on_event` returns.
pub fn read_ndjson(
    reader: &mut dyn BufRead,
    on_event: &mut dyn FnMut(StreamEvent) -> Result<(), LlmError>,
) -> Result<StreamEnd, LlmError> {
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

    fn sse(text: &str) -> Result<(Vec<StreamEvent>, StreamEnd), LlmError> {
        let mut events = Vec::new();
        let end = read_sse(&mut text.as_bytes(), &mut |e| {
            events.push(e);
            Ok(())
        })?;
        Ok((events, end))
    }

    #[test]
    fn sse_events_with_names_multiline_data_and_done() {
        let (ev, end) = sse(
            ": hi\n\nevent: a\ndata: {\"x\":\ndata: 1}\n\ndata: {\"y\":2}\r\n\r\ndata: [DONE]\n\n",
        )
        .unwrap();
        assert_eq!(end, StreamEnd::DoneMarker);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].event.as_deref(), Some("a"));
        assert_eq!(ev[0].data["x"], 1);
        assert_eq!(ev[1].event, None);
        assert_eq!(ev[1].data["y"], 2);
    }

    #[test]
    fn sse_without_done_ends_at_eof_and_flushes_the_last_event() {
        let (ev, end) = sse("data: {\"a\":1}").unwrap();
        assert_eq!(end, StreamEnd::Eof);
        assert_eq!(ev.len(), 1);
    }

    #[test]
    fn malformed_sse_is_an_error() {
        assert!(matches!(sse("data: {nope\n\n"), Err(LlmError::Stream(_))));
        assert!(matches!(sse("<html>\n\n"), Err(LlmError::Stream(_))));
    }

    #[test]
    fn ndjson_lines() {
        let mut n = 0;
        let end = read_ndjson(&mut "{\"a\":1}\n\n{\"a\":2}\n".as_bytes(), &mut |e| {
            n += e.data["a"].as_i64().unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!((n, end), (3, StreamEnd::Eof));
        assert!(read_ndjson(&mut "{\"a\":1}\nxx\n".as_bytes(), &mut |_| Ok(())).is_err());
    }
}
