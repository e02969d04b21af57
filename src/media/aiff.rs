//! The AIFF/AIFC container, read here instead of by symphonia's AIFF reader; symphonia's
//! PCM codecs still turn the bytes into samples.
//!
//! Why not symphonia's reader (0.5.5): its `SSND` chunk length includes the chunk's two
//! leading words (offset and block size, 8 bytes that are not samples), so it declares
//! `8 / frame size` frames too many (4 for 16-bit mono, 2 for 16-bit stereo and 24-bit mono,
//! 1 for 24-bit stereo), and it reads 8 bytes past the sound data: the first bytes of the
//! next chunk become samples, or the file's end cuts its last read short. It ignores the
//! `COMM` frame count and refuses any file whose offset is not zero. Here the `COMM` chunk's
//! frame count is the length, the samples start `offset` bytes after the two words, and no
//! more than the `SSND` chunk holds is read.
//!
//! The file is read in order, never seeking back unless the `SSND` chunk comes before the
//! `COMM` chunk, so the caller's hashing reader sees every byte once.

use std::io::{self, Read, Seek, SeekFrom};
use symphonia::core::audio::Channels;
use symphonia::core::codecs::{
    CodecParameters, CodecType, CODEC_TYPE_PCM_ALAW, CODEC_TYPE_PCM_F32BE, CODEC_TYPE_PCM_F64BE,
    CODEC_TYPE_PCM_MULAW, CODEC_TYPE_PCM_S16BE, CODEC_TYPE_PCM_S16LE, CODEC_TYPE_PCM_S24BE,
    CODEC_TYPE_PCM_S24LE, CODEC_TYPE_PCM_S32BE, CODEC_TYPE_PCM_S32LE, CODEC_TYPE_PCM_S8,
};
use symphonia::core::formats::Packet;
use symphonia::core::units::TimeBase;

/// Frames per packet, as symphonia's own RIFF readers make them.
const FRAMES_PER_PACKET: u64 = 1152;

/// Why an AIFF header cannot be used.
#[derive(Debug)]
pub(crate) enum AiffError {
    /// Reading failed; `UnexpectedEof` means the header is cut short.
    Io(io::Error),
    /// A valid file in a variant not decoded here (a compression type, a sample size).
    Unsupported(String),
    /// The header contradicts itself or the format.
    Corrupt(String),
}

impl From<io::Error> for AiffError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// An open AIFF/AIFC file positioned at its first sample, handing out packets of whole
/// frames for a symphonia PCM decoder.
pub(crate) struct AiffReader<R> {
    reader: R,
    params: CodecParameters,
    /// Bytes per frame.
    frame_len: u64,
    /// Frames the `SSND` chunk still holds (at most `declared` in all).
    frames_left: u64,
    /// Frames handed out so far (the next packet's timestamp).
    ts: u64,
}

/// What the `COMM` chunk says.
struct Common {
    channels: u16,
    frames: u32,
    sample_rate: u32,
    codec: CodecType,
    /// Bits per sample as coded (8 for A-law and µ-law).
    bits: u32,
}

/// Where the `SSND` chunk's samples are: their first byte and how many bytes it holds.
struct Sound {
    start: u64,
    len: u64,
}

fn be_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads and discards `n` bytes (reading, not seeking, keeps the bytes in order for the
/// caller's hash). Fails with `UnexpectedEof` if the file ends first.
fn skip<R: Read>(reader: &mut R, n: u64) -> io::Result<()> {
    let got = io::copy(&mut reader.by_ref().take(n), &mut io::sink())?;
    if got < n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// The integer part of an 80-bit IEEE 754 extended float, the sample rate's type in `COMM`
/// (as symphonia, the fraction is dropped). Negative or too large rates are corrupt; a rate
/// below 1 Hz is 0, which the caller reports as a missing rate.
fn extended_to_u32(b: &[u8; 10]) -> Result<u32, AiffError> {
    if b[0] & 0x80 != 0 {
        return Err(AiffError::Corrupt("negative sample rate".into()));
    }
    let exponent = i32::from(be_u16(&b[..2]) & 0x7fff) - 16383;
    let mantissa = u64::from_be_bytes([b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]]);
    if exponent < 0 || mantissa == 0 {
        return Ok(0);
    }
    if exponent > 31 {
        return Err(AiffError::Corrupt("sample rate out of range".into()));
    }
    Ok((mantissa >> (63 - exponent)) as u32)
}

fn parse_common(body: &[u8], aifc: bool) -> Result<Common, AiffError> {
    let need = if aifc { 22 } else { 18 };
    if body.len() < need {
        return Err(AiffError::Corrupt(format!(
            "COMM chunk of {} bytes, at least {need} expected",
            body.len()
        )));
    }
    let channels = be_u16(&body[0..2]);
    let frames = be_u32(&body[2..6]);
    let bits = be_u16(&body[6..8]);
    let mut rate = [0u8; 10];
    rate.copy_from_slice(&body[8..18]);
    let sample_rate = extended_to_u32(&rate)?;
    let compression: [u8; 4] = if aifc {
        [body[18], body[19], body[20], body[21]]
    } else {
        *b"NONE"
    };
    // The mapping symphonia's reader makes, plus little-endian (`sowt`) and big-endian
    // (`twos`) PCM of every width its codecs decode.
    let codec = match (&compression, bits) {
        (b"NONE" | b"none" | b"twos" | b"TWOS" | b"sowt" | b"SOWT", 8) => Some(CODEC_TYPE_PCM_S8),
        (b"NONE" | b"none" | b"twos" | b"TWOS", 16) => Some(CODEC_TYPE_PCM_S16BE),
        (b"NONE" | b"none" | b"twos" | b"TWOS", 24) => Some(CODEC_TYPE_PCM_S24BE),
        (b"NONE" | b"none" | b"twos" | b"TWOS", 32) => Some(CODEC_TYPE_PCM_S32BE),
        (b"sowt" | b"SOWT", 16) => Some(CODEC_TYPE_PCM_S16LE),
        (b"sowt" | b"SOWT", 24) => Some(CODEC_TYPE_PCM_S24LE),
        (b"sowt" | b"SOWT", 32) => Some(CODEC_TYPE_PCM_S32LE),
        (b"fl32" | b"FL32", _) => Some(CODEC_TYPE_PCM_F32BE),
        (b"fl64" | b"FL64", _) => Some(CODEC_TYPE_PCM_F64BE),
        (b"alaw" | b"ALAW", _) => Some(CODEC_TYPE_PCM_ALAW),
        (b"ulaw" | b"ULAW", _) => Some(CODEC_TYPE_PCM_MULAW),
        _ => None,
    };
    let bits = match &compression {
        b"fl32" | b"FL32" => 32,
        b"fl64" | b"FL64" => 64,
        b"alaw" | b"ALAW" | b"ulaw" | b"ULAW" => 8,
        _ => u32::from(bits),
    };
    let codec = codec.ok_or_else(|| {
        AiffError::Unsupported(if aifc {
            format!(
                "AIFC compression {:?} with {bits}-bit samples",
                String::from_utf8_lossy(&compression)
            )
        } else {
            format!("{bits}-bit samples (8, 16, 24 or 32 are decoded)")
        })
    })?;
    Ok(Common {
        channels,
        frames,
        sample_rate,
        codec,
        bits,
    })
}

impl<R: Read + Seek> AiffReader<R> {
    /// Reads the header of the AIFF or AIFC file `reader` starts at, up to the first sample.
    pub(crate) fn open(mut reader: R) -> Result<Self, AiffError> {
        let mut head = [0u8; 12];
        reader.read_exact(&mut head)?;
        let aifc = match (&head[0..4], &head[8..12]) {
            (b"FORM", b"AIFF") => false,
            (b"FORM", b"AIFC") => true,
            _ => return Err(AiffError::Corrupt("not a FORM AIFF/AIFC file".into())),
        };
        let form_end = 8 + u64::from(be_u32(&head[4..8]));
        let mut pos = 12u64;
        let mut common: Option<Common> = None;
        let mut sound: Option<Sound> = None;
        // Chunks come in any order; the usual one (COMM, then SSND) is read straight through.
        while common.is_none() || sound.is_none() {
            if pos + 8 > form_end {
                break;
            }
            let mut ck = [0u8; 8];
            reader.read_exact(&mut ck)?;
            let size = u64::from(be_u32(&ck[4..8]));
            // Chunks are padded to an even length.
            let next = pos + 8 + size + (size & 1);
            match &ck[0..4] {
                b"COMM" if common.is_none() => {
                    let mut body = vec![0u8; size.min(4096) as usize];
                    reader.read_exact(&mut body)?;
                    skip(&mut reader, next - pos - 8 - body.len() as u64)?;
                    common = Some(parse_common(&body, aifc)?);
                }
                b"SSND" if sound.is_none() => {
                    let mut words = [0u8; 8];
                    reader.read_exact(&mut words)?;
                    let offset = u64::from(be_u32(&words[0..4]));
                    // The block size only tells writers how to align; readers ignore it.
                    let start = pos + 16 + offset;
                    sound = Some(Sound {
                        start,
                        len: size.saturating_sub(8 + offset),
                    });
                    if common.is_some() {
                        skip(&mut reader, offset)?;
                        pos = start;
                        continue;
                    }
                    // The sound data before the format: step over it for now.
                    reader.seek(SeekFrom::Start(next))?;
                }
                _ => skip(&mut reader, next - pos - 8)?,
            }
            pos = next;
        }
        let (common, sound) = match (common, sound) {
            (Some(c), Some(s)) => (c, s),
            (None, _) => return Err(AiffError::Corrupt("no COMM chunk".into())),
            (_, None) => return Err(AiffError::Corrupt("no SSND chunk".into())),
        };
        if pos != sound.start {
            reader.seek(SeekFrom::Start(sound.start))?;
        }
        let frame_len = u64::from(common.channels) * u64::from(common.bits.div_ceil(8));
        let mut params = CodecParameters::new();
        params
            .for_codec(common.codec)
            .with_sample_rate(common.sample_rate)
            .with_max_frames_per_packet(FRAMES_PER_PACKET)
            .with_n_frames(u64::from(common.frames))
            .with_bits_per_coded_sample(common.bits)
            .with_bits_per_sample(common.bits);
        if common.sample_rate > 0 {
            params.with_time_base(TimeBase::new(1, common.sample_rate));
        }
        // Zero channels give an empty set, which the caller reports; more than symphonia
        // has positions for are unsupported.
        let mask = (1u64 << common.channels.min(63)) - 1;
        let layout = u32::try_from(mask)
            .ok()
            .and_then(Channels::from_bits)
            .ok_or_else(|| AiffError::Unsupported(format!("{} channels", common.channels)))?;
        params.with_channels(layout);
        let frames_left = sound
            .len
            .checked_div(frame_len)
            .map_or(0, |n| n.min(u64::from(common.frames)));
        Ok(Self {
            reader,
            params,
            frame_len,
            frames_left,
            ts: 0,
        })
    }
}

impl<R: Read> AiffReader<R> {
    /// The codec parameters for symphonia's PCM decoder; `n_frames` is the `COMM` chunk's
    /// frame count.
    pub(crate) fn codec_params(&self) -> &CodecParameters {
        &self.params
    }

    /// The next packet of whole frames (track 0), or `None` at the end of the sound data or
    /// of the file, whichever comes first: a file cut short ends early, and the caller
    /// compares the frames it got with the declared `n_frames`.
    pub(crate) fn next_packet(&mut self) -> io::Result<Option<Packet>> {
        let frames = self.frames_left.min(FRAMES_PER_PACKET);
        if frames == 0 {
            return Ok(None);
        }
        let mut buf = Vec::with_capacity((frames * self.frame_len) as usize);
        let got = self
            .reader
            .by_ref()
            .take(frames * self.frame_len)
            .read_to_end(&mut buf)? as u64;
        let whole = got / self.frame_len;
        if whole < frames {
            // The file ends inside the sound data: a partial frame is dropped.
            self.frames_left = 0;
            if whole == 0 {
                return Ok(None);
            }
        } else {
            self.frames_left -= frames;
        }
        buf.truncate((whole * self.frame_len) as usize);
        let packet = Packet::new_from_boxed_slice(0, self.ts, whole, buf.into_boxed_slice());
        self.ts += whole;
        Ok(Some(packet))
    }
}
