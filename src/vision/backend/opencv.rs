//! The OpenCV backend: decode, grayscale, blur, threshold and border following in
//! OpenCV, handing the same buffers and [`Contour`]s to [`crate::vision::regions`] as the
//! Rust pipeline does.
//!
//! Stage by stage, against the Rust backend:
//! - **decode** — `imdecode(IMREAD_UNCHANGED)`, after the same header checks as the Rust
//!   decoder ([`crate::media::image::probe`]: pixel cap, truncated JPEG); the raw
//!   channels then go through the same EXIF orientation, 16-to-8-bit and alpha
//!   flattening code, so lossless formats give the same pixels. JPEG does not: libjpeg's
//!   IDCT and chroma upsampling differ from the Rust decoder's by a few levels. OpenCV
//!   4.6 reads no GIF, so GIF is refused as unsupported.
//! - **grayscale, blur, Otsu, fixed and adaptive thresholds** — bit-exact with the Rust
//!   stages (the differential tests compare every pixel).
//! - **Canny** — `cv2.Canny` after a σ = 1.4 Gaussian, with the L2 gradient: the same
//!   recipe as imageproc's detector but not the same edges (different blur kernel and
//!   non-maximum suppression). Equality holds from the binary image onward.
//! - **border following** — `findContours(RETR_TREE, CHAIN_APPROX_NONE)`, reordered into
//!   the raster order of their starting pixels, which is the Rust tracer's order.

use super::rust;
use super::BackendError;
use crate::media::image::{self as media, DecodeOptions, DecodedImage, ImageErrorKind};
use crate::vision::contours::{BorderKind, Contour};
use crate::vision::params::{ImageAnalysis, ImageParams, SegmentMode};
use crate::vision::preprocess::{Invert, Threshold, MAX_ADAPTIVE_BLOCK, MAX_SIGMA};
use crate::vision::regions::analyze;
use crate::vision::Point;
use ::opencv::core::{self as cv, Mat, Vec3b, Vec4i, Vector};
use ::opencv::prelude::*;
use ::opencv::{imgcodecs, imgproc};
use image::{DynamicImage, GrayImage, ImageFormat, RgbImage};

/// Sets OpenCV's thread count (1: OpenCV calls run on the calling thread only).
pub fn set_threads(threads: usize) {
    // Failure leaves OpenCV's default, which costs speed, never results.
    let _ = cv::set_num_threads(i32::try_from(threads.max(1)).unwrap_or(i32::MAX));
}

impl From<::opencv::Error> for BackendError {
    fn from(e: ::opencv::Error) -> Self {
        Self::Opencv(e.to_string())
    }
}

type Result<T> = std::result::Result<T, BackendError>;

/// The sigma imageproc's Canny blurs with; the OpenCV path blurs the same amount.
const CANNY_SIGMA: f64 = 1.4;

/// Decodes an image held in memory with OpenCV; see the module notes for how the result
/// compares with [`crate::media::image::decode_bytes`].
///
/// # Errors
/// The header errors of [`crate::media::image::probe`]; GIF, which OpenCV does not read,
/// as unsupported; and a corrupt image, or one OpenCV decodes to other dimensions than its
/// header states.
pub fn decode_bytes(
    bytes: &[u8],
    options: &DecodeOptions,
) -> std::result::Result<DecodedImage, ImageErrorKind> {
    let header = media::probe(bytes, options)?;
    let name = media::format_name(header.format);
    if header.format == ImageFormat::Gif {
        return Err(ImageErrorKind::Unsupported(
            "OpenCV does not decode GIF; use --backend rust".into(),
        ));
    }
    let corrupt = |detail: String| ImageErrorKind::Corrupt {
        format: name,
        detail,
    };
    // As in the Rust decoder: an idle thread of the current rayon pool hashes meanwhile.
    let (decoded, sha256) = rayon::join(|| decode_mat(bytes), || media::sha256_hex(bytes));
    let mat = decoded.map_err(|e| corrupt(format!("OpenCV: {e}")))?;
    if mat.empty() {
        return Err(corrupt("OpenCV could not decode it".into()));
    }
    let size = mat.size().map_err(|e| corrupt(e.to_string()))?;
    if (size.width as i64, size.height as i64)
        != (i64::from(header.width), i64::from(header.height))
    {
        return Err(corrupt(format!(
            "OpenCV decoded {}x{} pixels where the header says {}x{}",
            size.width, size.height, header.width, header.height
        )));
    }
    let img = mat_to_dynamic(&mat).map_err(|e| match e {
        BackendError::Opencv(m) => ImageErrorKind::Unsupported(m),
        other => ImageErrorKind::Unsupported(other.to_string()),
    })?;
    Ok(DecodedImage {
        rgb: media::finish_pixels(img, header.orientation),
        mime: media::mime(header.format),
        sha256,
        byte_len: bytes.len() as u64,
    })
}

fn decode_mat(bytes: &[u8]) -> Result<Mat> {
    let buf = Mat::from_slice(bytes)?;
    // UNCHANGED keeps alpha and 16-bit samples, and skips OpenCV's own EXIF rotation, so
    // the shared finishing code can treat them as the Rust decoder does.
    Ok(imgcodecs::imdecode(&buf, imgcodecs::IMREAD_UNCHANGED)?)
}

/// Turns a decoded BGR(A) or gray Mat of 8 or 16 bits into an RGB(A) or luma image.
fn mat_to_dynamic(mat: &Mat) -> Result<DynamicImage> {
    let (w, h) = (mat.cols() as u32, mat.rows() as u32);
    let channels = mat.channels();
    let swapped;
    let rgb_order = match channels {
        1 => mat,
        3 | 4 => {
            let code = if channels == 3 {
                imgproc::COLOR_BGR2RGB
            } else {
                imgproc::COLOR_BGRA2RGBA
            };
            swapped = convert(mat, code)?;
            &swapped
        }
        n => {
            return Err(BackendError::Opencv(format!(
                "{n} channels are not supported"
            )))
        }
    };
    let bytes = rgb_order.data_bytes()?;
    let bad = || BackendError::Opencv("decoded buffer has an unexpected size".into());
    match mat.depth() {
        cv::CV_8U => {
            let data = bytes.to_vec();
            Ok(match channels {
                1 => DynamicImage::ImageLuma8(
                    image::ImageBuffer::from_raw(w, h, data).ok_or_else(bad)?,
                ),
                3 => DynamicImage::ImageRgb8(
                    image::ImageBuffer::from_raw(w, h, data).ok_or_else(bad)?,
                ),
                _ => DynamicImage::ImageRgba8(
                    image::ImageBuffer::from_raw(w, h, data).ok_or_else(bad)?,
                ),
            })
        }
        cv::CV_16U => {
            // `data_typed` insists on one channel; the bytes are native-endian samples.
            let data: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|b| u16::from_ne_bytes([b[0], b[1]]))
                .collect();
            Ok(match channels {
                1 => DynamicImage::ImageLuma16(
                    image::ImageBuffer::from_raw(w, h, data).ok_or_else(bad)?,
                ),
                3 => DynamicImage::ImageRgb16(
                    image::ImageBuffer::from_raw(w, h, data).ok_or_else(bad)?,
                ),
                _ => DynamicImage::ImageRgba16(
                    image::ImageBuffer::from_raw(w, h, data).ok_or_else(bad)?,
                ),
            })
        }
        d => Err(BackendError::Opencv(format!(
            "sample depth {d} is not supported"
        ))),
    }
}

fn convert(src: &impl cv::ToInputArray, code: i32) -> Result<Mat> {
    let mut dst = Mat::default();
    imgproc::cvt_color_def(src, &mut dst, code)?;
    Ok(dst)
}

/// An RGB image as an OpenCV Mat (one copy).
///
/// # Errors
/// [`BackendError::Opencv`] when OpenCV cannot allocate or fill the Mat.
pub fn rgb_to_mat(rgb: &RgbImage) -> Result<Mat> {
    let view = Mat::new_rows_cols_with_bytes::<Vec3b>(
        rgb.height() as i32,
        rgb.width() as i32,
        rgb.as_raw(),
    )?;
    Ok(view.try_clone()?)
}

/// A gray image as an OpenCV Mat (one copy).
///
/// # Errors
/// [`BackendError::Opencv`] when OpenCV cannot allocate or fill the Mat.
pub fn gray_to_mat(gray: &GrayImage) -> Result<Mat> {
    let view = Mat::new_rows_cols_with_data::<u8>(
        gray.height() as i32,
        gray.width() as i32,
        gray.as_raw(),
    )?;
    Ok(view.try_clone()?)
}

/// A one-channel 8-bit Mat as a gray image (one copy).
///
/// # Errors
/// [`BackendError::Opencv`] when the Mat is not one 8-bit channel or cannot be read.
pub fn mat_to_gray(mat: &Mat) -> Result<GrayImage> {
    let data = mat.data_bytes()?.to_vec();
    GrayImage::from_raw(mat.cols() as u32, mat.rows() as u32, data)
        .ok_or_else(|| BackendError::Opencv("not a one-channel 8-bit image".into()))
}

/// `cvtColor(RGB2GRAY)`.
///
/// # Errors
/// [`BackendError::Opencv`] when OpenCV reports an error.
pub fn to_gray(rgb: &Mat) -> Result<Mat> {
    convert(rgb, imgproc::COLOR_RGB2GRAY)
}

/// `GaussianBlur` with OpenCV's own kernel size for `sigma` (σ clamped as the Rust stage
/// does; σ ≤ 0 or NaN copies).
///
/// # Errors
/// [`BackendError::Opencv`] when OpenCV reports an error.
pub fn gaussian_blur(gray: &Mat, sigma: f32) -> Result<Mat> {
    if sigma.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Ok(gray.try_clone()?);
    }
    blur_sigma(gray, f64::from(sigma.min(MAX_SIGMA)))
}

fn blur_sigma(gray: &Mat, sigma: f64) -> Result<Mat> {
    let mut dst = Mat::default();
    imgproc::gaussian_blur_def(gray, &mut dst, cv::Size::new(0, 0), sigma)?;
    Ok(dst)
}

/// The binary mask and the decisions made on the way, as
/// [`crate::vision::preprocess::Binarized`] but holding a Mat.
pub struct MatBinarized {
    /// 255 for foreground, 0 for background.
    pub mask: Mat,
    /// The global threshold used, where the mode has one.
    pub threshold: Option<u8>,
    /// Whether dark pixels were taken as foreground.
    pub inverted: bool,
}

/// Thresholds `gray` with OpenCV under the rules of
/// [`crate::vision::preprocess::binarize`].
///
/// # Errors
/// [`BackendError::Opencv`] when OpenCV reports an error.
pub fn binarize(gray: &Mat, threshold: Threshold, invert: Invert) -> Result<MatBinarized> {
    let total = i64::from(gray.rows()) * i64::from(gray.cols());
    let mut mask = Mat::default();
    let decide = |mask: &Mat| -> Result<bool> {
        let bright = i64::from(cv::count_non_zero(mask)?);
        Ok(match invert {
            Invert::Yes => true,
            Invert::No => false,
            Invert::Auto => bright > total - bright,
        })
    };
    match threshold {
        Threshold::Otsu | Threshold::Fixed(_) => {
            let (t, kind) = match threshold {
                Threshold::Fixed(t) => (f64::from(t), imgproc::THRESH_BINARY),
                _ => (0.0, imgproc::THRESH_BINARY | imgproc::THRESH_OTSU),
            };
            let chosen = imgproc::threshold(gray, &mut mask, t, 255.0, kind)?;
            let inverted = decide(&mask)?;
            let mask = if inverted { not(&mask)? } else { mask };
            Ok(MatBinarized {
                mask,
                threshold: Some(chosen.clamp(0.0, 255.0) as u8),
                inverted,
            })
        }
        Threshold::Adaptive { block, c } => {
            let block = (block.clamp(3, MAX_ADAPTIVE_BLOCK) | 1) as i32;
            let c = if c.is_finite() {
                f64::from(c).clamp(-512.0, 512.0)
            } else {
                0.0
            };
            imgproc::adaptive_threshold(
                gray,
                &mut mask,
                255.0,
                imgproc::ADAPTIVE_THRESH_MEAN_C,
                imgproc::THRESH_BINARY,
                block,
                c,
            )?;
            // THRESH_BINARY_INV rounds a fractional c the other way; a complement keeps
            // the Rust stage's invariant that inverting flips every pixel.
            let inverted = decide(&mask)?;
            let mask = if inverted { not(&mask)? } else { mask };
            Ok(MatBinarized {
                mask,
                threshold: None,
                inverted,
            })
        }
        Threshold::Canny { low, high } => {
            let low = low.max(f32::MIN_POSITIVE);
            let high = high.max(low);
            let mask = if gray.rows() < 3 || gray.cols() < 3 {
                Mat::zeros(gray.rows(), gray.cols(), cv::CV_8UC1)?.to_mat()?
            } else {
                let smooth = blur_sigma(gray, CANNY_SIGMA)?;
                let mut edges = Mat::default();
                imgproc::canny(
                    &smooth,
                    &mut edges,
                    f64::from(low),
                    f64::from(high),
                    3,
                    true,
                )?;
                edges
            };
            Ok(MatBinarized {
                mask,
                threshold: None,
                inverted: false,
            })
        }
    }
}

fn not(mask: &Mat) -> Result<Mat> {
    let mut out = Mat::default();
    cv::bitwise_not_def(mask, &mut out)?;
    Ok(out)
}

/// `findContours(RETR_TREE, CHAIN_APPROX_NONE)` as [`Contour`]s in the Rust tracer's
/// order: by starting pixel in raster order, an outer border before a hole border that
/// starts on the same pixel; parents renumbered to match.
///
/// # Errors
/// [`BackendError::Opencv`] when OpenCV reports an error.
pub fn find_contours(mask: &Mat) -> Result<Vec<Contour>> {
    if mask.rows() == 0 || mask.cols() == 0 {
        return Ok(Vec::new());
    }
    let mut raw: Vector<Vector<cv::Point>> = Vector::new();
    let mut hierarchy: Vector<Vec4i> = Vector::new();
    imgproc::find_contours_with_hierarchy_def(
        mask,
        &mut raw,
        &mut hierarchy,
        imgproc::RETR_TREE,
        imgproc::CHAIN_APPROX_NONE,
    )?;
    let parents: Vec<Option<usize>> = hierarchy
        .iter()
        .map(|h| usize::try_from(h[3]).ok())
        .collect();
    // RETR_TREE alternates outer and hole borders down the tree, starting with outer.
    let mut depth: Vec<Option<usize>> = vec![None; parents.len()];
    for i in 0..parents.len() {
        let mut chain = vec![i];
        let mut at = i;
        let base = loop {
            match parents.get(at).copied().flatten() {
                None => break 0,
                Some(p) if p >= parents.len() || chain.len() > parents.len() => break 0,
                Some(p) => match depth[p] {
                    Some(d) => break d + 1,
                    None => {
                        chain.push(p);
                        at = p;
                    }
                },
            }
        };
        for (k, &c) in chain.iter().rev().enumerate() {
            depth[c].get_or_insert(base + k);
        }
    }
    let mut contours: Vec<(Contour, usize)> = raw
        .iter()
        .zip(&depth)
        .enumerate()
        .map(|(i, (pts, d))| {
            let points = pts.iter().map(|p| Point::new(p.x, p.y)).collect();
            let kind = if d.unwrap_or(0) % 2 == 0 {
                BorderKind::Outer
            } else {
                BorderKind::Hole
            };
            (
                Contour {
                    points,
                    kind,
                    parent: parents[i],
                },
                i,
            )
        })
        .collect();
    contours.sort_by_key(|(c, _)| {
        let first = c.points.first().copied().unwrap_or(Point::new(0, 0));
        (first.y, first.x, c.kind == BorderKind::Hole)
    });
    let mut new_index = vec![0usize; contours.len()];
    for (new, (_, old)) in contours.iter().enumerate() {
        new_index[*old] = new;
    }
    Ok(contours
        .into_iter()
        .map(|(mut c, _)| {
            c.parent = c.parent.and_then(|p| new_index.get(p).copied());
            c
        })
        .collect())
}

/// The whole image pipeline with OpenCV's stages; the region analysis is the Rust one.
///
/// # Errors
/// [`BackendError::Opencv`] when any OpenCV stage reports an error.
pub fn analyze_image(rgb: &RgbImage, params: &ImageParams) -> Result<ImageAnalysis> {
    let (w, h) = rgb.dimensions();
    // Colour segmentation has no OpenCV stages: OpenCV only decoded the pixels.
    if w == 0 || h == 0 || params.segment == SegmentMode::Color {
        return Ok(rust::analyze_image(rgb, params));
    }
    let color = rgb_to_mat(rgb)?;
    let gray = to_gray(&color)?;
    let blurred = gaussian_blur(&gray, params.blur)?;
    let bin = binarize(&blurred, params.threshold, params.invert)?;
    let contours = find_contours(&bin.mask)?;
    let regions = analyze(
        rgb,
        &mat_to_gray(&gray)?,
        &mat_to_gray(&bin.mask)?,
        &contours,
        &params.regions,
    );
    Ok(ImageAnalysis {
        width: w,
        height: h,
        threshold: bin.threshold,
        inverted: bin.inverted,
        contour_count: contours.len(),
        regions,
    })
}
