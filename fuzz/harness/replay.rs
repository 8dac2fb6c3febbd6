//! Replays a fuzz target's committed inputs through its harness under `cargo test`: every file
//! in `fuzz/corpus/<target>/` (the seeds) and `fuzz/regressions/<target>/` (crash inputs found
//! by `scripts/fuzz.sh`, kept once fixed). Included through `#[path]` by the
//! `tests/fuzz_regressions.rs` of the crate each parser belongs to.
#![allow(dead_code, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

/// `fuzz/`, found from the including crate's manifest directory.
fn fuzz_dir() -> PathBuf {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        let candidate = dir.join("fuzz").join("harness");
        if candidate.is_dir() {
            return dir.join("fuzz");
        }
        assert!(dir.pop(), "no fuzz/ directory above {}", env!("CARGO_MANIFEST_DIR"));
    }
}

/// The committed inputs of `target`, sorted.
pub fn inputs(target: &str) -> Vec<PathBuf> {
    let root = fuzz_dir();
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) {
            files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    files
}

/// Runs `harness` on every committed input of `target`; fails naming each input that panicked.
pub fn replay(target: &str, harness: impl Fn(&[u8]) + std::panic::RefUnwindSafe) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no committed fuzz inputs for {target} under {}", fuzz_dir().display());
    let failed: Vec<String> = files
        .iter()
        .filter(|f| {
            let data = std::fs::read(f).expect("reading a fuzz input");
            std::panic::catch_unwind(|| harness(&data)).is_err()
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target}: {} of {} inputs panicked: {failed:?}", failed.len(), files.len());
    println!("{target}: {} inputs replayed", files.len());
}
