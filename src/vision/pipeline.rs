//! The image pipeline's one entry point: pixels in, ranked regions out, on the backend the
//! parameters name. Decoding a file with that backend lives here too, so a caller never
//! picks a backend twice; serialisation comes after ([`crate::doc`]).

pub use crate::vision::backend::BackendError;
pub use crate::vision::params::{Backend, ImageAnalysis, ImageParams, MinAreaArg};

#[cfg(not(feature = "opencv"))]
use crate::media::image::ImageErrorKind;
use crate::media::image::{DecodeOptions, DecodedImage, ImageError};
use crate::vision::backend;
use image::RgbImage;
use std::path::Path;

/// Runs grayscale → blur → threshold → border following → measures on `rgb`, with the
/// stages of `params.backend`.
///
/// ```
/// use mmprompt::vision::pipeline::{analyze_image, ImageParams};
/// let mut img = image::RgbImage::from_pixel(64, 48, image::Rgb([255, 255, 255]));
/// for y in 10..30 {
///     for x in 20..40 {
///         img.put_pixel(x, y, image::Rgb([200, 0, 0]));
///     }
/// }
/// let found = analyze_image(&img, &ImageParams::default())?;
/// assert_eq!(found.regions.len(), 1);
/// assert_eq!(found.regions[0].color_name, "red");
/// # Ok::<(), mmprompt::vision::pipeline::BackendError>(())
/// ```
///
/// # Errors
/// The Rust backend never fails. [`Backend::Opencv`] fails when OpenCV reports an error,
/// or with [`BackendError::Unavailable`] in a build without the `opencv` feature.
pub fn analyze_image(rgb: &RgbImage, params: &ImageParams) -> Result<ImageAnalysis, BackendError> {
    match params.backend {
        Backend::Rust => Ok(backend::rust::analyze_image(rgb, params)),
        #[cfg(feature = "opencv")]
        Backend::Opencv => backend::opencv::analyze_image(rgb, params),
        #[cfg(not(feature = "opencv"))]
        Backend::Opencv => Err(BackendError::Unavailable),
    }
}

/// Reads and decodes an image file with `backend`.
///
/// # Errors
/// Whatever the decoder reports ([`ImageError`] names the file). Without the `opencv`
/// feature, [`Backend::Opencv`] fails with an [`ImageErrorKind::Unsupported`] that says how
/// to enable it.
///
/// [`ImageErrorKind::Unsupported`]: crate::media::image::ImageErrorKind::Unsupported
pub fn decode_file(
    path: &Path,
    options: &DecodeOptions,
    backend: Backend,
) -> Result<DecodedImage, ImageError> {
    match backend {
        Backend::Rust => crate::media::image::decode_file(path, options),
        #[cfg(feature = "opencv")]
        Backend::Opencv => {
            use crate::media::image::ImageErrorKind;
            let err = |kind| ImageError {
                path: path.to_path_buf(),
                kind,
            };
            let bytes = std::fs::read(path).map_err(|e| err(ImageErrorKind::Io(e.to_string())))?;
            backend::opencv::decode_bytes(&bytes, options).map_err(err)
        }
        #[cfg(not(feature = "opencv"))]
        Backend::Opencv => Err(ImageError {
            path: path.to_path_buf(),
            kind: ImageErrorKind::Unsupported(backend::OPENCV_UNAVAILABLE.into()),
        }),
    }
}

/// Caps the threads `backend` starts on its own, so that a batch of `--jobs N` runs no more
/// than N threads of work. The Rust backend runs on the caller's rayon pool and needs
/// nothing; OpenCV keeps a pool of one thread per core, which this resizes (process-wide).
pub fn set_native_threads(backend: Backend, threads: usize) {
    match backend {
        Backend::Rust => {}
        #[cfg(feature = "opencv")]
        Backend::Opencv => backend::opencv::set_threads(threads),
        #[cfg(not(feature = "opencv"))]
        Backend::Opencv => {
            let _ = threads;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
