//! Audio analysis throughput (placeholder until the analyzer lands).
fn main() {}
