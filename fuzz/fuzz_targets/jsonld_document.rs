//! Any bytes as a `.jsonld` input to `prompt`: parsed, read as a document, rendered as text
//! and as prompt fragments.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmprompt::doc::Document;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(doc) = Document::from_value(&value) {
        let _ = doc.text();
        for item in doc.items() {
            let _ = item.cited_value(item.local_id());
            let _ = item.text_line(item.local_id());
        }
    }
});
