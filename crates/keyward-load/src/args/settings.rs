//! The validated run: [`Settings`] and the option groups in it, as the rest of keyward-load reads them.

use std::path::PathBuf;
use std::time::Duration;

use super::Rpc;

/// When a run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this long (calls in flight then finish).
    After(Duration),
    /// After this many calls in total.
    Requests(u64),
}

/// What every call is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Tenant name.
    pub tenant: String,
    /// Auth0 client_id.
    pub client: String,
    /// Audience (empty: none given).
    pub audience: String,
    /// Scope (empty: none given).
    pub scope: String,
    /// Assertion or JWT lifetime.
    pub lifetime: Option<Duration>,
}

/// Rotations during the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Interval between rotation starts.
    pub every: Duration,
    /// Grace period to ask for.
    pub grace: Option<Duration>,
}

/// Verification of sampled assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verify {
    /// Auth0 base URL; `None` until resolved from the dev directory.
    pub url: Option<String>,
    /// API audience for the exchange.
    pub audience: String,
    /// Every Nth assertion is verified.
    pub sample: u64,
}

/// A validated run.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// gRPC endpoint.
    pub endpoint: String,
    /// Bearer token file, if given.
    pub token_file: Option<PathBuf>,
    /// The RPC.
    pub rpc: Rpc,
    /// What calls are about.
    pub target: Target,
    /// Concurrent callers.
    pub concurrency: usize,
    /// Calls per second in all, when paced.
    pub rate: Option<f64>,
    /// Whether a caller refused with RESOURCE_EXHAUSTED backs off before its next call.
    pub backoff: bool,
    /// HTTP/2 connections.
    pub connections: usize,
    /// Threads of the async runtime (1: single-threaded).
    pub threads: usize,
    /// When to stop.
    pub stop: Stop,
    /// Per-call deadline.
    pub timeout: Duration,
    /// Rotations during the load.
    pub rotation: Option<Rotation>,
    /// Verification of sampled assertions.
    pub verify: Option<Verify>,
    /// JSON output.
    pub json: bool,
    /// The largest share of failed calls (0 to 1) the run passes with.
    pub max_error_rate: f64,
}
