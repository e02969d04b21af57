//! Attaching the media themselves, fitted to provider limits: images downscaled to a
//! maximum side and re-encoded (JPEG stays JPEG, everything else becomes PNG); audio
//! converted to 16 kHz mono 16-bit WAV.

use super::types::{AttachMode, Input, PromptError};
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
///
/// # Errors
/// [`PromptError::Attach`] when the image cannot be read, decoded (over the pixel cap
/// included) or encoded.
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
///
/// # Errors
/// [`PromptError::Attach`] when a medium cannot be fitted, or the provider cannot take an
/// audio input that `--attach audio` asks for.
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

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageReader, Rgb, RgbImage};
    use std::path::{Path, PathBuf};

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
            let a = fit_image(&p, max, DEFAULT_MAX_PIXELS).unwrap();
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
    fn images_over_the_pixel_cap_or_unreadable_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_image(dir.path(), "big.png", 100, 100, ImageFormat::Png);
        assert!(fit_image(&p, 2048, 10_000).is_ok());
        match fit_image(&p, 2048, 9_999) {
            Err(PromptError::Attach { name, .. }) => assert_eq!(name, p.display().to_string()),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let junk = dir.path().join("junk.png");
        std::fs::write(&junk, b"not an image at all").unwrap();
        assert!(matches!(
            fit_image(&junk, 2048, DEFAULT_MAX_PIXELS),
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
            sha256: "0".repeat(64),
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
                   "mime": "image/png", "bytes": a[0].bytes.len()})
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
