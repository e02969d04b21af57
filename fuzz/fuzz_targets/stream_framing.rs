//! Any bytes as a streamed answer: server-sent events and NDJSON framing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmprompt::framing::{read_ndjson, read_sse, FramingError};

fuzz_target!(|data: &[u8]| {
    let mut events = 0usize;
    let _ = read_sse(&mut &data[..], &mut |_| -> Result<(), FramingError> {
        events += 1;
        Ok(())
    });
    let _ = read_ndjson(&mut &data[..], &mut |_| -> Result<(), FramingError> {
        events += 1;
        Ok(())
    });
});
