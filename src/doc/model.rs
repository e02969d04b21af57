//! The document types. Each serialises to exactly the JSON the documents hold, fields in
//! declaration order, and reads it back strictly: a field that is missing, unknown or of
//! the wrong type is an error. The JSON Schema is generated from these types, so the doc
//! comments here are also its descriptions.

use super::read::{self, ReadError};
use super::terms::{ContextMode, ANNO_CONTEXT_IRI};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Unexpected};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// An absolute IRI (`urn:mmprompt:...`, `https://...`).
const IRI: &str = r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]+$";
/// Lower-case `#rrggbb`.
const HEX_COLOR: &str = "^#[0-9a-f]{6}$";
/// Lower-case hex SHA-256.
const SHA256: &str = "^[0-9a-f]{64}$";
/// ISO 8601 UTC with milliseconds, as `iso8601_utc` writes it.
const DATE_TIME: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$";

/// Fixed JSON values (`"type": "Annotation"`, `["Image", "ImageObject"]`, ...) as
/// zero-sized types: they serialise to their value, read back only from it, and show in the
/// schema as a `const`.
macro_rules! literal {
    ($(#[$doc:meta])* $name:ident = $value:literal) => {
        literal!(@type $(#[$doc])* $name = $value);

        impl $name {
            /// The JSON string it stands for.
            pub const VALUE: &'static str = $value;
        }
    };
    ($(#[$doc:meta])* $name:ident = [$($item:literal),+]) => {
        literal!(@type $(#[$doc])* $name = [$($item),+]);
    };
    (@type $(#[$doc:meta])* $name:ident = $value:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name;

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $value.serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let found = Value::deserialize(d)?;
                let wanted = serde_json::json!($value);
                if found == wanted {
                    Ok($name)
                } else {
                    Err(de::Error::invalid_value(
                        Unexpected::Other(&found.to_string()),
                        &wanted.to_string().as_str(),
                    ))
                }
            }
        }

        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "const": $value })
            }
        }
    };
}

literal!(
    /// `"AnnotationPage"`.
    PageType = "AnnotationPage"
);
literal!(
    /// `"Annotation"`.
    AnnotationType = "Annotation"
);
literal!(
    /// `"describing"`, the motivation of every annotation.
    Describing = "describing"
);
literal!(
    /// `"SpecificResource"`.
    SpecificResourceType = "SpecificResource"
);
literal!(
    /// `"TextualBody"`.
    TextualBody = "TextualBody"
);
literal!(
    /// `"tagging"`, the purpose of every body.
    Tagging = "tagging"
);
literal!(
    /// `"text/plain"`.
    TextPlain = "text/plain"
);
literal!(
    /// `"FragmentSelector"`.
    FragmentSelectorType = "FragmentSelector"
);
literal!(
    /// `"SvgSelector"`.
    SvgSelectorType = "SvgSelector"
);
literal!(
    /// The Media Fragments specification, which `xywh=` and `t=` values conform to.
    MediaFragments = "http://www.w3.org/TR/media-frags/"
);
literal!(
    /// `"Software"`.
    Software = "Software"
);
literal!(
    /// `"mmprompt"`, the generator's name.
    ToolName = "mmprompt"
);
literal!(
    /// `"DecodeError"`.
    DecodeErrorType = "DecodeError"
);
literal!(
    /// `["Image", "ImageObject"]`: a Web Annotation image and a schema.org ImageObject.
    ImageTypes = ["Image", "ImageObject"]
);
literal!(
    /// `["Sound", "AudioObject"]`: a Web Annotation sound and a schema.org AudioObject.
    SoundTypes = ["Sound", "AudioObject"]
);

/// The JSON-LD context: the W3C context's IRI with the project's extension terms, or the
/// whole context object. Pages written before either read back as an IRI.
#[derive(Debug, Clone, PartialEq)]
pub enum Context {
    /// A context IRI alone.
    Iri(String),
    /// The context object embedded in the document.
    Inline(Map<String, Value>),
    /// A list of contexts: the W3C context's IRI, then the extension terms.
    List(Vec<Value>),
}

impl Context {
    /// The context as `mode` asks for it.
    pub fn new(mode: ContextMode) -> Self {
        match super::terms::context_value(mode) {
            Value::Object(m) => Self::Inline(m),
            Value::Array(a) => Self::List(a),
            Value::String(s) => Self::Iri(s),
            // context_value only returns the kinds above.
            _ => Self::Iri(ANNO_CONTEXT_IRI.to_owned()),
        }
    }
}

impl Serialize for Context {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Iri(iri) => iri.serialize(s),
            Self::Inline(m) => m.serialize(s),
            Self::List(a) => a.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Context {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Self::Iri(s)),
            Value::Object(m) => Ok(Self::Inline(m)),
            Value::Array(a) => Ok(Self::List(a)),
            other => Err(de::Error::invalid_type(
                Unexpected::Other(&other.to_string()),
                &"a context IRI, a context object or a list of them",
            )),
        }
    }
}

impl JsonSchema for Context {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "context".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The JSON-LD context: the W3C Web Annotation context's IRI followed by the project's extension terms, or the whole context object embedded.",
            "oneOf": [
                {
                    "type": "array",
                    "prefixItems": [
                        { "const": ANNO_CONTEXT_IRI },
                        { "type": "object", "required": ["@version", "mm"] }
                    ],
                    "minItems": 2,
                    "maxItems": 2
                },
                { "type": "object", "required": ["@version", "oa", "mm"] }
            ]
        })
    }
}

/// Seconds, written as an ISO 8601 duration with millisecond precision (`PT83.250S`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IsoSeconds(pub f64);

impl IsoSeconds {
    /// `seconds` as the document will hold it: to the millisecond, so that a page just
    /// built and the same page read back say the same.
    pub fn new(seconds: f64) -> Self {
        let written = super::terms::iso_duration(seconds);
        Self(super::terms::parse_iso_duration(&written).unwrap_or(seconds))
    }
}

impl Serialize for IsoSeconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::terms::iso_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for IsoSeconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        super::terms::parse_iso_duration(&s)
            .map(IsoSeconds)
            .ok_or_else(|| {
                de::Error::invalid_value(Unexpected::Str(&s), &"a duration such as \"PT3.250S\"")
            })
    }
}

impl JsonSchema for IsoSeconds {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "isoSeconds".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": r"^PT[0-9]+\.[0-9]{3}S$" })
    }
}

/// A box in pixels, written as the Media Fragments value `xywh=x,y,w,h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Xywh {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl Serialize for Xywh {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Self { x, y, w, h } = self;
        s.serialize_str(&format!("xywh={x},{y},{w},{h}"))
    }
}

impl<'de> Deserialize<'de> for Xywh {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let parsed = s.strip_prefix("xywh=").and_then(|rest| {
            let n: Vec<u32> = rest
                .split(',')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            match n[..] {
                [x, y, w, h] => Some(Xywh { x, y, w, h }),
                _ => None,
            }
        });
        parsed.ok_or_else(|| de::Error::invalid_value(Unexpected::Str(&s), &"\"xywh=x,y,w,h\""))
    }
}

impl JsonSchema for Xywh {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "xywh".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^xywh=[0-9]+,[0-9]+,[0-9]+,[0-9]+$" })
    }
}

/// The tool that wrote a document, its version and the parameters that shaped the output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "generator")]
pub struct Generator {
    /// Always Software.
    #[serde(rename = "type")]
    pub kind: Software,
    /// Always mmprompt.
    pub name: ToolName,
    /// The crate version that wrote the document.
    pub software_version: String,
    /// The effective parameters, in the spelling the command line accepts, with what the
    /// pipeline decided under `decided`. Kept as plain JSON: it differs per medium and
    /// only ever travels back to a reader.
    #[schemars(with = "Map<String, Value>")]
    pub parameters: Value,
}

impl Generator {
    /// This build of mmprompt with `parameters`.
    pub fn new(parameters: Value) -> Self {
        Self {
            kind: Software,
            name: ToolName,
            software_version: env!("CARGO_PKG_VERSION").to_owned(),
            parameters,
        }
    }
}

/// The image file a page describes; also the source of every target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "imageSource")]
pub struct ImageSource {
    /// The page's IRI followed by `:source`.
    #[schemars(regex(pattern = IRI))]
    pub id: String,
    /// Image and ImageObject.
    #[serde(rename = "type")]
    pub kind: ImageTypes,
    /// The path or URL as the user gave it.
    #[schemars(length(min = 1))]
    pub content_url: String,
    /// MIME type detected from the content.
    #[schemars(regex(pattern = "^image/"))]
    pub encoding_format: String,
    /// File size in bytes.
    pub content_size: u64,
    /// Width in pixels.
    #[schemars(range(min = 1))]
    pub width: u32,
    /// Height in pixels.
    #[schemars(range(min = 1))]
    pub height: u32,
    /// Lower-case hex SHA-256 of the file.
    #[schemars(regex(pattern = SHA256))]
    pub sha256: String,
}

/// The audio file a page describes; also the source of every target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "audioSource")]
pub struct AudioSource {
    /// The page's IRI followed by `:source`.
    #[schemars(regex(pattern = IRI))]
    pub id: String,
    /// Sound and AudioObject.
    #[serde(rename = "type")]
    pub kind: SoundTypes,
    /// The path or URL as the user gave it.
    #[schemars(length(min = 1))]
    pub content_url: String,
    /// MIME type detected from the content.
    #[schemars(regex(pattern = "^audio/"))]
    pub encoding_format: String,
    /// File size in bytes.
    pub content_size: u64,
    /// Duration of the decoded audio.
    pub duration: IsoSeconds,
    /// The file's own sample rate in Hz.
    #[schemars(range(min = 1))]
    pub sample_rate: u32,
    /// The file's channel count.
    #[schemars(range(min = 1))]
    pub channels: u32,
    /// Lower-case hex SHA-256 of the file.
    #[schemars(regex(pattern = SHA256))]
    pub sha256: String,
}

/// The live session's audio stream: the capture device, its own rate and channels, and the
/// wall-clock time of its first sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "liveSource")]
pub struct LiveSource {
    /// The session's IRI followed by `:source`.
    #[schemars(regex(pattern = IRI))]
    pub id: String,
    /// Sound and AudioObject.
    #[serde(rename = "type")]
    pub kind: SoundTypes,
    /// The capture device (or replayed file) as the user would name it.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The device's own sample rate in Hz.
    #[schemars(range(min = 1))]
    pub sample_rate: u32,
    /// The device's channel count.
    #[schemars(range(min = 1))]
    pub channels: u32,
    /// Wall-clock time of the session's first captured sample.
    #[schemars(regex(pattern = DATE_TIME))]
    pub start_time: String,
}

/// What a live window describes: the session's stream, narrowed to the window's span,
/// which `contentUrl` names as `live:DEVICE@FROM-TOs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "liveWindowSource")]
pub struct LiveWindowSource {
    /// The session's IRI followed by `:source`.
    pub id: String,
    /// Sound and AudioObject.
    #[serde(rename = "type")]
    pub kind: SoundTypes,
    /// The capture device.
    pub name: String,
    /// The device's own sample rate in Hz.
    pub sample_rate: u32,
    /// The device's channel count.
    pub channels: u32,
    /// Wall-clock time of the session's first captured sample.
    pub start_time: String,
    /// `live:DEVICE@FROM-TOs`, the window's span in seconds from the session start.
    pub content_url: String,
    /// The window's length.
    pub duration: IsoSeconds,
}

/// What a region annotation says about its region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "regionBody")]
pub struct RegionBody {
    /// TextualBody.
    #[serde(rename = "type")]
    pub kind: TextualBody,
    /// tagging.
    pub purpose: Tagging,
    /// text/plain.
    pub format: TextPlain,
    /// The label: `object:SHAPE`, `object` when irregular, `hole:SHAPE` for holes.
    #[schemars(regex(
        pattern = "^(object|hole)(:(circle|ellipse|triangle|square|rectangle|polygon))?$"
    ))]
    pub value: String,
    /// Short id, `r1` being the most salient.
    #[schemars(regex(pattern = "^r[1-9][0-9]*$"))]
    pub region_id: String,
    /// 1 for the most salient region.
    #[schemars(range(min = 1))]
    pub rank: usize,
    /// Outer border of a component, or border of a hole.
    #[schemars(extend("enum" = ["outer", "hole"]))]
    pub border_kind: String,
    /// Shape word.
    #[schemars(extend("enum" = [
        "circle", "ellipse", "triangle", "square", "rectangle", "polygon", "irregular"
    ]))]
    pub shape: String,
    /// Size word.
    #[schemars(extend("enum" = ["tiny", "small", "medium", "large", "huge"]))]
    pub size_class: String,
    /// Position word on a 3x3 grid.
    #[schemars(extend("enum" = [
        "top-left", "top-center", "top-right", "middle-left", "center", "middle-right",
        "bottom-left", "bottom-center", "bottom-right"
    ]))]
    pub position: String,
    /// Colour word.
    #[schemars(extend("enum" = [
        "black", "white", "gray", "red", "orange", "yellow", "green", "cyan", "blue",
        "purple", "pink", "brown"
    ]))]
    pub color_name: String,
    /// Mean colour, `#rrggbb`.
    #[schemars(regex(pattern = HEX_COLOR))]
    pub mean_color: String,
    /// Most frequent colour, `#rrggbb`.
    #[schemars(regex(pattern = HEX_COLOR))]
    pub dominant_color: String,
    /// Salience score in [0, 1].
    #[schemars(range(min = 0, max = 1))]
    pub salience: f64,
    /// Polygon area in square pixels.
    #[schemars(range(min = 0))]
    pub area: f64,
    /// Pixels inside the region.
    pub pixel_count: u64,
    /// Polygon perimeter in pixels.
    #[schemars(range(min = 0))]
    pub perimeter: f64,
    /// Centroid, x.
    pub centroid_x: f64,
    /// Centroid, y.
    pub centroid_y: f64,
    /// Vertices of the simplified polygon.
    #[schemars(range(min = 1))]
    pub vertex_count: usize,
    /// Convex hull area.
    #[schemars(range(min = 0))]
    pub hull_area: f64,
    /// Area over hull area, in [0, 1].
    #[schemars(range(min = 0, max = 1))]
    pub solidity: f64,
    /// 4 pi area over perimeter squared.
    #[schemars(range(min = 0))]
    pub circularity: f64,
    /// Minimum-area rectangle, centre x.
    pub rotated_center_x: f64,
    /// Minimum-area rectangle, centre y.
    pub rotated_center_y: f64,
    /// Minimum-area rectangle, width.
    #[schemars(range(min = 0))]
    pub rotated_width: f64,
    /// Minimum-area rectangle, height.
    #[schemars(range(min = 0))]
    pub rotated_height: f64,
    /// Minimum-area rectangle, angle in degrees.
    pub rotated_angle: f64,
    /// Holes directly inside the region.
    pub hole_count: usize,
    /// IRI of the enclosing region's annotation, for holes and nested regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", regex(pattern = IRI))]
    pub parent_region: Option<String>,
}

/// What a segment annotation says about its stretch of audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "segmentBody")]
pub struct SegmentBody {
    /// TextualBody.
    #[serde(rename = "type")]
    pub kind: TextualBody,
    /// tagging.
    pub purpose: Tagging,
    /// text/plain.
    pub format: TextPlain,
    /// The namespaced label.
    #[schemars(extend("enum" = [
        "ambient:silence", "ambient:noise", "voice:speech", "music:harmonic",
        "event:impact", "event:tone"
    ]))]
    pub value: String,
    /// Short id, `s1` being the first in time.
    #[schemars(regex(pattern = "^s[1-9][0-9]*$"))]
    pub segment_id: String,
    /// Confidence in the label, in [0, 1].
    #[schemars(range(min = 0, max = 1))]
    pub confidence: f64,
    /// Analysis frames in the segment.
    pub frame_count: u32,
    /// Mean level in dBFS.
    #[schemars(range(max = 0.01))]
    pub mean_level_db: f64,
    /// Median pitch in Hz, where the segment is voiced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "f64", extend("exclusiveMinimum" = 0))]
    pub median_f0_hz: Option<f64>,
    /// Mean spectral centroid in Hz.
    #[schemars(range(min = 0))]
    pub mean_centroid_hz: f64,
    /// Onset times in seconds from the start of the source.
    #[schemars(inner(range(min = 0)))]
    pub onsets: Vec<f64>,
}

/// An image region's box as a Media Fragments `xywh=` fragment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "boxSelector")]
pub struct BoxSelector {
    /// FragmentSelector.
    #[serde(rename = "type")]
    pub kind: FragmentSelectorType,
    /// Media Fragments.
    pub conforms_to: MediaFragments,
    /// `xywh=x,y,w,h` in pixels.
    pub value: Xywh,
}

/// An image region's outline as an SVG polygon in the image's pixel space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "svgSelector")]
pub struct SvgSelector {
    /// SvgSelector.
    #[serde(rename = "type")]
    pub kind: SvgSelectorType,
    /// The SVG document.
    #[schemars(regex(pattern = r#"^<svg .*<polygon points="[0-9, -]*"/></svg>$"#))]
    pub value: String,
}

/// The t=start,end media fragment, in seconds from the start of the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "segmentSelector")]
pub struct SegmentSelector {
    /// FragmentSelector.
    #[serde(rename = "type")]
    pub kind: FragmentSelectorType,
    /// Media Fragments.
    pub conforms_to: MediaFragments,
    /// `t=START,END` with three decimals.
    #[schemars(regex(pattern = r"^t=[0-9]+\.[0-9]{3},[0-9]+\.[0-9]{3}$"))]
    pub value: String,
    /// Start in seconds.
    #[schemars(range(min = 0))]
    pub start_offset: f64,
    /// End in seconds (exclusive).
    #[schemars(range(min = 0))]
    pub end_offset: f64,
}

/// The same interval in wall-clock time: a Media Fragments t=clock:START,END fragment (ISO
/// 8601 UTC), with the instants also as typed schema:startTime and schema:endTime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "clockSelector")]
pub struct ClockSelector {
    /// FragmentSelector.
    #[serde(rename = "type")]
    pub kind: FragmentSelectorType,
    /// Media Fragments.
    pub conforms_to: MediaFragments,
    /// `t=clock:START,END`.
    #[schemars(regex(pattern = "^t=clock:[0-9T:.-]+Z,[0-9T:.-]+Z$"))]
    pub value: String,
    /// Start instant.
    #[schemars(regex(pattern = DATE_TIME))]
    pub start_time: String,
    /// End instant.
    #[schemars(regex(pattern = DATE_TIME))]
    pub end_time: String,
}

/// What a target narrows and how; the annotation's anchors.
pub trait Target {
    /// The selectors, as they are written.
    type Selectors: Serialize + Clone;
    /// The source's IRI.
    fn source_id(&self) -> &str;
    /// The selectors.
    fn selectors(&self) -> &Self::Selectors;
}

macro_rules! target {
    ($(#[$doc:meta])* $name:ident, $schema:tt, $source:ty, $selectors:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        #[schemars(rename = $schema, inline)]
        pub struct $name {
            /// SpecificResource.
            #[serde(rename = "type")]
            pub kind: SpecificResourceType,
            /// The medium, repeated in full so that an annotation stands alone.
            pub source: $source,
            /// The anchors.
            pub selector: $selectors,
        }

        impl Target for $name {
            type Selectors = $selectors;

            fn source_id(&self) -> &str {
                &self.source.id
            }

            fn selectors(&self) -> &$selectors {
                &self.selector
            }
        }
    };
}

target!(
    /// An image region: the box, then the outline.
    ImageTarget,
    "image",
    ImageSource,
    (BoxSelector, SvgSelector)
);
target!(
    /// A stretch of an audio file.
    AudioTarget,
    "audio",
    AudioSource,
    (SegmentSelector,)
);
target!(
    /// A stretch of a live session, in seconds from its start and in wall-clock time.
    LiveTarget,
    "live",
    LiveSource,
    (SegmentSelector, ClockSelector)
);

/// A describing Web Annotation: a body about its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "{T}Annotation")]
pub struct Annotation<B, T> {
    /// The page's IRI followed by the short id.
    #[schemars(regex(pattern = IRI))]
    pub id: String,
    /// Annotation.
    #[serde(rename = "type")]
    pub kind: AnnotationType,
    /// describing.
    pub motivation: Describing,
    /// What the annotation says.
    pub body: B,
    /// What it says it about.
    pub target: T,
}

/// One region of an image.
pub type ImageAnnotation = Annotation<RegionBody, ImageTarget>;
/// One segment of an audio file.
pub type AudioAnnotation = Annotation<SegmentBody, AudioTarget>;
/// One segment of a live session inside a window (a live line without its context).
pub type LiveItem = Annotation<SegmentBody, LiveTarget>;

/// One line of `mmprompt live` output: a self-contained Annotation for one closed segment,
/// anchored in seconds from the session start and in wall-clock time. Validate a line
/// against this definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "liveAnnotation")]
pub struct LiveAnnotation {
    /// The JSON-LD context.
    #[serde(rename = "@context")]
    pub context: Context,
    /// The session's IRI followed by the short id.
    #[schemars(regex(pattern = IRI))]
    pub id: String,
    /// Annotation.
    #[serde(rename = "type")]
    pub kind: AnnotationType,
    /// describing.
    pub motivation: Describing,
    /// What the annotation says.
    pub body: SegmentBody,
    /// The stretch of the session.
    pub target: LiveTarget,
}

impl LiveAnnotation {
    /// The annotation as a window lists it: the page carries the context.
    pub fn item(&self) -> LiveItem {
        Annotation {
            id: self.id.clone(),
            kind: AnnotationType,
            motivation: Describing,
            body: self.body.clone(),
            target: self.target.clone(),
        }
    }

    /// Reads a line written earlier.
    ///
    /// # Errors
    ///
    /// When `value` is not a live annotation; the error names the field.
    pub fn from_value(value: &Value) -> Result<Self, ReadError> {
        read::from_value(value)
    }
}

/// The error that cut an audio stream short; the page holds what came before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "decodeError")]
pub struct DecodeError {
    /// DecodeError.
    #[serde(rename = "type")]
    pub kind: DecodeErrorType,
    /// Stable machine-readable name of the error.
    #[schemars(regex(pattern = "^[a-z_]+$"))]
    pub error_code: String,
    /// What went wrong.
    pub description: String,
}

/// One W3C Web Annotation AnnotationPage: a medium (`about`) and its annotations. Pages
/// written for a file always have an id and a generator; a live window has neither.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "{A}Page")]
pub struct AnnotationPage<S, A> {
    /// The JSON-LD context.
    #[serde(rename = "@context")]
    pub context: Context,
    /// Identifier derived from the content, so the same file always yields the same ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required, regex(pattern = IRI))]
    pub id: Option<String>,
    /// AnnotationPage.
    #[serde(rename = "type")]
    pub kind: PageType,
    /// The medium the page describes (also the source of every target).
    pub about: S,
    /// The tool and the parameters that produced the page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub generator: Option<Generator>,
    /// How many annotations follow.
    pub total_items: usize,
    /// The annotations.
    pub items: Vec<A>,
    /// Set when the stream broke part-way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "DecodeError")]
    pub decode_error: Option<DecodeError>,
}

impl<S, A> AnnotationPage<S, A> {
    /// The page of `items` about `about`; `id` and `generator` are absent from a live
    /// window.
    pub fn new(
        context: Context,
        id: Option<String>,
        about: S,
        generator: Option<Generator>,
        items: Vec<A>,
    ) -> Self {
        Self {
            context,
            id,
            kind: PageType,
            about,
            generator,
            total_items: items.len(),
            items,
            decode_error: None,
        }
    }

    /// The page's header with `items` in place of its own, as a prompt shows the
    /// annotations it kept. `totalItems` still counts the page's own.
    pub fn with_items<I: Serialize>(&self, items: I) -> PageView<'_, S, I> {
        PageView {
            context: &self.context,
            id: self.id.as_deref(),
            kind: PageType,
            about: &self.about,
            generator: self.generator.as_ref(),
            total_items: self.total_items,
            decode_error: self.decode_error.as_ref(),
            items,
        }
    }
}

/// A page's header with other items, which come last (see `AnnotationPage::with_items`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageView<'a, S, I> {
    #[serde(rename = "@context")]
    context: &'a Context,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type")]
    kind: PageType,
    about: &'a S,
    #[serde(skip_serializing_if = "Option::is_none")]
    generator: Option<&'a Generator>,
    total_items: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    decode_error: Option<&'a DecodeError>,
    items: I,
}

/// The page of one image.
pub type ImagePage = AnnotationPage<ImageSource, ImageAnnotation>;
/// The page of one audio file.
pub type AudioPage = AnnotationPage<AudioSource, AudioAnnotation>;
/// The page of a live window: the recent segments of a session.
pub type LiveWindowPage = AnnotationPage<LiveWindowSource, LiveItem>;

/// Any page this crate writes, as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Document {
    /// An image's page.
    Image(ImagePage),
    /// An audio file's page.
    Audio(AudioPage),
    /// A live window's page.
    LiveWindow(LiveWindowPage),
}

impl Document {
    /// Reads a page written earlier (a `.jsonld` file, or a document just extracted). The
    /// medium is told by `about.type`, and a live window by `about.startTime`.
    ///
    /// # Errors
    ///
    /// When `value` is not a page this crate writes: the error names the first field that
    /// is missing, unknown or of the wrong type.
    pub fn from_value(value: &Value) -> Result<Self, ReadError> {
        let obj = value
            .as_object()
            .ok_or_else(|| ReadError::new("expected a JSON object (an AnnotationPage)"))?;
        let kind = obj
            .get("type")
            .ok_or_else(|| ReadError::at("type", "missing field"))?;
        read::from_value::<PageType>(kind).map_err(|e| e.within_key("type"))?;
        let about = obj
            .get("about")
            .ok_or_else(|| ReadError::at("about", "missing field"))?;
        let types = about.get("type").unwrap_or(&Value::Null);
        if read::from_value::<ImageTypes>(types).is_ok() {
            let page: ImagePage = read::from_value(value)?;
            require_file_fields(&page)?;
            Ok(Self::Image(page))
        } else if read::from_value::<SoundTypes>(types).is_ok() {
            if about.get("startTime").is_some() {
                Ok(Self::LiveWindow(read::from_value(value)?))
            } else {
                let page: AudioPage = read::from_value(value)?;
                require_file_fields(&page)?;
                Ok(Self::Audio(page))
            }
        } else {
            Err(ReadError::at(
                "type",
                format!(
                    "expected [\"Image\", \"ImageObject\"] or [\"Sound\", \"AudioObject\"], found {types}"
                ),
            )
            .within_key("about"))
        }
    }

    /// The file (or live span) the page describes, as its `contentUrl` names it.
    pub fn content_url(&self) -> &str {
        match self {
            Self::Image(p) => &p.about.content_url,
            Self::Audio(p) => &p.about.content_url,
            Self::LiveWindow(p) => &p.about.content_url,
        }
    }

    /// The page as a JSON value.
    pub fn to_value(&self) -> Value {
        to_value(self)
    }
}

/// A file's page always names itself and its generator; only live windows go without.
fn require_file_fields<S, A>(page: &AnnotationPage<S, A>) -> Result<(), ReadError> {
    if page.id.is_none() {
        return Err(ReadError::at("id", "missing field"));
    }
    if page.generator.is_none() {
        return Err(ReadError::at("generator", "missing field"));
    }
    Ok(())
}

/// A document node as a JSON value.
pub(crate) fn to_value<T: Serialize>(node: &T) -> Value {
    // serde_json fails only on map keys that are not strings and on Serialize impls that
    // report errors; the document types have neither, so Null is never produced.
    serde_json::to_value(node).unwrap_or(Value::Null)
}
