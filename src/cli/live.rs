//! `mmprompt live`: a microphone (or a replayed file) to one NDJSON line per segment.

use super::common::{parse_timeout, usage_error, EXIT_FAILED, EXIT_OK};
use mmprompt::jobs::extract::AudioParams;
use mmprompt::jobs::settings::ContextArg;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(crate) struct LiveArgs {
    /// Capture from this input device (a name from --list-devices) [default: the system
    /// default input].
    #[arg(long, value_name = "NAME", conflicts_with = "input")]
    device: Option<String>,

    /// List the input devices, their default configurations and which is the default.
    #[arg(long, conflicts_with_all = ["device", "input", "record", "out"])]
    list_devices: bool,

    /// Also keep the raw capture (device rate and channels, 32-bit float) in FILE.
    #[arg(long, value_name = "FILE.wav")]
    record: Option<PathBuf>,

    /// Write the NDJSON lines to FILE instead of stdout.
    #[arg(long, value_name = "FILE.ndjson")]
    out: Option<PathBuf>,

    /// Replay FILE through the live path instead of capturing (needs --realtime).
    #[arg(long, value_name = "FILE", requires = "realtime")]
    input: Option<PathBuf>,

    /// With --input: deliver the file at real speed, as a device would.
    #[arg(long, requires = "input")]
    realtime: bool,

    /// Give up with an error when the device sends no audio for this many seconds.
    #[arg(long, value_name = "S", default_value_t = 5.0, value_parser = parse_timeout)]
    no_data_timeout: f64,

    /// Status lines on stderr (level, frames/s, overruns) even when stderr is not a
    /// terminal.
    #[arg(long, short = 'v')]
    verbose: bool,

    /// Refer to the JSON-LD context by IRI, or embed it in every line.
    #[arg(long, value_enum, default_value_t = ContextArg::Ref)]
    context: ContextArg,

    /// Analysis sample rate in Hz (capture is downmixed and resampled to it).
    #[arg(long, value_name = "HZ", default_value_t = 16_000)]
    sample_rate: u32,

    /// Frame length in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 25.0)]
    frame_ms: f32,

    /// Hop between frames in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10.0)]
    hop_ms: f32,

    /// Send recent segments to the LLM endpoint of this profile (mmprompt.toml), on a
    /// thread of its own: a slow endpoint coalesces windows, it never stalls capture.
    #[arg(long, value_name = "PROFILE", requires = "send_trigger")]
    send: Option<String>,

    /// With --send: send the rolling window every S seconds of audio.
    #[arg(long, value_name = "S", group = "send_trigger", requires = "send", value_parser = parse_timeout)]
    every: Option<f64>,

    /// With --send: send the window each time a segment with this label closes (e.g.
    /// voice:speech or speech).
    #[arg(long, value_name = "LABEL", group = "send_trigger", requires = "send")]
    on: Option<String>,

    /// With --send: seconds of recent segments in each window.
    #[arg(long, value_name = "S", default_value_t = 30.0, value_parser = parse_timeout)]
    window: f64,

    /// With --send: where answers (live-wN.response.json) and send.ndjson go.
    #[arg(long, value_name = "DIR", default_value = "out/live")]
    send_out: PathBuf,

    /// With --send: the config file holding the profile (default: the usual places).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub(crate) fn run(args: &LiveArgs) -> anyhow::Result<u8> {
    use mmprompt::live::capture;
    use mmprompt::live::{self, LiveOptions, NdjsonWriter};
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    if args.list_devices {
        let devices = capture::list_input_devices()?;
        let mut out = std::io::stdout().lock();
        if devices.is_empty() {
            writeln!(out, "no input devices")?;
        }
        for d in devices {
            let mark = if d.is_default { " (default)" } else { "" };
            let desc = d.description.map(|s| format!(" - {s}")).unwrap_or_default();
            let config = match d.default_config {
                Ok(c) => c,
                Err(e) => format!("cannot open: {e}"),
            };
            writeln!(out, "{}{mark}{desc}\n    default config: {config}", d.name)?;
        }
        return Ok(EXIT_OK);
    }
    let options = LiveOptions {
        audio: AudioParams {
            rate: args.sample_rate,
            frame_ms: args.frame_ms,
            hop_ms: args.hop_ms,
            ..AudioParams::default()
        },
        record: args.record.clone(),
        no_data_timeout: std::time::Duration::from_secs_f64(args.no_data_timeout),
        status: args.verbose || std::io::stderr().is_terminal(),
        context: args.context.into(),
    };
    if let Err(e) = options.audio.analyzer_config().validate() {
        return usage_error(&format!("audio parameters: {e}"));
    }
    // The first SIGINT/SIGTERM asks for a clean stop; a second one, while stopping, exits at
    // once.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))?;
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let source = match &args.input {
        Some(path) => capture::replay_file(path, options.audio.rate)?,
        None => capture::open_device(args.device.as_deref())?,
    };
    if options.status {
        let f = source.format();
        say!(
            "mmprompt: live: capturing '{}' at {} Hz, {} ch, {}",
            f.device,
            f.sample_rate,
            f.channels,
            f.sample_format
        );
    }
    let mut sender = match &args.send {
        None => None,
        Some(profile) => {
            let trigger = match (&args.every, &args.on) {
                (Some(s), _) => live::SendTrigger::Every(*s),
                (None, Some(l)) => live::SendTrigger::OnLabel(l.clone()),
                (None, None) => return usage_error("--send needs --every SECS or --on LABEL"),
            };
            match super::llm::live_sender(profile, args.config.as_deref(), &args.send_out)? {
                Ok(s) => Some(live::WindowSender::new(s, trigger, args.window)),
                Err(msg) => return usage_error(&msg),
            }
        }
    };
    let mut log = SegmentLog(options.status);
    let result = {
        let mut writer: NdjsonWriter<Box<dyn Write>> = NdjsonWriter(match &args.out {
            Some(path) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(path)
                    .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", path.display()))?,
            )),
            None => Box::new(std::io::stdout().lock()),
        });
        let mut consumers: Vec<&mut dyn live::SegmentConsumer> = vec![&mut writer, &mut log];
        if let Some(s) = sender.as_mut() {
            consumers.push(s);
        }
        live::run_session(source, &options, &mut consumers, &stop)
    };
    if let Some(s) = sender {
        let st = s.finish_sending();
        say!(
            "mmprompt: live: sent {} of {} windows ({} failed, {} replaced by a newer one while the endpoint was busy)",
            st.sent, st.offered, st.failed, st.coalesced
        );
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            say!("mmprompt: error: {e} [{}]", e.code());
            return Ok(EXIT_FAILED);
        }
    };
    let c = summary.capture;
    if options.status || c.dropped_frames > 0 || c.device_xruns > 0 {
        say!(
            "mmprompt: live: {} segments, {:.2} s analysed, {} frames captured, dropped {} frames, device overruns {}",
            summary.segments, summary.duration_s, c.frames, c.dropped_frames, c.device_xruns
        );
    }
    Ok(EXIT_OK)
}

/// With status lines on (`true`): the capture's level every second, and one stderr line
/// per segment saying how much audio the segmenter needed after the segment's end to close
/// it (its hangover).
struct SegmentLog(bool);

impl mmprompt::live::SegmentConsumer for SegmentLog {
    fn on_status(&mut self, s: &mmprompt::live::LiveStatus) -> std::io::Result<()> {
        if !self.0 {
            return Ok(());
        }
        let db = |v: Option<f64>| v.map_or_else(|| "-inf".to_owned(), |v| format!("{v:.1}"));
        say!(
            "mmprompt: live: level {} dBFS rms, {} dBFS peak, {:.0} frames/s, dropped {} frames, device overruns {}",
            db(s.rms_dbfs),
            db(s.peak_dbfs),
            s.frames_per_second,
            s.dropped_frames,
            s.device_xruns
        );
        Ok(())
    }

    fn on_segment(&mut self, s: &mmprompt::live::LiveSegment) -> std::io::Result<()> {
        if self.0 {
            say!(
                "mmprompt: live: s{} {} {:.3}-{:.3} s, closed at {:.3} s",
                s.index + 1,
                s.segment.label.as_str(),
                s.segment.start_s,
                s.segment.end_s,
                s.decided_s
            );
        }
        Ok(())
    }
}
