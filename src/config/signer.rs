//! `[signer]`: the signing pool's threads and queue, and the access tokens cached per client.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub(super) struct SignerFile {
    threads: Option<usize>,
    queue: Option<usize>,
    token_cache_entries: Option<usize>,
}

/// The signing pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignerConfig {
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Jobs that may wait for a worker before calls fail with RESOURCE_EXHAUSTED.
    pub queue: usize,
    /// Access tokens kept per client, by audience and scope (least recently used go first).
    pub token_cache_entries: usize,
}

impl Default for SignerConfig {
    fn default() -> Self {
        Self { threads: 0, queue: 1024, token_cache_entries: 1024 }
    }
}

/// Resolves `[signer]` over the defaults, reporting values out of bounds.
pub(super) fn resolve(file: Option<SignerFile>, errors: &mut Vec<String>) -> SignerConfig {
    let (f, d) = (file.unwrap_or_default(), SignerConfig::default());
    let signer = SignerConfig {
        threads: f.threads.unwrap_or(d.threads),
        queue: f.queue.unwrap_or(d.queue),
        token_cache_entries: f.token_cache_entries.unwrap_or(d.token_cache_entries),
    };
    if signer.threads > 256 || signer.queue == 0 || signer.queue > 1_000_000 {
        errors.push("signer: threads must be 0 to 256 and queue 1 to 1000000".into());
    }
    if !(1..=1_000_000).contains(&signer.token_cache_entries) {
        errors.push("signer.token_cache_entries: must be 1 to 1000000".into());
    }
    signer
}
