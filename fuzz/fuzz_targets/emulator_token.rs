#![no_main]
//! See fuzz/harness/emulator.rs. One emulated tenant per process; each input's changes are
//! undone through the API, so every input meets the same tenant.

use std::sync::{Mutex, OnceLock};

#[path = "../harness/emulator.rs"]
mod harness;

static HARNESS: OnceLock<Mutex<harness::Harness>> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let harness = HARNESS.get_or_init(|| Mutex::new(harness::Harness::new()));
    harness.lock().unwrap_or_else(|p| p.into_inner()).token(data);
});
