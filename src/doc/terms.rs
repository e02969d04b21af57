//! The terms every document shares: the context and how a page refers to it, what a page
//! says about its source, and the ids, labels, numbers and times written into it. A leaf
//! module, so the page builders ([`super::image`], [`super::audio`]) and the types
//! ([`super::model`]) all use it without importing each other or the parent.

use crate::vision::contours::BorderKind;
use crate::vision::regions::Region;
use serde_json::{Map, Value};

/// The published IRI of the W3C Web Annotation context. Documents refer to it, with the
/// terms it lacks inline beside it, so a consumer's loader need reach (or cache) only this.
pub const ANNO_CONTEXT_IRI: &str = "http://www.w3.org/ns/anno.jsonld";
/// A copy of the document served at [`ANNO_CONTEXT_IRI`] (W3C, Web Annotation Data Model
/// Recommendation, from github.com/w3c/web-annotation `jsonld/anno.jsonld`): what its terms
/// mean is worked out from it, and the tests serve it to the JSON-LD processor as a cache
/// would.
pub const ANNO_CONTEXT: &str = include_str!("../../schemas/anno.jsonld");
/// The project's whole context: every term a document uses. Inlined as it is with
/// `--context inline`; otherwise only the part [`extension_context`] gives goes beside the
/// W3C context.
pub const CONTEXT: &str = include_str!("../../schemas/context.jsonld");
/// JSON Schema (draft 2020-12) of the documents this crate writes to files: image and
/// audio pages at the root, and live lines as `#/$defs/liveAnnotation`. Generated from the
/// types in [`super::model`] by [`super::schema::generate_schema`].
pub const SCHEMA: &str = include_str!("../../schemas/mmprompt.schema.json");

/// How the document refers to its context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextMode {
    /// The W3C context by [`ANNO_CONTEXT_IRI`], then [`extension_context`] inline.
    #[default]
    Reference,
    /// The whole context object embedded in the document: no IRI to resolve.
    Inline,
}

/// What the document says about the media file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// The path or URL as the user gave it.
    pub content_url: String,
    /// MIME type detected from the content.
    pub mime: String,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// File size in bytes.
    pub byte_len: u64,
}

/// The `@context` value for `mode`.
pub fn context_value(mode: ContextMode) -> Value {
    match mode {
        ContextMode::Reference => Value::Array(vec![
            Value::String(ANNO_CONTEXT_IRI.to_owned()),
            Value::Object(extension_context()),
        ]),
        ContextMode::Inline => Value::Object(own_context()),
    }
}

fn inner_context(text: &str) -> Map<String, Value> {
    // Both files are compile-time constants checked by tests, so parsing cannot fail at
    // run time; an empty map is the fallback rather than a panic all the same.
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|mut v| match v.get_mut("@context").map(Value::take) {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        })
        .unwrap_or_default()
}

/// The project's whole context object ([`CONTEXT`]'s `@context`).
pub fn own_context() -> Map<String, Value> {
    static OWN: std::sync::LazyLock<Map<String, Value>> =
        std::sync::LazyLock::new(|| inner_context(CONTEXT));
    OWN.clone()
}

/// The terms of the project's context that the W3C context lacks or defines otherwise
/// (`@version` included), in the project's order. Placed after the W3C context, they make a
/// document expand exactly as with the project's whole context.
pub fn extension_context() -> Map<String, Value> {
    // Worked out once: every document written (and every live line) carries it.
    static EXTENSION: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(|| {
        let anno = inner_context(ANNO_CONTEXT);
        own_context()
            .into_iter()
            .filter(|(k, v)| anno.get(k) != Some(v))
            .collect()
    });
    EXTENSION.clone()
}

/// The smallest `@context` under which `doc` expands as it does under the whole context:
/// the W3C context, then only the extension terms `doc` uses (as keys, or as type or
/// vocabulary values) and the prefixes those need. For prompts, where every token counts.
pub fn context_for(doc: &Value) -> Value {
    fn used(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "@context" {
                        continue;
                    }
                    out.insert(k.clone());
                    if let Value::String(s) = x {
                        // Types and @vocab values (`ImageObject`, `describing`) are terms.
                        out.insert(s.clone());
                    }
                    used(x, out);
                }
            }
            Value::Array(a) => {
                for x in a {
                    if let Value::String(s) = x {
                        out.insert(s.clone());
                    }
                    used(x, out);
                }
            }
            _ => {}
        }
    }
    let mut terms = std::collections::BTreeSet::new();
    used(doc, &mut terms);
    let ext = extension_context();
    let mut keep: Map<String, Value> = Map::new();
    let mut prefixes = std::collections::BTreeSet::new();
    let mut note_prefixes = |v: &Value| {
        let mut add = |s: &str| {
            if let Some((p, _)) = s.split_once(':') {
                prefixes.insert(p.to_string());
            }
        };
        match v {
            Value::String(s) => add(s),
            Value::Object(m) => m.values().filter_map(Value::as_str).for_each(add),
            _ => {}
        }
    };
    for (k, v) in &ext {
        if k == "@version" || terms.contains(k) {
            note_prefixes(v);
        }
    }
    for (k, v) in ext {
        if k == "@version" || terms.contains(&k) || prefixes.contains(&k) {
            keep.insert(k, v);
        }
    }
    Value::Array(vec![
        Value::String(ANNO_CONTEXT_IRI.to_owned()),
        Value::Object(keep),
    ])
}

/// Identifier prefix shared by a document and its annotations; derived from the content so
/// that the same file always yields the same ids.
pub fn doc_iri(sha256: &str) -> String {
    format!("urn:mmprompt:{}", &sha256[..sha256.len().min(16)])
}

/// Short region id (`r1` is the most salient) used in ids, text lines and prompts.
pub fn region_id(rank: usize) -> String {
    format!("r{}", rank + 1)
}

/// The region's label: `object:<shape>`, `object` when the shape is irregular, `hole:<shape>`
/// for hole borders.
pub fn region_label(region: &Region) -> String {
    let ns = match region.kind {
        BorderKind::Outer => "object",
        BorderKind::Hole => "hole",
    };
    match region.shape {
        crate::vision::words::Shape::Irregular => ns.to_owned(),
        s => format!("{ns}:{}", s.as_str()),
    }
}

pub(crate) fn round(v: f64, decimals: i32) -> f64 {
    let m = 10f64.powi(decimals);
    let r = (v * m).round() / m;
    if r == 0.0 {
        0.0 // no "-0.0" in output
    } else {
        r
    }
}

/// What an audio document says about its file.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioSourceInfo {
    /// What every source says: path, MIME type, hash and size.
    pub file: SourceInfo,
    /// Duration of the decoded audio in seconds.
    pub duration_s: f64,
    /// The file's own sample rate in Hz.
    pub sample_rate: u32,
    /// The file's channel count.
    pub channels: u32,
}

/// Short segment id (`s1` is the first in time).
pub fn segment_id(index: usize) -> String {
    format!("s{}", index + 1)
}

/// ISO 8601 duration with millisecond precision, e.g. `PT83.250S`.
pub fn iso_duration(seconds: f64) -> String {
    format!("PT{:.3}S", seconds.max(0.0))
}

/// Seconds in an ISO 8601 duration of the form [`iso_duration`] writes (`PT83.250S`).
pub fn parse_iso_duration(s: &str) -> Option<f64> {
    s.strip_prefix("PT")?.strip_suffix('S')?.parse().ok()
}

/// What a live line says about the session it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSourceInfo {
    /// Identifies the session; ids are `urn:mmprompt:live:{session}:…`.
    pub session: String,
    /// The capture device (or replayed file) as the user would name it.
    pub device: String,
    /// The device's own sample rate in Hz.
    pub sample_rate: u32,
    /// The device's channel count.
    pub channels: u32,
    /// Wall-clock time of the session's first captured sample.
    pub started: std::time::SystemTime,
}

/// Identifier prefix of a live session's source and annotations.
pub fn live_iri(session: &str) -> String {
    format!("urn:mmprompt:live:{session}")
}

/// `t` as ISO 8601 UTC with milliseconds, e.g. `2026-11-29T12:09:36.250Z` (the form Media
/// Fragments' `clock:` time and `xsd:dateTime` both accept). Times before 1970 clamp to it.
pub fn iso8601_utc(t: std::time::SystemTime) -> String {
    let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Proleptic Gregorian date of `days` since 1970-01-01 (the era-based conversion: 400-year
/// eras of 146 097 days, years starting in March so the leap day comes last).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
