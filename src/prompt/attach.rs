//! Attaching the media themselves, fitted to provider limits. An image whose format the
//! provider takes, within its size and byte limits and with no EXIF rotation to apply, is
//! sent as its original bytes; any other is decoded, scaled to a maximum side and
//! re-encoded (JPEG stays JPEG, everything else becomes PNG). With Set-of-Mark
//! (`--attach marked`) the image is drawn on: each region's outline and id. Audio is
//! converted to 16 kHz mono 16-bit WAV.
//!
//! Attaching is two steps because the marks depend on the budget: [`prepare`] decides what
//! is sent and at which size (the frame the fragments' coordinates use), and
//! [`finish`] encodes it once the kept fragments are known.

use super::types::{AttachMode, Input, PromptError};
use crate::audio::Label;
use crate::doc::Document;
use crate::llm::{Attachment, Provider};
use crate::media::audio::{decode_stream, AudioDecodeOptions};
use crate::media::image::{decode_bytes, probe, DecodeOptions, DEFAULT_MAX_PIXELS};
use crate::media::MediaKind;
use crate::render::overlay::{render_marks, Mark};
use crate::render::spectrogram::{Band, SpectrogramBuilder};
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageFormat, RgbImage};
use serde_json::{json, Value};
use std::io::Cursor;
use std::path::Path;

/// Limits attachments are fitted to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttachLimits {
    /// Longest image side after downscaling.
    pub max_image_side: u32,
    /// Cap on the whole request body in bytes.
    pub max_body_bytes: usize,
    /// Decoding cap for images, in pixels.
    pub max_pixels: u64,
    /// Longest audio attached, in seconds.
    pub max_audio_seconds: f64,
}

impl Default for AttachLimits {
    fn default() -> Self {
        Self {
            max_image_side: 2048,
            // 20 MB, as the command line counts it.
            max_body_bytes: 20_000_000,
            max_pixels: DEFAULT_MAX_PIXELS,
            max_audio_seconds: 600.0,
        }
    }
}

/// Sample rate of attached audio.
pub const AUDIO_RATE: u32 = 16_000;

/// An image ready to be sent: its pixels at the size the model receives, and its original
/// bytes when those can be sent as they are.
#[derive(Debug, Clone)]
pub struct FittedImage {
    /// The file, for messages.
    pub name: String,
    /// Pixels at the size sent (EXIF orientation applied, alpha flattened on white).
    pub rgb: RgbImage,
    /// The original bytes and their MIME type, when the provider takes them as they are.
    pub original: Option<(Vec<u8>, &'static str)>,
    /// The format re-encoded pixels are written in.
    pub reencoded_mime: &'static str,
}

impl FittedImage {
    /// Width and height of the image the model receives.
    pub fn size(&self) -> (u32, u32) {
        self.rgb.dimensions()
    }

    /// The MIME type sent, plain or with marks drawn.
    pub fn mime(&self, marked: bool) -> &'static str {
        match &self.original {
            Some((_, mime)) if !marked => mime,
            _ => self.reencoded_mime,
        }
    }

    /// The attachment: the original bytes when they fit and nothing is drawn, else the
    /// pixels (with `marks` drawn on them, if any) encoded.
    ///
    /// # Errors
    /// [`PromptError::Attach`] when encoding fails.
    pub fn encode(&self, marks: Option<&[Mark]>) -> Result<Attachment, PromptError> {
        if let (Some((bytes, mime)), None) = (&self.original, marks) {
            return Ok(Attachment {
                name: self.name.clone(),
                mime: (*mime).into(),
                bytes: bytes.clone(),
            });
        }
        let drawn;
        let img = match marks {
            Some(m) => {
                drawn = render_marks(&self.rgb, m);
                &drawn
            }
            None => &self.rgb,
        };
        let err = |e: image::ImageError| PromptError::Attach {
            name: self.name.clone(),
            reason: e.to_string(),
        };
        let mut bytes = Vec::new();
        if self.reencoded_mime == "image/jpeg" {
            JpegEncoder::new_with_quality(&mut bytes, 90)
                .encode_image(img)
                .map_err(err)?;
        } else {
            img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
                .map_err(err)?;
        }
        Ok(Attachment {
            name: self.name.clone(),
            mime: self.reencoded_mime.into(),
            bytes,
        })
    }
}

/// Fits one image for `provider`: decodes it (under the pixel cap) and keeps its original
/// bytes if the provider takes its format, its long side is at most `max_image_side`, it
/// is within the provider's and the body's byte limits and it needs no EXIF rotation;
/// otherwise scales it so its long side is at most `max_image_side`, to be re-encoded.
/// When `document` is given, the file must still be the one it describes.
///
/// # Errors
/// [`PromptError::Attach`] when the image cannot be read or decoded (over the pixel cap
/// included), or has changed since `document` was written.
pub fn fit_image(
    input: &Path,
    provider: Provider,
    limits: &AttachLimits,
    document: Option<&Document>,
) -> Result<FittedImage, PromptError> {
    let name = input.display().to_string();
    let err = |reason: String| PromptError::Attach {
        name: name.clone(),
        reason,
    };
    let bytes = std::fs::read(input).map_err(|e| err(e.to_string()))?;
    let options = DecodeOptions {
        max_pixels: limits.max_pixels,
        ..DecodeOptions::default()
    };
    let header = probe(&bytes, &options).map_err(|e| err(e.to_string()))?;
    let decoded = decode_bytes(&bytes, &options).map_err(|e| err(e.to_string()))?;
    if let Some(Document::Image(page)) = document {
        // The anchors were measured on that file: another file under the same name would
        // make every box point at the wrong place.
        if page.about.sha256 != decoded.sha256 {
            return Err(err(format!(
                "the file has changed since its document was written (SHA-256 {} there, {} now); run extract again",
                &page.about.sha256[..page.about.sha256.len().min(12)],
                &decoded.sha256[..12]
            )));
        }
    }
    let (w, h) = decoded.rgb.dimensions();
    let as_is = provider.image_formats().contains(&decoded.mime)
        && header.orientation == image::metadata::Orientation::NoTransforms
        && w.max(h) <= limits.max_image_side
        && bytes.len() <= provider.max_image_bytes()
        && bytes.len() <= limits.max_body_bytes;
    let reencoded_mime = if decoded.mime == "image/jpeg" {
        "image/jpeg"
    } else {
        "image/png"
    };
    let mut rgb = decoded.rgb;
    if w.max(h) > limits.max_image_side {
        rgb = scaled(rgb, limits.max_image_side);
    }
    let mut fitted = FittedImage {
        name,
        rgb,
        original: None,
        reencoded_mime,
    };
    if as_is {
        fitted.original = Some((bytes, decoded.mime));
        return Ok(fitted);
    }
    // A file over the byte limit may still be over it re-encoded at the same size (PNG
    // often grows): shrink until the encoding fits, so the size the fragments are framed
    // in is the size sent.
    let max_bytes = provider.max_image_bytes().min(limits.max_body_bytes);
    if bytes.len() > max_bytes {
        for _ in 0..8 {
            if fitted.encode(None)?.bytes.len() <= max_bytes {
                break;
            }
            let (w, h) = fitted.rgb.dimensions();
            let side = (f64::from(w.max(h)) * 0.75).round().max(1.0) as u32;
            fitted.rgb = scaled(std::mem::take(&mut fitted.rgb), side);
        }
    }
    Ok(fitted)
}

/// `rgb` scaled so its long side is `side` pixels, each side at least one pixel.
fn scaled(rgb: RgbImage, side: u32) -> RgbImage {
    let (w, h) = rgb.dimensions();
    let scale = f64::from(side) / f64::from(w.max(h).max(1));
    let nw = ((f64::from(w) * scale).round() as u32).clamp(1, side.max(1));
    let nh = ((f64::from(h) * scale).round() as u32).clamp(1, side.max(1));
    DynamicImage::ImageRgb8(rgb)
        .resize_exact(nw, nh, image::imageops::FilterType::Triangle)
        .into_rgb8()
}

/// Converts audio to 16 kHz mono 16-bit WAV, refusing files longer than `max_seconds`.
///
/// # Errors
/// [`PromptError::Attach`] when the audio cannot be decoded, is longer than
/// `max_seconds`, or cannot be encoded.
pub fn fit_audio(input: &std::path::Path, max_seconds: f64) -> Result<Attachment, PromptError> {
    let name = input.display().to_string();
    let err = |reason: String| PromptError::Attach {
        name: name.clone(),
        reason,
    };
    let mut samples: Vec<i16> = Vec::new();
    decode_stream(
        input,
        &AudioDecodeOptions {
            target_rate: AUDIO_RATE,
            max_seconds,
            ..AudioDecodeOptions::default()
        },
        &mut |chunk| {
            samples.extend(chunk.iter().map(|&x| {
                let v = if x.is_finite() {
                    x.clamp(-1.0, 1.0)
                } else {
                    0.0
                };
                (v * 32767.0).round() as i16
            }))
        },
    )
    .map_err(|e| err(e.to_string()))?;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: AUDIO_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    {
        let mut w = hound::WavWriter::new(&mut cursor, spec).map_err(|e| err(e.to_string()))?;
        for s in &samples {
            w.write_sample(*s).map_err(|e| err(e.to_string()))?;
        }
        w.finalize().map_err(|e| err(e.to_string()))?;
    }
    Ok(Attachment {
        name,
        mime: "audio/wav".into(),
        bytes: cursor.into_inner(),
    })
}

/// What attaching one input comes to, before encoding.
#[derive(Debug)]
pub enum Prepared {
    /// An image, fitted.
    Image {
        /// Index of its input.
        input: usize,
        /// The image.
        image: FittedImage,
    },
    /// An audio input, converted.
    Audio {
        /// Index of its input.
        input: usize,
        /// The WAV.
        attachment: Attachment,
    },
    /// An audio input for a provider without audio, with Set-of-Mark: sent as its
    /// spectrogram, the shown segments drawn as bands with their ids.
    Spectrogram {
        /// Index of its input.
        input: usize,
        /// The file, for messages.
        name: String,
        /// The analysed audio.
        builder: Box<SpectrogramBuilder>,
    },
    /// An input the provider cannot take, with the note saying why.
    Skipped {
        /// Index of its input.
        input: usize,
        /// `{"file", "attached": false, "reason"}`.
        note: Value,
    },
}

impl Prepared {
    /// The size of the image sent for input `input`, if one is.
    pub fn sent_size(all: &[Prepared], input: usize) -> Option<(u32, u32)> {
        all.iter().find_map(|p| match p {
            Prepared::Image { input: i, image } if *i == input => Some(image.size()),
            _ => None,
        })
    }

    /// `(name, MIME type)` of what is sent, for the prompt's list of attached media.
    pub fn shown(&self, marked: bool) -> Option<(&str, &str)> {
        match self {
            Prepared::Image { image, .. } => Some((&image.name, image.mime(marked))),
            Prepared::Audio { attachment, .. } => Some((&attachment.name, &attachment.mime)),
            Prepared::Spectrogram { name, .. } => Some((name, "image/png")),
            Prepared::Skipped { .. } => None,
        }
    }
}

/// Decides what is attached for `mode`: fits every wanted medium, in input order. Audio
/// the provider cannot take is an error with `--attach audio`, and a note (not attached)
/// otherwise.
///
/// # Errors
/// [`PromptError::Attach`] when a medium cannot be found or fitted, or the provider cannot
/// take an audio input that `--attach audio` asks for.
pub fn prepare(
    inputs: &[Input],
    mode: AttachMode,
    provider: Provider,
    limits: &AttachLimits,
) -> Result<Vec<Prepared>, PromptError> {
    let mut out = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let wanted = match (mode, input.kind) {
            (AttachMode::None, _) => false,
            (AttachMode::All | AttachMode::Marked, _) => true,
            (AttachMode::Image, k) => k == MediaKind::Image,
            (AttachMode::Audio, k) => k == MediaKind::Audio,
        };
        if !wanted {
            continue;
        }
        let name = input.path.display().to_string();
        let Some(media) = &input.media_path else {
            return Err(PromptError::Attach {
                name,
                reason: format!(
                    "its medium {} was not found (looked beside the current folder and the document)",
                    input.document.content_url()
                ),
            });
        };
        if input.kind == MediaKind::Audio && !provider.accepts_audio() {
            let reason = format!("{provider} does not accept audio inputs");
            if mode == AttachMode::Audio {
                return Err(PromptError::Attach { name, reason });
            }
            if mode == AttachMode::Marked {
                out.push(Prepared::Spectrogram {
                    input: i,
                    name: media.display().to_string(),
                    builder: Box::new(spectrogram(media, limits.max_audio_seconds)?),
                });
                continue;
            }
            out.push(Prepared::Skipped {
                input: i,
                note: json!({"file": name, "attached": false, "reason": reason}),
            });
            continue;
        }
        out.push(match input.kind {
            MediaKind::Audio => Prepared::Audio {
                input: i,
                attachment: fit_audio(media, limits.max_audio_seconds)?,
            },
            _ => Prepared::Image {
                input: i,
                image: fit_image(media, provider, limits, Some(&input.document))?,
            },
        });
    }
    Ok(out)
}

/// Analyses audio for its spectrogram picture, refusing files longer than `max_seconds`.
///
/// # Errors
/// [`PromptError::Attach`] when the audio cannot be decoded or is too long.
pub fn spectrogram(input: &Path, max_seconds: f64) -> Result<SpectrogramBuilder, PromptError> {
    let mut builder = SpectrogramBuilder::new(AUDIO_RATE);
    decode_stream(
        input,
        &AudioDecodeOptions {
            target_rate: AUDIO_RATE,
            max_seconds,
            ..AudioDecodeOptions::default()
        },
        &mut |chunk| builder.push(chunk),
    )
    .map_err(|e| PromptError::Attach {
        name: input.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(builder)
}

/// Encodes what [`prepare`] decided: images get the marks `marks` gives for their input
/// (Set-of-Mark), or none; spectrograms get the bands `bands` gives. Returns the
/// attachments and a note for each input looked at.
///
/// # Errors
/// [`PromptError::Attach`] when an image cannot be encoded.
pub fn finish(
    prepared: &[Prepared],
    inputs: &[Input],
    marks: &dyn Fn(usize) -> Option<Vec<Mark>>,
    bands: &dyn Fn(usize) -> Vec<(Label, f64, f64, String)>,
) -> Result<(Vec<Attachment>, Vec<Value>), PromptError> {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let file = |i: usize| inputs.get(i).map(|x| x.path.display().to_string());
    for p in prepared {
        match p {
            Prepared::Skipped { note, .. } => notes.push(note.clone()),
            Prepared::Spectrogram {
                input,
                name,
                builder,
            } => {
                let shown = bands(*input);
                let drawn: Vec<Band<'_>> = shown
                    .iter()
                    .map(|(label, start_s, end_s, id)| Band {
                        label: *label,
                        start_s: *start_s,
                        end_s: *end_s,
                        id: Some(id),
                    })
                    .collect();
                let mut bytes = Vec::new();
                builder
                    .render_bands(&drawn)
                    .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
                    .map_err(|e| PromptError::Attach {
                        name: name.clone(),
                        reason: e.to_string(),
                    })?;
                notes.push(
                    json!({"file": file(*input), "attached": true, "mime": "image/png",
                    "bytes": bytes.len(), "as": "spectrogram", "marks": drawn.len()}),
                );
                out.push(Attachment {
                    name: name.clone(),
                    mime: "image/png".into(),
                    bytes,
                });
            }
            Prepared::Audio { input, attachment } => {
                notes.push(json!({"file": file(*input), "attached": true,
                    "mime": attachment.mime, "bytes": attachment.bytes.len()}));
                out.push(attachment.clone());
            }
            Prepared::Image { input, image } => {
                let m = marks(*input);
                let a = image.encode(m.as_deref())?;
                let (w, h) = image.size();
                notes.push(
                    json!({"file": file(*input), "attached": true, "mime": a.mime,
                    "bytes": a.bytes.len(), "width": w, "height": h,
                    "original_bytes": image.original.is_some() && m.is_none(),
                    "marks": m.as_ref().map_or(0, Vec::len)}),
                );
                out.push(a);
            }
        }
    }
    Ok((out, notes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageReader, Rgb, RgbImage};
    use std::path::{Path, PathBuf};

    /// [`fit_image`] for OpenAI with a longest side and pixel cap, encoded with no marks.
    fn fit(p: &Path, max_image_side: u32, max_pixels: u64) -> Result<Attachment, PromptError> {
        let limits = AttachLimits {
            max_image_side,
            max_pixels,
            ..AttachLimits::default()
        };
        fit_image(p, Provider::OpenAi, &limits, None)?.encode(None)
    }

    /// [`prepare`] then [`finish`] with no marks.
    fn attach_all(
        inputs: &[Input],
        mode: AttachMode,
        provider: Provider,
        limits: &AttachLimits,
    ) -> Result<(Vec<Attachment>, Vec<Value>), PromptError> {
        finish(
            &prepare(inputs, mode, provider, limits)?,
            inputs,
            &|_| None,
            &|_| Vec::new(),
        )
    }

    fn gradient(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 128])
        }))
    }

    fn write_image(dir: &Path, name: &str, w: u32, h: u32, format: ImageFormat) -> PathBuf {
        let p = dir.join(name);
        gradient(w, h).save_with_format(&p, format).unwrap();
        p
    }

    fn dims_and_format(bytes: &[u8]) -> (u32, u32, ImageFormat) {
        let r = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .unwrap();
        let f = r.format().unwrap();
        let img = r.decode().unwrap();
        (img.width(), img.height(), f)
    }

    #[test]
    fn images_are_scaled_to_the_longest_side_and_keep_jpeg_or_become_png() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (name, w, h, format, max, want_w, want_h, want_mime) in [
            // Landscape and portrait are scaled by their long side, rounding the other.
            (
                "wide.png",
                300,
                100,
                ImageFormat::Png,
                64,
                64,
                21,
                "image/png",
            ),
            (
                "tall.jpg",
                90,
                301,
                ImageFormat::Jpeg,
                100,
                30,
                100,
                "image/jpeg",
            ),
            // Small enough already: the size is kept.
            (
                "small.jpg",
                50,
                80,
                ImageFormat::Jpeg,
                80,
                50,
                80,
                "image/jpeg",
            ),
            // Neither JPEG nor PNG: re-encoded as PNG.
            (
                "pic.bmp",
                40,
                20,
                ImageFormat::Bmp,
                2048,
                40,
                20,
                "image/png",
            ),
            (
                "pic.gif",
                200,
                200,
                ImageFormat::Gif,
                50,
                50,
                50,
                "image/png",
            ),
            // A thin line keeps at least one pixel.
            (
                "line.png",
                1000,
                1,
                ImageFormat::Png,
                100,
                100,
                1,
                "image/png",
            ),
        ] {
            let p = write_image(d, name, w, h, format);
            let a = fit(&p, max, DEFAULT_MAX_PIXELS).unwrap();
            assert_eq!(a.name, p.display().to_string());
            assert_eq!(a.mime, want_mime, "{name}");
            let (gw, gh, gf) = dims_and_format(&a.bytes);
            assert_eq!((gw, gh), (want_w, want_h), "{name}");
            let want_f = if want_mime == "image/jpeg" {
                ImageFormat::Jpeg
            } else {
                ImageFormat::Png
            };
            assert_eq!(gf, want_f, "{name}");
        }
    }

    #[test]
    fn images_go_as_they_are_only_when_the_provider_takes_them_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let limits = AttachLimits::default();
        let sent = |p: &Path, provider, limits: &AttachLimits| {
            let f = fit_image(p, provider, limits, None).unwrap();
            (f.encode(None).unwrap(), f.size())
        };
        // A PNG and a JPEG within every limit: the very bytes of the file.
        for (name, format) in [("g.png", ImageFormat::Png), ("g.jpg", ImageFormat::Jpeg)] {
            let p = write_image(d, name, 120, 80, format);
            let (a, size) = sent(&p, Provider::Anthropic, &limits);
            assert!(a.bytes == std::fs::read(&p).unwrap(), "{name}");
            assert_eq!(size, (120, 80));
        }
        let png = d.join("g.png");
        // Over the longest side, over the body cap, or a format the provider does not take:
        // decoded and re-encoded.
        let small_side = AttachLimits {
            max_image_side: 100,
            ..limits
        };
        let (a, size) = sent(&png, Provider::OpenAi, &small_side);
        assert!(a.bytes != std::fs::read(&png).unwrap());
        assert_eq!(size, (100, 67));
        let small_body = AttachLimits {
            max_body_bytes: 10,
            ..limits
        };
        let f = fit_image(&png, Provider::OpenAi, &small_body, None).unwrap();
        assert!(f.original.is_none());
        let webp = d.join("g.webp");
        gradient(120, 80)
            .save_with_format(&webp, ImageFormat::WebP)
            .unwrap();
        assert!(sent(&webp, Provider::OpenAi, &limits).0.bytes == std::fs::read(&webp).unwrap());
        let (a, _) = sent(&webp, Provider::Ollama, &limits);
        assert_eq!(a.mime, "image/png");
        // With marks drawn, never the original.
        let f = fit_image(&png, Provider::OpenAi, &limits, None).unwrap();
        let mark = Mark {
            text: "r1".into(),
            polygon: vec![(10.0, 10.0), (50.0, 10.0), (50.0, 40.0)],
            bbox: None,
            hole: false,
            show_box: false,
        };
        let marked = f.encode(Some(&[mark])).unwrap();
        assert!(marked.bytes != std::fs::read(&png).unwrap());
        assert_eq!(dims_and_format(&marked.bytes), (120, 80, ImageFormat::Png));
    }

    #[test]
    fn an_image_over_the_byte_limit_is_shrunk_until_its_encoding_fits() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("noise.png");
        // Noise does not compress: about 480 KB as PNG.
        let mut x = 12345u32;
        RgbImage::from_fn(400, 400, |_, _| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let [a, b, c, _] = x.to_le_bytes();
            Rgb([a, b, c])
        })
        .save(&p)
        .unwrap();
        let limits = AttachLimits {
            max_body_bytes: 100_000,
            ..AttachLimits::default()
        };
        let f = fit_image(&p, Provider::OpenAi, &limits, None).unwrap();
        let a = f.encode(None).unwrap();
        assert!(a.bytes.len() <= 100_000, "{} bytes", a.bytes.len());
        // The size the fragments are framed in is the size sent.
        let (w, h, _) = dims_and_format(&a.bytes);
        assert_eq!((w, h), f.size());
        assert!(w < 400);
    }

    #[test]
    fn a_file_changed_since_its_document_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_image(dir.path(), "a.png", 30, 20, ImageFormat::Png);
        let ok = input(&p, MediaKind::Image, Some(&p));
        assert!(fit_image(
            &p,
            Provider::OpenAi,
            &AttachLimits::default(),
            Some(&ok.document)
        )
        .is_ok());
        gradient(31, 20)
            .save_with_format(&p, ImageFormat::Png)
            .unwrap();
        let e = fit_image(
            &p,
            Provider::OpenAi,
            &AttachLimits::default(),
            Some(&ok.document),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("has changed since its document was written"),
            "{e}"
        );
        assert!(e.contains("a.png"), "{e}");
    }

    #[test]
    fn images_over_the_pixel_cap_or_unreadable_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_image(dir.path(), "big.png", 100, 100, ImageFormat::Png);
        assert!(fit(&p, 2048, 10_000).is_ok());
        match fit(&p, 2048, 9_999) {
            Err(PromptError::Attach { name, .. }) => assert_eq!(name, p.display().to_string()),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let junk = dir.path().join("junk.png");
        std::fs::write(&junk, b"not an image at all").unwrap();
        assert!(matches!(
            fit(&junk, 2048, DEFAULT_MAX_PIXELS),
            Err(PromptError::Attach { .. })
        ));
    }

    /// A 440 Hz sine at amplitude 0.5, `seconds` long, at `rate` Hz with `channels`.
    fn write_wav(dir: &Path, name: &str, rate: u32, channels: u16, seconds: f64) -> PathBuf {
        let p = dir.join(name);
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&p, spec).unwrap();
        let n = (seconds * f64::from(rate)) as u32;
        for i in 0..n {
            let t = f64::from(i) / f64::from(rate);
            let v = (0.5 * (2.0 * std::f64::consts::PI * 440.0 * t).sin() * 32767.0) as i16;
            for _ in 0..channels {
                w.write_sample(v).unwrap();
            }
        }
        w.finalize().unwrap();
        p
    }

    #[test]
    fn audio_becomes_16_khz_mono_16_bit_wav_of_the_same_length() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_wav(dir.path(), "tone.wav", 44_100, 2, 1.0);
        let a = fit_audio(&p, 600.0).unwrap();
        assert_eq!(a.mime, "audio/wav");
        let r = hound::WavReader::new(Cursor::new(&a.bytes)).unwrap();
        let spec = r.spec();
        assert_eq!(
            (spec.sample_rate, spec.channels, spec.bits_per_sample),
            (16_000, 1, 16)
        );
        let samples: Vec<i16> = r.into_samples().map(Result::unwrap).collect();
        // One second at 16 kHz, give or take the resampler's edges.
        assert!(
            (15_800..=16_200).contains(&samples.len()),
            "{} samples",
            samples.len()
        );
        // The amplitude survives the stereo downmix and the resampling.
        let peak = samples.iter().map(|s| i32::from(*s).abs()).max().unwrap();
        assert!((15_500..=17_300).contains(&peak), "peak {peak}");
    }

    #[test]
    fn audio_longer_than_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_wav(dir.path(), "long.wav", 16_000, 1, 2.0);
        assert!(fit_audio(&p, 2.5).is_ok());
        match fit_audio(&p, 1.0) {
            Err(PromptError::Attach { name, .. }) => assert_eq!(name, p.display().to_string()),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// An input read from a `.jsonld` beside `path`: an empty page of the right kind that
    /// names the file as its content.
    fn input(path: &Path, kind: MediaKind, media: Option<&Path>) -> Input {
        use crate::doc::{self, AudioSourceInfo, ContextMode, Document, SourceInfo};
        let file = SourceInfo {
            content_url: path.file_name().unwrap().to_string_lossy().into_owned(),
            mime: "application/octet-stream".into(),
            sha256: std::fs::read(path)
                .map_or_else(|_| "0".repeat(64), |b| crate::media::image::sha256_hex(&b)),
            byte_len: 0,
        };
        let page = match kind {
            MediaKind::Audio => doc::audio_document(
                &AudioSourceInfo {
                    file,
                    duration_s: 0.25,
                    sample_rate: 16_000,
                    channels: 1,
                },
                &[],
                json!({}),
                None,
                ContextMode::Reference,
            ),
            _ => doc::image_document(
                &file,
                &crate::vision::params::ImageAnalysis {
                    width: 30,
                    height: 20,
                    threshold: None,
                    inverted: false,
                    contour_count: 0,
                    regions: Vec::new(),
                },
                &crate::vision::params::ImageParams::default(),
                ContextMode::Reference,
            ),
        };
        Input {
            path: path.with_extension("jsonld"),
            kind,
            document: Document::from_value(&page).expect("a page this crate writes reads back"),
            media_path: media.map(Path::to_path_buf),
            from_jsonld: true,
        }
    }

    #[test]
    fn attach_modes_pick_media_and_note_what_was_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let img = write_image(d, "a.png", 30, 20, ImageFormat::Png);
        let wav = write_wav(d, "b.wav", 16_000, 1, 0.25);
        let inputs = [
            input(&img, MediaKind::Image, Some(&img)),
            input(&wav, MediaKind::Audio, Some(&wav)),
        ];
        let limits = AttachLimits::default();
        let names = |v: &[Attachment]| v.iter().map(|a| a.mime.clone()).collect::<Vec<_>>();

        let (a, notes) = attach_all(&inputs, AttachMode::None, Provider::OpenAi, &limits).unwrap();
        assert!(a.is_empty() && notes.is_empty());
        let (a, _) = attach_all(&inputs, AttachMode::Image, Provider::OpenAi, &limits).unwrap();
        assert_eq!(names(&a), ["image/png"]);
        let (a, _) = attach_all(&inputs, AttachMode::Audio, Provider::Gemini, &limits).unwrap();
        assert_eq!(names(&a), ["audio/wav"]);
        let (a, notes) = attach_all(&inputs, AttachMode::All, Provider::OpenAi, &limits).unwrap();
        assert_eq!(names(&a), ["image/png", "audio/wav"]);
        assert_eq!(
            notes[0],
            json!({"file": inputs[0].path.display().to_string(), "attached": true,
                   "mime": "image/png", "bytes": a[0].bytes.len(), "width": 30, "height": 20,
                   "original_bytes": true, "marks": 0})
        );

        // A provider without audio: a note with --attach all, an error with --attach audio.
        let (a, notes) =
            attach_all(&inputs, AttachMode::All, Provider::Anthropic, &limits).unwrap();
        assert_eq!(names(&a), ["image/png"]);
        assert_eq!(
            notes[1],
            json!({"file": inputs[1].path.display().to_string(), "attached": false,
                   "reason": "anthropic does not accept audio inputs"})
        );
        let e = attach_all(&inputs, AttachMode::Audio, Provider::Ollama, &limits).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "cannot attach {}: ollama does not accept audio inputs",
                inputs[1].path.display()
            )
        );

        // The limits reach the fitting.
        let small = AttachLimits {
            max_image_side: 15,
            ..limits
        };
        let (a, _) = attach_all(&inputs[..1], AttachMode::Image, Provider::OpenAi, &small).unwrap();
        assert_eq!(dims_and_format(&a[0].bytes).0, 15);
        let short = AttachLimits {
            max_audio_seconds: 0.1,
            ..limits
        };
        assert!(attach_all(&inputs, AttachMode::Audio, Provider::OpenAi, &short).is_err());
    }

    #[test]
    fn a_medium_that_was_not_found_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("gone.png");
        let inputs = [input(&img, MediaKind::Image, None)];
        let e = attach_all(
            &inputs,
            AttachMode::All,
            Provider::OpenAi,
            &AttachLimits::default(),
        )
        .unwrap_err();
        let m = e.to_string();
        assert!(m.contains("its medium gone.png was not found"), "{m}");
        // Not wanted, not looked for.
        assert!(attach_all(
            &inputs,
            AttachMode::Audio,
            Provider::OpenAi,
            &AttachLimits::default()
        )
        .is_ok());
    }
}
