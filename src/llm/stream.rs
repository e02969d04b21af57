//! Streamed answer framing on real connections: [`crate::framing`]'s readers with their
//! errors as [`LlmError::Stream`], which is what the HTTP client reports. Tests feed them
//! bytes directly.

use super::provider::StreamEvent;
use super::LlmError;
use std::io::BufRead;

pub use crate::framing::StreamEnd;

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
    crate::framing::read_sse(reader, on_event)
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
    crate::framing::read_ndjson(reader, on_event)
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

    /// A reader that hands out at most `step` bytes per read, so frames, lines and even
    /// UTF-8 sequences are split across reads as a network would split them.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    fn sse_trickled(text: &str, step: usize) -> Result<(Vec<StreamEvent>, StreamEnd), LlmError> {
        let mut reader = std::io::BufReader::with_capacity(
            step,
            Trickle {
                bytes: text.as_bytes(),
                step,
            },
        );
        let mut events = Vec::new();
        let end = read_sse(&mut reader, &mut |e| {
            events.push(e);
            Ok(())
        })?;
        Ok((events, end))
    }

    const ANTHROPIC_LIKE: &str = "event: message_start\r\n\
        data: {\"type\":\"message_start\",\"t\":\"é→x\"}\r\n\
        \r\n\
        : keep-alive comment\r\n\
        \r\n\
        event: content_block_delta\r\n\
        id: 7\r\n\
        retry: 1000\r\n\
        data:{\"type\":\"content_block_delta\",\r\n\
        : a comment inside an event\r\n\
        data: \"n\":2}\r\n\
        \r\n\
        data: {\"unnamed\":true}\r\n\
        \r\n";

    #[test]
    fn sse_frames_split_across_reads_give_the_same_events() {
        let (whole, end) = sse(ANTHROPIC_LIKE).unwrap();
        assert_eq!(end, StreamEnd::Eof);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].event.as_deref(), Some("message_start"));
        assert_eq!(whole[0].data["t"], "é→x");
        assert_eq!(whole[1].event.as_deref(), Some("content_block_delta"));
        // Two data lines are joined with a newline; `data:` without a space is read too.
        assert_eq!(
            whole[1].data,
            serde_json::json!({"type": "content_block_delta", "n": 2})
        );
        // The event name does not carry over to the next event.
        assert_eq!(whole[2].event, None);
        assert_eq!(whole[2].data["unnamed"], true);
        for step in [1, 2, 3, 5, 7, 64] {
            let (split, end) = sse_trickled(ANTHROPIC_LIKE, step).unwrap();
            assert_eq!(end, StreamEnd::Eof, "step {step}");
            assert_eq!(split, whole, "step {step}");
        }
    }

    #[test]
    fn done_ends_the_stream_and_nothing_after_it_is_read() {
        let text = "data: {\"a\":1}\n\ndata: [DONE]\n\ndata: {\"a\":2}\n\ndata: {broken\n\n";
        for step in [1, 4, 4096] {
            let (ev, end) = sse_trickled(text, step).unwrap();
            assert_eq!(end, StreamEnd::DoneMarker);
            assert_eq!(ev.len(), 1);
            assert_eq!(ev[0].data["a"], 1);
        }
        // [DONE] only counts as the whole data of an event.
        assert!(sse("data: [DONE] \n\n").is_err());
    }

    #[test]
    fn the_last_frame_without_a_blank_line_is_delivered_but_a_torn_one_is_an_error() {
        let (ev, end) = sse("data: {\"a\":1}\n\nevent: last\ndata: {\"b\":2}\r\n").unwrap();
        assert_eq!(end, StreamEnd::Eof);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[1].event.as_deref(), Some("last"));
        assert_eq!(ev[1].data["b"], 2);
        let (ev, end) = sse("data: [DONE]").unwrap();
        assert_eq!((ev.len(), end), (0, StreamEnd::DoneMarker));
        // The connection dropped in the middle of a JSON object.
        let e = sse("data: {\"a\":1}\n\ndata: {\"b\":").unwrap_err();
        assert!(e.to_string().contains("malformed event data"), "{e}");
    }

    #[test]
    fn events_without_data_are_not_delivered() {
        let (ev, end) = sse("event: ping\n\n: only a comment\n\nid: 3\n\n\n\n").unwrap();
        assert_eq!((ev.len(), end), (0, StreamEnd::Eof));
        let (ev, _) = sse("").unwrap();
        assert!(ev.is_empty());
        // The name of an event without data does not stick to the next event.
        let (ev, _) = sse("event: ping\n\ndata: {\"a\":1}\n\n").unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].event, None);
    }

    #[test]
    fn a_callback_error_stops_the_reading() {
        let mut seen = 0;
        let r = read_sse(
            &mut "data: {\"a\":1}\n\ndata: {\"a\":2}\n\n".as_bytes(),
            &mut |_| {
                seen += 1;
                Err(LlmError::Stream("stop".into()))
            },
        );
        assert!(matches!(r, Err(LlmError::Stream(m)) if m == "stop"));
        assert_eq!(seen, 1);
    }

    #[test]
    fn a_line_over_16_mib_is_refused() {
        let mut reader = std::io::BufReader::new(std::io::Read::take(
            std::io::repeat(b'a'),
            (crate::framing::MAX_LINE + 10) as u64,
        ));
        let e = read_sse(&mut reader, &mut |_| Ok(())).unwrap_err();
        assert_eq!(e.to_string(), "stream error: a stream line exceeds 16 MiB");
    }

    #[test]
    fn invalid_utf8_is_a_stream_error() {
        let mut bytes: &[u8] = b"data: {\"a\":\"\xff\"}\n\n";
        assert!(matches!(
            read_sse(&mut bytes, &mut |_| Ok(())),
            Err(LlmError::Stream(_))
        ));
    }

    fn ndjson_trickled(text: &str, step: usize) -> Result<Vec<serde_json::Value>, LlmError> {
        let mut reader = std::io::BufReader::with_capacity(
            step,
            Trickle {
                bytes: text.as_bytes(),
                step,
            },
        );
        let mut out = Vec::new();
        let end = read_ndjson(&mut reader, &mut |e| {
            assert_eq!(e.event, None);
            out.push(e.data);
            Ok(())
        })?;
        assert_eq!(end, StreamEnd::Eof);
        Ok(out)
    }

    #[test]
    fn ndjson_split_across_reads_with_crlf_blank_lines_and_no_final_newline() {
        let text = "{\"message\":{\"content\":\"a→\"},\"done\":false}\r\n\
                    \r\n   \n\
                    {\"message\":{\"content\":\"b\"},\"done\":false}\n\
                    {\"done\":true,\"eval_count\":7}";
        for step in [1, 3, 8, 4096] {
            let got = ndjson_trickled(text, step).unwrap();
            assert_eq!(got.len(), 3, "step {step}");
            assert_eq!(got[0]["message"]["content"], "a→");
            assert_eq!(got[1]["message"]["content"], "b");
            assert_eq!(got[2]["eval_count"], 7);
        }
    }

    #[test]
    fn torn_ndjson_is_an_error_after_the_whole_lines() {
        for step in [1, 4096] {
            let mut seen = Vec::new();
            let mut reader = std::io::BufReader::with_capacity(
                step,
                Trickle {
                    bytes: b"{\"a\":1}\n{\"a\":2}\n{\"a\":",
                    step,
                },
            );
            let e = read_ndjson(&mut reader, &mut |e| {
                seen.push(e.data["a"].as_i64().unwrap());
                Ok(())
            })
            .unwrap_err();
            assert_eq!(seen, [1, 2]);
            assert!(e.to_string().contains("malformed event data"), "{e}");
        }
        // NDJSON has no SSE framing: a `data:` line is not JSON.
        assert!(ndjson_trickled("data: {\"a\":1}\n", 4096).is_err());
    }
}
