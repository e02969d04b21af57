//! Which implementation runs the pixel stages of the image pipeline.
//!
//! The default [`Backend::Rust`] is the pure Rust code in [`crate::media::image`] and
//! [`crate::vision`]. [`Backend::Opencv`], compiled in with the cargo feature `opencv`,
//! decodes, blurs, thresholds and traces borders with OpenCV instead; both hand their
//! borders to the same region, measure and document code, so their outputs agree (see
//! the `opencv` submodule, compiled with the feature, for the stages where OpenCV's own
//! results differ).

use crate::media::image::{DecodeOptions, DecodedImage, ImageError, ImageErrorKind};
use crate::pipeline::{ImageAnalysis, ImageParams};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

#[cfg(feature = "opencv")]
pub mod opencv;

/// What to tell someone who asks for OpenCV from a build without it.
pub const OPENCV_UNAVAILABLE: &str = "this mmprompt was built without OpenCV; rebuild with \
     `cargo build --release --features opencv` (needs the apt packages libopencv-dev clang \
     libclang-dev)";

/// The implementation of decode, grayscale, blur, threshold and border following.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The pure Rust implementation; always available.
    #[default]
    Rust,
    /// OpenCV through the `opencv` crate; only in builds with the `opencv` feature.
    Opencv,
}

impl Backend {
    /// Whether this build can run the backend.
    pub const fn is_available(self) -> bool {
        match self {
            Self::Rust => true,
            Self::Opencv => cfg!(feature = "opencv"),
        }
    }
}

impl FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rust" => Ok(Self::Rust),
            "opencv" => Ok(Self::Opencv),
            _ => Err(format!("'{s}' is not a backend; use rust or opencv")),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rust => "rust",
            Self::Opencv => "opencv",
        })
    }
}

/// Why a backend could not analyse an image that decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The backend is not compiled into this build.
    #[error("{}", OPENCV_UNAVAILABLE)]
    Unavailable,
    /// OpenCV reported an error.
    #[error("OpenCV: {0}")]
    Opencv(String),
}

/// Reads and decodes an image file with `backend`.
///
/// Without the `opencv` feature, [`Backend::Opencv`] fails with an
/// [`ImageErrorKind::Unsupported`] that says how to enable it.
pub fn decode_file(
    path: &Path,
    options: &DecodeOptions,
    backend: Backend,
) -> Result<DecodedImage, ImageError> {
    match backend {
        Backend::Rust => crate::media::image::decode_file(path, options),
        Backend::Opencv => {
            let err = |kind| ImageError {
                path: path.to_path_buf(),
                kind,
            };
            let bytes = std::fs::read(path).map_err(|e| err(ImageErrorKind::Io(e.to_string())))?;
            decode_bytes_opencv(&bytes, options).map_err(err)
        }
    }
}

#[cfg(feature = "opencv")]
fn decode_bytes_opencv(
    bytes: &[u8],
    options: &DecodeOptions,
) -> Result<DecodedImage, ImageErrorKind> {
    opencv::decode_bytes(bytes, options)
}

#[cfg(not(feature = "opencv"))]
fn decode_bytes_opencv(
    _bytes: &[u8],
    _options: &DecodeOptions,
) -> Result<DecodedImage, ImageErrorKind> {
    Err(ImageErrorKind::Unsupported(OPENCV_UNAVAILABLE.into()))
}

/// Caps the threads `backend` starts on its own, so that a batch of `--jobs N` runs no more
/// than N threads of work. The Rust backend runs on the caller's rayon pool and needs
/// nothing; OpenCV keeps a pool of one thread per core, which this resizes (process-wide).
pub fn set_native_threads(backend: Backend, threads: usize) {
    match backend {
        Backend::Rust => {}
        #[cfg(feature = "opencv")]
        Backend::Opencv => opencv::set_threads(threads),
        #[cfg(not(feature = "opencv"))]
        Backend::Opencv => {
            let _ = threads;
        }
    }
}

/// Runs the pipeline of `params.backend` on `rgb`.
///
/// The Rust backend cannot fail; the OpenCV one fails only when OpenCV itself reports an
/// error, or when it is not compiled in.
pub fn analyze_image(
    rgb: &image::RgbImage,
    params: &ImageParams,
) -> Result<ImageAnalysis, BackendError> {
    match params.backend {
        Backend::Rust => Ok(crate::pipeline::analyze_image(rgb, params)),
        #[cfg(feature = "opencv")]
        Backend::Opencv => opencv::analyze_image(rgb, params),
        #[cfg(not(feature = "opencv"))]
        Backend::Opencv => Err(BackendError::Unavailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        for b in [Backend::Rust, Backend::Opencv] {
            assert_eq!(b.to_string().parse::<Backend>(), Ok(b));
        }
        assert_eq!("OpenCV".parse::<Backend>(), Ok(Backend::Opencv));
        assert!("cuda".parse::<Backend>().is_err());
    }

    #[test]
    fn only_a_non_default_backend_is_recorded() {
        let rust = ImageParams::default().to_json();
        assert!(rust.get("backend").is_none());
        let cv = ImageParams {
            backend: Backend::Opencv,
            ..ImageParams::default()
        }
        .to_json();
        assert_eq!(cv["backend"], "opencv");
    }

    #[test]
    fn availability_follows_the_feature() {
        assert!(Backend::Rust.is_available());
        assert_eq!(Backend::Opencv.is_available(), cfg!(feature = "opencv"));
        let params = ImageParams {
            backend: Backend::Opencv,
            ..ImageParams::default()
        };
        let img = image::RgbImage::new(4, 4);
        assert_eq!(
            analyze_image(&img, &params).is_ok(),
            cfg!(feature = "opencv")
        );
    }
}
