//! Any bytes as an image, with the pixel cap a batch uses scaled down so a bomb shows up
//! as an error, not as memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmprompt::media::image::{decode_bytes, DecodeOptions};

fuzz_target!(|data: &[u8]| {
    let _ = decode_bytes(
        data,
        &DecodeOptions {
            max_pixels: 4_000_000,
            max_bytes: 64 << 20,
        },
    );
});
