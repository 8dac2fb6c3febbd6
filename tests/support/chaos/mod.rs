//! The chaos harness of tests/chaos.rs: an emulated tenant with a PostgreSQL schema and a
//! `keyward serve` config ([`world`]), replicas killed, frozen and restarted in place
//! ([`replicas`], [`kills`]), the signing load ([`load`]), the rotation drivers ([`drivers`]),
//! store-reading probes ([`probes`]), PostgreSQL connection kills ([`postgres`]), Auth0 faults
//! ([`faults`]), the end-state checks ([`invariants`]) and the `CHAOS_REPORT` lines ([`report`]).

pub mod drivers;
pub mod faults;
pub mod invariants;
pub mod kills;
pub mod load;
pub mod metrics;
pub mod postgres;
pub mod probes;
pub mod replicas;
pub mod report;
pub mod rng;
pub mod rpc;
pub mod world;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tonic::Code;

/// The bearer token of every scenario's replicas.
pub const TOKEN: &str = "kw-chaos-token-5f0c2a9e";
/// Client deadlines: signing and reads, and a whole rotation (Auth0 answers slowly on purpose).
pub const SIGN_DEADLINE: Duration = Duration::from_secs(10);
pub const READ_DEADLINE: Duration = Duration::from_secs(15);
pub const ROTATE_DEADLINE: Duration = Duration::from_secs(60);
pub const API: &str = "https://api.demo.local/";
/// Every state the saga persists (`KEYWARD_FAULT_EXIT_AFTER` values).
pub const STATES: [&str; 8] =
    ["planned", "key_generated", "slot_freed", "registered", "attached", "active", "retired", "completed"];

/// How many rotations each scenario drives (`KEYWARD_CHAOS_ROTATIONS`, default 30).
pub fn rotations_wanted() -> usize {
    std::env::var("KEYWARD_CHAOS_ROTATIONS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(30)
}

/// `message` with the scenario's bearer token.
pub fn authed<T>(message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    r
}

/// A status code as the reports name it (`UNAVAILABLE`).
pub fn code_name(code: Code) -> String {
    format!("{code:?}").to_ascii_uppercase()
}

/// Counts one more `key`.
pub fn bump(map: &Mutex<BTreeMap<String, u64>>, key: impl Into<String>) {
    *map.lock().unwrap().entry(key.into()).or_default() += 1;
}
