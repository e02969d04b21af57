//! The JSON-LD document model (W3C Web Annotation + schema.org media terms), the project's
//! context and schema, and the compact text rendering used in prompts.

use crate::vision::contours::BorderKind;
use crate::vision::pipeline::{ImageAnalysis, ImageParams};
use crate::vision::regions::Region;
use serde_json::{json, Map, Value};
use std::fmt::Write as _;

/// Stable IRI of the project's JSON-LD context; [`CONTEXT`] is its content.
pub const CONTEXT_IRI: &str = "https://w3id.org/mmprompt/context/v1.jsonld";
/// The context document served at [`CONTEXT_IRI`], shipped so processors resolve it offline.
pub const CONTEXT: &str = include_str!("../../schemas/context.jsonld");
/// JSON Schema (draft 2020-12) of every document this crate writes.
pub const SCHEMA: &str = include_str!("../../schemas/mmprompt.schema.json");
/// The Media Fragments specification that `xywh=` and `t=` selectors conform to.
pub const MEDIA_FRAGMENTS: &str = "http://www.w3.org/TR/media-frags/";

/// How the document refers to its context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextMode {
    /// By [`CONTEXT_IRI`].
    #[default]
    Reference,
    /// The context object embedded in the document.
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
        ContextMode::Reference => Value::String(CONTEXT_IRI.to_owned()),
        // The embedded file is a compile-time constant checked by tests, so parsing cannot
        // fail at run time; fall back to the IRI rather than panic all the same.
        ContextMode::Inline => serde_json::from_str::<Value>(CONTEXT)
            .ok()
            .and_then(|mut v| v.get_mut("@context").map(Value::take))
            .unwrap_or_else(|| Value::String(CONTEXT_IRI.to_owned())),
    }
}

/// The generator block: tool, version and the effective parameters.
pub fn generator(parameters: Value) -> Value {
    json!({
        "type": "Software",
        "name": env!("CARGO_PKG_NAME"),
        "softwareVersion": env!("CARGO_PKG_VERSION"),
        "parameters": parameters,
    })
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

fn round(v: f64, decimals: i32) -> f64 {
    let m = 10f64.powi(decimals);
    let r = (v * m).round() / m;
    if r == 0.0 {
        0.0 // no "-0.0" in output
    } else {
        r
    }
}

fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn svg_polygon(region: &Region, width: u32, height: u32) -> String {
    let mut pts = String::new();
    for (i, p) in region.measures.polygon.iter().enumerate() {
        if i > 0 {
            pts.push(' ');
        }
        let _ = write!(pts, "{},{}", p.x, p.y);
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\"><polygon points=\"{pts}\"/></svg>"
    )
}

/// The `source` node shared by a page's `about` and every target: the fields every medium
/// has, with the medium's own (`media`) between the size and the hash.
fn source_node(base: &str, types: [&str; 2], file: &SourceInfo, media: Value) -> Value {
    let mut node = Map::new();
    node.insert("id".into(), json!(format!("{base}:source")));
    node.insert("type".into(), json!(types));
    node.insert("contentUrl".into(), json!(file.content_url));
    node.insert("encodingFormat".into(), json!(file.mime));
    node.insert("contentSize".into(), json!(file.byte_len));
    if let Value::Object(extra) = media {
        node.extend(extra);
    }
    node.insert("sha256".into(), json!(file.sha256));
    Value::Object(node)
}

/// Builds the `AnnotationPage` for one image.
pub fn image_document(
    source: &SourceInfo,
    analysis: &ImageAnalysis,
    params: &ImageParams,
    mode: ContextMode,
) -> Value {
    let base = doc_iri(&source.sha256);
    let source_obj = source_node(
        &base,
        ["Image", "ImageObject"],
        source,
        json!({ "width": analysis.width, "height": analysis.height }),
    );
    let items: Vec<Value> = analysis
        .regions
        .iter()
        .enumerate()
        .map(|(rank, r)| image_annotation(&base, rank, r, analysis, &source_obj))
        .collect();
    let mut parameters = params.to_json();
    if let Value::Object(m) = &mut parameters {
        m.insert(
            "decided".into(),
            json!({
                "threshold": analysis.threshold,
                "inverted": analysis.inverted,
                "contours": analysis.contour_count,
            }),
        );
    }
    json!({
        "@context": context_value(mode),
        "id": base,
        "type": "AnnotationPage",
        "about": source_obj,
        "generator": generator(parameters),
        "totalItems": items.len(),
        "items": items,
    })
}

fn image_annotation(
    base: &str,
    rank: usize,
    r: &Region,
    analysis: &ImageAnalysis,
    source_obj: &Value,
) -> Value {
    let id = region_id(rank);
    let m = &r.measures;
    let mut body = Map::new();
    body.insert("type".into(), json!("TextualBody"));
    body.insert("purpose".into(), json!("tagging"));
    body.insert("format".into(), json!("text/plain"));
    body.insert("value".into(), json!(region_label(r)));
    body.insert("regionId".into(), json!(id));
    body.insert("rank".into(), json!(rank + 1));
    body.insert("borderKind".into(), json!(r.kind));
    body.insert("shape".into(), json!(r.shape.as_str()));
    body.insert("sizeClass".into(), json!(r.size.as_str()));
    body.insert("position".into(), json!(r.position.as_str()));
    body.insert("colorName".into(), json!(r.color_name));
    body.insert("meanColor".into(), json!(hex(r.mean_color)));
    body.insert("dominantColor".into(), json!(hex(r.dominant_color)));
    // Rounded so outputs stay readable and stable: scores to 4 decimals, pixel measures to 2.
    for (key, value) in [
        ("salience", json!(round(r.salience, 4))),
        ("area", json!(round(m.area, 2))),
        ("pixelCount", json!(r.pixel_count)),
        ("perimeter", json!(round(m.perimeter, 2))),
        ("centroidX", json!(round(m.centroid.0, 2))),
        ("centroidY", json!(round(m.centroid.1, 2))),
        ("vertexCount", json!(m.polygon.len())),
        ("hullArea", json!(round(m.hull_area, 2))),
        ("solidity", json!(round(m.solidity, 4))),
        ("circularity", json!(round(m.circularity, 4))),
        ("rotatedCenterX", json!(round(m.rotated.cx, 2))),
        ("rotatedCenterY", json!(round(m.rotated.cy, 2))),
        ("rotatedWidth", json!(round(m.rotated.width, 2))),
        ("rotatedHeight", json!(round(m.rotated.height, 2))),
        ("rotatedAngle", json!(round(m.rotated.angle, 2))),
    ] {
        body.insert(key.into(), value);
    }
    body.insert("holeCount".into(), json!(r.holes));
    if let Some(p) = r.parent {
        body.insert(
            "parentRegion".into(),
            json!(format!("{base}:{}", region_id(p))),
        );
    }
    let b = r.bbox;
    let selectors = json!([
        {
            "type": "FragmentSelector",
            "conformsTo": MEDIA_FRAGMENTS,
            "value": format!("xywh={},{},{},{}", b.x, b.y, b.w, b.h),
        },
        {
            "type": "SvgSelector",
            "value": svg_polygon(r, analysis.width, analysis.height),
        }
    ]);
    annotation(format!("{base}:{id}"), body, source_obj, selectors)
}

/// The Web Annotation envelope every region and segment shares: a describing annotation of
/// `body` whose target is `source` narrowed by `selectors`.
fn annotation(id: String, body: Map<String, Value>, source: &Value, selectors: Value) -> Value {
    json!({
        "id": id,
        "type": "Annotation",
        "motivation": "describing",
        "body": Value::Object(body),
        "target": {
            "type": "SpecificResource",
            "source": source,
            "selector": selectors,
        },
    })
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

/// Seconds to three decimals, as a number (the `t=` selector uses the same rounding).
fn secs(v: f64) -> f64 {
    round(v, 3)
}

/// One segment as an `Annotation` whose target is `source_obj` with a `t=start,end`
/// fragment (seconds from the start of the source), identified as `{base}:s{index+1}`.
/// Files and live sessions build their segments here.
pub fn segment_annotation(
    base: &str,
    index: usize,
    s: &crate::audio::Segment,
    source_obj: &Value,
) -> Value {
    let id = segment_id(index);
    let mut body = Map::new();
    body.insert("type".into(), json!("TextualBody"));
    body.insert("purpose".into(), json!("tagging"));
    body.insert("format".into(), json!("text/plain"));
    body.insert("value".into(), json!(s.label.as_str()));
    body.insert("segmentId".into(), json!(id));
    body.insert(
        "confidence".into(),
        json!(round(f64::from(s.confidence), 3)),
    );
    body.insert("frameCount".into(), json!(s.frames));
    body.insert(
        "meanLevelDb".into(),
        json!(round(f64::from(s.mean_level_db.max(-200.0)), 2)),
    );
    if let Some(f0) = s.median_f0_hz {
        body.insert("medianF0Hz".into(), json!(round(f64::from(f0), 2)));
    }
    body.insert(
        "meanCentroidHz".into(),
        json!(round(f64::from(s.mean_centroid_hz), 2)),
    );
    let onsets: Vec<f64> = s.onsets_s.iter().map(|&t| secs(t)).collect();
    body.insert("onsets".into(), json!(onsets));
    let (start, end) = (secs(s.start_s), secs(s.end_s));
    let selectors = json!([{
        "type": "FragmentSelector",
        "conformsTo": MEDIA_FRAGMENTS,
        "value": format!("t={start:.3},{end:.3}"),
        "startOffset": start,
        "endOffset": end,
    }]);
    annotation(format!("{base}:{id}"), body, source_obj, selectors)
}

/// Builds the `AnnotationPage` for one audio file: one annotation per segment, in time
/// order. `error` is `(code, message)` when the stream broke part-way; the segments are
/// then those decoded before the damage.
pub fn audio_document(
    source: &AudioSourceInfo,
    segments: &[crate::audio::Segment],
    parameters: Value,
    error: Option<(&str, &str)>,
    mode: ContextMode,
) -> Value {
    let base = doc_iri(&source.file.sha256);
    let source_obj = source_node(
        &base,
        ["Sound", "AudioObject"],
        &source.file,
        json!({
            "duration": iso_duration(source.duration_s),
            "sampleRate": source.sample_rate,
            "channels": source.channels,
        }),
    );
    let items: Vec<Value> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| segment_annotation(&base, i, s, &source_obj))
        .collect();
    let mut page = json!({
        "@context": context_value(mode),
        "id": base,
        "type": "AnnotationPage",
        "about": source_obj,
        "generator": generator(parameters),
        "totalItems": items.len(),
        "items": items,
    });
    if let (Some((code, message)), Value::Object(m)) = (error, &mut page) {
        m.insert(
            "decodeError".into(),
            json!({ "type": "DecodeError", "errorCode": code, "description": message }),
        );
    }
    page
}

/// Compact text lines for prompts, rendered from a document so that documents read back
/// from disk render exactly as freshly extracted ones: a header line, then one line per
/// annotation ([`annotation_line`]).
///
/// ```text
/// image:[file=samples/shapes.png,w=640,h=480,regions=2]
/// image_region:[id=r1,x=40,y=60,w=120,h=120,semantic=object:circle,color=red,size=medium,position=top-left]
/// audio:[file=door.wav,duration=3.20,rate=44100,channels=2,segments=3]
/// audio_segment:[id=s2,t=1.30-2.10,label=event:impact,confidence=0.91]
/// ```
pub fn document_text(doc: &Value) -> String {
    let mut out = header_line(doc);
    out.push('\n');
    for item in doc["items"].as_array().into_iter().flatten() {
        if let Some(line) = annotation_line(item) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Whether a document (or its `about` node) describes audio.
fn is_audio(about: &Value) -> bool {
    about["duration"].is_string() || about["sampleRate"].is_number()
}

/// The header line of [`document_text`]: the file and its size in pixels or seconds.
pub fn header_line(doc: &Value) -> String {
    let about = &doc["about"];
    let file = about["contentUrl"].as_str().unwrap_or("");
    let count = doc["totalItems"].as_u64().unwrap_or(0);
    if is_audio(about) {
        let duration = about["duration"]
            .as_str()
            .and_then(parse_iso_duration)
            .unwrap_or(0.0);
        format!(
            "audio:[file={file},duration={duration:.2},rate={},channels={},segments={count}]",
            about["sampleRate"].as_u64().unwrap_or(0),
            about["channels"].as_u64().unwrap_or(0),
        )
    } else {
        format!(
            "image:[file={file},w={},h={},regions={count}]",
            about["width"].as_u64().unwrap_or(0),
            about["height"].as_u64().unwrap_or(0),
        )
    }
}

/// One annotation as a text line, or `None` when it carries no media fragment selector.
pub fn annotation_line(ann: &Value) -> Option<String> {
    let body = &ann["body"];
    let fragment = ann["target"]["selector"]
        .as_array()?
        .iter()
        .find(|s| s["type"] == "FragmentSelector")?;
    let value = fragment["value"].as_str()?;
    let label = body["value"].as_str().unwrap_or("");
    let s = |k: &str| body[k].as_str().unwrap_or("");
    if let Some(xywh) = value.strip_prefix("xywh=") {
        let mut it = xywh.split(',');
        let (x, y, w, h) = (it.next()?, it.next()?, it.next()?, it.next()?);
        Some(format!(
            "image_region:[id={},x={x},y={y},w={w},h={h},semantic={label},color={},size={},position={}]",
            s("regionId"),
            s("colorName"),
            s("sizeClass"),
            s("position"),
        ))
    } else if value.starts_with("t=") {
        Some(format!(
            "audio_segment:[id={},t={:.2}-{:.2},label={label},confidence={:.2}]",
            s("segmentId"),
            fragment["startOffset"].as_f64()?,
            fragment["endOffset"].as_f64()?,
            body["confidence"].as_f64().unwrap_or(0.0),
        ))
    } else {
        None
    }
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

/// One closed segment of a live session as a self-contained JSON-LD `Annotation` (one
/// NDJSON line). Its target carries two selectors: the `t=start,end` fragment in seconds
/// from the session start, as in a file's document, and a Media Fragments wall-clock
/// fragment `t=clock:START,END` (ISO 8601 UTC) with the same instants as typed
/// `startTime`/`endTime`, so a line means the same thing read on its own, days later.
pub fn live_annotation(
    source: &LiveSourceInfo,
    index: usize,
    segment: &crate::audio::Segment,
    mode: ContextMode,
) -> Value {
    let base = live_iri(&source.session);
    let source_obj = json!({
        "id": format!("{base}:source"),
        "type": ["Sound", "AudioObject"],
        "name": source.device,
        "sampleRate": source.sample_rate,
        "channels": source.channels,
        "startTime": iso8601_utc(source.started),
    });
    let mut annotation = segment_annotation(&base, index, segment, &source_obj);
    let at = |s: f64| source.started + std::time::Duration::from_secs_f64(secs(s).max(0.0));
    let (start, end) = (
        iso8601_utc(at(segment.start_s)),
        iso8601_utc(at(segment.end_s)),
    );
    if let Some(Value::Array(selectors)) = annotation.pointer_mut("/target/selector") {
        selectors.push(json!({
            "type": "FragmentSelector",
            "conformsTo": MEDIA_FRAGMENTS,
            "value": format!("t=clock:{start},{end}"),
            "startTime": start,
            "endTime": end,
        }));
    }
    let mut line = Map::new();
    line.insert("@context".into(), context_value(mode));
    if let Value::Object(fields) = annotation {
        line.extend(fields);
    }
    Value::Object(line)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn iso8601_matches_known_instants() {
        for (secs, ms, want) in [
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.005Z"),
            (1_709_164_799, 999, "2024-02-28T23:59:59.999Z"),
            (4_107_542_400, 0, "2100-03-01T00:00:00.000Z"),
        ] {
            let t = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms);
            assert_eq!(iso8601_utc(t), want);
        }
    }
}
