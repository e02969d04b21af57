//! `mmprompt._mmprompt`: the extension module behind the Python package `mmprompt`.
//!
//! It is a thin layer over the library. Options arrive as one JSON object (the package's
//! keyword arguments, in the command line's names) and go through the same
//! [`ExtractSettings`] and [`PromptSettings`] as the flags, so a value the CLI refuses is
//! refused here with the same words. Pixels and samples arrive as bytes with their shape;
//! `python/mmprompt/__init__.py` checks numpy arrays and hands them over. The GIL is
//! released while Rust works, so Python threads calling in parallel run in parallel.

use mmprompt::doc::{AudioSourceInfo, LiveSourceInfo, SourceInfo};
use mmprompt::jobs::extract::{
    extract_bytes, extract_file, extract_pixels, extract_samples, ExtractError, ExtractOptions,
    Extracted,
};
use mmprompt::jobs::settings::ExtractSettings;
use mmprompt::jobs::stream::{LiveSegment, SampleStream};
use mmprompt::media::image::sha256_hex;
use mmprompt::prompt::settings::{PromptSettings, PromptSettingsError};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use std::path::PathBuf;
use std::sync::Mutex;

create_exception!(
    mmprompt,
    MmpromptError,
    PyException,
    "An input or option mmprompt refused. `code` is the machine-readable code of the \
     command line's error line and manifest (`unknown_format`, `too_large`, `usage`, ...), \
     `path` the input it names (None for options), and the message the line's text."
);

/// The exception for one failure: `str()` is the message, plus `code` and `path`.
fn error(py: Python<'_>, code: &str, path: Option<String>, message: String) -> PyErr {
    let err = MmpromptError::new_err(message);
    let value = err.value(py);
    let _ = value.setattr("code", code);
    let _ = value.setattr("path", path);
    err
}

fn usage(py: Python<'_>, message: impl std::fmt::Display) -> PyErr {
    error(py, "usage", None, message.to_string())
}

fn extract_error(py: Python<'_>, e: &ExtractError, path: &str) -> PyErr {
    error(py, e.code(), Some(path.to_owned()), e.to_string())
}

fn settings(py: Python<'_>, options_json: &str) -> PyResult<ExtractOptions> {
    let value: serde_json::Value =
        serde_json::from_str(options_json).map_err(|e| usage(py, format!("options: {e}")))?;
    ExtractSettings::from_json(&value)
        .and_then(|s| s.to_options())
        .map_err(|e| usage(py, e))
}

/// The document as a dict, or the error a damaged stream left with its partial document.
fn finish(py: Python<'_>, out: Result<Extracted, ExtractError>, path: &str) -> PyResult<Py<PyAny>> {
    let out = out.map_err(|e| extract_error(py, &e, path))?;
    if let Some(e) = &out.partial_error {
        let err = error(py, e.kind.code(), Some(path.to_owned()), e.to_string());
        let _ = err
            .value(py)
            .setattr("document", pythonize::pythonize(py, &out.document)?);
        return Err(err);
    }
    Ok(pythonize::pythonize(py, &out.document)?.unbind())
}

/// Extracts a file; `name` is how the document names it (its `contentUrl`).
#[pyfunction]
fn extract_path(
    py: Python<'_>,
    path: PathBuf,
    name: &str,
    options_json: &str,
) -> PyResult<Py<PyAny>> {
    let options = settings(py, options_json)?;
    let out = py.detach(|| extract_file(&path, name, &options));
    finish(py, out, name)
}

/// Extracts an encoded file held in memory (PNG, FLAC, ...).
#[pyfunction]
fn extract_encoded(
    py: Python<'_>,
    data: &Bound<'_, PyBytes>,
    name: &str,
    options_json: &str,
) -> PyResult<Py<PyAny>> {
    let options = settings(py, options_json)?;
    let bytes = data.as_bytes();
    let out = py.detach(|| extract_bytes(bytes, name, &options));
    finish(py, out, name)
}

/// Extracts 8-bit pixels: `height` × `width` × `channels` (1, 3 or 4) in row order, RGB(A)
/// or with `bgr` BGR(A) as OpenCV holds them.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn extract_image(
    py: Python<'_>,
    pixels: &Bound<'_, PyBytes>,
    height: u32,
    width: u32,
    channels: u8,
    bgr: bool,
    name: &str,
    options_json: &str,
) -> PyResult<Py<PyAny>> {
    let options = settings(py, options_json)?;
    let raw = pixels.as_bytes();
    let expected = u64::from(height) * u64::from(width) * u64::from(channels);
    if raw.len() as u64 != expected || !matches!(channels, 1 | 3 | 4) {
        return Err(usage(
            py,
            format!(
                "{name}: {} bytes is not {height}x{width}x{channels} pixels of 1, 3 or 4 channels",
                raw.len()
            ),
        ));
    }
    let out = py.detach(|| {
        let source = SourceInfo {
            content_url: name.to_owned(),
            mime: "image/x-raw".into(),
            sha256: sha256_hex(raw),
            byte_len: raw.len() as u64,
        };
        let mut buf = raw.to_vec();
        if bgr && channels >= 3 {
            for px in buf.chunks_exact_mut(usize::from(channels)) {
                px.swap(0, 2);
            }
        }
        let img = match channels {
            1 => {
                image::GrayImage::from_raw(width, height, buf).map(image::DynamicImage::ImageLuma8)
            }
            3 => image::RgbImage::from_raw(width, height, buf).map(image::DynamicImage::ImageRgb8),
            _ => {
                image::RgbaImage::from_raw(width, height, buf).map(image::DynamicImage::ImageRgba8)
            }
        };
        img.map(|img| extract_pixels(img, source, &options))
    });
    match out {
        Some(out) => finish(py, out, name),
        None => Err(usage(
            py,
            format!("{name}: the pixels do not fill {height}x{width}"),
        )),
    }
}

/// Samples to f32: `f32` as they are, `i16` scaled by 1/32768 as decoders do.
fn to_f32(raw: &[u8], dtype: &str) -> Option<Vec<f32>> {
    match dtype {
        "f32" => Some(
            raw.chunks_exact(4)
                .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        "i16" => Some(
            raw.chunks_exact(2)
                .map(|c| f32::from(i16::from_ne_bytes([c[0], c[1]])) / 32768.0)
                .collect(),
        ),
        _ => None,
    }
}

/// Extracts samples: frames of `channels` interleaved samples (`dtype` f32 or i16) at
/// `sample_rate` Hz.
#[pyfunction]
fn extract_audio(
    py: Python<'_>,
    samples: &Bound<'_, PyBytes>,
    dtype: &str,
    channels: u32,
    sample_rate: u32,
    name: &str,
    options_json: &str,
) -> PyResult<Py<PyAny>> {
    let options = settings(py, options_json)?;
    let raw = samples.as_bytes();
    let out = py.detach(|| {
        let data = to_f32(raw, dtype)?;
        let source = AudioSourceInfo {
            file: SourceInfo {
                content_url: name.to_owned(),
                mime: "audio/x-raw".into(),
                sha256: sha256_hex(raw),
                byte_len: raw.len() as u64,
            },
            duration_s: 0.0,
            sample_rate,
            channels,
        };
        Some(extract_samples(&data, source, &options))
    });
    match out {
        Some(out) => finish(py, out, name),
        None => Err(usage(
            py,
            format!("{name}: samples must be float32 or int16, not {dtype}"),
        )),
    }
}

/// The dry-run report `mmprompt prompt` prints for `inputs` (with `full_body` the attached
/// media in full). Keys are never in it.
#[pyfunction]
fn prompt(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    settings_json: &str,
    options_json: &str,
    full_body: bool,
) -> PyResult<Py<PyAny>> {
    let extract = settings(py, options_json)?;
    let value: serde_json::Value =
        serde_json::from_str(settings_json).map_err(|e| usage(py, format!("options: {e}")))?;
    let settings = PromptSettings::from_json(&value).map_err(|e| usage(py, e))?;
    let report = py.detach(|| {
        let opts = settings
            .send_options(extract, std::path::Path::new("out"), true)
            .map_err(|e| match e {
                PromptSettingsError::Usage(e) => ("usage", e.to_string()),
                e => ("io", e.to_string()),
            })?;
        mmprompt::send::dry_run(&inputs, &opts, full_body, |_| Ok(()))
            .map(|run| run.report)
            .map_err(|e| ("prompt", e))
    });
    match report {
        Ok(v) => Ok(pythonize::pythonize(py, &v)?.unbind()),
        Err((code, message)) => Err(error(py, code, None, message)),
    }
}

/// A live analysis fed from Python: chunks in, closed segments out, as `mmprompt live`
/// gives them (one JSON-LD Annotation each).
#[pyclass(module = "mmprompt._mmprompt")]
struct Stream {
    inner: Mutex<SampleStream>,
}

fn annotations(py: Python<'_>, closed: &[LiveSegment]) -> PyResult<Py<PyList>> {
    let list = PyList::empty(py);
    for s in closed {
        let v = serde_json::to_value(&s.annotation).map_err(|e| usage(py, e))?;
        list.append(pythonize::pythonize(py, &v)?)?;
    }
    Ok(list.unbind())
}

#[pymethods]
impl Stream {
    #[new]
    fn new(
        py: Python<'_>,
        sample_rate: u32,
        channels: u32,
        name: &str,
        session: &str,
        options_json: &str,
    ) -> PyResult<Self> {
        let options = settings(py, options_json)?;
        let source = LiveSourceInfo {
            session: session.to_owned(),
            device: name.to_owned(),
            sample_rate,
            channels,
            started: std::time::SystemTime::now(),
        };
        let stream = SampleStream::new(source, &options.audio, options.context)
            .map_err(|e| error(py, e.code(), None, e.to_string()))?;
        Ok(Self {
            inner: Mutex::new(stream),
        })
    }

    /// Analyses one chunk of interleaved samples; returns the segments it closed.
    fn push(
        &self,
        py: Python<'_>,
        samples: &Bound<'_, PyBytes>,
        dtype: &str,
    ) -> PyResult<Py<PyList>> {
        let raw = samples.as_bytes();
        self.run(py, |stream, closed| {
            let data = to_f32(raw, dtype)
                .ok_or_else(|| format!("samples must be float32 or int16, not {dtype}"))?;
            stream.push(&data, closed).map_err(|e| e.to_string())
        })
    }

    /// Ends the audio: closes the open segment and returns the last segments.
    fn finish(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        self.run(py, |stream, closed| {
            stream.finish(closed).map(|_| ()).map_err(|e| e.to_string())
        })
    }
}

impl Stream {
    /// Runs `step` on the stream without the GIL and returns the segments it closed.
    fn run(
        &self,
        py: Python<'_>,
        step: impl FnOnce(&mut SampleStream, &mut Vec<LiveSegment>) -> Result<(), String> + Send,
    ) -> PyResult<Py<PyList>> {
        let closed = py.detach(|| {
            let mut stream = self
                .inner
                .lock()
                .map_err(|_| "the analyzer failed earlier".to_string())?;
            let mut closed = Vec::new();
            step(&mut stream, &mut closed)?;
            Ok::<_, String>(closed)
        });
        annotations(py, &closed.map_err(|e| usage(py, e))?)
    }
}

/// The JSON-LD context and the JSON Schema of the documents.
#[pyfunction]
fn resources() -> (&'static str, &'static str) {
    (mmprompt::doc::CONTEXT, mmprompt::doc::SCHEMA)
}

#[pymodule]
fn _mmprompt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MmpromptError", m.py().get_type::<MmpromptError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(extract_path, m)?)?;
    m.add_function(wrap_pyfunction!(extract_encoded, m)?)?;
    m.add_function(wrap_pyfunction!(extract_image, m)?)?;
    m.add_function(wrap_pyfunction!(extract_audio, m)?)?;
    m.add_function(wrap_pyfunction!(prompt, m)?)?;
    m.add_function(wrap_pyfunction!(resources, m)?)?;
    m.add_class::<Stream>()?;
    Ok(())
}
