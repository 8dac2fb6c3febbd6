//! Failed authentication, counted and logged without letting a flood of bad calls become a flood
//! of log lines: `keyward_auth_failures_total{reason}` counts every failure (a fixed set of
//! reasons), each peer address gets at most one WARN line a second, carrying how many failures
//! it had since its last line, and at most one `auth.failed` audit event a minute, carrying its
//! count per reason since the last event (written by [`audit_failures`], never inline with the
//! call). The table of peers is bounded; past its bound, peers share one entry.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{AuditEvent, AuditKind};
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
    /// Every reason, in discriminant order.
    const ALL: [Failure; 4] =
        [Failure::Missing, Failure::Malformed, Failure::UnknownToken, Failure::UnknownCertificate];

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
/// At most one audit event per peer this often.
const AUDIT_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Seen {
    since_line: u64,
    last_line: Option<Instant>,
    /// Failures per reason since the last audit event.
    unaudited: [u64; 4],
    last_audit: Option<Instant>,
}

/// One peer's failures since its last audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unaudited {
    /// The peer (`None`: the peers beyond the table's bound, together).
    pub peer: Option<IpAddr>,
    /// Count per reason.
    pub reasons: Vec<(&'static str, u64)>,
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
        let seen = peers.entry(key).or_default();
        seen.since_line += 1;
        seen.unaudited[failure as usize] += 1;
        if seen.last_line.is_none_or(|t| now.duration_since(t) >= EVERY) {
            let peer = key.map_or_else(|| "other peers".to_owned(), |ip| ip.to_string());
            tracing::warn!(%peer, reason = failure.as_str(), failures = seen.since_line, "authentication failed");
            seen.since_line = 0;
            seen.last_line = Some(now);
        }
    }

    /// The peers due an audit event (failures since their last one, which was at least a minute
    /// ago), marked audited now.
    pub fn take_due(&self) -> Vec<Unaudited> {
        let Ok(mut peers) = self.peers.lock() else { return Vec::new() };
        let now = Instant::now();
        let mut due = Vec::new();
        for (peer, seen) in peers.iter_mut() {
            let pending = seen.unaudited.iter().sum::<u64>() > 0;
            if pending && seen.last_audit.is_none_or(|t| now.duration_since(t) >= AUDIT_EVERY) {
                let reasons = Failure::ALL
                    .iter()
                    .zip(seen.unaudited)
                    .filter(|(_, n)| *n > 0)
                    .map(|(f, n)| (f.as_str(), n))
                    .collect();
                due.push(Unaudited { peer: *peer, reasons });
                seen.unaudited = [0; 4];
                seen.last_audit = Some(now);
            }
        }
        due
    }

    /// How many peers are tracked.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.peers.lock().map(|p| p.len()).unwrap_or(0)
    }
}

/// Writes the due `auth.failed` audit events every second until the task is dropped: a global
/// event (no tenant: only a global admin reads it), actor `unauthenticated`, subject the peer.
pub async fn audit_failures(log: std::sync::Arc<FailureLog>, store: std::sync::Arc<dyn crate::store::Store>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for due in log.take_due() {
            let peer = due.peer.map_or_else(|| "other peers".to_owned(), |ip| ip.to_string());
            let reasons: serde_json::Map<String, serde_json::Value> =
                due.reasons.iter().map(|(r, n)| ((*r).to_owned(), (*n).into())).collect();
            let total: u64 = due.reasons.iter().map(|(_, n)| n).sum();
            let detail = serde_json::json!({ "peer": peer, "failures": total, "reasons": reasons });
            let event = AuditEvent::new(AuditKind::AuthFailed, "unauthenticated", "", &peer, detail.to_string());
            if let Err(e) = store.append_audit(&event).await {
                tracing::error!(error = %e, "audit event auth.failed not recorded");
            }
        }
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

    #[test]
    fn a_peer_is_audited_at_most_once_a_minute_with_its_counts() {
        let log = FailureLog::default();
        let peer = Some(IpAddr::from([10, 0, 0, 7]));
        for _ in 0..500 {
            log.record(peer, Failure::UnknownToken);
        }
        log.record(peer, Failure::Missing);
        let due = log.take_due();
        assert_eq!(due, vec![Unaudited { peer, reasons: vec![("missing", 1), ("unknown_token", 500)] }]);
        // More failures within the minute wait for the next event.
        for _ in 0..100 {
            log.record(peer, Failure::Malformed);
        }
        assert!(log.take_due().is_empty());
    }
}
