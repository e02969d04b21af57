//! Attaching the media themselves, fitted to provider limits: images downscaled to a
//! maximum side and re-encoded (JPEG stays JPEG, everything else becomes PNG); audio
//! converted to 16 kHz mono 16-bit WAV.

use super::{AttachMode, Input, PromptError};
use crate::llm::{Attachment, Provider};
use crate::media::audio::{decode_stream, AudioDecodeOptions};
use crate::media::image::{decode_file, DecodeOptions, DEFAULT_MAX_PIXELS};
use crate::media::MediaKind;
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageFormat};
use serde_json::{json, Value};
use std::io::Cursor;

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

/// Fits one image: decodes it (under the pixel cap), scales it so its long side is at most
/// `max_side`, and re-encodes it.
pub fn fit_image(
    input: &std::path::Path,
    max_side: u32,
    max_pixels: u64,
) -> Result<Attachment, PromptError> {
    let name = input.display().to_string();
    let decoded =
        decode_file(input, &DecodeOptions { max_pixels }).map_err(|e| PromptError::Attach {
            name: name.clone(),
            reason: e.to_string(),
        })?;
    let mut img = DynamicImage::ImageRgb8(decoded.rgb);
    let (w, h) = (img.width(), img.height());
    if w.max(h) > max_side {
        let scale = f64::from(max_side) / f64::from(w.max(h));
        let nw = ((f64::from(w) * scale).round() as u32).clamp(1, max_side);
        let nh = ((f64::from(h) * scale).round() as u32).clamp(1, max_side);
        img = img.resize_exact(nw, nh, image::imageops::FilterType::Triangle);
    }
    let mut bytes = Vec::new();
    let mime = if decoded.mime == "image/jpeg" {
        JpegEncoder::new_with_quality(&mut bytes, 90)
            .encode_image(&img)
            .map_err(|e| PromptError::Attach {
                name: name.clone(),
                reason: e.to_string(),
            })?;
        "image/jpeg"
    } else {
        img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .map_err(|e| PromptError::Attach {
                name: name.clone(),
                reason: e.to_string(),
            })?;
        "image/png"
    };
    Ok(Attachment {
        name,
        mime: mime.into(),
        bytes,
    })
}

/// Converts audio to 16 kHz mono 16-bit WAV, refusing files longer than `max_seconds`.
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

/// Attaches the inputs' media as `mode` asks. Audio the provider cannot take is an error
/// with `--attach audio`, and a note (not attached) with `--attach all`.
pub fn attach_all(
    inputs: &[Input],
    mode: AttachMode,
    provider: Provider,
    limits: &AttachLimits,
) -> Result<(Vec<Attachment>, Vec<Value>), PromptError> {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for input in inputs {
        let wanted = match (mode, input.kind) {
            (AttachMode::None, _) => false,
            (AttachMode::All, _) => true,
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
            notes.push(json!({"file": name, "attached": false, "reason": reason}));
            continue;
        }
        let a = match input.kind {
            MediaKind::Audio => fit_audio(media, limits.max_audio_seconds)?,
            _ => fit_image(media, limits.max_image_side, limits.max_pixels)?,
        };
        notes.push(json!({"file": name, "attached": true, "mime": a.mime, "bytes": a.bytes.len()}));
        out.push(a);
    }
    Ok((out, notes))
}
