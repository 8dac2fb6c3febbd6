//! `[signer]`: the signing pool's threads and queue, how long a call the full pool refuses is
//! held before its answer, where elliptic-curve keys sign, and the access tokens cached per client.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

/// Overrides `[signer] inline_ec` (`true` or `false`).
pub const INLINE_EC_ENV: &str = "KEYWARD_SIGNER_INLINE_EC";
/// Overrides `[signer] overload_pushback` (a duration, `0s` to `10s`).
pub const OVERLOAD_PUSHBACK_ENV: &str = "KEYWARD_SIGNER_OVERLOAD_PUSHBACK";

#[derive(Debug, Default, Deserialize)]
pub(super) struct SignerFile {
    threads: Option<usize>,
    queue: Option<usize>,
    inline_ec: Option<bool>,
    overload_pushback: Option<String>,
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
    /// How long a signing call refused because the queue is full waits before its
    /// RESOURCE_EXHAUSTED answer (at most half the caller's deadline and of the request
    /// timeout): callers that retry at once then cost a bounded number of refusals a second
    /// instead of taking the signers' CPU. Zero refuses at once.
    pub overload_pushback: Duration,
    /// Access tokens kept per client, by audience and scope (least recently used go first).
    pub token_cache_entries: usize,
}

impl Default for SignerConfig {
    fn default() -> Self {
        Self {
            threads: 0,
            queue: 1024,
            inline_ec: INLINE_EC_DEFAULT,
            overload_pushback: OVERLOAD_PUSHBACK_DEFAULT,
            token_cache_entries: 1024,
        }
    }
}

/// Where elliptic-curve keys sign unless configured: on the pool, which measured as fast or
/// faster than signing on the async worker (BENCHMARKS.md, 2026-12-07).
const INLINE_EC_DEFAULT: bool = false;

/// How long a refused call is held unless configured: with 4 104 callers (4x what the pool admits
/// on 2 cores) the pool kept 93-94% of its peak with 2 s, 85-92% with 1 s and 59-71% answering
/// at once (BENCHMARKS.md, 2026-12-07, "the targets on this machine"); a caller in a hurry sends
/// a deadline, and hears the refusal at half of it.
const OVERLOAD_PUSHBACK_DEFAULT: Duration = Duration::from_secs(2);
/// The longest hold that may be configured.
const OVERLOAD_PUSHBACK_MAX: Duration = Duration::from_secs(10);

impl SignerConfig {
    /// Applies `KEYWARD_SIGNER_INLINE_EC` and `KEYWARD_SIGNER_OVERLOAD_PUSHBACK`, reporting a
    /// value that is not `true` or `false`, or not a duration from 0s to 10s.
    pub(crate) fn with_env(mut self, env: &HashMap<String, String>, errors: &mut Vec<String>) -> Self {
        if let Some(v) = env.get(INLINE_EC_ENV) {
            match v.trim() {
                "true" => self.inline_ec = true,
                "false" => self.inline_ec = false,
                _ => errors.push(format!("{INLINE_EC_ENV}: must be true or false")),
            }
        }
        if let Some(v) = env.get(OVERLOAD_PUSHBACK_ENV) {
            match pushback(v) {
                Some(hold) => self.overload_pushback = hold,
                None => errors.push(format!("{OVERLOAD_PUSHBACK_ENV}: must be a duration from 0s to 10s")),
            }
        }
        self
    }
}

fn pushback(value: &str) -> Option<Duration> {
    humantime::parse_duration(value.trim()).ok().filter(|hold| *hold <= OVERLOAD_PUSHBACK_MAX)
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
        overload_pushback: match f.overload_pushback.as_deref().map(pushback) {
            None => d.overload_pushback,
            Some(Some(hold)) => hold,
            Some(None) => {
                errors.push("signer.overload_pushback: must be a duration from 0s to 10s".into());
                d.overload_pushback
            }
        },
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
