//! Media decoding: turns files into in-memory buffers the pure algorithms consume.
//! This is the only place (with `fsio`) that reads media from disk.

mod aiff;
pub mod audio;
pub mod image;

use std::path::Path;

/// What kind of media a byte prefix looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// A raster image format the `image` crate decodes.
    Image,
    /// An audio container [`audio::decode_stream`] opens.
    Audio,
    /// Anything else.
    Unknown,
}

impl MediaKind {
    /// The name manifests and messages use: `image`, `audio` or `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Unknown => "unknown",
        }
    }
}

/// Sniffs the media kind from the first bytes of a file, never from its name.
pub fn sniff(prefix: &[u8]) -> MediaKind {
    if ::image::guess_format(prefix).is_ok() {
        MediaKind::Image
    } else if audio::sniff_mime(prefix).is_some() {
        MediaKind::Audio
    } else {
        MediaKind::Unknown
    }
}

/// Reads up to 64 bytes of `path` to sniff its kind.
///
/// # Errors
/// The I/O error when `path` cannot be opened or read.
pub fn sniff_file(path: &Path) -> std::io::Result<MediaKind> {
    use std::io::Read;
    let mut buf = [0u8; 64];
    let mut file = std::fs::File::open(path)?;
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(sniff(&buf[..filled]))
}
