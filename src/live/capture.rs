//! Audio capture for live mode: a cpal input stream on ALSA (or a file replayed at real
//! speed) feeding a lock-free ring that the analysis thread drains.
//!
//! The audio callback only converts the device's samples (any format cpal offers) to `f32`
//! and copies them into an [`rtrb`] ring: no allocation, no lock, no I/O, so it never makes
//! the device wait. When the ring is full the callback drops whole frames and counts them;
//! [`CaptureStats::dropped_frames`] reports them, so an overrun is never hidden.

use crate::media::audio::{decode_stream, AudioDecodeOptions};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds of audio the ring holds: the analysis thread may stall this long (a slow disk
/// under `--record`, a busy machine) before frames are dropped.
pub const RING_SECONDS: u32 = 2;

/// Why capture could not start or went on failing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaptureError {
    /// The audio system could not be asked for its devices.
    #[error("cannot list audio devices: {0}")]
    Enumerate(String),
    /// No device has the requested name.
    #[error(
        "no input device named '{name}'; devices that exist: {}",
        list_or_none(available)
    )]
    NoSuchDevice {
        /// The name asked for.
        name: String,
        /// Input devices that do exist.
        available: Vec<String>,
    },
    /// The system names no default input device.
    #[error(
        "there is no default input device; devices that exist: {}",
        list_or_none(available)
    )]
    NoDefaultDevice {
        /// Input devices that do exist.
        available: Vec<String>,
    },
    /// The device exists but cannot be opened or configured for capture.
    #[error("{}input device '{device}' exists but cannot be opened: {detail}", if *default { "the default " } else { "" })]
    Open {
        /// The device.
        device: String,
        /// Whether it is the system default (which often exists even with no sound card).
        default: bool,
        /// The backend's reason.
        detail: String,
    },
    /// The device only offers a sample format cpal has no conversion for.
    #[error("input device '{device}' offers sample format {format}, which cannot be converted")]
    UnsupportedFormat {
        /// The device.
        device: String,
        /// cpal's name for the format.
        format: String,
    },
    /// The replayed file could not be read.
    #[error("{}: {detail}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

impl CaptureError {
    /// A stable machine-readable name for the kind.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Enumerate(_) => "enumerate",
            Self::NoSuchDevice { .. } => "no_such_device",
            Self::NoDefaultDevice { .. } => "no_default_device",
            Self::Open { .. } => "open_failed",
            Self::UnsupportedFormat { .. } => "unsupported_format",
            Self::Input { .. } => "input",
        }
    }
}

/// One input device as `--list-devices` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The name `--device` takes (ALSA's PCM name, e.g. `default`, `hw:CARD=0,DEV=0`).
    pub name: String,
    /// The backend's human description, if any (first line only).
    pub description: Option<String>,
    /// Whether this is the system's default input.
    pub is_default: bool,
    /// The default capture configuration, e.g. `48000 Hz, 2 ch, i16`, or why it is unknown.
    pub default_config: Result<String, String>,
}

/// Silences ALSA's own error printing while it lives: probing plugins that do not apply to
/// this machine makes ALSA write noise to stderr that would bury the real message.
fn quiet_alsa() -> impl Sized {
    #[cfg(target_os = "linux")]
    {
        alsa::Output::local_error_handler().ok()
    }
}

/// The input devices, with the system default first when the hints do not list it (ALSA's
/// `default` usually has no hint), and the default's name.
fn host_devices() -> Result<(Vec<cpal::Device>, Option<String>), CaptureError> {
    let host = cpal::default_host();
    let default_device = host.default_input_device();
    let default = default_device.as_ref().and_then(pcm_name);
    let mut devices: Vec<cpal::Device> = host
        .input_devices()
        .map_err(|e| CaptureError::Enumerate(e.to_string()))?
        .collect();
    if let Some(d) = default_device {
        if !devices.iter().any(|x| pcm_name(x) == default) {
            devices.insert(0, d);
        }
    }
    Ok((devices, default))
}

fn pcm_name(device: &cpal::Device) -> Option<String> {
    device.id().ok().map(|id| id.id().to_owned())
}

fn description(device: &cpal::Device) -> Option<String> {
    device
        .description()
        .ok()
        .and_then(|d| d.name().lines().next().map(str::to_owned))
        .filter(|s| !s.is_empty())
}

fn config_text(c: &cpal::SupportedStreamConfig) -> String {
    format!(
        "{} Hz, {} ch, {}",
        c.sample_rate(),
        c.channels(),
        c.sample_format()
    )
}

/// Lists the input devices with their default configurations (opening each briefly to ask).
///
/// # Errors
/// A [`CaptureError`] when the audio host cannot list its devices.
pub fn list_input_devices() -> Result<Vec<DeviceInfo>, CaptureError> {
    let _quiet = quiet_alsa();
    let (devices, default) = host_devices()?;
    Ok(devices
        .iter()
        .filter_map(|d| {
            let name = pcm_name(d)?;
            Some(DeviceInfo {
                is_default: default.as_deref() == Some(name.as_str()),
                description: description(d),
                default_config: d
                    .default_input_config()
                    .map(|c| config_text(&c))
                    .map_err(|e| e.to_string()),
                name,
            })
        })
        .collect())
}

/// Totals the capture side keeps, readable at any time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CaptureStats {
    /// Frames (one sample per channel) that reached the ring.
    pub frames: u64,
    /// Frames dropped because the ring was full (the analysis thread fell behind).
    pub dropped_frames: u64,
    /// Overruns the device itself reported (samples lost before they reached us).
    pub device_xruns: u64,
}

/// Counters shared by the callback (writer) and the session (reader): atomics only.
#[derive(Debug, Default)]
struct Shared {
    frames: AtomicU64,
    dropped: AtomicU64,
    xruns: AtomicU64,
    /// Wall-clock nanoseconds since the epoch of the first captured sample; 0 until then.
    started_ns: AtomicU64,
    /// The producer has stopped for good (replay finished or failed).
    ended: AtomicBool,
}

impl Shared {
    fn mark_start(&self, age: Duration) {
        if self.started_ns.load(Ordering::Relaxed) == 0 {
            let now = SystemTime::now()
                .checked_sub(age)
                .unwrap_or_else(SystemTime::now);
            let ns = now
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64);
            self.started_ns.store(ns.max(1), Ordering::Relaxed);
        }
    }
}

/// How the samples arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureFormat {
    /// The device (or file) as the user named it.
    pub device: String,
    /// Frames per second.
    pub sample_rate: u32,
    /// Interleaved channels per frame.
    pub channels: u16,
    /// The device's own sample format, e.g. `i16` (samples arrive as `f32` regardless).
    pub sample_format: String,
}

/// Keeps the producer side alive.
enum Keep {
    Device(#[allow(dead_code)] cpal::Stream),
    Replay(#[allow(dead_code)] std::thread::JoinHandle<()>),
}

/// A running capture: interleaved `f32` frames to pop, counters, and fatal errors.
pub struct Capture {
    format: CaptureFormat,
    ring: rtrb::Consumer<f32>,
    shared: Arc<Shared>,
    errors: mpsc::Receiver<String>,
    _keep: Keep,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("format", &self.format)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// The format of the popped samples.
    pub fn format(&self) -> &CaptureFormat {
        &self.format
    }

    /// Pops whole interleaved frames into `buf`, returning how many samples were written
    /// (a multiple of the channel count; 0 when nothing is waiting).
    pub fn pop(&mut self, buf: &mut [f32]) -> usize {
        let ch = usize::from(self.format.channels.max(1));
        let n = self.ring.slots().min(buf.len()) / ch * ch;
        let (done, _) = self.ring.pop_partial_slice(&mut buf[..n]);
        done.len()
    }

    /// Samples waiting in the ring.
    pub fn available(&self) -> usize {
        self.ring.slots()
    }

    /// The counters so far.
    pub fn stats(&self) -> CaptureStats {
        CaptureStats {
            frames: self.shared.frames.load(Ordering::Relaxed),
            dropped_frames: self.shared.dropped.load(Ordering::Relaxed),
            device_xruns: self.shared.xruns.load(Ordering::Relaxed),
        }
    }

    /// Wall-clock time of the first captured sample, once there is one.
    pub fn started(&self) -> Option<SystemTime> {
        match self.shared.started_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(UNIX_EPOCH + Duration::from_nanos(ns)),
        }
    }

    /// A fatal error the stream reported, if any (the stream has stopped delivering).
    pub fn error(&mut self) -> Option<String> {
        self.errors.try_recv().ok()
    }

    /// The producer has finished (a replayed file ended) and everything was popped.
    pub fn ended(&self) -> bool {
        self.shared.ended.load(Ordering::Acquire) && self.ring.is_empty()
    }
}

fn ring_for(rate: u32, channels: u16) -> (rtrb::Producer<f32>, rtrb::Consumer<f32>) {
    rtrb::RingBuffer::new((rate as usize * usize::from(channels) * RING_SECONDS as usize).max(1))
}

/// Copies one callback's worth of samples into the ring; runs on the audio thread.
fn deliver<T>(data: &[T], channels: usize, ring: &mut rtrb::Producer<f32>, shared: &Shared)
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let room = ring.slots() / channels * channels;
    let take = data.len().min(room) / channels * channels;
    if let Ok(chunk) = ring.write_chunk_uninit(take) {
        chunk.fill_from_iter(
            data[..take]
                .iter()
                .map(|&s| <f32 as FromSample<T>>::from_sample_(s)),
        );
    }
    shared
        .frames
        .fetch_add((take / channels) as u64, Ordering::Relaxed);
    let lost = (data.len() - take) / channels;
    if lost > 0 {
        shared.dropped.fetch_add(lost as u64, Ordering::Relaxed);
    }
}

fn build<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut ring: rtrb::Producer<f32>,
    shared: Arc<Shared>,
    errors: mpsc::Sender<String>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    let on_error_shared = Arc::clone(&shared);
    device.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], info: &cpal::InputCallbackInfo| {
            let ts = info.timestamp();
            shared.mark_start(ts.callback.duration_since(ts.capture));
            deliver(data, channels, &mut ring, &shared);
        },
        move |err: cpal::Error| match err.kind() {
            // Samples lost inside the device or a moved default: capture goes on.
            cpal::ErrorKind::Xrun => {
                on_error_shared.xruns.fetch_add(1, Ordering::Relaxed);
            }
            cpal::ErrorKind::DeviceChanged | cpal::ErrorKind::RealtimeDenied => {}
            _ => {
                let _ = errors.send(err.to_string());
            }
        },
        None,
    )
}

/// Opens `device` (the default input when `None`) in its default configuration and starts
/// capturing.
///
/// # Errors
/// A [`CaptureError`] when there is no such device (or no default input), or the device
/// cannot be opened or started in any format it offers.
pub fn open_device(device: Option<&str>) -> Result<Capture, CaptureError> {
    let quiet = quiet_alsa();
    let (devices, default) = host_devices()?;
    let names = || devices.iter().filter_map(pcm_name).collect::<Vec<_>>();
    let wanted = device.or(default.as_deref());
    let Some(wanted) = wanted else {
        return Err(CaptureError::NoDefaultDevice { available: names() });
    };
    let chosen = devices
        .iter()
        .find(|d| pcm_name(d).as_deref() == Some(wanted))
        .or_else(|| {
            devices
                .iter()
                .find(|d| description(d).as_deref() == Some(wanted))
        });
    let Some(chosen) = chosen else {
        return Err(match device {
            Some(name) => CaptureError::NoSuchDevice {
                name: name.to_owned(),
                available: names(),
            },
            None => CaptureError::NoDefaultDevice { available: names() },
        });
    };
    let name = pcm_name(chosen).unwrap_or_else(|| wanted.to_owned());
    let is_default = default.as_deref() == Some(name.as_str());
    let open_err = |detail: String| CaptureError::Open {
        device: name.clone(),
        default: is_default,
        detail,
    };
    let supported = chosen
        .default_input_config()
        .map_err(|e| open_err(e.to_string()))?;
    let mut config = supported.config();
    // 10 ms periods when the device allows them: the line for a segment can be no earlier
    // than the period that holds its end, and the latency budget is 50 ms.
    let period = (config.sample_rate / 100).max(1);
    if let cpal::SupportedBufferSize::Range { min, max } = *supported.buffer_size() {
        if (min..=max).contains(&period) {
            config.buffer_size = cpal::BufferSize::Fixed(period);
        }
    }
    let (producer, consumer) = ring_for(config.sample_rate, config.channels);
    let shared = Arc::new(Shared::default());
    let (tx, rx) = mpsc::channel();
    let s = Arc::clone(&shared);
    let stream = match supported.sample_format() {
        SampleFormat::I8 => build::<i8>(chosen, config, producer, s, tx),
        SampleFormat::I16 => build::<i16>(chosen, config, producer, s, tx),
        SampleFormat::I24 => build::<cpal::I24>(chosen, config, producer, s, tx),
        SampleFormat::I32 => build::<i32>(chosen, config, producer, s, tx),
        SampleFormat::I64 => build::<i64>(chosen, config, producer, s, tx),
        SampleFormat::U8 => build::<u8>(chosen, config, producer, s, tx),
        SampleFormat::U16 => build::<u16>(chosen, config, producer, s, tx),
        SampleFormat::U24 => build::<cpal::U24>(chosen, config, producer, s, tx),
        SampleFormat::U32 => build::<u32>(chosen, config, producer, s, tx),
        SampleFormat::U64 => build::<u64>(chosen, config, producer, s, tx),
        SampleFormat::F32 => build::<f32>(chosen, config, producer, s, tx),
        SampleFormat::F64 => build::<f64>(chosen, config, producer, s, tx),
        other => {
            return Err(CaptureError::UnsupportedFormat {
                device: name,
                format: other.to_string(),
            })
        }
    }
    .map_err(|e| open_err(e.to_string()))?;
    stream.play().map_err(|e| open_err(e.to_string()))?;
    drop(quiet);
    Ok(Capture {
        format: CaptureFormat {
            device: name,
            sample_rate: config.sample_rate,
            channels: config.channels,
            sample_format: supported.sample_format().to_string(),
        },
        ring: consumer,
        shared,
        errors: rx,
        _keep: Keep::Device(stream),
    })
}

/// Replays `path` through the same ring at real speed, as a device would deliver it:
/// decoded and resampled to mono at `rate` (the analysis rate), in 10 ms blocks on a
/// clock, so `live --input FILE --realtime` exercises the live path end to end.
///
/// # Errors
/// A [`CaptureError`] naming `path` when the file cannot be opened as audio.
pub fn replay_file(path: &Path, rate: u32) -> Result<Capture, CaptureError> {
    let input_err = |detail: String| CaptureError::Input {
        path: path.to_path_buf(),
        detail,
    };
    crate::media::sniff_file(path).map_err(|e| input_err(e.to_string()))?;
    let (mut producer, consumer) = ring_for(rate, 1);
    let shared = Arc::new(Shared::default());
    let (tx, rx) = mpsc::channel();
    let thread_shared = Arc::clone(&shared);
    let file = path.to_path_buf();
    let block = (rate / 100).max(1) as usize;
    let handle = std::thread::Builder::new()
        .name("mmprompt-replay".into())
        .spawn(move || {
            let mut pending: Vec<f32> = Vec::with_capacity(block * 2);
            let mut sent = 0u64;
            let mut t0: Option<Instant> = None;
            let options = AudioDecodeOptions {
                target_rate: rate,
                ..AudioDecodeOptions::default()
            };
            let mut pace = |samples: &[f32], pending: &mut Vec<f32>, flush: bool| {
                pending.extend_from_slice(samples);
                while pending.len() >= block || (flush && !pending.is_empty()) {
                    let n = pending.len().min(block);
                    let start = *t0.get_or_insert_with(Instant::now);
                    let due = start + Duration::from_secs_f64(sent as f64 / f64::from(rate));
                    // Pacing a clock, not waiting for another thread: sleeping is the point.
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    thread_shared.mark_start(Duration::ZERO);
                    deliver(&pending[..n], 1, &mut producer, &thread_shared);
                    pending.drain(..n);
                    sent += n as u64;
                }
            };
            let result = decode_stream(&file, &options, &mut |chunk| {
                pace(chunk, &mut pending, false);
            });
            pace(&[], &mut pending, true);
            if let Err(e) = result {
                let _ = tx.send(e.to_string());
            }
            thread_shared.ended.store(true, Ordering::Release);
        })
        .map_err(|e| input_err(format!("cannot start the replay thread: {e}")))?;
    Ok(Capture {
        format: CaptureFormat {
            device: path.display().to_string(),
            sample_rate: rate,
            channels: 1,
            sample_format: "f32".into(),
        },
        ring: consumer,
        shared,
        errors: rx,
        _keep: Keep::Replay(handle),
    })
}
