//! Image decoding with the `image` crate: format sniffing, a pixel cap against
//! decompression bombs, EXIF orientation and alpha flattening.

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use sha2::{Digest, Sha256};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// Default cap on decoded pixels: 100 megapixels.
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

/// Default cap on an image's decoded size in its own pixel format (width × height × bytes
/// per pixel): 512 MiB, so 100 megapixels of 8-bit RGBA pass and of 16-bit RGBA do not.
pub const DEFAULT_MAX_IMAGE_BYTES: u64 = 512 << 20;

/// Why an image could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageErrorKind {
    /// The file could not be read.
    #[error("cannot read file: {0}")]
    Io(String),
    /// The file has no bytes.
    #[error("file is empty")]
    Empty,
    /// The bytes are not any supported image format.
    #[error("not a supported image (PNG, JPEG, WebP, GIF, BMP, TIFF): content not recognised")]
    UnknownFormat,
    /// The header claims more pixels than the cap allows.
    #[error("image is {width}x{height} = {pixels} pixels, over the cap of {limit} pixels (raise it with --max-pixels)")]
    TooLarge {
        /// Claimed width.
        width: u32,
        /// Claimed height.
        height: u32,
        /// width × height.
        pixels: u64,
        /// The cap in force.
        limit: u64,
    },
    /// The header's size in its pixel format is over the byte cap.
    #[error("image is {width}x{height} at {bytes_per_pixel} bytes a pixel = {bytes} bytes decoded, over the cap of {limit} bytes (raise it with --max-image-bytes)")]
    TooManyBytes {
        /// Claimed width.
        width: u32,
        /// Claimed height.
        height: u32,
        /// Bytes per pixel of the format's colour type.
        bytes_per_pixel: u8,
        /// width × height × bytes per pixel.
        bytes: u64,
        /// The cap in force.
        limit: u64,
    },
    /// The header claims a zero dimension.
    #[error("image has a zero dimension ({width}x{height})")]
    ZeroSize {
        /// Claimed width.
        width: u32,
        /// Claimed height.
        height: u32,
    },
    /// The format is recognised but this variant is not supported.
    #[error("unsupported image variant: {0}")]
    Unsupported(String),
    /// The data is corrupt or truncated.
    #[error("corrupt or truncated {format} data: {detail}")]
    Corrupt {
        /// Format name.
        format: &'static str,
        /// Decoder message.
        detail: String,
    },
    /// The decoder (a dependency) panicked on the data: caught, quietly.
    #[error("decoder rejected the image: {0}")]
    DecoderPanic(String),
}

impl ImageErrorKind {
    /// A stable machine-readable name for the kind.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io(_) => "io",
            Self::Empty => "empty",
            Self::UnknownFormat => "unknown_format",
            Self::TooLarge { .. } | Self::TooManyBytes { .. } => "too_large",
            Self::ZeroSize { .. } => "zero_size",
            Self::Unsupported(_) => "unsupported",
            Self::Corrupt { .. } => "corrupt",
            Self::DecoderPanic(_) => "decoder_panic",
        }
    }
}

/// An image decoding error naming the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct ImageError {
    /// The file.
    pub path: PathBuf,
    /// The reason.
    pub kind: ImageErrorKind,
}

/// A decoded image and what is known about its file.
#[derive(Debug, Clone)]
pub struct DecodedImage {
    /// Pixels after EXIF orientation, alpha flattened onto white.
    pub rgb: RgbImage,
    /// MIME type of the detected format.
    pub mime: &'static str,
    /// Lower-case hex SHA-256 of the file bytes.
    pub sha256: String,
    /// Size of the file in bytes.
    pub byte_len: u64,
}

/// Decoding options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Refuse images with more pixels than this.
    pub max_pixels: u64,
    /// Refuse images whose decoded size in their own pixel format is over this many bytes.
    pub max_bytes: u64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            max_pixels: DEFAULT_MAX_PIXELS,
            max_bytes: DEFAULT_MAX_IMAGE_BYTES,
        }
    }
}

/// Reads and decodes an image file.
///
/// # Errors
/// An [`ImageError`] naming `path` when the file cannot be read, or for any reason
/// [`decode_bytes`] gives.
pub fn decode_file(path: &Path, options: &DecodeOptions) -> Result<DecodedImage, ImageError> {
    let bytes = std::fs::read(path).map_err(|e| ImageError {
        path: path.to_path_buf(),
        kind: ImageErrorKind::Io(e.to_string()),
    })?;
    decode_bytes(&bytes, options).map_err(|kind| ImageError {
        path: path.to_path_buf(),
        kind,
    })
}

/// Decodes an image held in memory.
///
/// ```
/// use mmprompt::media::image::{decode_bytes, DecodeOptions};
/// let mut png = Vec::new();
/// image::RgbImage::new(3, 2)
///     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
///     .unwrap();
/// let img = decode_bytes(&png, &DecodeOptions::default()).unwrap();
/// assert_eq!((img.rgb.width(), img.mime), (3, "image/png"));
/// ```
///
/// # Errors
/// An [`ImageErrorKind`] when the bytes are empty, in no supported format, over
/// `options.max_pixels` (checked from the header, before any pixel buffer is allocated),
/// truncated or corrupt.
pub fn decode_bytes(bytes: &[u8], options: &DecodeOptions) -> Result<DecodedImage, ImageErrorKind> {
    // Hashing a large file costs about a third of decoding it; the two are independent, so
    // an idle thread of the current rayon pool may take the hash while this one decodes (in
    // a batch whose workers are all busy, this thread does both, one after the other).
    // A decoder that panics on hostile bytes fails this image, quietly (`crate::panics`).
    let pixels = || {
        crate::panics::quietly(|| decode_pixels(bytes, options))
            .unwrap_or_else(|text| Err(ImageErrorKind::DecoderPanic(text)))
    };
    let (decoded, sha256) = rayon::join(pixels, || sha256_hex(bytes));
    decoded.map(|(rgb, mime)| DecodedImage {
        rgb,
        mime,
        sha256,
        byte_len: bytes.len() as u64,
    })
}

fn decode_pixels(
    bytes: &[u8],
    options: &DecodeOptions,
) -> Result<(RgbImage, &'static str), ImageErrorKind> {
    let (format, mut decoder) = open_decoder(bytes, options)?;
    let fmt_name = format_name(format);
    // A broken EXIF block must not lose an otherwise good image: fall back to no rotation.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let img = DynamicImage::from_decoder(decoder)
        .map_err(|e| map_decode_error(e, fmt_name, options.max_pixels))?;
    Ok((finish_pixels(img, orientation), mime(format)))
}

/// What an image's header says, read without decoding any pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    /// The sniffed format.
    pub format: ImageFormat,
    /// Width before EXIF orientation.
    pub width: u32,
    /// Height before EXIF orientation.
    pub height: u32,
    /// The EXIF orientation [`decode_bytes`] applies.
    pub orientation: image::metadata::Orientation,
}

/// Sniffs `bytes` and checks their header against the pixel cap and for truncation, as
/// [`decode_bytes`] does before decoding; other decoders (the OpenCV backend) call it so
/// they refuse the same files with the same errors.
///
/// # Errors
/// The header errors of [`decode_bytes`]: no supported format, over the pixel cap, or
/// truncated.
pub fn probe(bytes: &[u8], options: &DecodeOptions) -> Result<ImageHeader, ImageErrorKind> {
    let (format, mut decoder) = open_decoder(bytes, options)?;
    let (width, height) = decoder.dimensions();
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    Ok(ImageHeader {
        format,
        width,
        height,
        orientation,
    })
}

/// Applies the EXIF orientation and flattens alpha: the last decoding steps, shared by
/// every decoder so they agree on them.
pub fn finish_pixels(mut img: DynamicImage, orientation: image::metadata::Orientation) -> RgbImage {
    img.apply_orientation(orientation);
    flatten_to_rgb(img)
}

/// Sniffs the format and opens a decoder whose header passed the pixel cap.
fn open_decoder<'a>(
    bytes: &'a [u8],
    options: &DecodeOptions,
) -> Result<(ImageFormat, impl ImageDecoder + 'a), ImageErrorKind> {
    if bytes.is_empty() {
        return Err(ImageErrorKind::Empty);
    }
    let format = image::guess_format(bytes).map_err(|_| ImageErrorKind::UnknownFormat)?;
    let fmt_name = format_name(format);
    // A PNG's IHDR sits at a fixed place; checking it first names a bomb as too large even
    // when the rest of the file is missing and the decoder would only see a truncation.
    if let (ImageFormat::Png, Some(ihdr)) = (format, bytes.get(16..24)) {
        let width = u32::from_be_bytes([ihdr[0], ihdr[1], ihdr[2], ihdr[3]]);
        let height = u32::from_be_bytes([ihdr[4], ihdr[5], ihdr[6], ihdr[7]]);
        check_size(width, height, options.max_pixels)?;
    }
    if format == ImageFormat::Jpeg && !jpeg_has_end(bytes) {
        return Err(ImageErrorKind::Corrupt {
            format: fmt_name,
            detail: "truncated: no end-of-image marker after the last scan".into(),
        });
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    // Bound each allocation by the byte cap, plus slack for decoder state. The checks
    // below give the friendlier message first.
    limits.max_alloc = Some(options.max_bytes.saturating_add(64 << 20));
    reader.limits(limits);
    let decoder = reader
        .into_decoder()
        .map_err(|e| map_decode_error(e, fmt_name, options.max_pixels))?;
    let (width, height) = decoder.dimensions();
    check_size(width, height, options.max_pixels)?;
    let bytes_per_pixel = decoder.color_type().bytes_per_pixel();
    let bytes = u64::from(width) * u64::from(height) * u64::from(bytes_per_pixel);
    if bytes > options.max_bytes {
        return Err(ImageErrorKind::TooManyBytes {
            width,
            height,
            bytes_per_pixel,
            bytes,
            limit: options.max_bytes,
        });
    }
    Ok((format, decoder))
}

/// Refuses a zero dimension, or more pixels than `max_pixels`: the check every decoder
/// makes from the header, for pixels that arrive already decoded.
///
/// # Errors
/// [`ImageErrorKind::ZeroSize`] or [`ImageErrorKind::TooLarge`].
pub fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<(), ImageErrorKind> {
    check_size(width, height, max_pixels)
}

fn check_size(width: u32, height: u32, max_pixels: u64) -> Result<(), ImageErrorKind> {
    if width == 0 || height == 0 {
        return Err(ImageErrorKind::ZeroSize { width, height });
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(ImageErrorKind::TooLarge {
            width,
            height,
            pixels,
            limit: max_pixels,
        });
    }
    Ok(())
}

/// JPEG decoders fill a cut-off scan with grey and report success, so a truncated file
/// would pass silently. In entropy-coded data every 0xFF is stuffed, so the last start-of-scan
/// marker is the real last scan (an EXIF thumbnail's markers come before it), and a complete
/// file has an end-of-image marker after it.
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(at) => bytes[at..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        use std::fmt::Write;
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Transparent pixels have arbitrary colour underneath; compositing on white gives what a
/// viewer shows, which is what a prompt should describe.
fn flatten_to_rgb(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (src, dst) in rgba.pixels().zip(out.pixels_mut()) {
        let a = u32::from(src[3]);
        for c in 0..3 {
            let v = (u32::from(src[c]) * a + 255 * (255 - a) + 127) / 255;
            dst[c] = v as u8;
        }
    }
    out
}

fn map_decode_error(e: image::ImageError, format: &'static str, limit: u64) -> ImageErrorKind {
    match e {
        image::ImageError::Limits(l) => ImageErrorKind::Unsupported(format!(
            "decoding would exceed the memory allowed for {limit} pixels ({l})"
        )),
        image::ImageError::Unsupported(u) => ImageErrorKind::Unsupported(u.to_string()),
        image::ImageError::IoError(io) => ImageErrorKind::Corrupt {
            format,
            detail: io.to_string(),
        },
        other => ImageErrorKind::Corrupt {
            format,
            detail: other.to_string(),
        },
    }
}

/// The format's name in error messages.
pub fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Png => "PNG",
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::WebP => "WebP",
        ImageFormat::Gif => "GIF",
        ImageFormat::Bmp => "BMP",
        ImageFormat::Tiff => "TIFF",
        _ => "image",
    }
}

/// The format's MIME type.
pub fn mime(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Png => "image/png",
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::WebP => "image/webp",
        ImageFormat::Gif => "image/gif",
        ImageFormat::Bmp => "image/bmp",
        ImageFormat::Tiff => "image/tiff",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        RgbImage::new(w, h)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn empty_and_unknown() {
        let o = DecodeOptions::default();
        assert_eq!(decode_bytes(&[], &o).unwrap_err(), ImageErrorKind::Empty);
        assert_eq!(
            decode_bytes(b"hello world, not an image", &o).unwrap_err(),
            ImageErrorKind::UnknownFormat
        );
    }

    #[test]
    fn pixel_cap_is_enforced_before_decoding() {
        let bytes = png(20, 10);
        let err = decode_bytes(
            &bytes,
            &DecodeOptions {
                max_pixels: 199,
                ..DecodeOptions::default()
            },
        )
        .unwrap_err();
        assert_eq!(err.code(), "too_large");
        assert!(decode_bytes(
            &bytes,
            &DecodeOptions {
                max_pixels: 200,
                ..DecodeOptions::default()
            }
        )
        .is_ok());
    }

    #[test]
    fn truncated_png_is_corrupt() {
        let mut img = RgbImage::new(64, 64);
        for (i, p) in img.pixels_mut().enumerate() {
            p.0 = [(i * 7) as u8, (i * 13) as u8, (i * 3) as u8];
        }
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        bytes.truncate(bytes.len() / 2);
        let err = decode_bytes(&bytes, &DecodeOptions::default()).unwrap_err();
        assert_eq!(err.code(), "corrupt", "{err}");
    }

    #[test]
    fn truncated_jpeg_is_corrupt_but_a_whole_one_decodes() {
        let img = RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
            .unwrap();
        assert!(decode_bytes(&bytes, &DecodeOptions::default()).is_ok());
        let cut = &bytes[..bytes.len() - 40];
        let err = decode_bytes(cut, &DecodeOptions::default()).unwrap_err();
        assert_eq!(err.code(), "corrupt", "{err}");
        assert!(err.to_string().contains("truncated"));
    }

    #[test]
    fn a_png_header_over_the_cap_is_too_large_even_without_data() {
        let mut head = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        head.extend_from_slice(&100_000u32.to_be_bytes());
        head.extend_from_slice(&100_000u32.to_be_bytes());
        head.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        let err = decode_bytes(&head, &DecodeOptions::default()).unwrap_err();
        assert_eq!(err.code(), "too_large", "{err}");
    }

    #[test]
    fn alpha_is_flattened_onto_white() {
        let mut rgba = image::RgbaImage::new(1, 1);
        rgba.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
        let mut bytes = Vec::new();
        rgba.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        let img = decode_bytes(&bytes, &DecodeOptions::default()).unwrap();
        assert_eq!(img.rgb.get_pixel(0, 0).0, [255, 255, 255]);
    }

    /// A JPEG with an EXIF APP1 segment carrying only the Orientation tag.
    fn jpeg_with_orientation(img: &RgbImage, orientation: u16) -> Vec<u8> {
        let mut plain = Vec::new();
        img.write_to(&mut Cursor::new(&mut plain), ImageFormat::Jpeg)
            .unwrap();
        let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one IFD entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes());
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // padding + no next IFD
        let mut app1 = b"Exif\x00\x00".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = plain[..2].to_vec(); // SOI
        out.extend_from_slice(&[0xff, 0xe1]);
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&plain[2..]);
        out
    }

    #[test]
    fn exif_orientation_is_applied() {
        // 40x20, left half black, right half white.
        let img = RgbImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                image::Rgb([0, 0, 0])
            } else {
                image::Rgb([255, 255, 255])
            }
        });
        let o = DecodeOptions::default();
        let plain = decode_bytes(&jpeg_with_orientation(&img, 1), &o).unwrap();
        assert_eq!(plain.rgb.dimensions(), (40, 20));
        // Orientation 6: rotate 90° clockwise to view, so the black left half goes on top.
        let rotated = decode_bytes(&jpeg_with_orientation(&img, 6), &o).unwrap();
        assert_eq!(rotated.rgb.dimensions(), (20, 40));
        assert!(rotated.rgb.get_pixel(10, 5)[0] < 40, "top should be black");
        assert!(
            rotated.rgb.get_pixel(10, 35)[0] > 215,
            "bottom should be white"
        );
    }

    #[test]
    fn every_supported_format_decodes() {
        let img = RgbImage::from_fn(16, 8, |x, y| {
            image::Rgb([(x * 16) as u8, (y * 32) as u8, 77])
        });
        for (format, mime) in [
            (ImageFormat::Png, "image/png"),
            (ImageFormat::Jpeg, "image/jpeg"),
            (ImageFormat::WebP, "image/webp"),
            (ImageFormat::Gif, "image/gif"),
            (ImageFormat::Bmp, "image/bmp"),
            (ImageFormat::Tiff, "image/tiff"),
        ] {
            let mut bytes = Vec::new();
            let encoded = if format == ImageFormat::Gif || format == ImageFormat::WebP {
                image::DynamicImage::ImageRgb8(img.clone())
                    .into_rgba8()
                    .write_to(&mut Cursor::new(&mut bytes), format)
            } else {
                img.write_to(&mut Cursor::new(&mut bytes), format)
            };
            encoded.unwrap();
            let d = decode_bytes(&bytes, &DecodeOptions::default()).unwrap();
            assert_eq!((d.mime, d.rgb.dimensions()), (mime, (16, 8)), "{format:?}");
        }
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
