//! The per-file extraction options as every front end spells them: the command line's
//! flags, the Python package's keyword arguments and the MCP server's tool input all come
//! from [`ExtractSettings`], so one name, one default and one check serve all three.
//!
//! The command line derives its flags from this type (feature `cli`); the others
//! deserialize it from JSON ([`ExtractSettings::from_json`]), where each value may be given
//! as the flag's text (`"512M"`, `"0.5%"`, `"adaptive:31,5"`) or, for numbers, as a number.
//! Both paths run the same parsers, so a value one front end refuses, every front end
//! refuses with the same words. [`ExtractSettings::to_options`] then applies the checks
//! that involve several options.

use crate::doc::ContextMode;
use crate::jobs::extract::{AudioParams, ExtractOptions};
use crate::media::audio::{DEFAULT_MAX_SECONDS, MAX_SOURCE_CHANNELS, MAX_SOURCE_RATE};
use crate::media::image::{DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_PIXELS};
use crate::vision::params::SegmentMode;
use crate::vision::pipeline::{Backend, ImageParams, MinAreaArg};
use crate::vision::preprocess::{Invert, Threshold};
use crate::vision::regions::{MinArea, RegionOptions};
use schemars::JsonSchema;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// Why options were refused: one sentence that names the option, as a usage error would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// `context`: how documents refer to their JSON-LD context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ContextArg {
    /// `"@context": "<stable IRI>"`.
    #[default]
    Ref,
    /// The context object embedded in each document.
    Inline,
}

impl From<ContextArg> for ContextMode {
    fn from(c: ContextArg) -> Self {
        match c {
            ContextArg::Ref => ContextMode::Reference,
            ContextArg::Inline => ContextMode::Inline,
        }
    }
}

/// Every option that shapes one file's document. Field names are the command line's flags
/// in snake case (`--max-regions` is `max_regions`).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct ExtractSettings {
    /// How regions are found: color (colour segmentation, objects first: photographs and
    /// scenes) or threshold (gray threshold and border following exactly as OpenCV: scans,
    /// documents, silhouettes). Default: threshold when threshold or invert is given, else
    /// color.
    #[cfg_attr(feature = "cli", arg(long, value_name = "color|threshold"))]
    #[serde(deserialize_with = "de_segment")]
    #[schemars(with = "Option<String>")]
    pub segment: Option<SegmentMode>,

    /// Gaussian blur sigma in pixels before thresholding (0 to 100); 0 disables it. Color
    /// mode smooths its working image by half this sigma.
    #[cfg_attr(feature = "cli", arg(long, value_name = "SIGMA", default_value_t = DEFAULTS.blur, value_parser = parse_sigma))]
    #[serde(deserialize_with = "de_sigma")]
    pub blur: f32,

    /// Threshold mode: otsu | fixed:N | adaptive:BLOCK,C | canny:LOW,HIGH [default: otsu].
    #[cfg_attr(feature = "cli", arg(long, value_name = "MODE"))]
    #[serde(deserialize_with = "de_threshold")]
    #[schemars(with = "Option<String>")]
    pub threshold: Option<Threshold>,

    /// Threshold mode's foreground polarity: auto (minority side), yes (dark is
    /// foreground), no (bright is) [default: auto].
    #[cfg_attr(feature = "cli", arg(long, value_name = "auto|yes|no"))]
    #[serde(deserialize_with = "de_invert")]
    #[schemars(with = "Option<String>")]
    pub invert: Option<Invert>,

    /// Image backend: rust (built in) or opencv (decode, and in threshold mode blur,
    /// threshold and contours, in OpenCV; needs a build with the opencv feature).
    #[cfg_attr(feature = "cli", arg(long, value_name = "rust|opencv", default_value_t = DEFAULTS.backend))]
    #[serde(deserialize_with = "de_backend")]
    #[schemars(with = "String")]
    pub backend: Backend,

    /// Keep the N most salient regions; 0 keeps all.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = DEFAULTS.max_regions))]
    pub max_regions: usize,

    /// Drop regions smaller than this: pixels (50) or percent of the image (0.5%).
    #[cfg_attr(feature = "cli", arg(long, value_name = "PX|PCT%", default_value_t = DEFAULTS.min_area))]
    #[serde(deserialize_with = "de_min_area")]
    #[schemars(schema_with = "text_or_number")]
    pub min_area: MinAreaArg,

    /// Threshold mode: also report hole borders as regions (in color mode what fills a hole
    /// is a region of its own).
    #[cfg_attr(feature = "cli", arg(long))]
    pub holes: bool,

    /// Refuse images with more pixels than this (decompression-bomb guard).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = DEFAULTS.max_pixels))]
    pub max_pixels: u64,

    /// Refuse images whose decoded size in their own pixel format (width × height × bytes
    /// per pixel: 3 for 8-bit RGB, 8 for 16-bit RGBA) is over SIZE, e.g. 512M or 2G.
    #[cfg_attr(feature = "cli", arg(long, value_name = "SIZE", default_value = "512M", value_parser = parse_image_bytes))]
    #[serde(deserialize_with = "de_image_bytes")]
    #[schemars(schema_with = "text_or_number")]
    pub max_image_bytes: u64,

    /// Refer to the JSON-LD context by IRI (ref), or embed it (inline).
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = ContextArg::Ref))]
    pub context: ContextArg,

    /// Audio: analysis sample rate in Hz (audio is downmixed and resampled to it).
    #[cfg_attr(feature = "cli", arg(long, value_name = "HZ", default_value_t = DEFAULTS.sample_rate, help_heading = "Audio"))]
    pub sample_rate: u32,

    /// Audio: frame length in milliseconds.
    #[cfg_attr(feature = "cli", arg(long, value_name = "MS", default_value_t = DEFAULTS.frame_ms, help_heading = "Audio"))]
    pub frame_ms: f32,

    /// Audio: hop between frames in milliseconds.
    #[cfg_attr(feature = "cli", arg(long, value_name = "MS", default_value_t = DEFAULTS.hop_ms, help_heading = "Audio"))]
    pub hop_ms: f32,

    /// Audio: refuse a file that declares more than this many seconds, and stop decoding
    /// a stream that declares no length there, keeping what was decoded (at most a week).
    #[cfg_attr(feature = "cli", arg(long, value_name = "S", default_value_t = DEFAULTS.max_seconds, help_heading = "Audio", value_parser = parse_seconds))]
    #[serde(deserialize_with = "de_seconds")]
    pub max_seconds: f64,

    /// Audio: refuse streams that declare a higher sample rate, before anything is
    /// allocated for them (1000 to 768000).
    #[cfg_attr(feature = "cli", arg(long, value_name = "HZ", default_value_t = DEFAULTS.max_source_rate, help_heading = "Audio", value_parser = parse_source_rate))]
    #[serde(deserialize_with = "de_source_rate")]
    pub max_source_rate: u32,

    /// Audio: refuse streams that declare more channels (1 to 64).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = DEFAULTS.max_channels, help_heading = "Audio", value_parser = parse_channels))]
    #[serde(deserialize_with = "de_channels")]
    pub max_channels: usize,
}

/// The defaults, shared by the flags' `[default: ...]` and [`ExtractSettings::default`].
pub const DEFAULTS: ExtractSettings = ExtractSettings {
    segment: None,
    blur: 1.0,
    threshold: None,
    invert: None,
    backend: Backend::Rust,
    max_regions: 64,
    min_area: MinAreaArg(MinArea::Percent(0.02)),
    holes: false,
    max_pixels: DEFAULT_MAX_PIXELS,
    max_image_bytes: DEFAULT_MAX_IMAGE_BYTES,
    context: ContextArg::Ref,
    sample_rate: 16_000,
    frame_ms: 25.0,
    hop_ms: 10.0,
    max_seconds: DEFAULT_MAX_SECONDS,
    max_source_rate: MAX_SOURCE_RATE,
    max_channels: MAX_SOURCE_CHANNELS,
};

impl Default for ExtractSettings {
    fn default() -> Self {
        DEFAULTS
    }
}

impl ExtractSettings {
    /// Settings from a JSON object of options (`{"max_regions": 10, "min_area": "1%"}`);
    /// `null` or an empty object is the defaults.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the first unknown option or bad value.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, SettingsError> {
        from_json_named(value)
    }

    /// The options these settings describe, after the checks that span several of them.
    ///
    /// # Errors
    /// A [`SettingsError`] when threshold or invert is given with segment color, the
    /// backend is not in this build, or the audio timing is unusable.
    pub fn to_options(&self) -> Result<ExtractOptions, SettingsError> {
        let thresholded = self.threshold.is_some() || self.invert.is_some();
        let segment =
            match self.segment {
                Some(SegmentMode::Color) if thresholded => return Err(SettingsError(
                    "--threshold and --invert apply to --segment threshold, not --segment color"
                        .into(),
                )),
                Some(mode) => mode,
                None if thresholded => SegmentMode::Threshold,
                None => SegmentMode::Color,
            };
        if !self.backend.is_available() {
            return Err(SettingsError(
                crate::vision::backend::OPENCV_UNAVAILABLE.into(),
            ));
        }
        let options = ExtractOptions {
            image: ImageParams {
                segment,
                blur: self.blur,
                threshold: self.threshold.unwrap_or(Threshold::Otsu),
                invert: self.invert.unwrap_or(Invert::Auto),
                regions: RegionOptions {
                    max_regions: self.max_regions,
                    min_area: self.min_area.0,
                    holes: self.holes,
                },
                max_pixels: self.max_pixels,
                max_bytes: self.max_image_bytes,
                backend: self.backend,
            },
            audio: AudioParams {
                rate: self.sample_rate,
                frame_ms: self.frame_ms,
                hop_ms: self.hop_ms,
                max_seconds: self.max_seconds,
                max_source_rate: self.max_source_rate,
                max_channels: self.max_channels,
            },
            context: self.context.into(),
            overlay: false,
        };
        options
            .audio
            .analyzer_config()
            .validate()
            .map_err(|e| SettingsError(format!("audio parameters: {e}")))?;
        Ok(options)
    }
}

/// Options of type `T` from a JSON object; `null` is `T`'s defaults. Errors name the option.
pub(crate) fn from_json_named<T: serde::de::DeserializeOwned + Default>(
    value: &serde_json::Value,
) -> Result<T, SettingsError> {
    if value.is_null() {
        return Ok(T::default());
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        SettingsError(if path == "." {
            format!("options: {inner}")
        } else {
            format!("option {path}: {inner}")
        })
    })
}

/// A blur sigma: a number from 0 to 100.
///
/// # Errors
/// The reason, naming the value.
pub fn parse_sigma(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !v.is_finite() || !(0.0..=100.0).contains(&v) {
        return Err(format!("'{s}' must be between 0 and 100"));
    }
    Ok(v)
}

/// Seconds: a finite number more than 0 and at most a week.
///
/// # Errors
/// The reason, naming the value.
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !v.is_finite() || v <= 0.0 || v > 7.0 * 86_400.0 {
        return Err(format!(
            "'{s}' must be more than 0 and at most 604800 (a week)"
        ));
    }
    Ok(v)
}

/// An image byte cap: a [`parse_size`] of at least one byte.
///
/// # Errors
/// The reason, naming the value.
pub fn parse_image_bytes(s: &str) -> Result<u64, String> {
    match parse_size(s)? {
        0 => Err(format!("'{s}' must be at least 1")),
        n => Ok(n),
    }
}

/// Bytes with an optional K, M, G or T suffix (powers of 1024): `4G`, `512M`, `1000`.
///
/// # Errors
/// The reason, naming the value.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("'{s}': the suffix is K, M, G or T")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size like 4G or 512M"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// A source sample-rate ceiling: 1,000 to [`MAX_SOURCE_RATE`] Hz.
///
/// # Errors
/// The reason, naming the value.
pub fn parse_source_rate(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if (1000..=MAX_SOURCE_RATE).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{s}' must be a whole number from 1000 to {MAX_SOURCE_RATE}"
        )),
    }
}

/// A channel ceiling: 1 to [`MAX_SOURCE_CHANNELS`].
///
/// # Errors
/// The reason, naming the value.
pub fn parse_channels(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_SOURCE_CHANNELS).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{s}' must be a whole number from 1 to {MAX_SOURCE_CHANNELS}"
        )),
    }
}

/// A value given as text or as a number (or a boolean), as the text a flag would take, so
/// the flag's parser can read it.
struct FlagText(String);

impl<'de> Deserialize<'de> for FlagText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Self(s)),
            serde_json::Value::Number(n) => Ok(Self(n.to_string())),
            serde_json::Value::Bool(b) => Ok(Self(b.to_string())),
            other => Err(D::Error::custom(format!(
                "expected text or a number, found {}",
                match other {
                    serde_json::Value::Null => "null",
                    serde_json::Value::Array(_) => "a list",
                    _ => "an object",
                }
            ))),
        }
    }
}

/// Deserializers that read a value through the same parser as its flag.
macro_rules! through_parser {
    ($($name:ident: $t:ty = $parse:expr;)*) => {$(
        fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
            let text = FlagText::deserialize(d)?;
            let parse: fn(&str) -> Result<$t, String> = $parse;
            parse(&text.0).map_err(D::Error::custom)
        }
    )*};
}

through_parser! {
    de_sigma: f32 = parse_sigma;
    de_seconds: f64 = parse_seconds;
    de_image_bytes: u64 = parse_image_bytes;
    de_source_rate: u32 = parse_source_rate;
    de_channels: usize = parse_channels;
    de_min_area: MinAreaArg = |s| s.parse();
    de_backend: Backend = |s| s.parse();
    de_segment: Option<SegmentMode> = |s| s.parse().map(Some);
    de_threshold: Option<Threshold> = |s| s.parse::<Threshold>().map(Some).map_err(|e| e.to_string());
    de_invert: Option<Invert> = |s| s.parse::<Invert>().map(Some).map_err(|e| e.to_string());
}

/// The schema of an option that takes its flag's text or a number.
fn text_or_number(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": ["string", "number"] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_options_go_through_the_flags_parsers() {
        let s = ExtractSettings::from_json(&json!({
            "max_regions": 10, "min_area": "1%", "max_image_bytes": "2M",
            "threshold": "adaptive:31,5", "blur": 0, "max_channels": "2"
        }))
        .unwrap();
        assert_eq!(s.max_regions, 10);
        assert_eq!(s.min_area, MinAreaArg(MinArea::Percent(1.0)));
        assert_eq!(s.max_image_bytes, 2 << 20);
        assert_eq!(s.blur, 0.0);
        assert_eq!(s.max_channels, 2);
        let o = s.to_options().unwrap();
        assert_eq!(o.image.segment, SegmentMode::Threshold);
        assert_eq!(
            ExtractSettings::from_json(&json!({})).unwrap(),
            ExtractSettings::default()
        );
        assert_eq!(
            ExtractSettings::default().to_options().unwrap(),
            ExtractOptions::default()
        );
    }

    #[test]
    fn bad_options_are_named() {
        let e = ExtractSettings::from_json(&json!({"blur": 500})).unwrap_err();
        assert_eq!(e.0, "option blur: '500' must be between 0 and 100");
        let e = ExtractSettings::from_json(&json!({"max_region": 5})).unwrap_err();
        assert!(
            e.0.contains("max_region") && e.0.contains("max_regions"),
            "{e}"
        );
        let e = ExtractSettings::from_json(&json!({"min_area": [1]})).unwrap_err();
        assert!(e.0.starts_with("option min_area: expected text"), "{e}");
        let e = ExtractSettings::from_json(&json!({"max_image_bytes": "1.5G"})).unwrap_err();
        assert!(e.0.contains("not a size"), "{e}");
        let e = ExtractSettings::from_json(&json!({"segment": "color", "invert": "yes"}))
            .unwrap()
            .to_options()
            .unwrap_err();
        assert!(e.0.contains("--segment color"), "{e}");
        let e = ExtractSettings::from_json(&json!({"hop_ms": 0.0}))
            .unwrap()
            .to_options()
            .unwrap_err();
        assert!(e.0.starts_with("audio parameters:"), "{e}");
    }

    #[test]
    fn the_schema_names_every_option() {
        let schema = schemars::schema_for!(ExtractSettings);
        let names: Vec<&String> = schema
            .get("properties")
            .and_then(|p| p.as_object())
            .unwrap()
            .keys()
            .collect();
        for n in ["segment", "blur", "max_regions", "min_area", "max_channels"] {
            assert!(
                names.iter().any(|x| x.as_str() == n),
                "{n} missing from {names:?}"
            );
        }
        assert_eq!(parse_image_bytes("512M"), Ok(DEFAULT_MAX_IMAGE_BYTES));
    }
}
