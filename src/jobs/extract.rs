//! One media file in, one document out: sniffs the kind, decodes, analyses and renders.
//! This is the per-file core that the CLI (and batch jobs) call; it writes nothing.

use crate::audio::{AnalysisSink, Analyzer, AnalyzerConfig, AudioConfigError, Segment};
use crate::doc::{self, AudioSourceInfo, ContextMode, SourceInfo};
use crate::media::audio::{
    decode_stream_pipelined, AudioDecodeOptions, AudioError, AudioErrorKind, DEFAULT_MAX_SECONDS,
    MAX_SOURCE_CHANNELS, MAX_SOURCE_RATE,
};
use crate::media::image::{DecodeOptions, ImageError};
use crate::media::{sniff_file, MediaKind};
use crate::render::spectrogram::SpectrogramBuilder;
use crate::vision::pipeline::{self, BackendError, ImageParams};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Audio parameters that change an output; recorded in the `generator` block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioParams {
    /// Analysis sample rate in Hz (audio is resampled to it).
    pub rate: u32,
    /// Frame length in milliseconds.
    pub frame_ms: f32,
    /// Hop between frames in milliseconds.
    pub hop_ms: f32,
    /// Refuse to decode more than this many seconds.
    pub max_seconds: f64,
    /// Refuse streams declaring a higher sample rate, in Hz.
    pub max_source_rate: u32,
    /// Refuse streams declaring more channels.
    pub max_channels: usize,
}

impl Default for AudioParams {
    fn default() -> Self {
        Self {
            rate: 16_000,
            frame_ms: 25.0,
            hop_ms: 10.0,
            max_seconds: DEFAULT_MAX_SECONDS,
            max_source_rate: MAX_SOURCE_RATE,
            max_channels: MAX_SOURCE_CHANNELS,
        }
    }
}

impl AudioParams {
    /// The analyzer configuration these parameters describe.
    pub fn analyzer_config(&self) -> AnalyzerConfig {
        AnalyzerConfig::with_timing(self.rate, self.frame_ms, self.hop_ms)
    }

    /// The parameters as JSON, in the spelling the command line accepts.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "sampleRate": self.rate,
            "frameMs": f64::from(self.frame_ms),
            "hopMs": f64::from(self.hop_ms),
            "maxSeconds": self.max_seconds,
            "vad": self.analyzer_config().vad,
        });
        // Named only when changed, so hashes of outputs made before these limits stand.
        if let Value::Object(m) = &mut v {
            if self.max_source_rate != MAX_SOURCE_RATE {
                m.insert("maxSourceRate".into(), self.max_source_rate.into());
            }
            if self.max_channels != MAX_SOURCE_CHANNELS {
                m.insert("maxChannels".into(), self.max_channels.into());
            }
        }
        v
    }
}

/// Everything that shapes one file's output.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExtractOptions {
    /// Image pipeline parameters.
    pub image: ImageParams,
    /// Audio pipeline parameters.
    pub audio: AudioParams,
    /// How documents refer to their context.
    pub context: ContextMode,
    /// Also render an overlay PNG (regions over the image, or a labelled spectrogram).
    pub overlay: bool,
}

/// What one file produced.
#[derive(Debug, Clone)]
pub struct Extracted {
    /// Image or audio.
    pub kind: MediaKind,
    /// The JSON-LD document, as written (serialised from the typed [`doc::Document`]; read
    /// it back with [`doc::Document::from_value`]).
    pub document: Value,
    /// The compact text rendering.
    pub text: String,
    /// Regions or segments in the document.
    pub count: usize,
    /// Lower-case hex SHA-256 of the file, computed while it was read for decoding.
    pub sha256: String,
    /// The overlay PNG, when asked for.
    pub overlay_png: Option<Vec<u8>>,
    /// A stream damaged part-way: the document holds what came before the damage and this
    /// error, which the caller should still report as a failure.
    pub partial_error: Option<AudioError>,
}

/// Why a file produced no document.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The file could not be opened to sniff it.
    #[error("{}: cannot read file: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Neither an image nor an audio format.
    #[error("{}: {}", path.display(), if *empty { "file is empty" } else { "not a supported image or audio format (content not recognised)" })]
    Unrecognised {
        /// The file.
        path: PathBuf,
        /// The file has no bytes at all.
        empty: bool,
    },
    /// Image decoding failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Audio decoding failed before any audio was read.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The audio parameters are not usable.
    #[error("{}: {source}", path.display())]
    AudioConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong with the parameters.
        source: AudioConfigError,
    },
    /// The image backend failed on a decoded image (OpenCV reported an error, or the
    /// backend is not compiled in).
    #[error("{}: {source}", path.display())]
    Backend {
        /// The file.
        path: PathBuf,
        /// What the backend said.
        source: BackendError,
    },
    /// Extraction panicked outside the decoders (which catch their own panics): a bug of
    /// ours, caught so that it costs this file only.
    #[error("{}: internal error (please report it): {detail}", path.display())]
    Panic {
        /// The file.
        path: PathBuf,
        /// The panic's message.
        detail: String,
    },
    /// The overlay could not be drawn.
    #[error("{}: cannot draw overlay: {detail}", path.display())]
    Overlay {
        /// The file.
        path: PathBuf,
        /// Encoder message.
        detail: String,
    },
}

impl ExtractError {
    /// A stable machine-readable name for the error kind.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::Unrecognised { empty: true, .. } => "empty",
            Self::Unrecognised { .. } => "unknown_format",
            Self::Image(e) => e.kind.code(),
            Self::Audio(e) => e.kind.code(),
            Self::AudioConfig { .. } => "bad_parameters",
            Self::Backend { .. } => "backend",
            Self::Overlay { .. } => "overlay",
            Self::Panic { .. } => "internal_error",
        }
    }
}

impl ExtractError {
    /// The same error naming `path` instead: for a file staged under a temporary name.
    #[must_use]
    pub fn renamed(self, path: &Path) -> Self {
        let path = path.to_path_buf();
        match self {
            Self::Io { source, .. } => Self::Io { path, source },
            Self::Unrecognised { empty, .. } => Self::Unrecognised { path, empty },
            Self::Image(e) => Self::Image(ImageError { path, ..e }),
            Self::Audio(e) => Self::Audio(AudioError { path, ..e }),
            Self::AudioConfig { source, .. } => Self::AudioConfig { path, source },
            Self::Backend { source, .. } => Self::Backend { path, source },
            Self::Panic { detail, .. } => Self::Panic { path, detail },
            Self::Overlay { detail, .. } => Self::Overlay { path, detail },
        }
    }
}

/// Extracts an encoded file held in memory (the bytes of a PNG, a FLAC, ...), named
/// `content_url`. The bytes are staged in a temporary file, since the decoders seek and the
/// file path is the one every other input takes; errors name `content_url`.
///
/// # Errors
/// As [`extract_file`]; [`ExtractError::Io`] when the temporary file cannot be written.
pub fn extract_bytes(
    bytes: &[u8],
    content_url: &str,
    options: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    let name = Path::new(content_url);
    let io = |source| ExtractError::Io {
        path: name.to_path_buf(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix("mmprompt-bytes-")
        .tempfile()
        .map_err(io)?;
    std::io::Write::write_all(tmp.as_file_mut(), bytes).map_err(io)?;
    let mut out = extract_file(tmp.path(), content_url, options).map_err(|e| e.renamed(name))?;
    out.partial_error = out.partial_error.map(|e| AudioError {
        path: name.to_path_buf(),
        ..e
    });
    Ok(out)
}

/// Extracts one file. `content_url` is how the document names the file (usually the path
/// as the user gave it).
///
/// ```no_run
/// use mmprompt::jobs::extract::{extract_file, ExtractOptions};
/// let out = extract_file("photo.jpg".as_ref(), "photo.jpg", &ExtractOptions::default())?;
/// println!("{}", out.text);
/// # Ok::<(), mmprompt::jobs::extract::ExtractError>(())
/// ```
///
/// # Errors
/// An [`ExtractError`] naming `path`: it cannot be read, is neither image nor audio, fails
/// to decode, the parameters are unusable, the backend fails, or the overlay cannot be drawn.
/// A stream damaged part-way is not an error here: see [`Extracted::partial_error`].
pub fn extract_file(
    path: &Path,
    content_url: &str,
    options: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    let kind = sniff_file(path).map_err(|source| ExtractError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    extract_as(path, content_url, kind, options)
}

/// [`extract_file`] for a file whose kind the caller has already sniffed (a batch sniffs
/// while planning, to set non-media aside), so the file is not opened twice for it. A file
/// that has changed since is still read as what it now holds: a decoder refuses it.
///
/// # Errors
/// As [`extract_file`]; [`ExtractError::Unrecognised`] when `kind` is unknown.
pub fn extract_as(
    path: &Path,
    content_url: &str,
    kind: MediaKind,
    options: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    // Decoders catch their own panics (`decoder_panic`); a panic anywhere else here is a
    // bug of ours, still this file's one error line, never the batch's end.
    crate::panics::quietly(|| extract_kind(path, content_url, kind, options)).unwrap_or_else(
        |detail| {
            Err(ExtractError::Panic {
                path: path.to_path_buf(),
                detail,
            })
        },
    )
}

fn extract_kind(
    path: &Path,
    content_url: &str,
    kind: MediaKind,
    options: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    match kind {
        MediaKind::Image => extract_image(path, content_url, options),
        MediaKind::Audio => extract_audio(path, content_url, options),
        MediaKind::Unknown => Err(ExtractError::Unrecognised {
            path: path.to_path_buf(),
            empty: std::fs::metadata(path)
                .map(|m| m.len() == 0)
                .unwrap_or(false),
        }),
    }
}

fn extract_image(
    path: &Path,
    content_url: &str,
    options: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    let params = &options.image;
    let decoded = pipeline::decode_file(
        path,
        &DecodeOptions {
            max_pixels: params.max_pixels,
            max_bytes: params.max_bytes,
        },
        params.backend,
    )?;
    let source = SourceInfo {
        content_url: content_url.to_owned(),
        mime: decoded.mime.to_owned(),
        sha256: decoded.sha256,
        byte_len: decoded.byte_len,
    };
    image_document(path, &decoded.rgb, source, options)
}

/// Extracts an image already in memory as pixels (an array from OpenCV or numpy): the same
/// analysis and document as for a file holding them. `source` names it; its `sha256` and
/// `byte_len` describe the pixel bytes as given.
///
/// # Errors
/// [`ExtractError::Image`] when the pixels are over `options.image.max_pixels` or have a
/// zero dimension, and the errors of the analysis and overlay as for [`extract_file`].
pub fn extract_pixels(
    pixels: image::DynamicImage,
    source: SourceInfo,
    options: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    let path = PathBuf::from(&source.content_url);
    crate::media::image::check_pixels(pixels.width(), pixels.height(), options.image.max_pixels)
        .map_err(|kind| ImageError {
            path: path.clone(),
            kind,
        })?;
    let rgb =
        crate::media::image::finish_pixels(pixels, image::metadata::Orientation::NoTransforms);
    crate::panics::quietly(|| image_document(&path, &rgb, source, options)).unwrap_or_else(
        |detail| {
            Err(ExtractError::Panic {
                path: path.clone(),
                detail,
            })
        },
    )
}

/// Analyses decoded pixels and renders their document.
fn image_document(
    path: &Path,
    rgb: &image::RgbImage,
    source: SourceInfo,
    options: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    let params = &options.image;
    let analysis =
        pipeline::analyze_image(rgb, params).map_err(|source| ExtractError::Backend {
            path: path.to_path_buf(),
            source,
        })?;
    let overlay_png = if options.overlay {
        Some(
            crate::render::overlay::render_png(rgb, &analysis).map_err(|e| {
                ExtractError::Overlay {
                    path: path.to_path_buf(),
                    detail: e.to_string(),
                }
            })?,
        )
    } else {
        None
    };
    let page = doc::Document::Image(doc::image_page(&source, &analysis, params, options.context));
    Ok(Extracted {
        kind: MediaKind::Image,
        text: page.text(),
        document: page.to_value(),
        count: analysis.regions.len(),
        sha256: source.sha256,
        overlay_png,
        partial_error: None,
    })
}

/// Keeps the segments as they close.
struct AudioSink {
    segments: Vec<Segment>,
}

impl AnalysisSink for AudioSink {
    fn on_segment(&mut self, segment: Segment) {
        self.segments.push(segment);
    }
}

/// One analysis of mono chunks at the analysis rate, and the spectrogram the overlay draws
/// them on: what a decoded file and an array of samples share.
struct AudioRun {
    analyzer: Analyzer,
    sink: AudioSink,
    spectrogram: Option<SpectrogramBuilder>,
}

impl AudioRun {
    fn new(path: &Path, options: &ExtractOptions) -> Result<Self, ExtractError> {
        let params = &options.audio;
        let analyzer = Analyzer::new(params.analyzer_config()).map_err(|source| {
            ExtractError::AudioConfig {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(Self {
            analyzer,
            sink: AudioSink {
                segments: Vec::new(),
            },
            spectrogram: options
                .overlay
                .then(|| SpectrogramBuilder::new(params.rate)),
        })
    }

    fn push(&mut self, chunk: &[f32]) {
        self.analyzer.push(chunk, &mut self.sink);
        if let Some(s) = self.spectrogram.as_mut() {
            s.push(chunk);
        }
    }

    /// Closes the segment open when the audio ended (or broke), so nothing analysed is
    /// lost, and renders the document.
    fn document(
        mut self,
        path: &Path,
        source: AudioSourceInfo,
        partial_error: Option<AudioError>,
        options: &ExtractOptions,
    ) -> Result<Extracted, ExtractError> {
        let summary = self.analyzer.finish(&mut self.sink);
        audio_document(
            path,
            source,
            &self.sink.segments,
            &summary,
            self.spectrogram.as_ref(),
            partial_error,
            options,
        )
    }
}

fn extract_audio(
    path: &Path,
    content_url: &str,
    options: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    let params = &options.audio;
    let mut run = AudioRun::new(path, options)?;
    let decode_options = AudioDecodeOptions {
        target_rate: params.rate,
        max_seconds: params.max_seconds,
        max_source_rate: params.max_source_rate,
        max_channels: params.max_channels,
    };
    // Analysis may run beside the decoding on an idle worker; the result is the same.
    let result = decode_stream_pipelined(path, &decode_options, &mut |chunk| run.push(chunk));
    let (info, partial_error) = match result {
        Ok(info) => (info, None),
        Err(e) if e.is_partial() => match e.partial.clone() {
            Some(info) => (*info, Some(e)),
            None => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    };
    let source = AudioSourceInfo {
        file: SourceInfo {
            content_url: content_url.to_owned(),
            mime: info.mime.to_owned(),
            sha256: info.sha256,
            byte_len: info.byte_len,
        },
        duration_s: info.duration_s,
        sample_rate: info.sample_rate,
        channels: info.channels,
    };
    run.document(path, source, partial_error, options)
}

/// Extracts audio already in memory as samples (an array from librosa or soundfile): the
/// same downmix, resampling, analysis and document as for a file holding them.
/// `interleaved` holds frames of `source.channels` samples at `source.sample_rate`
/// (a trailing partial frame is ignored); `source.file` names them, and its `sha256` and
/// `byte_len` describe the sample bytes as given.
///
/// # Errors
/// [`ExtractError::Audio`] when the rate or channel count is over the options' limits or
/// the rate cannot be resampled, or the samples are longer than `max_seconds`;
/// [`ExtractError::AudioConfig`] for unusable analysis parameters.
pub fn extract_samples(
    interleaved: &[f32],
    source: AudioSourceInfo,
    options: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    let path = PathBuf::from(&source.file.content_url);
    let params = &options.audio;
    let fail = |kind| {
        ExtractError::Audio(AudioError {
            path: path.clone(),
            kind,
            partial: None,
        })
    };
    let channels = usize::try_from(source.channels).unwrap_or(usize::MAX);
    crate::media::audio::check_declared(
        source.sample_rate,
        channels,
        params.max_source_rate,
        params.max_channels,
    )
    .map_err(fail)?;
    if channels == 0 {
        return Err(fail(AudioErrorKind::ZeroChannels));
    }
    let frames = interleaved.len() / channels;
    let seconds = frames as f64 / f64::from(source.sample_rate);
    if seconds > params.max_seconds {
        return Err(fail(AudioErrorKind::DeclaredTooLong {
            declared_s: seconds,
            limit_s: params.max_seconds,
        }));
    }
    if frames == 0 {
        return Err(fail(AudioErrorKind::NoAudio));
    }
    let mut run = AudioRun::new(&path, options)?;
    let mut resampler =
        crate::media::audio::MonoResampler::new(source.sample_rate, params.rate).map_err(fail)?;
    let mut mono = Vec::new();
    let mut into_analyzer = |chunk: &[f32]| run.push(chunk);
    // In blocks, so the mono copy stays small whatever the array's length.
    const BLOCK_FRAMES: usize = 1 << 16;
    for block in interleaved[..frames * channels].chunks(BLOCK_FRAMES * channels) {
        crate::media::audio::downmix_into(block, channels, &mut mono);
        resampler.push(&mono, &mut into_analyzer).map_err(fail)?;
    }
    resampler.finish(&mut into_analyzer).map_err(fail)?;
    let source = AudioSourceInfo {
        duration_s: seconds,
        ..source
    };
    run.document(&path, source, None, options)
}

/// Renders the document of analysed audio.
fn audio_document(
    path: &Path,
    source: AudioSourceInfo,
    segments: &[Segment],
    summary: &crate::audio::AnalysisSummary,
    spectrogram: Option<&SpectrogramBuilder>,
    partial_error: Option<AudioError>,
    options: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    let params = &options.audio;
    let overlay_png = match spectrogram {
        Some(s) => Some(s.render_png(segments).map_err(|e| ExtractError::Overlay {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?),
        None => None,
    };
    let error_text = partial_error
        .as_ref()
        .map(|e| (e.kind.code(), e.kind.to_string()));
    let mut parameters = params.to_json();
    if let Value::Object(m) = &mut parameters {
        m.insert(
            "decided".into(),
            json!({
                "analysedSeconds": summary.duration_s,
                "frames": summary.frames,
                "nonFiniteSamples": summary.non_finite,
                "clippedSamples": summary.clipped,
            }),
        );
    }
    let page = doc::Document::Audio(doc::audio_page(
        &source,
        segments,
        parameters,
        error_text.as_ref().map(|(c, m)| (*c, m.as_str())),
        options.context,
    ));
    Ok(Extracted {
        kind: MediaKind::Audio,
        text: page.text(),
        document: page.to_value(),
        count: segments.len(),
        sha256: source.file.sha256,
        overlay_png,
        partial_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_with_square(path: &Path) {
        let mut img = image::RgbImage::from_pixel(64, 48, image::Rgb([255, 255, 255]));
        for y in 10..30 {
            for x in 20..40 {
                img.put_pixel(x, y, image::Rgb([200, 0, 0]));
            }
        }
        img.save(path).unwrap();
    }

    /// A 16-bit mono WAV of `seconds` of a 440 Hz tone at `rate`.
    fn wav_tone(path: &Path, rate: u32, seconds: f64) -> Vec<u8> {
        let n = (f64::from(rate) * seconds) as usize;
        let mut bytes = Vec::with_capacity(44 + 2 * n);
        let data_len = u32::try_from(2 * n).unwrap();
        bytes.extend_from_slice(b"RIFF");
        bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&rate.to_le_bytes());
        bytes.extend_from_slice(&(rate * 2).to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&16u16.to_le_bytes());
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&data_len.to_le_bytes());
        for i in 0..n {
            let t = i as f64 / f64::from(rate);
            let v = (0.3 * (2.0 * std::f64::consts::PI * 440.0 * t).sin() * 32767.0) as i16;
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        std::fs::write(path, &bytes).unwrap();
        bytes
    }

    #[test]
    fn an_image_becomes_its_document_text_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("square.png");
        png_with_square(&p);
        let out = extract_file(&p, "square.png", &ExtractOptions::default()).unwrap();
        assert_eq!(out.kind, MediaKind::Image);
        assert_eq!(out.count, 1);
        assert_eq!(out.document["items"].as_array().map(Vec::len), Some(1));
        assert_eq!(out.document["about"]["contentUrl"], "square.png");
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(out.sha256, crate::media::image::sha256_hex(&bytes));
        assert_eq!(out.document["about"]["sha256"], out.sha256.as_str());
        assert_eq!(
            out.text
                .lines()
                .filter(|l| l.starts_with("image_region:"))
                .count(),
            1,
            "{}",
            out.text
        );
        assert!(out.overlay_png.is_none());
        assert!(out.partial_error.is_none());
        // Asked for, the overlay is a PNG of the image's size.
        let with = ExtractOptions {
            overlay: true,
            ..ExtractOptions::default()
        };
        let png = extract_file(&p, "square.png", &with)
            .unwrap()
            .overlay_png
            .unwrap();
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!((img.width(), img.height()), (64, 48));
    }

    #[test]
    fn audio_records_its_parameters_and_what_was_decided() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tone.wav");
        wav_tone(&p, 16_000, 1.0);
        let out = extract_file(&p, "tone.wav", &ExtractOptions::default()).unwrap();
        assert_eq!(out.kind, MediaKind::Audio);
        assert!(out.count >= 1);
        let params = &out.document["generator"]["parameters"];
        assert_eq!(params["sampleRate"], 16_000);
        assert_eq!(params["decided"]["analysedSeconds"], 1.0);
        assert_eq!(
            params["decided"]["frames"].as_u64().map(|f| f > 90),
            Some(true)
        );
        assert!(out.partial_error.is_none());
    }

    #[test]
    fn a_stream_cut_short_keeps_its_document_and_reports_the_damage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cut.wav");
        let bytes = wav_tone(&p, 16_000, 2.0);
        // Half of the declared samples are missing.
        std::fs::write(&p, &bytes[..44 + bytes.len() / 2]).unwrap();
        let out = extract_file(&p, "cut.wav", &ExtractOptions::default()).unwrap();
        let e = out.partial_error.expect("a partial result");
        assert_eq!(e.kind.code(), "truncated");
        assert_eq!(out.document["decodeError"]["errorCode"], "truncated");
        assert!(out.count >= 1);
    }

    #[test]
    fn errors_name_the_file_and_carry_a_stable_code() {
        let dir = tempfile::tempdir().unwrap();
        let o = ExtractOptions::default();
        let empty = dir.path().join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        let e = extract_file(&empty, "empty.png", &o).unwrap_err();
        assert_eq!(e.code(), "empty");
        assert!(
            e.to_string().starts_with(&empty.display().to_string()),
            "{e}"
        );
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, b"plain words, no media").unwrap();
        let e = extract_file(&text, "notes.txt", &o).unwrap_err();
        assert_eq!(e.code(), "unknown_format");
        let e = extract_file(&dir.path().join("missing.png"), "missing.png", &o).unwrap_err();
        assert_eq!(e.code(), "io");
        // A kind sniffed earlier is trusted: an image read as audio is refused by the decoder.
        let png = dir.path().join("square.png");
        png_with_square(&png);
        let e = extract_as(&png, "square.png", MediaKind::Audio, &o).unwrap_err();
        assert!(matches!(e, ExtractError::Audio(_)), "{e}");
        // Unusable audio parameters are refused before decoding.
        let wav = dir.path().join("tone.wav");
        wav_tone(&wav, 16_000, 0.5);
        let bad = ExtractOptions {
            audio: AudioParams {
                hop_ms: 0.0,
                ..AudioParams::default()
            },
            ..ExtractOptions::default()
        };
        let e = extract_file(&wav, "tone.wav", &bad).unwrap_err();
        assert_eq!(e.code(), "bad_parameters");
    }
}
