//! Failed authentication, counted and logged without letting a flood of bad calls become a flood
//! of log lines: `keyward_auth_failures_total{reason}` counts every failure (a fixed set of
//! reasons), and each peer address gets at most one WARN line a second, carrying how many
//! failures it had since its last line. The table of peers is bounded; past its bound, peers
//! share one line.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::telemetry::metrics::{ReasonLabel, metrics};

/// Why a call was not authenticated (the metric's label values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No bearer token and no client certificate.
    Missing,
    /// An `authorization` header that is not `Bearer <token>`.
    Malformed,
    /// A token that matches no principal.
    UnknownToken,
    /// A client certificate that names no principal.
    UnknownCertificate,
}

impl Failure {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Missing => "missing",
            Failure::Malformed => "malformed",
            Failure::UnknownToken => "unknown_token",
            Failure::UnknownCertificate => "unknown_certificate",
        }
    }
}

/// How many peers are tracked apart; the rest share one entry.
const PEERS: usize = 1024;
/// At most one line per peer this often.
const EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Seen {
    since_line: u64,
    last_line: Option<Instant>,
}

/// The per-peer log limiter.
#[derive(Debug, Default)]
pub struct FailureLog {
    peers: Mutex<HashMap<Option<IpAddr>, Seen>>,
}

impl FailureLog {
    /// Counts one failure from `peer`, and logs it unless this peer was logged less than a
    /// second ago (then the next line carries the count).
    pub fn record(&self, peer: Option<IpAddr>, failure: Failure) {
        metrics().auth_failures.get_or_create(&ReasonLabel { reason: failure.as_str() }).inc();
        let Ok(mut peers) = self.peers.lock() else { return };
        let now = Instant::now();
        if peers.len() >= PEERS && !peers.contains_key(&peer) {
            // Forget peers that have been quiet for a while before lumping new ones together.
            peers.retain(|_, s| s.last_line.is_some_and(|t| now.duration_since(t) < EVERY * 60));
        }
        let key = if peers.len() >= PEERS && !peers.contains_key(&peer) { None } else { peer };
        let seen = peers.entry(key).or_insert(Seen { since_line: 0, last_line: None });
        seen.since_line += 1;
        if seen.last_line.is_none_or(|t| now.duration_since(t) >= EVERY) {
            let peer = key.map_or_else(|| "other peers".to_owned(), |ip| ip.to_string());
            tracing::warn!(%peer, reason = failure.as_str(), failures = seen.since_line, "authentication failed");
            seen.since_line = 0;
            seen.last_line = Some(now);
        }
    }

    /// How many peers are tracked.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.peers.lock().map(|p| p.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_table_is_bounded() {
        let log = FailureLog::default();
        for i in 0..(PEERS as u32 + 500) {
            log.record(Some(IpAddr::from(i.to_be_bytes())), Failure::UnknownToken);
        }
        assert!(log.tracked() <= PEERS + 1, "{}", log.tracked());
        let counted = metrics().encode();
        assert!(counted.contains(r#"keyward_auth_failures_total{reason="unknown_token"}"#), "{counted}");
    }
}
