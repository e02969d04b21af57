//! mmprompt: turns media into JSON-LD prompt fragments with spatial and temporal anchors.
#![forbid(unsafe_code)]

pub mod vision;
