//! An audio file's page and a live session's lines: one annotation per segment, anchored
//! by its `t=start,end` fragment (and, live, by its wall-clock instants).

use super::model::{
    to_value, Annotation, AnnotationType, AudioPage, AudioSource, AudioTarget, ClockSelector,
    Context, DecodeError, DecodeErrorType, Describing, FragmentSelectorType, Generator, IsoSeconds,
    LiveAnnotation, LiveSource, LiveTarget, MediaFragments, SegmentBody, SegmentSelector,
    SoundTypes, SpecificResourceType, Tagging, TextPlain, TextualBody,
};
use super::terms::{
    doc_iri, iso8601_utc, live_iri, round, segment_id, AudioSourceInfo, ContextMode, LiveSourceInfo,
};
use crate::audio::Segment;
use serde_json::Value;

/// Seconds to three decimals, as a number (the `t=` selector uses the same rounding).
fn secs(v: f64) -> f64 {
    round(v, 3)
}

fn segment_body(index: usize, s: &Segment) -> SegmentBody {
    SegmentBody {
        kind: TextualBody,
        purpose: Tagging,
        format: TextPlain,
        value: s.label.as_str().to_owned(),
        segment_id: segment_id(index),
        confidence: round(f64::from(s.confidence), 3),
        frame_count: s.frames,
        mean_level_db: round(f64::from(s.mean_level_db.max(-200.0)), 2),
        median_f0_hz: s.median_f0_hz.map(|f0| round(f64::from(f0), 2)),
        mean_centroid_hz: round(f64::from(s.mean_centroid_hz), 2),
        onsets: s.onsets_s.iter().map(|&t| secs(t)).collect(),
    }
}

/// The `t=start,end` fragment, in seconds from the start of the source, never past `limit_s`
/// (the source's duration as the page states it). The analysis runs on resampled audio, so
/// its last sample can end a fraction of a sample after the source does; rounded to the
/// millisecond, that fraction could put the end a millisecond past the file's end.
fn segment_selector(s: &Segment, limit_s: f64) -> SegmentSelector {
    let (start, end) = (secs(s.start_s).min(limit_s), secs(s.end_s).min(limit_s));
    SegmentSelector {
        kind: FragmentSelectorType,
        conforms_to: MediaFragments,
        value: format!("t={start:.3},{end:.3}"),
        start_offset: start,
        end_offset: end,
    }
}

/// Builds the page for one audio file: one annotation per segment, in time order.
/// `error` is `(code, message)` when the stream broke part-way; the segments are then
/// those decoded before the damage.
pub fn audio_page(
    source: &AudioSourceInfo,
    segments: &[Segment],
    parameters: Value,
    error: Option<(&str, &str)>,
    mode: ContextMode,
) -> AudioPage {
    let base = doc_iri(&source.file.sha256);
    let about = AudioSource {
        id: format!("{base}:source"),
        kind: SoundTypes,
        content_url: source.file.content_url.clone(),
        encoding_format: source.file.mime.clone(),
        content_size: source.file.byte_len,
        duration: IsoSeconds::new(source.duration_s),
        sample_rate: source.sample_rate,
        channels: source.channels,
        sha256: source.file.sha256.clone(),
    };
    let items = segments
        .iter()
        .enumerate()
        .map(|(i, s)| Annotation {
            id: format!("{base}:{}", segment_id(i)),
            kind: AnnotationType,
            motivation: Describing,
            body: segment_body(i, s),
            target: AudioTarget {
                kind: SpecificResourceType,
                source: about.clone(),
                selector: (segment_selector(s, about.duration.0),),
            },
        })
        .collect();
    let mut page = AudioPage::new(
        Context::new(mode),
        Some(base),
        about,
        Some(Generator::new(parameters)),
        items,
    );
    page.decode_error = error.map(|(code, message)| DecodeError {
        kind: DecodeErrorType,
        error_code: code.to_owned(),
        description: message.to_owned(),
    });
    page
}

/// [`audio_page`] as a JSON value.
pub fn audio_document(
    source: &AudioSourceInfo,
    segments: &[Segment],
    parameters: Value,
    error: Option<(&str, &str)>,
    mode: ContextMode,
) -> Value {
    to_value(&audio_page(source, segments, parameters, error, mode))
}

/// One closed segment of a live session as a self-contained JSON-LD `Annotation` (one
/// NDJSON line). Its target carries two selectors: the `t=start,end` fragment in seconds
/// from the session start, as in a file's document, and a Media Fragments wall-clock
/// fragment `t=clock:START,END` (ISO 8601 UTC) with the same instants as typed
/// `startTime`/`endTime`, so a line means the same thing read on its own, days later.
pub fn live_annotation(
    source: &LiveSourceInfo,
    index: usize,
    segment: &Segment,
    mode: ContextMode,
) -> LiveAnnotation {
    let base = live_iri(&source.session);
    let at = |s: f64| source.started + std::time::Duration::from_secs_f64(secs(s).max(0.0));
    let (start, end) = (
        iso8601_utc(at(segment.start_s)),
        iso8601_utc(at(segment.end_s)),
    );
    let clock = ClockSelector {
        kind: FragmentSelectorType,
        conforms_to: MediaFragments,
        value: format!("t=clock:{start},{end}"),
        start_time: start,
        end_time: end,
    };
    LiveAnnotation {
        context: Context::new(mode),
        id: format!("{base}:{}", segment_id(index)),
        kind: AnnotationType,
        motivation: Describing,
        body: segment_body(index, segment),
        target: LiveTarget {
            kind: SpecificResourceType,
            source: LiveSource {
                id: format!("{base}:source"),
                kind: SoundTypes,
                name: source.device.clone(),
                sample_rate: source.sample_rate,
                channels: source.channels,
                start_time: iso8601_utc(source.started),
            },
            selector: (segment_selector(segment, f64::INFINITY), clock),
        },
    }
}
