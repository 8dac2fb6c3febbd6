//! `[signer]`: the signing pool's threads and queue, where elliptic-curve keys sign, and the
//! access tokens cached per client.

use std::collections::HashMap;

use serde::Deserialize;

/// Overrides `[signer] inline_ec` (`true` or `false`).
pub const INLINE_EC_ENV: &str = "KEYWARD_SIGNER_INLINE_EC";

#[derive(Debug, Default, Deserialize)]
pub(super) struct SignerFile {
    threads: Option<usize>,
    queue: Option<usize>,
    inline_ec: Option<bool>,
    token_cache_entries: Option<usize>,
}

/// The signing pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignerConfig {
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Jobs that may wait for a worker before calls fail with RESOURCE_EXHAUSTED.
    pub queue: usize,
    /// Whether in-memory elliptic-curve keys sign on the thread that serves the call instead of
    /// the pool (RSA keys and keys in a token always sign on the pool).
    pub inline_ec: bool,
    /// Access tokens kept per client, by audience and scope (least recently used go first).
    pub token_cache_entries: usize,
}

impl Default for SignerConfig {
    fn default() -> Self {
        Self { threads: 0, queue: 1024, inline_ec: INLINE_EC_DEFAULT, token_cache_entries: 1024 }
    }
}

/// Where elliptic-curve keys sign unless configured: on the pool, which measured as fast or
/// faster than signing on the async worker (BENCHMARKS.md, 2026-12-07).
const INLINE_EC_DEFAULT: bool = false;

impl SignerConfig {
    /// Applies `KEYWARD_SIGNER_INLINE_EC`, reporting a value that is not `true` or `false`.
    pub(crate) fn with_env(mut self, env: &HashMap<String, String>, errors: &mut Vec<String>) -> Self {
        if let Some(v) = env.get(INLINE_EC_ENV) {
            match v.trim() {
                "true" => self.inline_ec = true,
                "false" => self.inline_ec = false,
                _ => errors.push(format!("{INLINE_EC_ENV}: must be true or false")),
            }
        }
        self
    }
}

/// Resolves `[signer]` over the defaults, reporting values out of bounds.
pub(super) fn resolve(
    file: Option<SignerFile>,
    env: &HashMap<String, String>,
    errors: &mut Vec<String>,
) -> SignerConfig {
    let (f, d) = (file.unwrap_or_default(), SignerConfig::default());
    let signer = SignerConfig {
        threads: f.threads.unwrap_or(d.threads),
        queue: f.queue.unwrap_or(d.queue),
        inline_ec: f.inline_ec.unwrap_or(d.inline_ec),
        token_cache_entries: f.token_cache_entries.unwrap_or(d.token_cache_entries),
    }
    .with_env(env, errors);
    if signer.threads > 256 || signer.queue == 0 || signer.queue > 1_000_000 {
        errors.push("signer: threads must be 0 to 256 and queue 1 to 1000000".into());
    }
    if !(1..=1_000_000).contains(&signer.token_cache_entries) {
        errors.push("signer.token_cache_entries: must be 1 to 1000000".into());
    }
    signer
}
