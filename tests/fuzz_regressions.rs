//! The config fuzz target's seeds and every crash input `scripts/fuzz.sh` found, replayed
//! through the same harness (`fuzz/harness/config.rs`), so `cargo test` keeps them fixed.

#[path = "../fuzz/harness/config.rs"]
mod harness;
#[path = "../fuzz/harness/replay.rs"]
mod replay;

#[test]
fn config() {
    replay::replay("config", harness::config);
}
