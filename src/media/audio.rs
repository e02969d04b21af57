//! Audio decoding as a stream: any supported file in, mono f32 at the analysis rate out,
//! chunk by chunk, in memory that does not grow with the file's length.
//!
//! The container is detected from the bytes (symphonia's probe gets no extension hint):
//! WAV, AIFF, FLAC, Ogg Vorbis, MP3, AAC in MP4/M4A and ADTS. Integer samples of 8, 16, 24
//! and 32 bits and float samples are accepted at any rate and channel count. Channels are
//! averaged to mono, then resampled with rubato's FFT resampler to the target rate (16 kHz by
//! default). Symphonia reads every container but AIFF, whose chunks `media/aiff.rs` reads
//! (symphonia's reader miscounts the sound data); symphonia's codecs decode them all. The
//! SHA-256 of the file is computed from the bytes the decoder reads, so the file is read
//! once; bytes it skips (trailing chunks) are hashed at the end.
//!
//! Damage half-way through a stream does not lose the audio before it: the sink has already
//! received those samples, and the error carries an [`AudioInfo`] describing them
//! ([`AudioError::partial`]), so the caller can record a partial result.
//!
//! [`decode_stream_pipelined`] is the same stream with the sink free to run on an idle
//! rayon worker while the decoding goes on, which `extract` uses for one file's analysis.

use super::aiff::{AiffError, AiffReader};
use rubato::{FftFixedIn, Resampler};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError};
use symphonia::core::audio::{AudioBuffer, AudioBufferRef, Signal};
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::conv::IntoSample;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader, Packet};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::sample::Sample;

/// Default analysis rate.
pub const DEFAULT_TARGET_RATE: u32 = 16_000;
/// Default cap on decoded duration: 4 hours.
pub const DEFAULT_MAX_SECONDS: f64 = 4.0 * 3600.0;

/// Why audio could not be decoded (completely).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AudioErrorKind {
    /// The file could not be read.
    #[error("cannot read file: {0}")]
    Io(String),
    /// The file has no bytes.
    #[error("file is empty")]
    Empty,
    /// The bytes are not a supported container.
    #[error("not a supported audio file (WAV, AIFF, FLAC, Ogg Vorbis, MP3, AAC/M4A): content not recognised")]
    UnknownFormat,
    /// The container is recognised but the codec or a feature of it is not.
    #[error("unsupported audio: {0}")]
    Unsupported(String),
    /// No decodable audio track.
    #[error("no audio track")]
    NoTrack,
    /// The stream declares zero channels.
    #[error("stream has zero channels")]
    ZeroChannels,
    /// The stream declares a zero (or missing) sample rate.
    #[error("stream has a zero or missing sample rate")]
    ZeroSampleRate,
    /// The data is corrupt.
    #[error("corrupt audio data: {0}")]
    Corrupt(String),
    /// The decoder (a dependency) panicked on the stream: caught, quietly.
    #[error("decoder rejected the stream: {0}")]
    DecoderPanic(String),
    /// The stream ends before its header says it should.
    #[error("truncated: header declares {declared} frames, only {decoded} could be decoded")]
    Truncated {
        /// Frames the header declares.
        declared: u64,
        /// Frames actually decoded.
        decoded: u64,
    },
    /// A float sample is NaN or infinite.
    #[error("non-finite sample (NaN or infinity) at {at_s:.3} s")]
    NonFinite {
        /// Position of the first bad sample in seconds.
        at_s: f64,
    },
    /// Decoding went past the configured cap.
    #[error("audio is longer than the cap of {limit_s} s (raise it with --max-seconds)")]
    TooLong {
        /// The cap in seconds.
        limit_s: f64,
    },
    /// The stream declares a length over the cap, so nothing is decoded.
    #[error("audio declares {declared_s:.1} s, over the cap of {limit_s} s (raise it with --max-seconds)")]
    DeclaredTooLong {
        /// The length the header declares, in seconds.
        declared_s: f64,
        /// The cap in seconds.
        limit_s: f64,
    },
    /// The file decodes to no samples at all.
    #[error("audio has no samples (0 seconds)")]
    NoAudio,
    /// A value the stream declares is outside what is decoded, checked before anything is
    /// allocated for it.
    #[error("{what} of {value} is {side} the limit of {limit}")]
    OverLimit {
        /// What was declared (`sample rate (Hz)`, `channels`, `declared length (s)`).
        what: &'static str,
        /// The declared value.
        value: String,
        /// `over` or `under`.
        side: &'static str,
        /// The limit.
        limit: String,
    },
    /// The resampler refused the rates.
    #[error("cannot resample {from} Hz to {to} Hz: {detail}")]
    Resample {
        /// Source rate.
        from: u32,
        /// Target rate.
        to: u32,
        /// rubato's message.
        detail: String,
    },
}

impl AudioErrorKind {
    /// A stable machine-readable name for the kind.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io(_) => "io",
            Self::Empty => "empty",
            Self::UnknownFormat => "unknown_format",
            Self::Unsupported(_) => "unsupported",
            Self::NoTrack => "no_track",
            Self::ZeroChannels => "zero_channels",
            Self::ZeroSampleRate => "zero_sample_rate",
            Self::Corrupt(_) => "corrupt",
            Self::DecoderPanic(_) => "decoder_panic",
            Self::Truncated { .. } => "truncated",
            Self::NonFinite { .. } => "non_finite",
            Self::TooLong { .. } | Self::DeclaredTooLong { .. } => "too_long",
            Self::NoAudio => "no_audio",
            Self::OverLimit { .. } => "over_limit",
            Self::Resample { .. } => "resample",
        }
    }
}

/// An audio decoding error naming the file, with what was decoded before it if anything.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct AudioError {
    /// The file.
    pub path: PathBuf,
    /// The reason.
    pub kind: AudioErrorKind,
    /// When decoding got past the header: a description of what reached the sink (boxed
    /// to keep the error small).
    pub partial: Option<Box<AudioInfo>>,
}

impl AudioError {
    /// Whether the sink received audio before the error (a partial result).
    pub fn is_partial(&self) -> bool {
        self.partial.as_ref().is_some_and(|p| p.output_samples > 0)
    }
}

/// What is known about a decoded (or partly decoded) file.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    /// MIME type of the detected container.
    pub mime: &'static str,
    /// Codec short name (symphonia's), e.g. `pcm_s16le`, `flac`, `mp3`, `vorbis`, `aac`.
    pub codec: String,
    /// Source sample rate in Hz.
    pub sample_rate: u32,
    /// Source channel count.
    pub channels: u32,
    /// Source frames decoded.
    pub source_frames: u64,
    /// Decoded duration in seconds (source frames / source rate).
    pub duration_s: f64,
    /// Mono samples delivered at the target rate.
    pub output_samples: u64,
    /// The target rate in Hz.
    pub output_rate: u32,
    /// Lower-case hex SHA-256 of the file bytes (empty in a partial result).
    pub sha256: String,
    /// Size of the file in bytes.
    pub byte_len: u64,
}

/// Decoding options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioDecodeOptions {
    /// Rate of the delivered samples in Hz.
    pub target_rate: u32,
    /// Refuse to decode more than this many seconds.
    pub max_seconds: f64,
    /// Refuse streams declaring a higher rate, in Hz (at most [`MAX_SOURCE_RATE`]).
    pub max_source_rate: u32,
    /// Refuse streams declaring more channels (at most [`MAX_SOURCE_CHANNELS`]).
    pub max_channels: usize,
}

impl Default for AudioDecodeOptions {
    fn default() -> Self {
        Self {
            target_rate: DEFAULT_TARGET_RATE,
            max_seconds: DEFAULT_MAX_SECONDS,
            max_source_rate: MAX_SOURCE_RATE,
            max_channels: MAX_SOURCE_CHANNELS,
        }
    }
}

/// The MIME type an audio file's first bytes announce, if any (at least 12 bytes are
/// needed to tell RIFF/AIFF/MP4 apart).
pub fn sniff_mime(prefix: &[u8]) -> Option<&'static str> {
    let at = |i: usize, s: &[u8]| prefix.get(i..i + s.len()) == Some(s);
    if at(0, b"RIFF") && at(8, b"WAVE") || at(0, b"RIFX") && at(8, b"WAVE") {
        Some("audio/wav")
    } else if at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")) {
        Some("audio/aiff")
    } else if at(0, b"fLaC") {
        Some("audio/flac")
    } else if at(0, b"OggS") {
        Some("audio/ogg")
    } else if at(4, b"ftyp") {
        Some("audio/mp4")
    } else if at(0, b"ID3") {
        Some("audio/mpeg")
    } else {
        match prefix {
            // ADTS AAC: sync word with layer bits 00.
            [0xFF, b, ..] if b & 0xF6 == 0xF0 => Some("audio/aac"),
            // MPEG audio frame sync.
            [0xFF, b, ..] if b & 0xE0 == 0xE0 => Some("audio/mpeg"),
            _ => None,
        }
    }
}

/// Bytes hashed so far, shared between the reader the decoder owns and the caller.
#[derive(Default)]
struct HashState {
    hasher: Sha256,
    /// Every byte before this offset has been hashed, in order.
    upto: u64,
}

/// A file that hashes its bytes as they are first read in order; seeks are fine, bytes the
/// decoder skips are hashed at the end by [`finish_hash`].
struct HashingFile {
    file: std::fs::File,
    pos: u64,
    len: u64,
    state: Arc<Mutex<HashState>>,
}

impl Read for HashingFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        let start = self.pos;
        let end = start + n as u64;
        if let Ok(mut st) = self.state.lock() {
            if start <= st.upto && st.upto < end {
                let from = (st.upto - start) as usize;
                st.hasher.update(&buf[from..n]);
                st.upto = end;
            }
        }
        self.pos = end;
        Ok(n)
    }
}

impl Seek for HashingFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = self.file.seek(to)?;
        Ok(self.pos)
    }
}

impl MediaSource for HashingFile {
    fn is_seekable(&self) -> bool {
        true
    }
    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

/// Hashes whatever the decoder did not read and returns the hex digest.
fn finish_hash(path: &Path, state: &Mutex<HashState>) -> std::io::Result<String> {
    let mut st = state
        .lock()
        .map_err(|_| std::io::Error::other("hash state poisoned"))?;
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(st.upto))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        st.hasher.update(&buf[..n]);
    }
    let digest = std::mem::take(&mut st.hasher).finalize();
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// The name of a codec that containers we read can hold but no decoder here handles, so
/// the error names it instead of a number.
fn unsupported_codec_name(codec: symphonia::core::codecs::CodecType) -> Option<&'static str> {
    use symphonia::core::codecs as c;
    [
        (c::CODEC_TYPE_OPUS, "Opus"),
        (c::CODEC_TYPE_ALAC, "ALAC (Apple Lossless)"),
        (c::CODEC_TYPE_SPEEX, "Speex"),
        (c::CODEC_TYPE_MP2, "MPEG Layer II"),
        (c::CODEC_TYPE_EAC3, "E-AC-3"),
        (c::CODEC_TYPE_DCA, "DTS"),
        (c::CODEC_TYPE_WMA, "WMA"),
        (c::CODEC_TYPE_WAVPACK, "WavPack"),
        (c::CODEC_TYPE_MONKEYS_AUDIO, "Monkey's Audio"),
        (c::CODEC_TYPE_TTA, "TTA"),
    ]
    .into_iter()
    .find(|(t, _)| *t == codec)
    .map(|(_, name)| name)
}

/// Reads into `buf` until it is full or the file ends; the bytes read.
fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// The length of an ID3v2 tag at the start of `head` (header, body and footer), if there
/// is one.
fn id3v2_len(head: &[u8]) -> Option<u64> {
    if head.len() < 10 || &head[..3] != b"ID3" {
        return None;
    }
    let size = head[6..10]
        .iter()
        .fold(0u64, |acc, &b| (acc << 7) | u64::from(b & 0x7f));
    let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + size + footer)
}

/// Lowest source sample rate decoded: below it a few bytes declare hours of audio.
pub const MIN_SOURCE_RATE: u32 = 1_000;
/// Highest source sample rate decoded (DXD); the resampler's plan grows with the rate.
pub const MAX_SOURCE_RATE: u32 = 768_000;
/// Most channels decoded (every buffer is per channel).
pub const MAX_SOURCE_CHANNELS: usize = 64;

/// Refuses a stream whose declared rate or channel count is outside the limits (`max_rate`
/// and `max_channels`, never above [`MAX_SOURCE_RATE`] and [`MAX_SOURCE_CHANNELS`]), before
/// anything is allocated for it. A declared length over `--max-seconds` is refused where
/// the stream is opened; a stream that declares none (or less than it holds) stops decoding
/// at the cap with what it decoded so far.
///
/// # Errors
/// [`AudioErrorKind::OverLimit`] naming the value and the limit.
pub fn check_declared(
    rate: u32,
    channels: usize,
    max_rate: u32,
    max_channels: usize,
) -> Result<(), AudioErrorKind> {
    let max_rate = max_rate.min(MAX_SOURCE_RATE);
    let max_channels = max_channels.min(MAX_SOURCE_CHANNELS);
    let rate = u64::from(rate);
    let checks = [
        (
            "sample rate (Hz)",
            rate,
            rate > u64::from(max_rate),
            "over",
            max_rate as usize,
        ),
        (
            "sample rate (Hz)",
            rate,
            rate < u64::from(MIN_SOURCE_RATE),
            "under",
            MIN_SOURCE_RATE as usize,
        ),
        (
            "channels",
            channels as u64,
            channels > max_channels,
            "over",
            max_channels,
        ),
    ];
    match checks.into_iter().find(|c| c.2) {
        Some((what, value, _, side, limit)) => Err(AudioErrorKind::OverLimit {
            what,
            value: value.to_string(),
            side,
            limit: limit.to_string(),
        }),
        None => Ok(()),
    }
}

/// Checks a RIFF/WAVE `fmt ` chunk for zero channels or a zero rate before symphonia sees
/// it (symphonia panics on a zero rate). Reads only the first 4 KiB. Returns whether the
/// length is unknown: a writer that could not seek back (`ffmpeg … -f wav -` into a pipe)
/// leaves 0xFFFFFFFF (or 0) as the RIFF or `data` size, which is no declaration at all.
fn check_wav_fmt(path: &Path) -> Result<bool, AudioErrorKind> {
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .map_err(|e| AudioErrorKind::Io(e.to_string()))?;
    let placeholder = |size: u32| size == u32::MAX || size == 0;
    let riff_unknown = head
        .get(4..8)
        .is_some_and(|b| placeholder(u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
    let mut at = 12;
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let size = u32::from_le_bytes([head[at + 4], head[at + 5], head[at + 6], head[at + 7]]);
        if id == b"data" {
            return Ok(riff_unknown || placeholder(size));
        }
        if id == b"fmt " {
            let body = &head[at + 8..];
            if body.len() >= 8 {
                let channels = u16::from_le_bytes([body[2], body[3]]);
                let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                if channels == 0 {
                    return Err(AudioErrorKind::ZeroChannels);
                }
                if rate == 0 {
                    return Err(AudioErrorKind::ZeroSampleRate);
                }
            }
        }
        // Chunks are word aligned.
        at = at.saturating_add(8 + size as usize + (size as usize & 1));
    }
    Ok(riff_unknown)
}

/// Checks a FLAC file's metadata blocks (the stream marker at `start`) before symphonia
/// reads them: a block may not run
/// past the end of the file, and a PICTURE block's own lengths (MIME type, description,
/// picture data) must fit inside the block. symphonia allocates a picture's declared length
/// before reading it, so a 16 KB file declaring a 2 GB picture would cost 2 GB (found by
/// fuzzing: `fuzz/`).
fn check_flac_metadata(path: &Path, start: u64) -> Result<(), AudioErrorKind> {
    use std::io::{Seek, SeekFrom};
    let corrupt = |what: String| AudioErrorKind::Corrupt(format!("audio/flac: {what}"));
    let io = |e: std::io::Error| AudioErrorKind::Io(e.to_string());
    let mut f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut at = start + 4; // after "fLaC"
                            // A stream has a handful of blocks; a long run of them is itself a sign of a bomb.
    for _ in 0..1024 {
        let mut header = [0u8; 4];
        f.seek(SeekFrom::Start(at)).map_err(io)?;
        if f.read_exact(&mut header).is_err() {
            return Ok(()); // Cut short: the decoder reports it.
        }
        let last = header[0] & 0x80 != 0;
        let kind = header[0] & 0x7f;
        let size = u64::from(u32::from_be_bytes([0, header[1], header[2], header[3]]));
        let body = at + 4;
        if body + size > len {
            return Err(corrupt(format!(
                "metadata block of {size} bytes at {at} runs past the end of the file ({len} bytes)"
            )));
        }
        if kind == 6 {
            check_flac_picture(&mut f, body, size).map_err(corrupt)?;
        }
        if kind == 4 {
            // Under 16 MiB (a 24-bit size) and inside the file, as checked above.
            let mut block = vec![0u8; usize::try_from(size).unwrap_or(0)];
            f.seek(SeekFrom::Start(body)).map_err(io)?;
            f.read_exact(&mut block).map_err(io)?;
            check_vorbis_comment(&block, len, true).map_err(corrupt)?;
        }
        if last {
            return Ok(());
        }
        at = body + size;
    }
    Err(corrupt("more than 1024 metadata blocks".into()))
}

/// Checks an MP4/M4A file's sample tables before symphonia reads them: symphonia reserves
/// a table's declared entry count, and reads a packet of the size a table declares, so
/// a 3 KB file could ask for tens of gigabytes (found by fuzzing: `fuzz/`). From `start`
/// (where the file's first box begins), each table's count must fit inside its box, and
/// no sample (`stsz`, fragments' `tfhd` and `trun`) may be larger than the file.
fn check_mp4_tables(path: &Path, start: u64) -> Result<(), AudioErrorKind> {
    use std::io::{BufReader, Seek, SeekFrom};
    let corrupt = |what: String| AudioErrorKind::Corrupt(format!("audio/mp4: {what}"));
    let io = |e: std::io::Error| AudioErrorKind::Io(e.to_string());
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut f = BufReader::new(file);
    // Boxes to look inside, and tables with the size of one entry.
    const CONTAINERS: [&[u8; 4]; 9] = [
        b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"moof", b"traf", b"mvex",
    ];
    const TABLES: [(&[u8; 4], u64); 6] = [
        (b"stts", 8),
        (b"stsc", 12),
        (b"stco", 4),
        (b"co64", 8),
        (b"ctts", 8),
        (b"stss", 4),
    ];
    let word = |f: &mut BufReader<std::fs::File>, at: u64| -> Option<u64> {
        let mut b = [0u8; 4];
        f.seek(SeekFrom::Start(at)).ok()?;
        f.read_exact(&mut b).ok()?;
        Some(u64::from(u32::from_be_bytes(b)))
    };
    let too_big = |what: &str, n: u64| {
        corrupt(format!(
            "{what} declares a sample of {n} bytes in a {len}-byte file"
        ))
    };
    // (start, end) of the box contents still to walk.
    let mut todo = vec![(start, len)];
    let mut boxes = 0usize;
    while let Some((mut at, end)) = todo.pop() {
        while end.saturating_sub(at) >= 8 {
            boxes += 1;
            if boxes > 100_000 {
                return Err(corrupt("more than 100000 boxes".into()));
            }
            let Some(size32) = word(&mut f, at) else {
                return Ok(());
            };
            let mut kind = [0u8; 4];
            if f.read_exact(&mut kind).is_err() {
                return Ok(());
            }
            let (size, header) = match size32 {
                0 => (end - at, 8),
                1 => match (word(&mut f, at + 8), word(&mut f, at + 12)) {
                    (Some(hi), Some(lo)) => ((hi << 32) | lo, 16),
                    _ => return Ok(()),
                },
                n => (n, 8),
            };
            // Written so nothing overflows: `size` comes from the file.
            if size < header {
                // The demuxer reports malformed boxes itself; only allocations matter here.
                break;
            }
            // A box that claims more than its parent holds is still read by the demuxer, as
            // far as the file goes (found by fuzzing: an `mdia` of 128 MiB in a 3 KB file hid
            // an `stts` declaring four billion entries): walk it up to the end of the file,
            // then stop walking its siblings.
            let overrun = size > end - at;
            let size = size.min(len - at);
            let body = at + header;
            let body_len = size.saturating_sub(header);
            let name = String::from_utf8_lossy(&kind).into_owned();
            if CONTAINERS.iter().any(|c| **c == kind) {
                todo.push((body, at + size));
            } else if let Some((_, entry)) = TABLES.iter().find(|(t, _)| **t == kind) {
                // version and flags, then the entry count.
                if let Some(count) = word(&mut f, body + 4) {
                    if 8 + count * entry > body_len {
                        return Err(corrupt(format!(
                            "{name} declares {count} entries, more than its {body_len}-byte box holds"
                        )));
                    }
                }
            } else if &kind == b"stsz" {
                // version and flags, a common size (0: one per sample follows), the count.
                if let (Some(common), Some(count)) =
                    (word(&mut f, body + 4), word(&mut f, body + 8))
                {
                    if common > len {
                        return Err(too_big("stsz", common));
                    }
                    if common == 0 {
                        if 12 + count * 4 > body_len {
                            return Err(corrupt(format!(
                                "stsz declares {count} entries, more than its {body_len}-byte box holds"
                            )));
                        }
                        f.seek(SeekFrom::Start(body + 12)).map_err(io)?;
                        for _ in 0..count {
                            let mut b = [0u8; 4];
                            f.read_exact(&mut b).map_err(io)?;
                            let n = u64::from(u32::from_be_bytes(b));
                            if n > len {
                                return Err(too_big("stsz", n));
                            }
                        }
                    }
                }
            } else if &kind == b"tfhd" {
                // version and flags, track id, then optional fields by flag.
                if let Some(flags) = word(&mut f, body) {
                    let mut off = 8;
                    for (bit, bytes) in [(0x1, 8), (0x2, 4), (0x8, 4)] {
                        if flags & bit != 0 {
                            off += bytes;
                        }
                    }
                    if flags & 0x10 != 0 {
                        if let Some(n) = word(&mut f, body + off).filter(|&n| n > len) {
                            return Err(too_big("tfhd", n));
                        }
                    }
                }
            } else if &kind == b"trun" {
                if let (Some(flags), Some(count)) = (word(&mut f, body), word(&mut f, body + 4)) {
                    let fixed =
                        8 + 4 * u64::from(flags & 0x1 != 0) + 4 * u64::from(flags & 0x4 != 0);
                    let fields = [0x100u64, 0x200, 0x400, 0x800];
                    let per = 4 * fields.iter().filter(|&&b| flags & b != 0).count() as u64;
                    if fixed + count * per > body_len {
                        return Err(corrupt(format!(
                            "trun declares {count} samples, more than its {body_len}-byte box holds"
                        )));
                    }
                    if flags & 0x200 != 0 {
                        // The size is the second field present, after the duration if any.
                        let skip = 4 * u64::from(flags & 0x100 != 0);
                        for i in 0..count {
                            let at = body + fixed + i * per + skip;
                            if let Some(n) = word(&mut f, at).filter(|&n| n > len) {
                                return Err(too_big("trun", n));
                            }
                        }
                    }
                }
            }
            if overrun {
                break;
            }
            at += size;
        }
    }
    Ok(())
}

/// Checks a Vorbis comment header (FLAC's VORBIS_COMMENT block, or an Ogg Vorbis stream's
/// second packet after its 7-byte type and magic): symphonia allocates each comment's
/// declared length before reading it, so a 3 KB file declaring a 4 GB comment would cost
/// 4 GB. Each length must fit in what follows it when `data` is the whole header
/// (`complete`), and in the file (`file_len` bytes) when it is only the header's start.
fn check_vorbis_comment(data: &[u8], file_len: u64, complete: bool) -> Result<(), String> {
    let mut at = 0usize;
    let length = |at: &mut usize, what: &str| -> Result<Option<u64>, String> {
        let Some(b) = data.get(*at..*at + 4) else {
            return Ok(None);
        };
        let n = u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        *at += 4;
        let left = (data.len() - *at) as u64;
        if (complete && n > left) || n > file_len {
            return Err(format!(
                "Vorbis comment {what} of {n} bytes does not fit its {}-byte header",
                data.len()
            ));
        }
        Ok(Some(n))
    };
    let Some(vendor) = length(&mut at, "vendor string")? else {
        return Ok(());
    };
    at += vendor as usize;
    let Some(b) = data.get(at..at + 4) else {
        return Ok(());
    };
    let count = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    at += 4;
    // Each comment takes at least its 4-byte length.
    if complete && u64::from(count) * 4 > (data.len() - at) as u64 {
        return Err(format!(
            "Vorbis comment count {count} does not fit its {}-byte header",
            data.len()
        ));
    }
    for _ in 0..count {
        match length(&mut at, "string")? {
            Some(n) => at += n as usize,
            None => return Ok(()),
        }
    }
    Ok(())
}

/// Checks the comment header of each Vorbis stream that starts in an Ogg file's first
/// pages (from `start`) with [`check_vorbis_comment`]. Reads at most 1024 pages or 32 MiB;
/// a comment header larger than 16 MiB (cover art) is checked as far as it was read.
fn check_ogg_comments(path: &Path, start: u64) -> Result<(), AudioErrorKind> {
    use std::collections::HashMap;
    use std::io::{BufReader, Seek, SeekFrom};
    const MAX_HEADER: usize = 16 << 20;
    let corrupt = |what: String| AudioErrorKind::Corrupt(format!("audio/ogg: {what}"));
    let io = |e: std::io::Error| AudioErrorKind::Io(e.to_string());
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut f = BufReader::new(file);
    f.seek(SeekFrom::Start(start)).map_err(io)?;
    #[derive(Default)]
    struct Stream {
        packets: usize,
        vorbis: bool,
        done: bool,
        packet: Vec<u8>,
    }
    let mut streams: HashMap<u32, Stream> = HashMap::new();
    let mut read = 0usize;
    for _ in 0..1024 {
        let mut header = [0u8; 27];
        if f.read_exact(&mut header).is_err() || &header[..4] != b"OggS" {
            break; // Cut short or not a page: the decoder reports it.
        }
        let serial = u32::from_le_bytes([header[14], header[15], header[16], header[17]]);
        let mut lacing = vec![0u8; usize::from(header[26])];
        if f.read_exact(&mut lacing).is_err() {
            break;
        }
        let mut body = vec![0u8; lacing.iter().map(|&l| usize::from(l)).sum()];
        if f.read_exact(&mut body).is_err() {
            break;
        }
        read += 27 + lacing.len() + body.len();
        let s = streams.entry(serial).or_default();
        if header[5] & 1 == 0 {
            s.packet.clear(); // Not a continuation: a new packet starts here.
        }
        let mut pos = 0;
        for &l in &lacing {
            let l = usize::from(l);
            if !s.done {
                s.packet.extend_from_slice(&body[pos..pos + l]);
            }
            pos += l;
            if l < 255 {
                let packet = std::mem::take(&mut s.packet);
                match s.packets {
                    0 => s.vorbis = packet.starts_with(b"\x01vorbis"),
                    1 if s.vorbis && packet.starts_with(b"\x03vorbis") => {
                        check_vorbis_comment(&packet[7..], len, true).map_err(corrupt)?;
                        s.done = true;
                    }
                    _ => s.done = true,
                }
                s.packets += 1;
            }
        }
        if s.vorbis && !s.done && s.packet.len() > MAX_HEADER {
            if s.packet.starts_with(b"\x03vorbis") {
                check_vorbis_comment(&s.packet[7..], len, false).map_err(corrupt)?;
            }
            s.done = true;
            s.packet = Vec::new();
        }
        if read > 2 * MAX_HEADER
            || streams
                .values()
                .all(|s| s.done || !s.vorbis && s.packets > 0)
        {
            break;
        }
    }
    Ok(())
}

/// The lengths inside a FLAC PICTURE block at `body` (`size` bytes) fit inside it.
fn check_flac_picture(f: &mut std::fs::File, body: u64, size: u64) -> Result<(), String> {
    use std::io::{Seek, SeekFrom};
    let mut word = |at: u64| -> Option<u64> {
        let mut b = [0u8; 4];
        f.seek(SeekFrom::Start(body + at)).ok()?;
        f.read_exact(&mut b).ok()?;
        Some(u64::from(u32::from_be_bytes(b)))
    };
    let too_long = |what: &str, n: u64| {
        format!("picture {what} of {n} bytes does not fit its {size}-byte block")
    };
    // type, MIME length, MIME, description length, description, 4 words, data length, data.
    let mime = word(4).ok_or_else(|| too_long("header", 8))?;
    if 8 + mime > size {
        return Err(too_long("MIME type", mime));
    }
    let desc = word(8 + mime).ok_or_else(|| too_long("header", 12 + mime))?;
    if 12 + mime + desc > size {
        return Err(too_long("description", desc));
    }
    let data = word(12 + mime + desc + 16).ok_or_else(|| too_long("header", 32 + mime + desc))?;
    if 32 + mime + desc + data > size {
        return Err(too_long("data", data));
    }
    Ok(())
}

/// Averages interleaved `channels`-channel frames into `mono` (cleared first). Files and live
/// capture both downmix here, so the same samples give the same mono signal bit for bit.
pub fn downmix_into(interleaved: &[f32], channels: usize, mono: &mut Vec<f32>) {
    mono.clear();
    if channels == 0 {
        return;
    }
    // Mono and stereo, by far the most common, get loops the compiler vectorises. They give
    // exactly what the general case does: a float sum starts from -0.0, which leaves x and
    // a + b unchanged, and the scale is 1 or 0.5.
    match channels {
        1 => mono.extend_from_slice(interleaved),
        2 => mono.extend(interleaved.chunks_exact(2).map(|f| (f[0] + f[1]) * 0.5)),
        _ => {
            let scale = 1.0 / channels as f32;
            mono.extend(
                interleaved
                    .chunks_exact(channels)
                    .map(|f| f.iter().sum::<f32>() * scale),
            );
        }
    }
}

/// Averages the first `take` frames of a decoded buffer's channel planes into `mono` (cleared
/// first), converting with symphonia's own sample conversion. Reading the planes directly
/// skips the interleaved copy that [`downmix_into`] would need, and the result equals that
/// path bit for bit: the same conversion, channels summed in the same order from the first
/// (a float sum starts from -0.0, which leaves the first channel unchanged), the same scale.
///
/// Float formats are scanned over all the buffer's frames for samples that are NaN or
/// infinite once converted; the first such frame is returned. Integer samples always convert
/// to finite floats.
fn downmix_decoded(
    decoded: &AudioBufferRef<'_>,
    take: usize,
    mono: &mut Vec<f32>,
) -> Option<usize> {
    match decoded {
        AudioBufferRef::U8(b) => downmix_planes(b, take, false, mono),
        AudioBufferRef::U16(b) => downmix_planes(b, take, false, mono),
        AudioBufferRef::U24(b) => downmix_planes(b, take, false, mono),
        AudioBufferRef::U32(b) => downmix_planes(b, take, false, mono),
        AudioBufferRef::S8(b) => downmix_planes(b, take, false, mono),
        AudioBufferRef::S16(b) => downmix_planes(b, take, false, mono),
        AudioBufferRef::S24(b) => downmix_planes(b, take, false, mono),
        AudioBufferRef::S32(b) => downmix_planes(b, take, false, mono),
        AudioBufferRef::F32(b) => downmix_planes(b, take, true, mono),
        AudioBufferRef::F64(b) => downmix_planes(b, take, true, mono),
    }
}

fn downmix_planes<S: Sample + IntoSample<f32>>(
    buf: &AudioBuffer<S>,
    take: usize,
    check_finite: bool,
    mono: &mut Vec<f32>,
) -> Option<usize> {
    mono.clear();
    let channels = buf.spec().channels.count();
    let frames = buf.frames();
    let take = take.min(frames);
    if channels == 0 {
        return None;
    }
    let conv = |s: &S| -> f32 { (*s).into_sample() };
    let non_finite = if check_finite {
        (0..channels)
            .filter_map(|c| buf.chan(c).iter().position(|s| !conv(s).is_finite()))
            .min()
    } else {
        None
    };
    let first = &buf.chan(0)[..take];
    match channels {
        1 => mono.extend(first.iter().map(conv)),
        2 => {
            let second = &buf.chan(1)[..take];
            mono.extend(
                first
                    .iter()
                    .zip(second)
                    .map(|(a, b)| (conv(a) + conv(b)) * 0.5),
            );
        }
        _ => {
            mono.extend(first.iter().map(conv));
            for c in 1..channels {
                for (m, s) in mono.iter_mut().zip(&buf.chan(c)[..take]) {
                    *m += conv(s);
                }
            }
            let scale = 1.0 / channels as f32;
            for m in mono.iter_mut() {
                *m *= scale;
            }
        }
    }
    non_finite
}

/// Resamples mono audio to the analysis rate with rubato's FFT resampler and hands the
/// output to a sink as it is produced, dropping the resampler's delay so output sample `i`
/// lines up with input time `i / to`. Both `extract` and `live` use it, so a recording and
/// its live capture are resampled identically; the output does not depend on how the input
/// was chunked.
pub struct MonoResampler {
    from: u32,
    to: u32,
    resampler: Option<FftFixedIn<f32>>,
    input: Vec<f32>,
    output: Vec<Vec<f32>>,
    /// Output samples still to drop for the resampler's delay.
    skip: usize,
    in_frames: u64,
    out_frames: u64,
    ratio: f64,
}

/// Input chunk of the FFT resampler: long enough for a good filter, short enough to stream.
const RESAMPLE_CHUNK: usize = 1024;

impl std::fmt::Debug for MonoResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonoResampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("in_frames", &self.in_frames)
            .field("out_frames", &self.out_frames)
            .finish_non_exhaustive()
    }
}

impl MonoResampler {
    /// A resampler from `from` Hz to `to` Hz (a pass-through when they are equal).
    ///
    /// # Errors
    /// [`AudioErrorKind::Resample`] when the resampler cannot be built for this pair of rates.
    pub fn new(from: u32, to: u32) -> Result<Self, AudioErrorKind> {
        let resampler = if from == to {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(from as usize, to as usize, RESAMPLE_CHUNK, 2, 1).map_err(
                    |e| AudioErrorKind::Resample {
                        from,
                        to,
                        detail: e.to_string(),
                    },
                )?,
            )
        };
        let (out_max, skip) = resampler
            .as_ref()
            .map_or((0, 0), |r| (r.output_frames_max(), r.output_delay()));
        Ok(Self {
            from,
            to,
            resampler,
            input: Vec::with_capacity(RESAMPLE_CHUNK),
            output: vec![vec![0.0; out_max]],
            skip,
            in_frames: 0,
            out_frames: 0,
            ratio: f64::from(to) / f64::from(from),
        })
    }

    fn emit(&mut self, produced: usize, limit: Option<u64>, sink: &mut dyn FnMut(&[f32])) {
        let drop = self.skip.min(produced);
        self.skip -= drop;
        let mut out = &self.output[0][drop..produced];
        if let Some(limit) = limit {
            let room = limit.saturating_sub(self.out_frames) as usize;
            out = &out[..out.len().min(room)];
        }
        if !out.is_empty() {
            self.out_frames += out.len() as u64;
            sink(out);
        }
    }

    /// Output samples delivered so far.
    pub fn out_frames(&self) -> u64 {
        self.out_frames
    }

    fn error(&self, e: impl std::fmt::Display) -> AudioErrorKind {
        AudioErrorKind::Resample {
            from: self.from,
            to: self.to,
            detail: e.to_string(),
        }
    }

    /// Pushes mono samples at the input rate.
    ///
    /// # Errors
    /// [`AudioErrorKind::Resample`] when the resampler fails on a chunk; what reached `sink`
    /// before it stays delivered.
    pub fn push(
        &mut self,
        mono: &[f32],
        sink: &mut dyn FnMut(&[f32]),
    ) -> Result<(), AudioErrorKind> {
        self.in_frames += mono.len() as u64;
        let Some(_) = self.resampler.as_ref() else {
            self.out_frames += mono.len() as u64;
            sink(mono);
            return Ok(());
        };
        let mut rest = mono;
        while !rest.is_empty() {
            let take = (RESAMPLE_CHUNK - self.input.len()).min(rest.len());
            self.input.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.input.len() == RESAMPLE_CHUNK {
                let produced = match self.resampler.as_mut() {
                    Some(r) => {
                        match r.process_into_buffer(&[&self.input], &mut self.output, None) {
                            Ok((_, produced)) => produced,
                            Err(e) => return Err(self.error(e)),
                        }
                    }
                    None => 0,
                };
                self.input.clear();
                self.emit(produced, None, sink);
            }
        }
        Ok(())
    }

    /// Flushes the tail so exactly `round(in · ratio)` samples come out in total. Call it
    /// once, when the input ends.
    ///
    /// # Errors
    /// [`AudioErrorKind::Resample`] when the resampler fails on the tail.
    pub fn finish(&mut self, sink: &mut dyn FnMut(&[f32])) -> Result<(), AudioErrorKind> {
        if self.resampler.is_none() {
            return Ok(());
        }
        let expected = (self.in_frames as f64 * self.ratio).round() as u64;
        let mut first = true;
        // Each pass feeds a (partial or empty) chunk of zeros-padded input; the delay
        // bounds how many passes are needed.
        for _ in 0..64 {
            if self.out_frames >= expected {
                break;
            }
            let produced = match self.resampler.as_mut() {
                Some(r) => {
                    let res = if first && !self.input.is_empty() {
                        r.process_partial_into_buffer(Some(&[&self.input]), &mut self.output, None)
                    } else {
                        r.process_partial_into_buffer(None::<&[Vec<f32>]>, &mut self.output, None)
                    };
                    match res {
                        Ok((_, produced)) => produced,
                        Err(e) => return Err(self.error(e)),
                    }
                }
                None => 0,
            };
            first = false;
            self.input.clear();
            self.emit(produced, Some(expected), sink);
        }
        Ok(())
    }
}

/// Decodes `path` and pushes mono samples at `options.target_rate` into `sink` as packets
/// decode. Memory stays bounded by one packet and one resampler chunk, whatever the length.
///
/// On error the sink keeps what it received; [`AudioError::partial`] describes it.
///
/// # Errors
/// An [`AudioError`] naming `path` when the file cannot be read, is empty, is no supported
/// container or codec, declares no channels or rate, exceeds `options.max_seconds`, holds no
/// audio, or breaks part-way; in that last case [`AudioError::partial`] describes what the
/// sink received.
pub fn decode_stream(
    path: &Path,
    options: &AudioDecodeOptions,
    sink: &mut dyn FnMut(&[f32]),
) -> Result<AudioInfo, AudioError> {
    // symphonia asserts on some hostile headers (a zero sample rate panics building its
    // time base); a bad file must be an error naming it, never a crash.
    crate::panics::quietly(|| decode_stream_inner(path, options, sink))
        .unwrap_or_else(|text| Err(panic_error(path, &text)))
}

/// Chunks that may wait between [`decode_stream_pipelined`]'s decoder and its sink before
/// the decoder stops to wait or to consume them itself.
const PIPE_DEPTH: usize = 8;
/// Samples gathered into one queued chunk. Handing over each decoded packet (a few hundred
/// samples after resampling) cost a thread wake-up per packet, which on 16 kHz files ate
/// more than the overlap gained; at a second of audio per chunk the hand-overs are noise.
const PIPE_CHUNK: usize = 16_384;

/// The queue between [`decode_stream_pipelined`]'s decoder and its sink.
#[derive(Default)]
struct Pipe {
    chunks: VecDeque<Vec<f32>>,
    /// Emptied chunk buffers, reused so a long file does not allocate per chunk.
    spare: Vec<Vec<f32>>,
    /// A drain task is queued or running; the next chunk needs no new one.
    draining: bool,
    /// What the sink panicked with, after which it is called no more.
    panicked: Option<String>,
}

/// Locks a mutex whether or not a panic poisoned it. Sink panics are caught before they can
/// poison anything here, and the queue stays consistent through any other.
fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The error for a panic while decoding `path`, be it in the decoder or in the sink, so a
/// file fails the same way whichever thread ran its sink.
fn panic_error(path: &Path, detail: &str) -> AudioError {
    AudioError {
        path: path.to_path_buf(),
        kind: AudioErrorKind::DecoderPanic(detail.to_string()),
        partial: None,
    }
}

/// [`decode_stream`] with the sink free to run on another thread of the current rayon pool
/// while this one keeps decoding, so on a multi-core machine the decoding, resampling and
/// hashing of a file overlap its analysis. The sink gets the same samples in the same
/// order as from [`decode_stream`], gathered into larger chunks, so a sink whose result does
/// not depend on chunk sizes (the [`crate::audio::Analyzer`]'s does not) gets the same result.
///
/// Queued chunks are handed to the sink by a spawned task that an idle worker may pick up.
/// The task takes what is queued and returns, never waiting for more, so a worker that
/// picks it up while waiting on work of its own is not held. When no worker is free (a pool
/// of one, or a batch keeping every worker busy), the decoding thread runs the sink itself
/// whenever a few chunks are waiting, so the file still streams in bounded memory.
///
/// The sink must not itself wait on rayon work. A panic in the sink stops it being called
/// and comes back as the same error [`decode_stream`] gives.
///
/// ```no_run
/// use mmprompt::media::audio::{decode_stream_pipelined, AudioDecodeOptions};
/// # fn main() -> Result<(), mmprompt::media::audio::AudioError> {
/// let mut samples = 0usize;
/// let info = decode_stream_pipelined(
///     std::path::Path::new("speech.wav"),
///     &AudioDecodeOptions::default(),
///     &mut |chunk: &[f32]| samples += chunk.len(),
/// )?;
/// assert_eq!(samples as u64, info.output_samples);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// The errors of [`decode_stream`]; a panic in `sink` comes back as one of them too.
pub fn decode_stream_pipelined(
    path: &Path,
    options: &AudioDecodeOptions,
    sink: &mut (dyn FnMut(&[f32]) + Send),
) -> Result<AudioInfo, AudioError> {
    if rayon::current_num_threads() < 2 {
        return decode_stream(path, options, sink);
    }
    let pipe = Mutex::new(Pipe::default());
    // Signalled whenever a chunk is taken off the queue.
    let taken = Condvar::new();
    let consumer = Mutex::new(sink);
    // Feeds queued chunks to the sink, oldest first, until the queue is empty; the caller
    // holds `consumer`, so one side at a time takes chunks. `release` ends a drain task:
    // finding the queue empty and clearing `draining` happen under one lock, so a chunk
    // queued just after is sure to get a task of its own.
    let drain = |sink: &mut (dyn FnMut(&[f32]) + Send), release: bool| loop {
        let (mut chunk, live) = {
            let mut p = lock(&pipe);
            match p.chunks.pop_front() {
                Some(chunk) => {
                    taken.notify_all();
                    (chunk, p.panicked.is_none())
                }
                None => {
                    if release {
                        p.draining = false;
                    }
                    return;
                }
            }
        };
        if live {
            if let Err(text) = crate::panics::quietly(|| sink(&chunk)) {
                lock(&pipe).panicked = Some(text);
            }
        }
        chunk.clear();
        lock(&pipe).spare.push(chunk);
    };
    let task = || match consumer.try_lock() {
        Ok(mut sink) => drain(&mut **sink, true),
        Err(TryLockError::Poisoned(e)) => drain(&mut **e.into_inner(), true),
        // The sink is busy: the decoding thread is catching up (it empties the queue before
        // it goes on), or a task is just returning. A chunk left queued gets the next
        // chunk's task, the decoder's own catching up, or the drain after the scope.
        Err(TryLockError::WouldBlock) => lock(&pipe).draining = false,
    };
    let result = rayon::scope(|scope| {
        let queue = |filling: &mut Vec<f32>| {
            let mut p = lock(&pipe);
            let next = p
                .spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(PIPE_CHUNK));
            p.chunks.push_back(std::mem::replace(filling, next));
            if !p.draining {
                p.draining = true;
                let task = &task;
                scope.spawn(move |_| task());
            }
            while p.chunks.len() >= PIPE_DEPTH {
                let free = match consumer.try_lock() {
                    Ok(sink) => Some(sink),
                    Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
                    Err(TryLockError::WouldBlock) => None,
                };
                if let Some(mut sink) = free {
                    // No one else is taking chunks: catch up here.
                    drop(p);
                    drain(&mut **sink, false);
                    p = lock(&pipe);
                } else {
                    // A drain task holds the sink and is taking chunks.
                    p = taken.wait(p).unwrap_or_else(|e| e.into_inner());
                }
            }
        };
        let mut filling = Vec::with_capacity(PIPE_CHUNK);
        let result = decode_stream(path, options, &mut |chunk| {
            filling.extend_from_slice(chunk);
            if filling.len() >= PIPE_CHUNK {
                queue(&mut filling);
            }
        });
        if !filling.is_empty() {
            queue(&mut filling);
        }
        result
    });
    // Every task has ended; a chunk queued while the last one found the sink busy is left.
    drain(&mut **lock(&consumer), false);
    let panicked = lock(&pipe).panicked.take();
    match panicked {
        Some(detail) => Err(panic_error(path, &detail)),
        None => result,
    }
}

/// Where the packets come from: symphonia's reader for the container, or ours for AIFF
/// (`media/aiff.rs` says why).
enum Demuxer {
    Symphonia {
        format: Box<dyn FormatReader>,
        track_id: u32,
    },
    Aiff(Box<AiffReader<BufReader<HashingFile>>>),
}

impl Demuxer {
    /// The next packet of the decoded track, `None` at the end of the stream.
    fn next_packet(&mut self) -> Result<Option<Packet>, SymError> {
        match self {
            Self::Symphonia { format, track_id } => loop {
                match format.next_packet() {
                    Ok(p) if p.track_id() != *track_id => continue,
                    Ok(p) => return Ok(Some(p)),
                    Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        return Ok(None)
                    }
                    Err(e) => return Err(e),
                }
            },
            Self::Aiff(aiff) => aiff.next_packet().map_err(SymError::IoError),
        }
    }
}

fn decode_stream_inner(
    path: &Path,
    options: &AudioDecodeOptions,
    sink: &mut dyn FnMut(&[f32]),
) -> Result<AudioInfo, AudioError> {
    let fail = |kind: AudioErrorKind, partial: Option<Box<AudioInfo>>| AudioError {
        path: path.to_path_buf(),
        kind,
        partial,
    };
    let io = |e: std::io::Error| fail(AudioErrorKind::Io(e.to_string()), None);
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Err(fail(AudioErrorKind::Empty, None));
    }
    // What the file is, told from its first bytes: after an ID3v2 tag, where symphonia
    // looks too (a FLAC or MP4 behind a tag is still checked below). Bytes that are no
    // format we read never reach symphonia, whose probe would otherwise search the first
    // megabyte for any format's marker and read whatever follows it unchecked.
    let mut prefix = [0u8; 32];
    let mut head = std::fs::File::open(path).map_err(io)?;
    let got = read_up_to(&mut head, &mut prefix).map_err(io)?;
    let start = id3v2_len(&prefix[..got]).unwrap_or(0);
    let sniffed = if start == 0 {
        sniff_mime(&prefix[..got])
    } else {
        use std::io::{Seek, SeekFrom};
        head.seek(SeekFrom::Start(start)).map_err(io)?;
        let got = read_up_to(&mut head, &mut prefix).map_err(io)?;
        // Behind a tag: what follows it, or MPEG audio (whose frames may start later).
        sniff_mime(&prefix[..got]).or(Some("audio/mpeg"))
    };
    let Some(mime) = sniffed else {
        return Err(fail(AudioErrorKind::UnknownFormat, None));
    };
    let length_unknown = if mime == "audio/wav" {
        check_wav_fmt(path).map_err(|kind| fail(kind, None))?
    } else {
        false
    };
    if mime == "audio/flac" {
        check_flac_metadata(path, start).map_err(|kind| fail(kind, None))?;
    }
    if mime == "audio/mp4" {
        check_mp4_tables(path, start).map_err(|kind| fail(kind, None))?;
    }
    if mime == "audio/ogg" {
        check_ogg_comments(path, start).map_err(|kind| fail(kind, None))?;
    }

    let state = Arc::new(Mutex::new(HashState::default()));
    let source = HashingFile {
        file,
        pos: 0,
        len,
        state: Arc::clone(&state),
    };
    let header_error = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            AudioErrorKind::Corrupt(format!("header cut short: {e}"))
        } else {
            AudioErrorKind::Corrupt(e.to_string())
        }
    };
    let (mut demuxer, params) = if mime == "audio/aiff" {
        let aiff = AiffReader::open(BufReader::new(source)).map_err(|e| {
            let kind = match e {
                AiffError::Io(e) => header_error(e),
                AiffError::Unsupported(what) => {
                    AudioErrorKind::Unsupported(format!("{mime}: {what}"))
                }
                AiffError::Corrupt(what) => AudioErrorKind::Corrupt(format!("{mime}: {what}")),
            };
            fail(kind, None)
        })?;
        let params = aiff.codec_params().clone();
        (Demuxer::Aiff(Box::new(aiff)), params)
    } else {
        let mss = MediaSourceStream::new(Box::new(source), Default::default());
        let probed = symphonia::default::get_probe()
            .format(
                &Hint::new(),
                mss,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
            .map_err(|e| match e {
                // A container we recognise with contents symphonia cannot read is an
                // unsupported variant (e.g. a WAV format tag it has no codec for), not an
                // unknown file.
                SymError::Unsupported(what) if sniffed.is_some() => {
                    fail(AudioErrorKind::Unsupported(format!("{mime}: {what}")), None)
                }
                SymError::Unsupported(_) => fail(AudioErrorKind::UnknownFormat, None),
                SymError::IoError(e) => fail(header_error(e), None),
                other => fail(AudioErrorKind::Corrupt(other.to_string()), None),
            })?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| fail(AudioErrorKind::NoTrack, None))?;
        let track_id = track.id;
        let params = track.codec_params.clone();
        (Demuxer::Symphonia { format, track_id }, params)
    };
    let codec = symphonia::default::get_codecs()
        .get_codec(params.codec)
        .map(|d| d.short_name.to_string())
        .or_else(|| unsupported_codec_name(params.codec).map(str::to_string))
        .unwrap_or_else(|| format!("{:?}", params.codec));
    let sample_rate = params.sample_rate.unwrap_or(0);
    if sample_rate == 0 {
        return Err(fail(AudioErrorKind::ZeroSampleRate, None));
    }
    if params.channels.is_some_and(|c| c.count() == 0) {
        return Err(fail(AudioErrorKind::ZeroChannels, None));
    }
    // Checked before the resampler plans its FFTs, whose size follows the rate: a 46-byte
    // header could ask for gigabytes.
    check_declared(
        sample_rate,
        params.channels.map_or(0, |c| c.count()),
        options.max_source_rate,
        options.max_channels,
    )
    .map_err(|kind| fail(kind, None))?;
    let mut channels = params.channels.map_or(0, |c| c.count() as u32);
    // Only these containers state an exact length that a short file contradicts (for AIFF,
    // the COMM chunk's frame count, which our reader sets).
    let exact_length = matches!(mime, "audio/wav" | "audio/aiff" | "audio/flac");
    let declared = params.n_frames.filter(|_| exact_length && !length_unknown);
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| {
            let why = match unsupported_codec_name(params.codec) {
                Some(name) => format!(
                    "{name} is not decoded here (WAV, AIFF, FLAC, Vorbis, MP3 and AAC are); \
                     convert it first, e.g. `ffmpeg -i IN OUT.flac`"
                ),
                None => format!("{codec}: {e}"),
            };
            fail(AudioErrorKind::Unsupported(why), None)
        })?;
    // A header that declares more than the cap is refused before any decoding: a 400 KB FLAC
    // of constant frames may hold five hours, which would take seconds to decode only to
    // be cut at the cap.
    if let Some(n) = params.n_frames.filter(|_| !length_unknown) {
        let declared_s = n as f64 / f64::from(sample_rate);
        if declared_s > options.max_seconds {
            return Err(fail(
                AudioErrorKind::DeclaredTooLong {
                    declared_s,
                    limit_s: options.max_seconds,
                },
                None,
            ));
        }
    }
    let mut resampler =
        MonoResampler::new(sample_rate, options.target_rate).map_err(|kind| fail(kind, None))?;
    let max_frames = (options.max_seconds.max(0.0) * f64::from(sample_rate)) as u64;

    let mut mono: Vec<f32> = Vec::new();
    let mut frames = 0u64;
    let info = |frames: u64, out: u64, channels: u32, sha256: String| AudioInfo {
        mime,
        codec: codec.clone(),
        sample_rate,
        channels,
        source_frames: frames,
        duration_s: frames as f64 / f64::from(sample_rate),
        output_samples: out,
        output_rate: options.target_rate,
        sha256,
        byte_len: len,
    };

    let outcome: Result<(), AudioErrorKind> = loop {
        let packet = match demuxer.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break Ok(()),
            Err(SymError::ResetRequired) => {
                break Err(AudioErrorKind::Unsupported(
                    "stream changes parameters mid-way".into(),
                ));
            }
            Err(e) => break Err(AudioErrorKind::Corrupt(e.to_string())),
        };
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break Err(AudioErrorKind::Corrupt(format!("packet cut short: {e}")));
            }
            Err(SymError::Unsupported(what)) => {
                break Err(AudioErrorKind::Unsupported(format!("{codec}: {what}")))
            }
            Err(e) => break Err(AudioErrorKind::Corrupt(e.to_string())),
        };
        let spec = *decoded.spec();
        let ch = spec.channels.count();
        if ch == 0 {
            break Err(AudioErrorKind::ZeroChannels);
        }
        channels = ch as u32;
        let n = decoded.frames();
        if n == 0 {
            continue;
        }
        let room = max_frames.saturating_sub(frames);
        let take = (n as u64).min(room) as usize;
        if let Some(bad) = downmix_decoded(&decoded, take, &mut mono) {
            let at = frames + bad as u64;
            break Err(AudioErrorKind::NonFinite {
                at_s: at as f64 / f64::from(sample_rate),
            });
        }
        if let Err(kind) = resampler.push(&mono, sink) {
            break Err(kind);
        }
        frames += take as u64;
        if take < n {
            break Err(AudioErrorKind::TooLong {
                limit_s: options.max_seconds,
            });
        }
    };
    // Deliver the resampler's tail even on error: those samples were decoded.
    let flushed = resampler.finish(sink);
    // A partial result is still a record of this exact file, so it carries the file's hash;
    // the rest of the bytes are read for it (failing that, the hash is left empty).
    let partial = |frames, out, channels| {
        let sha256 = finish_hash(path, &state).unwrap_or_default();
        Some(Box::new(info(frames, out, channels, sha256)))
    };
    if let Err(kind) = outcome {
        return Err(fail(kind, partial(frames, resampler.out_frames, channels)));
    }
    if let Err(kind) = flushed {
        return Err(fail(kind, partial(frames, resampler.out_frames, channels)));
    }
    if let Some(declared) = declared.filter(|&d| frames < d) {
        return Err(fail(
            AudioErrorKind::Truncated {
                declared,
                decoded: frames,
            },
            partial(frames, resampler.out_frames, channels),
        ));
    }
    if frames == 0 {
        return Err(fail(AudioErrorKind::NoAudio, None));
    }
    let sha256 = finish_hash(path, &state).map_err(io)?;
    Ok(info(frames, resampler.out_frames, channels, sha256))
}

/// Decodes a whole file into memory (for short files and tests; prefer [`decode_stream`]).
///
/// ```no_run
/// use mmprompt::media::audio::{decode_file, AudioDecodeOptions};
/// let (samples, info) = decode_file("clip.flac".as_ref(), &AudioDecodeOptions::default())?;
/// assert_eq!(samples.len() as u64, info.output_samples);
/// # Ok::<(), mmprompt::media::audio::AudioError>(())
/// ```
///
/// # Errors
/// The errors of [`decode_stream`]. A stream broken part-way is an error here, with no
/// samples: use [`decode_stream`] to keep what came before the damage.
pub fn decode_file(
    path: &Path,
    options: &AudioDecodeOptions,
) -> Result<(Vec<f32>, AudioInfo), AudioError> {
    let mut out = Vec::new();
    let info = decode_stream(path, options, &mut |chunk| out.extend_from_slice(chunk))?;
    Ok((out, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `channels`-channel buffer whose samples come from `sample(frame, channel)`.
    fn planar<S: Sample>(
        channels: usize,
        frames: usize,
        sample: impl Fn(usize, usize) -> S,
    ) -> AudioBuffer<S> {
        use symphonia::core::audio::{Channels, SignalSpec};
        let layout = Channels::from_bits_truncate((1u32 << channels) - 1);
        let mut buf = AudioBuffer::new(frames as u64, SignalSpec::new(44_100, layout));
        buf.render_reserved(Some(frames));
        for c in 0..channels {
            for (i, s) in buf.chan_mut(c).iter_mut().enumerate() {
                *s = sample(i, c);
            }
        }
        buf
    }

    /// The interleaved path the planar downmix replaces: symphonia's interleaved copy, then
    /// `downmix_into`, and the first non-finite frame of the copy.
    fn via_interleaved(decoded: &AudioBufferRef<'_>, take: usize) -> (Vec<u32>, Option<usize>) {
        use symphonia::core::audio::SampleBuffer;
        let ch = decoded.spec().channels.count();
        let mut copy = SampleBuffer::<f32>::new(decoded.capacity() as u64, *decoded.spec());
        copy.copy_interleaved_ref(decoded.clone());
        let samples = copy.samples();
        let bad = samples.iter().position(|s| !s.is_finite()).map(|i| i / ch);
        let mut mono = Vec::new();
        downmix_into(&samples[..take * ch], ch, &mut mono);
        (mono.iter().map(|x| x.to_bits()).collect(), bad)
    }

    #[test]
    fn planar_downmix_equals_the_interleaved_path_bit_for_bit() {
        use symphonia::core::audio::AsAudioBufferRef;
        use symphonia::core::sample::i24;
        let noise = |i: usize, c: usize| {
            let mut x = (i as u32).wrapping_mul(0x9E37_79B9) ^ (c as u32).wrapping_mul(0x85EB_CA6B);
            x ^= x >> 15;
            x = x.wrapping_mul(0x2C1B_3C6D);
            x ^= x >> 12;
            x
        };
        let frames = 1000;
        for channels in [1usize, 2, 3, 6] {
            let s16 = planar(channels, frames, |i, c| noise(i, c) as i16);
            let s24 = planar(channels, frames, |i, c| {
                i24::from((noise(i, c) as i32) >> 8)
            });
            let u8s = planar(channels, frames, |i, c| noise(i, c) as u8);
            // Signed zeros first, then values in [-1, 1], non-finite samples in the first and
            // the last channel (the last channel's is the earlier frame), and one
            // overflowing double.
            let f32s = planar(channels, frames, |i, c| match i {
                0 => -0.0,
                1 => 0.0,
                700 if c == channels - 1 => f32::NAN,
                900 if c == 0 => f32::INFINITY,
                _ => noise(i, c) as i32 as f32 / i32::MAX as f32,
            });
            let f64s = planar(channels, frames, |i, c| match i {
                0 => -0.0,
                650 if c == 0 => 1e300,
                _ => f64::from(noise(i, c) as i32) / f64::from(i32::MAX),
            });
            let cases = [
                s16.as_audio_buffer_ref(),
                s24.as_audio_buffer_ref(),
                u8s.as_audio_buffer_ref(),
                f32s.as_audio_buffer_ref(),
                f64s.as_audio_buffer_ref(),
            ];
            for decoded in &cases {
                for take in [frames, 333, 0] {
                    let (want, want_bad) = via_interleaved(decoded, take);
                    let mut got = Vec::new();
                    let got_bad = downmix_decoded(decoded, take, &mut got);
                    let got: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
                    assert_eq!(got, want, "{channels} channels, take {take}");
                    assert_eq!(got_bad, want_bad, "{channels} channels");
                }
            }
        }
    }

    #[test]
    fn downmix_fast_paths_equal_the_general_average_bit_for_bit() {
        let mut state = 0x9E37_79B9u32;
        let mut samples: Vec<f32> = (0..6000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect();
        // Signed zeros and extremes are where a different formula would show.
        samples[..6].copy_from_slice(&[-0.0, -0.0, 0.0, -0.0, 1.0, -1.0]);
        for channels in 1..=3 {
            let mut got = Vec::new();
            downmix_into(&samples, channels, &mut got);
            let scale = 1.0 / channels as f32;
            let want: Vec<u32> = samples
                .chunks_exact(channels)
                .map(|f| (f.iter().sum::<f32>() * scale).to_bits())
                .collect();
            let got: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
            assert_eq!(got, want, "{channels} channels");
        }
    }
}
