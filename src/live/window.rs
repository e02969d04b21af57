//! Live windows for an LLM: keeps the last seconds of closed segments and, when a
//! trigger fires, offers them as one document to a [`LiveSender`], which posts on its own
//! thread so that the analysis never waits for the endpoint.

use super::session::{LiveSegment, SegmentConsumer};
use crate::doc::model::{IsoSeconds, LiveWindowSource, SoundTypes};
use crate::doc::{Context, ContextMode, Document, LiveWindowPage};
use crate::send::{LiveSendStats, LiveSender};
use std::collections::VecDeque;

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

/// The windowing decisions alone, with no endpoint: which recent segments a window holds,
/// and when one is due. [`WindowSender`] posts what it decides.
#[derive(Debug, Clone)]
pub struct Windows {
    trigger: SendTrigger,
    window_s: f64,
    recent: VecDeque<LiveSegment>,
    last_sent_s: f64,
    unsent: usize,
    count: usize,
}

impl Windows {
    /// Windows of the last `window_s` seconds of segments, sent when `trigger` fires.
    pub fn new(trigger: SendTrigger, window_s: f64) -> Self {
        Self {
            trigger,
            window_s,
            recent: VecDeque::new(),
            last_sent_s: 0.0,
            unsent: 0,
            count: 0,
        }
    }

    /// Takes a segment as it closes. Returns the window to send now, named `live-wN`, when
    /// the trigger fires: the segments that ended within `window_s` of this one's decision.
    pub fn push(&mut self, s: &LiveSegment) -> Option<(String, Document)> {
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
        due.then(|| self.take(s.decided_s)).flatten()
    }

    /// At the end of a session: with [`SendTrigger::Every`], the segments that closed since
    /// the last window go out as a last one. A label trigger sends nothing more.
    pub fn finish(&mut self) -> Option<(String, Document)> {
        if matches!(self.trigger, SendTrigger::Every(_)) && self.unsent > 0 {
            let now = self.recent.back().map_or(0.0, |s| s.decided_s);
            self.take(now)
        } else {
            None
        }
    }

    fn take(&mut self, now_s: f64) -> Option<(String, Document)> {
        let doc = self.window_document()?;
        self.count += 1;
        self.last_sent_s = now_s;
        self.unsent = 0;
        Some((format!("live-w{}", self.count), doc))
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
            Context::new(ContextMode::Reference),
            None,
            about,
            None,
            items,
        )))
    }
}

/// A [`SegmentConsumer`] that offers the [`Windows`] it decides to a [`LiveSender`], which
/// posts on its own thread: the analysis never waits for the endpoint.
#[derive(Debug)]
pub struct WindowSender {
    sender: LiveSender,
    windows: Windows,
}

impl WindowSender {
    /// Wraps a started sender.
    pub fn new(sender: LiveSender, trigger: SendTrigger, window_s: f64) -> Self {
        Self {
            sender,
            windows: Windows::new(trigger, window_s),
        }
    }

    /// Waits for the request in flight (bounded by the client's timeout) and returns the
    /// totals.
    pub fn finish_sending(self) -> LiveSendStats {
        self.sender.finish()
    }
}

impl SegmentConsumer for WindowSender {
    fn on_segment(&mut self, s: &LiveSegment) -> std::io::Result<()> {
        if let Some((name, doc)) = self.windows.push(s) {
            self.sender.offer(name, doc);
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        if let Some((name, doc)) = self.windows.finish() {
            self.sender.offer(name, doc);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{Label, Segment};
    use crate::doc::{self, ContextMode, LiveSourceInfo};

    /// Segment `index` of a session, `label` from `start` to `end` seconds, closed at
    /// `decided` seconds.
    fn seg(index: usize, label: Label, start: f64, end: f64, decided: f64) -> LiveSegment {
        let segment = Segment {
            label,
            start_sample: (start * 16_000.0) as u64,
            end_sample: (end * 16_000.0) as u64,
            start_s: start,
            end_s: end,
            confidence: 0.9,
            frames: 10,
            mean_level_db: -20.0,
            median_f0_hz: None,
            mean_centroid_hz: 1000.0,
            onsets_s: Vec::new(),
        };
        let source = LiveSourceInfo {
            session: "abc-1".into(),
            device: "mic".into(),
            sample_rate: 48_000,
            channels: 2,
            started: std::time::UNIX_EPOCH,
        };
        LiveSegment {
            index,
            annotation: doc::live_annotation(&source, index, &segment, ContextMode::Reference),
            segment,
            decided_s: decided,
        }
    }

    fn page(d: &Document) -> &LiveWindowPage {
        match d {
            Document::LiveWindow(p) => p,
            other => panic!("not a live window: {other:?}"),
        }
    }

    #[test]
    fn every_n_seconds_sends_the_recent_window_and_the_rest_at_the_end() {
        let mut w = Windows::new(SendTrigger::Every(5.0), 4.0);
        // Segments of 1 s, each decided 0.3 s after its end.
        let segs: Vec<LiveSegment> = (0..12)
            .map(|i| {
                let t = i as f64;
                seg(i, Label::Speech, t, t + 1.0, t + 1.3)
            })
            .collect();
        let mut sent = Vec::new();
        for s in &segs {
            if let Some(win) = w.push(s) {
                sent.push((s.index, win));
            }
        }
        // Due at decisions 5.3 (index 4) and 10.3 (index 9): at least 5 s after the last.
        let at: Vec<usize> = sent.iter().map(|(i, _)| *i).collect();
        assert_eq!(at, [4, 9]);
        assert_eq!(sent[0].1 .0, "live-w1");
        assert_eq!(sent[1].1 .0, "live-w2");
        // The second window holds the segments that ended within 4 s of 10.3 s: 6.3 and on.
        let p = page(&sent[1].1 .1);
        assert_eq!(p.total_items, 4);
        assert_eq!(p.items.len(), 4);
        assert_eq!(p.about.content_url, "live:mic@6.000-10.000s");
        assert_eq!(p.about.duration, IsoSeconds::new(4.0));
        // The two segments after it go out at the end, and only once.
        let (name, last) = w.finish().expect("a last window");
        assert_eq!(name, "live-w3");
        assert!(page(&last).total_items >= 2);
        assert!(w.finish().is_none());
    }

    #[test]
    fn a_label_trigger_matches_the_full_or_the_short_name_and_sends_nothing_at_the_end() {
        for wanted in ["voice:speech", "speech"] {
            let mut w = Windows::new(SendTrigger::OnLabel(wanted.into()), 30.0);
            assert!(w.push(&seg(0, Label::Noise, 0.0, 1.0, 1.2)).is_none());
            assert!(w.push(&seg(1, Label::Music, 1.0, 2.0, 2.2)).is_none());
            let (name, d) = w
                .push(&seg(2, Label::Speech, 2.0, 3.0, 3.2))
                .expect("speech sends");
            assert_eq!(name, "live-w1");
            // The window holds everything within 30 s, the triggering segment last.
            let p = page(&d);
            assert_eq!(p.total_items, 3);
            assert!(p.items[2].body.value.contains("speech"), "{wanted}");
            assert!(w.push(&seg(3, Label::Noise, 3.0, 4.0, 4.2)).is_none());
            assert!(w.finish().is_none(), "{wanted}");
        }
        let mut w = Windows::new(SendTrigger::OnLabel("peech".into()), 30.0);
        assert!(w.push(&seg(0, Label::Speech, 0.0, 1.0, 1.2)).is_none());
    }

    #[test]
    fn a_window_reads_back_as_the_document_the_prompt_assembler_takes() {
        let mut w = Windows::new(SendTrigger::Every(0.5), 10.0);
        let (_, d) = w
            .push(&seg(0, Label::Tone, 0.5, 1.5, 1.8))
            .expect("due at once");
        let value = serde_json::to_value(&d).unwrap();
        assert_eq!(
            value["@context"],
            crate::doc::context_value(ContextMode::Reference)
        );
        assert!(value["items"][0].get("@context").is_none());
        assert_eq!(Document::from_value(&value).unwrap(), d);
    }
}
