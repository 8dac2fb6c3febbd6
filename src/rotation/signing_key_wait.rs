//! A tenant signing-key rotation as recorded, and what it waits for before its previous key may
//! go: the time left of the tenant's longest token lifetime and the verifiers that do not show
//! the new key yet, and when the background task looks again.

use serde::{Deserialize, Serialize};

use super::signing_key_verify::VerifiedSigningKey;
use super::verifiers::VerifierStatus;
use crate::Error;
use crate::clock::Timestamp;
use crate::store::SigningKeyRotationRecord;

/// How often a rotation that only waits for a caller's revocation is looked at (1 h).
const IDLE_CHECK_MS: i64 = 3_600_000;

/// The rotation's states, as stored.
pub(crate) mod state {
    /// Recorded; Auth0 asked or about to be, not yet read back.
    pub const PENDING: &str = "pending";
    /// Rotated and verified; the previous key waits for its revocation.
    pub const WAITING: &str = "waiting";
    /// The previous key's revocation is under way.
    pub const REVOKING: &str = "revoking";
    /// The previous key is revoked, or there was none.
    pub const COMPLETED: &str = "completed";
    /// Auth0 refused, or a key failed verification.
    pub const FAILED: &str = "failed";
}

/// What a rotation records beyond its columns (JSON in `detail`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyDetail {
    /// The unrevoked kids before the rotation, and the current one.
    pub before: Vec<String>,
    /// The current kid before the rotation.
    pub before_current: Option<String>,
    /// The key set after the rotation, each verified.
    pub keys: Vec<VerifiedSigningKey>,
    /// The new current and next kids.
    pub current_kid: Option<String>,
    /// The new next kid.
    pub next_kid: Option<String>,
    /// The verifiers and whether they show `current_kid`.
    pub verifiers: Vec<VerifierStatus>,
    /// Whether keyward revokes the previous key by itself.
    pub auto_revoke: bool,
    /// When keyward revoked the previous key (or saw it revoked).
    pub revoked_at: Option<Timestamp>,
    /// How the previous key left: `revoked` (by keyward) or what else happened.
    pub revoked_how: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A signing-key rotation: its row and its detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeysRotation {
    /// The stored row.
    pub record: SigningKeyRotationRecord,
    /// Its detail.
    pub detail: SigningKeyDetail,
}

impl SigningKeysRotation {
    pub(crate) fn from_record(record: SigningKeyRotationRecord) -> Result<Self, Error> {
        let detail = serde_json::from_str(&record.detail)
            .map_err(|e| Error::Corrupt(format!("signing-key rotation {}: {e}", record.id)))?;
        Ok(Self { record, detail })
    }

    /// The verifiers that do not show the current key yet.
    pub fn lagging(&self) -> Vec<&VerifierStatus> {
        self.detail.verifiers.iter().filter(|v| !v.shows_current).collect()
    }

    /// Whether every key verified.
    pub fn verified(&self) -> bool {
        !self.detail.keys.is_empty() && self.detail.keys.iter().all(|k| k.problems.is_empty())
    }

    /// Writes the detail back into the row.
    pub(crate) fn sync(&mut self) -> Result<(), Error> {
        self.record.detail = serde_json::to_string(&self.detail).map_err(Error::encode("a signing-key rotation"))?;
        Ok(())
    }
}

/// When the background task should look at `r` next: while the previous key waits, at the
/// earliest of the lagging verifiers' next polls and the time it may be revoked.
pub(crate) fn next_check(r: &SigningKeysRotation, now: Timestamp) -> Timestamp {
    match r.record.state.as_str() {
        state::WAITING => {
            let not_before = r.record.revoke_not_before.unwrap_or(now);
            let lagging = r.lagging();
            if !r.detail.auto_revoke && lagging.is_empty() && not_before <= now {
                // Nothing left to wait for, and only a caller revokes: look again (for a key
                // revoked elsewhere) now and then, not at every tick.
                return now.plus_ms(IDLE_CHECK_MS);
            }
            lagging.iter().filter_map(|v| v.next_check_at).chain([not_before]).min().unwrap_or(now)
        }
        state::PENDING | state::REVOKING => now,
        _ => Timestamp::MAX,
    }
}

/// What keeps the previous key of `r` from being revoked at `now` (by the recorded verifier
/// status): the time left and the lagging verifiers; empty when nothing does.
pub(crate) fn blockers(r: &SigningKeysRotation, now: Timestamp) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(not_before) = r.record.revoke_not_before
        && not_before > now
    {
        let left = not_before.duration_since(now);
        let left = humantime::format_duration(std::time::Duration::from_secs(left.as_secs().max(1)));
        out.push(format!(
            "{left} left until the tenant's longest token lifetime has passed since the rotation (at {})",
            not_before
        ));
    }
    let lagging: Vec<String> = r
        .lagging()
        .iter()
        .map(|v| format!("{} ({})", v.jwks_url, v.problem.as_deref().unwrap_or("not checked yet")))
        .collect();
    if !lagging.is_empty() {
        out.push(format!(
            "verifiers do not show the current key {} yet: {}",
            r.detail.current_kid.as_deref().unwrap_or("?"),
            lagging.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Lease;

    fn waiting(auto_revoke: bool, verifiers: Vec<VerifierStatus>, not_before: i64) -> SigningKeysRotation {
        SigningKeysRotation {
            record: SigningKeyRotationRecord {
                id: "skrot_1".into(),
                tenant: "t".into(),
                request_id: None,
                request_hash: String::new(),
                state: state::WAITING.into(),
                detail: String::new(),
                previous_kid: Some("old".into()),
                rotated_at: Some(Timestamp::from_millis(0)),
                revoke_not_before: Some(Timestamp::from_millis(not_before)),
                next_check_at: Timestamp::EPOCH,
                requested_by: "ops".into(),
                created_at: Timestamp::EPOCH,
                updated_at: Timestamp::EPOCH,
                lease: Lease::default(),
            },
            detail: SigningKeyDetail {
                current_kid: Some("new".into()),
                verifiers,
                auto_revoke,
                ..SigningKeyDetail::default()
            },
        }
    }

    fn lagging(url: &str, next: i64) -> VerifierStatus {
        VerifierStatus {
            problem: Some("HTTP 503".into()),
            next_check_at: Some(Timestamp::from_millis(next)),
            ..VerifierStatus::new(url)
        }
    }

    #[test]
    fn blockers_name_the_time_left_and_each_lagging_verifier() {
        let now = Timestamp::from_millis(1_000);
        let r = waiting(true, vec![lagging("https://gw.example/j", 5_000)], 61_000);
        let b = blockers(&r, now);
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(b[0].starts_with("1m left until the tenant's longest token lifetime"), "{}", b[0]);
        assert_eq!(b[1], "verifiers do not show the current key new yet: https://gw.example/j (HTTP 503)");
        let done = waiting(true, vec![VerifierStatus { shows_current: true, ..VerifierStatus::new("u") }], 500);
        assert!(blockers(&done, now).is_empty());
    }

    #[test]
    fn the_next_look_is_the_earliest_poll_or_the_revocation_time() {
        let now = Timestamp::from_millis(1_000);
        let r = waiting(true, vec![lagging("a", 9_000), lagging("b", 4_000)], 61_000);
        assert_eq!(next_check(&r, now), Timestamp::from_millis(4_000));
        assert_eq!(next_check(&waiting(true, Vec::new(), 61_000), now), Timestamp::from_millis(61_000));
        // Only a caller revokes and nothing is left to wait for: an hourly look, not every tick.
        assert_eq!(next_check(&waiting(false, Vec::new(), 500), now), now.plus_ms(IDLE_CHECK_MS));
        let mut done = waiting(true, Vec::new(), 0);
        done.record.state = state::COMPLETED.into();
        assert_eq!(next_check(&done, now), Timestamp::MAX);
    }
}
