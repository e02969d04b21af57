//! Live windows for an LLM: keeps the last seconds of closed segments and, when a
//! trigger fires, offers them as one document to a [`LiveSender`], which posts on its own
//! thread so that the analysis never waits for the endpoint.

use super::session::{LiveSegment, SegmentConsumer};
use crate::doc::model::{IsoSeconds, LiveWindowSource, SoundTypes};
use crate::doc::{Context, Document, LiveWindowPage, CONTEXT_IRI};
use crate::jobs::send::{LiveSendStats, LiveSender};

/// When a session hands its recent segments to an LLM.
#[derive(Debug, Clone, PartialEq)]
pub enum SendTrigger {
    /// Whenever at least this many seconds of audio have passed since the last window,
    /// checked as each segment closes.
    Every(f64),
    /// Each time a segment with this label closes (`voice:speech`, or just `speech`).
    OnLabel(String),
}

impl SendTrigger {
    fn matches_label(label: &str, wanted: &str) -> bool {
        label == wanted
            || label
                .split_once(':')
                .is_some_and(|(_, short)| short == wanted)
    }
}

/// A [`SegmentConsumer`] that keeps the last `window_s` seconds of segments and, when the
/// trigger fires, offers them as one document to a [`LiveSender`], which posts
/// on its own thread: the analysis never waits for the endpoint.
#[derive(Debug)]
pub struct WindowSender {
    sender: LiveSender,
    trigger: SendTrigger,
    window_s: f64,
    recent: std::collections::VecDeque<LiveSegment>,
    last_sent_s: f64,
    unsent: usize,
    windows: usize,
}

impl WindowSender {
    /// Wraps a started sender.
    pub fn new(sender: LiveSender, trigger: SendTrigger, window_s: f64) -> Self {
        Self {
            sender,
            trigger,
            window_s,
            recent: std::collections::VecDeque::new(),
            last_sent_s: 0.0,
            unsent: 0,
            windows: 0,
        }
    }

    /// Waits for the request in flight (bounded by the client's timeout) and returns the
    /// totals.
    pub fn finish_sending(self) -> LiveSendStats {
        self.sender.finish()
    }

    /// The recent segments as an mmprompt document the prompt assembler reads like a file's.
    fn window_document(&self) -> Option<Document> {
        let first = self.recent.front()?;
        let last = self.recent.back()?;
        let source = &first.annotation.target.source;
        let (from, to) = (first.segment.start_s, last.segment.end_s);
        let about = LiveWindowSource {
            id: source.id.clone(),
            kind: SoundTypes,
            name: source.name.clone(),
            sample_rate: source.sample_rate,
            channels: source.channels,
            start_time: source.start_time.clone(),
            content_url: format!("live:{}@{from:.3}-{to:.3}s", source.name),
            duration: IsoSeconds::new(to - from),
        };
        let items = self.recent.iter().map(|s| s.annotation.item()).collect();
        // No id and no generator: a window has no content hash to derive an id from, and
        // the pages sent so far went without both.
        Some(Document::LiveWindow(LiveWindowPage::new(
            Context::Iri(CONTEXT_IRI.to_owned()),
            None,
            about,
            None,
            items,
        )))
    }

    fn send_window(&mut self, now_s: f64) {
        if let Some(doc) = self.window_document() {
            self.windows += 1;
            let name = format!("live-w{}", self.windows);
            self.sender.offer(name, doc);
            self.last_sent_s = now_s;
            self.unsent = 0;
        }
    }
}

impl SegmentConsumer for WindowSender {
    fn on_segment(&mut self, s: &LiveSegment) -> std::io::Result<()> {
        self.recent.push_back(s.clone());
        self.unsent += 1;
        while self
            .recent
            .front()
            .is_some_and(|f| f.segment.end_s < s.decided_s - self.window_s)
        {
            self.recent.pop_front();
        }
        let due = match &self.trigger {
            SendTrigger::Every(period) => s.decided_s - self.last_sent_s >= *period,
            SendTrigger::OnLabel(label) => {
                SendTrigger::matches_label(s.segment.label.as_str(), label)
            }
        };
        if due {
            self.send_window(s.decided_s);
        }
        Ok(())
    }

    /// With `--every`, the segments that closed since the last window go out as a last one.
    fn finish(&mut self) -> std::io::Result<()> {
        if matches!(self.trigger, SendTrigger::Every(_)) && self.unsent > 0 {
            let now = self.recent.back().map_or(0.0, |s| s.decided_s);
            self.send_window(now);
        }
        Ok(())
    }
}
