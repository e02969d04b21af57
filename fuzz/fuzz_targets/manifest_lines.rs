//! Any bytes as a batch manifest (`index.ndjson`) read back to resume a run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmprompt::jobs::manifest::read_lines;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::var_os("MMPROMPT_FUZZ_TMP").unwrap_or_else(|| "/dev/shm".into());
    let path =
        std::path::Path::new(&dir).join(format!("mmprompt-fuzz-{}.ndjson", std::process::id()));
    let Ok(mut f) = std::fs::File::create(&path) else {
        return;
    };
    if f.write_all(data).is_err() {
        return;
    }
    drop(f);
    let _ = read_lines::<serde_json::Value>(&path);
    let _ = std::fs::remove_file(&path);
});
