//! The emulator fuzz targets' seeds and every crash input `scripts/fuzz.sh` found, replayed
//! through the same harness (`fuzz/harness/emulator.rs`: the emulator's router in-process, no
//! panic, no 5xx, the tenant unchanged after each input), so `cargo test` keeps them fixed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;

#[path = "../../../fuzz/harness/emulator.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

use replay::replay;

#[test]
fn emulator_token() {
    let h = Mutex::new(harness::Harness::new());
    replay("emulator_token", |data| h.lock().unwrap_or_else(|p| p.into_inner()).token(data));
}

#[test]
fn emulator_management() {
    let h = Mutex::new(harness::Harness::new());
    replay("emulator_management", |data| h.lock().unwrap_or_else(|p| p.into_inner()).management_api(data));
}
