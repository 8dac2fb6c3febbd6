//! Fuzz harness for the config file: `keyward::config::Config::resolve` must answer Ok or Err
//! for any text and environment, never panic, and its error is one line.
//!
//! Shared, through `#[path]`, by `fuzz/fuzz_targets/config.rs` and by the root crate's
//! `tests/fuzz_regressions.rs`, which replays the committed corpus and crash inputs under
//! `cargo test`.
#![allow(dead_code)]

use std::collections::HashMap;

use keyward::config::{Config, Overrides};

/// The line that separates the TOML text from environment variables (`NAME=VALUE` lines).
pub const ENV_SEPARATOR: &str = "\n#--env--\n";

/// Resolves the input as a config file. Text after [`ENV_SEPARATOR`] is read as `NAME=VALUE`
/// lines and passed as the environment, so the `KEYWARD_…` overrides are fuzzed too.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (toml, env_text) = text.split_once(ENV_SEPARATOR).unwrap_or((&text, ""));
    let env: HashMap<String, String> =
        env_text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    match Config::resolve(toml, &env, &Overrides::default()) {
        Ok(config) => {
            let _ = format!("{config:?}");
        }
        Err(e) => {
            // The README promises every problem on one stderr line.
            let message = e.to_string();
            assert!(!message.contains(['\n', '\r']), "a config error spans lines: {message:?}");
        }
    }
}
