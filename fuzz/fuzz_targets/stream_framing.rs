//! Any bytes as a streamed answer: server-sent events and NDJSON framing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmprompt::llm::stream::{read_ndjson, read_sse};

fuzz_target!(|data: &[u8]| {
    let mut events = 0usize;
    let _ = read_sse(&mut &data[..], &mut |_| {
        events += 1;
        Ok(())
    });
    let _ = read_ndjson(&mut &data[..], &mut |_| {
        events += 1;
        Ok(())
    });
});
