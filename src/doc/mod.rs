//! The JSON-LD document model (W3C Web Annotation + schema.org media terms), the project's
//! context and schema, and the compact text rendering used in prompts.
//!
//! - [`model`]: the typed nodes; they write the documents and read them back;
//! - [`image`] and [`audio`]: the pages of an image and of an audio file, and live lines;
//! - [`text`]: the text lines of a page, and what a prompt needs of any annotation;
//! - [`terms`]: the context, sources, ids, labels and times every page shares;
//! - [`read`]: reading with errors that name the field;
//! - [`schema`]: the JSON Schema, generated from the types.

pub mod audio;
pub mod image;
pub mod model;
pub mod read;
pub mod schema;
pub mod terms;
pub mod text;

pub use audio::{audio_document, audio_page, live_annotation};
pub use image::{image_document, image_page};
pub use model::{
    AnnotationPage, AudioPage, Context, Document, Generator, ImageAnnotation, ImagePage,
    LiveAnnotation, LiveWindowPage,
};
pub use read::ReadError;
pub use schema::generate_schema;
pub use terms::{
    context_for, context_value, doc_iri, extension_context, iso8601_utc, iso_duration, live_iri,
    own_context, parse_iso_duration, region_id, region_label, segment_id, AudioSourceInfo,
    ContextMode, LiveSourceInfo, SourceInfo, ANNO_CONTEXT, ANNO_CONTEXT_IRI, CONTEXT, SCHEMA,
};
pub use text::{header_line, region_line_with, Item, Score};

/// The Media Fragments specification that `xywh=` and `t=` selectors conform to.
pub const MEDIA_FRAGMENTS: &str = model::MediaFragments::VALUE;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{Label, Segment};
    use crate::vision::pipeline::{analyze_image, ImageParams};
    use crate::vision::regions::{MinArea, RegionOptions};
    use ::image::{Rgb, RgbImage};
    use serde_json::json;
    use serde_json::Value;
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

    fn file(name: &str, mime: &str) -> SourceInfo {
        SourceInfo {
            content_url: name.into(),
            mime: mime.into(),
            sha256: "ab".repeat(32),
            byte_len: 1234,
        }
    }

    /// Two squares and a ring, so there are holes, parents and several regions.
    fn image_value(mode: ContextMode) -> Value {
        let mut img = RgbImage::from_pixel(64, 48, Rgb([255; 3]));
        for (x, y) in (0..64u32).flat_map(|x| (0..48u32).map(move |y| (x, y))) {
            let square = (4..20).contains(&x) && (4..20).contains(&y);
            let ring = (30..60).contains(&x)
                && (10..40).contains(&y)
                && !((38..52).contains(&x) && (18..32).contains(&y));
            if square || ring {
                img.put_pixel(x, y, Rgb([200, 20, 20]));
            }
        }
        let params = ImageParams {
            regions: RegionOptions {
                max_regions: 0,
                min_area: MinArea::Pixels(0),
                holes: true,
            },
            ..ImageParams::default()
        };
        let analysis = analyze_image(&img, &params).expect("the Rust backend cannot fail");
        assert!(analysis.regions.len() >= 2, "the image should have regions");
        image_document(&file("shapes.png", "image/png"), &analysis, &params, mode)
    }

    fn segment(label: Label, start_s: f64, end_s: f64, f0: Option<f32>) -> Segment {
        Segment {
            label,
            start_sample: (start_s * 16_000.0) as u64,
            end_sample: (end_s * 16_000.0) as u64,
            start_s,
            end_s,
            confidence: 0.8765,
            frames: 42,
            mean_level_db: -23.456,
            median_f0_hz: f0,
            mean_centroid_hz: 1234.5678,
            onsets_s: vec![start_s + 0.1234],
        }
    }

    fn segments() -> Vec<Segment> {
        vec![
            segment(Label::Silence, 0.0, 1.2, None),
            segment(Label::Speech, 1.2, 3.0, Some(180.25)),
        ]
    }

    fn audio_value(error: Option<(&str, &str)>) -> Value {
        let source = AudioSourceInfo {
            file: file("door.wav", "audio/wav"),
            duration_s: 3.0004,
            sample_rate: 44_100,
            channels: 2,
        };
        audio_document(
            &source,
            &segments(),
            json!({"sampleRate": 16000, "frameMs": 25.0}),
            error,
            ContextMode::Inline,
        )
    }

    fn live_source() -> LiveSourceInfo {
        LiveSourceInfo {
            session: "20261206T120000Z".into(),
            device: "default".into(),
            sample_rate: 48_000,
            channels: 1,
            started: UNIX_EPOCH + Duration::from_millis(1_796_000_000_250),
        }
    }

    /// Written, read back and written again: the same bytes, and the same text.
    fn assert_round_trip(written: &Value) -> Document {
        let bytes = serde_json::to_string_pretty(written).expect("serialises");
        let parsed: Value = serde_json::from_str(&bytes).expect("parses");
        let doc = Document::from_value(&parsed).unwrap_or_else(|e| panic!("reads back: {e}"));
        let again = serde_json::to_string_pretty(&doc).expect("serialises");
        assert_eq!(bytes, again);
        doc
    }

    /// Containment survives the text format: a nested region names its parent's id (with
    /// the input's prefix in a multi-input prompt), a region with holes counts them, and
    /// a parent IRI that is not a plain id is left out rather than copied into the line.
    #[test]
    fn text_lines_keep_parents_and_holes() {
        let mut written = image_value(ContextMode::Reference);
        let doc = Document::from_value(&written).unwrap();
        let Document::Image(page) = &doc else {
            panic!("an image page")
        };
        let nested = page
            .items
            .iter()
            .find(|a| a.body.parent_region.is_some())
            .expect("a nested region");
        let parent_iri = nested.body.parent_region.clone().unwrap();
        let parent = page.items.iter().find(|a| a.id == parent_iri).unwrap();
        let line = nested.text_line(&format!("m2.{}", nested.body.region_id));
        assert!(
            line.ends_with(&format!(",parent=m2.{}]", parent.body.region_id)),
            "{line}"
        );
        for a in &page.items {
            let line = a.text_line(&a.body.region_id);
            assert_eq!(
                line.contains(&format!(",holes={}", a.body.hole_count)),
                a.body.hole_count > 0,
                "{line}"
            );
        }

        let items = written["items"].as_array_mut().unwrap();
        for item in items.iter_mut() {
            if item["body"].get("parentRegion").is_some() {
                item["body"]["parentRegion"] = "x:r1],image_region:[id=r9".into();
            }
        }
        let doc = Document::from_value(&written).unwrap();
        let text = doc.text();
        assert!(!text.contains("parent="), "{text}");
        assert!(!text.contains("id=r9"), "{text}");
    }

    #[test]
    fn image_pages_round_trip() {
        for mode in [ContextMode::Reference, ContextMode::Inline] {
            let written = image_value(mode);
            let doc = assert_round_trip(&written);
            assert!(matches!(doc, Document::Image(_)));
            let Document::Image(page) = &doc else {
                return;
            };
            assert!(page.items.iter().any(|a| a.body.parent_region.is_some()));
            assert_eq!(doc.text().lines().count(), page.items.len() + 1);
            assert!(doc
                .text()
                .starts_with("image:[file=\"shapes.png\",w=64,h=48,regions="));
        }
    }

    /// The analysis runs on resampled audio, whose last sample can end a fraction of a
    /// sample after the source; rounded to the millisecond, that once put `endOffset` at
    /// 5.855 s in a 5.854 s file.
    #[test]
    fn no_segment_ends_after_the_file() {
        let source = AudioSourceInfo {
            file: file("short.wav", "audio/wav"),
            duration_s: 5.854_4,
            sample_rate: 44_100,
            channels: 1,
        };
        let segs = [
            segment(Label::Speech, 0.0, 5.0, None),
            segment(Label::Noise, 5.0, 5.854_5, None),
        ];
        let page = audio_page(&source, &segs, json!({}), None, ContextMode::Inline);
        let last = &page.items[1].target.selector.0;
        assert_eq!(page.about.duration.0, 5.854);
        assert_eq!(last.end_offset, 5.854);
        assert_eq!(last.value, "t=5.000,5.854");
        assert!(page
            .items
            .iter()
            .all(|a| a.target.selector.0.end_offset <= page.about.duration.0));
    }

    #[test]
    fn audio_pages_round_trip() {
        for error in [None, Some(("truncated", "the stream ends early"))] {
            let doc = assert_round_trip(&audio_value(error));
            let Document::Audio(page) = &doc else {
                panic!("an audio page reads back as audio");
            };
            assert_eq!(page.decode_error.is_some(), error.is_some());
            assert_eq!(
                doc.text(),
                "audio:[file=\"door.wav\",duration=3.00,rate=44100,channels=2,segments=2]\n\
                 audio_segment:[id=s1,t=0.00-1.20,label=ambient:silence,confidence=0.88]\n\
                 audio_segment:[id=s2,t=1.20-3.00,label=voice:speech,confidence=0.88]\n"
            );
        }
    }

    #[test]
    fn live_lines_and_windows_round_trip() {
        for (i, s) in segments().iter().enumerate() {
            let line = live_annotation(&live_source(), i, s, ContextMode::Reference);
            let bytes = serde_json::to_string(&line).expect("serialises");
            let parsed: Value = serde_json::from_str(&bytes).expect("parses");
            let back = LiveAnnotation::from_value(&parsed).expect("reads back");
            assert_eq!(back, line);
            assert_eq!(serde_json::to_string(&back).expect("serialises"), bytes);
        }
        let items = segments()
            .iter()
            .enumerate()
            .map(|(i, s)| live_annotation(&live_source(), i, s, ContextMode::Inline).item())
            .collect();
        let source = live_annotation(&live_source(), 0, &segments()[0], ContextMode::Inline)
            .target
            .source;
        let about = model::LiveWindowSource {
            id: source.id,
            kind: model::SoundTypes,
            name: source.name,
            sample_rate: source.sample_rate,
            channels: source.channels,
            start_time: source.start_time,
            content_url: "live:default@0.000-3.000s".into(),
            duration: model::IsoSeconds::new(3.0),
        };
        let context = Context::new(ContextMode::Reference);
        let window = Document::LiveWindow(LiveWindowPage::new(context, None, about, None, items));
        let doc = assert_round_trip(&window.to_value());
        assert_eq!(doc, window);
        assert!(doc
            .text()
            .starts_with("audio:[file=\"live:default@0.000-3.000s\",duration=3.00,rate=48000"));
    }

    fn read_err(mut doc: Value, edit: impl FnOnce(&mut Value)) -> ReadError {
        edit(&mut doc);
        Document::from_value(&doc).expect_err("the edited document should be refused")
    }

    #[test]
    fn a_missing_field_is_named() {
        let image = image_value(ContextMode::Reference);
        let e = read_err(image.clone(), |d| {
            d["about"].as_object_mut().map(|m| m.remove("contentUrl"));
        });
        assert_eq!(e.path(), "about.contentUrl");
        assert_eq!(e.message(), "missing field");
        assert!(e.to_string().contains("`about.contentUrl`"), "{e}");
        let e = read_err(image.clone(), |d| {
            d["items"][1]["body"]
                .as_object_mut()
                .map(|m| m.remove("regionId"));
        });
        assert_eq!(e.path(), "items[1].body.regionId");
        // A file's page names itself and its generator: without them it is not one.
        let e = read_err(image, |d| {
            d.as_object_mut().map(|m| m.remove("generator"));
        });
        assert_eq!(e.path(), "generator");
        let e = read_err(audio_value(None), |d| {
            d["items"][0]["target"]["selector"][0]
                .as_object_mut()
                .map(|m| m.remove("endOffset"));
        });
        assert_eq!(e.path(), "items[0].target.selector[0].endOffset");
    }

    #[test]
    fn a_mistyped_field_is_named() {
        let image = image_value(ContextMode::Reference);
        // A key spelt wrong.
        let e = read_err(image.clone(), |d| {
            let body = d["items"][0]["body"].as_object_mut().expect("body");
            let v = body.remove("colorName").expect("colorName");
            body.insert("colourName".into(), v);
        });
        assert_eq!(e.path(), "items[0].body.colourName");
        assert!(e.message().contains("unknown field"), "{e}");
        // A value of the wrong type.
        let e = read_err(image.clone(), |d| d["about"]["width"] = json!("64"));
        assert_eq!(e.path(), "about.width");
        assert!(e.message().contains("invalid type"), "{e}");
        let e = read_err(image.clone(), |d| {
            d["items"][0]["target"]["selector"][0]["value"] = json!("xywh=1,2,3");
        });
        assert_eq!(e.path(), "items[0].target.selector[0].value");
        let e = read_err(image, |d| d["about"]["type"] = json!("Image"));
        assert_eq!(e.path(), "about.type");
        let e = read_err(audio_value(None), |d| d["about"]["duration"] = json!(3.0));
        assert_eq!(e.path(), "about.duration");
        let e = read_err(audio_value(None), |d| d["type"] = json!("Annotation"));
        assert_eq!(e.path(), "type");
        assert!(e.message().contains("AnnotationPage"), "{e}");
        let e = Document::from_value(&json!({"hello": 1})).expect_err("not a page");
        assert_eq!((e.path().as_str(), e.message()), ("type", "missing field"));
    }
}
