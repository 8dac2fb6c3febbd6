//! Which flags a record carries, as of a time: a pure decision over what the inventory read.

use std::time::Duration;

use super::types::{ConnectionKeyEntry, CredentialEntry, Flag, SigningKeyEntry};
use crate::clock::Timestamp;
use crate::store::KeyState;

/// What the flags are judged against.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules {
    /// The inventory's time.
    pub now: Timestamp,
    /// EXPIRING looks this far ahead.
    pub expiry_window: Duration,
}

impl Rules {
    /// EXPIRED when `expires_at` has passed, EXPIRING when it comes within the window.
    fn expiry(&self, expires_at: Option<Timestamp>, flags: &mut Vec<Flag>) {
        match expires_at {
            Some(t) if t <= self.now => flags.push(Flag::Expired),
            Some(t) if t <= self.now.plus(self.expiry_window) => flags.push(Flag::Expiring),
            _ => {}
        }
    }

    /// OLDER_THAN_POLICY when `since` is further back than `max_age`.
    fn age(&self, since: Option<Timestamp>, max_age: Option<Duration>, flags: &mut Vec<Flag>) {
        if let (Some(since), Some(max_age)) = (since, max_age)
            && self.now.duration_since(since) > max_age
        {
            flags.push(Flag::OlderThanPolicy);
        }
    }

    /// A client credential record: ORPHANED when no method lists it; its expiry; and, for
    /// keyward's ACTIVE key, its age against the client's policy (`max_key_age`).
    pub(super) fn credential(&self, c: &CredentialEntry, max_key_age: Option<Duration>) -> Vec<Flag> {
        let mut flags = Vec::new();
        if c.slots.is_empty() {
            flags.push(Flag::Orphaned);
        }
        self.expiry(c.expires_at, &mut flags);
        if c.managed == Some(KeyState::Active) {
            self.age(c.created_at, max_key_age, &mut flags);
        }
        flags.sort();
        flags
    }

    /// A connection key: its certificate's expiry (not for the previous key, which Auth0 no
    /// longer uses), and for the current key its age against the connection's policy
    /// (`interval`).
    pub(super) fn connection_key(&self, k: &ConnectionKeyEntry, interval: Option<Duration>) -> Vec<Flag> {
        let mut flags = Vec::new();
        if !k.previous {
            self.expiry(k.not_after, &mut flags);
        }
        if k.current {
            self.age(k.age_from(), interval, &mut flags);
        }
        flags.sort();
        flags
    }

    /// A tenant signing key: its certificate's expiry unless revoked. keyward holds no policy
    /// for tenant signing keys, so none is older than one.
    pub(super) fn signing_key(&self, k: &SigningKeyEntry) -> Vec<Flag> {
        let mut flags = Vec::new();
        if !k.revoked {
            self.expiry(k.not_after, &mut flags);
        }
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn rules() -> Rules {
        Rules { now: Timestamp::from_millis(1_000 * DAY), expiry_window: Duration::from_secs(30 * 86_400) }
    }

    fn record(
        slots: &[&str],
        expires_in_days: Option<i64>,
        managed: Option<KeyState>,
        age_days: i64,
    ) -> CredentialEntry {
        let now = rules().now;
        CredentialEntry {
            credential_id: "cred_1".into(),
            name: None,
            kid: None,
            algorithm: None,
            credential_type: Some("public_key".into()),
            created_at: Some(now.plus_ms(-age_days * DAY)),
            expires_at: expires_in_days.map(|d| now.plus_ms(d * DAY)),
            slots: slots.iter().map(|s| (*s).to_owned()).collect(),
            managed,
            flags: vec![],
        }
    }

    #[test]
    fn records_are_flagged_by_attachment_expiry_and_policy() {
        let r = rules();
        let ninety = Some(Duration::from_secs(90 * 86_400));
        assert_eq!(r.credential(&record(&["private_key_jwt"], None, None, 1), ninety), vec![]);
        assert_eq!(r.credential(&record(&[], None, None, 1), ninety), vec![Flag::Orphaned]);
        assert_eq!(r.credential(&record(&["signed_request_object"], Some(29), None, 1), None), vec![Flag::Expiring]);
        assert_eq!(r.credential(&record(&["private_key_jwt"], Some(31), None, 1), None), vec![]);
        assert_eq!(r.credential(&record(&[], Some(0), None, 1), None), vec![Flag::Orphaned, Flag::Expired]);
        // Only keyward's active key is held to the client's policy.
        let old_active = record(&["private_key_jwt"], None, Some(KeyState::Active), 91);
        assert_eq!(r.credential(&old_active, ninety), vec![Flag::OlderThanPolicy]);
        assert_eq!(r.credential(&old_active, None), vec![]);
        assert_eq!(r.credential(&record(&["private_key_jwt"], None, None, 91), ninety), vec![]);
        let retiring = record(&["private_key_jwt"], None, Some(KeyState::Retiring), 91);
        assert_eq!(r.credential(&retiring, ninety), vec![]);
    }

    #[test]
    fn keys_are_flagged_by_certificate_expiry_and_connection_policy() {
        let r = rules();
        let now = r.now;
        let key = ConnectionKeyEntry {
            connection_id: "con_1".into(),
            kid: "k".into(),
            current: true,
            next: false,
            previous: false,
            algorithm: None,
            current_since: Some(now.plus_ms(-40 * DAY)),
            not_before: Some(now.plus_ms(-340 * DAY)),
            not_after: Some(now.plus_ms(25 * DAY)),
            flags: vec![],
        };
        assert_eq!(
            r.connection_key(&key, Some(Duration::from_secs(30 * 86_400))),
            vec![Flag::Expiring, Flag::OlderThanPolicy]
        );
        assert_eq!(r.connection_key(&key, Some(Duration::from_secs(50 * 86_400))), vec![Flag::Expiring]);
        let previous = ConnectionKeyEntry { current: false, previous: true, ..key };
        assert_eq!(r.connection_key(&previous, Some(Duration::from_secs(1))), vec![]);
        let signing = SigningKeyEntry {
            kid: "s".into(),
            current: false,
            next: false,
            previous: true,
            revoked: false,
            current_since: None,
            current_until: None,
            revoked_at: None,
            not_before: None,
            not_after: Some(now.plus_ms(-DAY)),
            flags: vec![],
        };
        assert_eq!(r.signing_key(&signing), vec![Flag::Expired]);
        assert_eq!(r.signing_key(&SigningKeyEntry { revoked: true, ..signing }), vec![]);
    }
}
