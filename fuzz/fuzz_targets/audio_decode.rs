//! Any bytes as an audio file: WAV/AIFF header checks, symphonia's demuxers and decoders
//! through our wrapper, the resampler. A decoder panic is caught by the wrapper and is an
//! error; what this finds is what would still take a batch down (aborts, runaway memory or
//! time, panics outside the wrapper).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmprompt::media::audio::{decode_stream, AudioDecodeOptions};
use std::io::Write;

fuzz_target!(
    init: {
        // libFuzzer's hook aborts on every panic, caught or not; a panic the wrapper catches
        // (`mmprompt::panics::quietly`) is that file's error by design, so only the others
        // are crashes here, as they would be in a batch.
        let aborting = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !mmprompt::panics::is_quiet() {
                aborting(info)
            }
        }));
    },
    |data: &[u8]| {
    // The decoder reads files; a tmpfs file per input keeps it off the disk.
    let dir = std::env::var_os("MMPROMPT_FUZZ_TMP").unwrap_or_else(|| "/dev/shm".into());
    let path = std::path::Path::new(&dir).join(format!("mmprompt-fuzz-{}.bin", std::process::id()));
    let Ok(mut f) = std::fs::File::create(&path) else {
        return;
    };
    if f.write_all(data).is_err() {
        return;
    }
    drop(f);
    let options = AudioDecodeOptions {
        target_rate: 16_000,
        // Enough for any header to be exercised, short enough that a crafted length
        // cannot turn one input into minutes.
        max_seconds: 30.0,
        ..AudioDecodeOptions::default()
    };
    let mut samples = 0usize;
    let _ = decode_stream(&path, &options, &mut |chunk| samples += chunk.len());
    let _ = std::fs::remove_file(&path);
});
