//! Drift: what a tenant's client credentials looked like at the last inventory (the snapshot the
//! store keeps, as JSON), and what appeared or disappeared since without keyward: a pure
//! comparison, told what keyward itself did in between.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::types::{ClientEntry, DriftEntry, DriftKind, DriftWhat};
use crate::Error;
use crate::store::KeyState;

/// The method keyward attaches its keys to.
const PRIVATE_KEY_JWT: &str = "private_key_jwt";
/// A record's name is kept in the snapshot up to this many characters.
const MAX_NAME: usize = 128;

/// The tenant's credential records and where each is attached, by client then credential id.
/// Clients without records are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Snapshot {
    clients: BTreeMap<String, BTreeMap<String, Seen>>,
}

/// One record as seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default)]
    slots: Vec<String>,
}

impl Snapshot {
    /// What the inventory's clients hold now.
    pub(super) fn of(clients: &[ClientEntry]) -> Self {
        let clients = clients
            .iter()
            .filter(|c| !c.credentials.is_empty())
            .map(|c| {
                let records = c
                    .credentials
                    .iter()
                    .map(|r| {
                        let name = r.name.as_ref().map(|n| n.chars().take(MAX_NAME).collect());
                        (r.credential_id.clone(), Seen { name, slots: r.slots.clone() })
                    })
                    .collect();
                (c.client_id.clone(), records)
            })
            .collect();
        Self { clients }
    }

    /// The stored JSON.
    pub(super) fn to_json(&self) -> Result<String, Error> {
        serde_json::to_string(self).map_err(Error::encode("inventory snapshot"))
    }

    /// From the stored JSON.
    pub(super) fn from_json(text: &str) -> Result<Self, Error> {
        serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("inventory snapshot: {e}")))
    }

    fn records(&self) -> impl Iterator<Item = ((&str, &str), &Seen)> {
        self.clients
            .iter()
            .flat_map(|(client, records)| records.iter().map(move |(id, s)| ((client.as_str(), id.as_str()), s)))
    }
}

/// What keyward did to the tenant: the state of each of its keys (by Auth0 credential id), and
/// the credentials its rotations removed at Auth0 since the last inventory (evicted or deleted
/// to make room, managed or not).
#[derive(Debug, Default)]
pub(super) struct Ours {
    /// keyward's keys by credential id.
    pub keys: BTreeMap<String, KeyState>,
    /// Credential ids keyward's rotations removed.
    pub removed: BTreeSet<String>,
    /// The list each of keyward's keys belongs to, by credential id, when it is not
    /// private_key_jwt (JAR keys: `signed_request_object`).
    pub methods: BTreeMap<String, &'static str>,
}

impl Ours {
    /// Whether keyward made this change itself: it registers and attaches its own keys (each to
    /// its method's list only) and detaches and deletes keys once retired or revoked, and the
    /// credentials its rotations remove. Anything else, such as a live keyward key deleted or
    /// detached behind its back, is drift.
    fn caused(&self, kind: DriftKind, what: DriftWhat, credential_id: &str, slot: Option<&str>) -> bool {
        let state = self.keys.get(credential_id).copied();
        let removed = self.removed.contains(credential_id);
        let own_slot = slot == Some(self.methods.get(credential_id).copied().unwrap_or(PRIVATE_KEY_JWT));
        match (kind, what) {
            (DriftKind::Appeared, DriftWhat::Record) => state.is_some(),
            (DriftKind::Disappeared, DriftWhat::Record) => {
                removed || matches!(state, Some(KeyState::Pending | KeyState::Retired))
            }
            (DriftKind::Appeared, DriftWhat::Attachment) => {
                own_slot && matches!(state, Some(KeyState::Pending | KeyState::Active | KeyState::Retiring))
            }
            (DriftKind::Disappeared, DriftWhat::Attachment) => {
                removed || (own_slot && matches!(state, Some(KeyState::Pending | KeyState::Retired)))
            }
        }
    }
}

/// What changed from `before` to `now` that keyward did not cause. A record that appeared or
/// disappeared is one entry (its `slots` say where it was attached); attachments are compared
/// for the records present in both.
pub(super) fn diff(before: &Snapshot, now: &Snapshot, ours: &Ours) -> Vec<DriftEntry> {
    let old: BTreeMap<(&str, &str), &Seen> = before.records().collect();
    let new: BTreeMap<(&str, &str), &Seen> = now.records().collect();
    let mut out = Vec::new();
    let mut push = |kind, what, (client, id): (&str, &str), slot: Option<&str>, seen: &Seen| {
        if !ours.caused(kind, what, id, slot) {
            out.push(DriftEntry {
                client_id: client.to_owned(),
                credential_id: id.to_owned(),
                what,
                kind,
                slot: slot.map(str::to_owned),
                slots: if what == DriftWhat::Record { seen.slots.clone() } else { Vec::new() },
                name: seen.name.clone(),
            });
        }
    };
    for (key, seen) in &new {
        match old.get(key) {
            None => push(DriftKind::Appeared, DriftWhat::Record, *key, None, seen),
            Some(was) => {
                for slot in seen.slots.iter().filter(|s| !was.slots.contains(s)) {
                    push(DriftKind::Appeared, DriftWhat::Attachment, *key, Some(slot), seen);
                }
                for slot in was.slots.iter().filter(|s| !seen.slots.contains(s)) {
                    push(DriftKind::Disappeared, DriftWhat::Attachment, *key, Some(slot), seen);
                }
            }
        }
    }
    for (key, was) in old.iter().filter(|(k, _)| !new.contains_key(*k)) {
        push(DriftKind::Disappeared, DriftWhat::Record, *key, None, was);
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::types::CredentialEntry;

    fn client(id: &str, records: &[(&str, &[&str])]) -> ClientEntry {
        ClientEntry {
            client_id: id.into(),
            name: None,
            app_type: None,
            managed_by_keyward: false,
            credentials: records
                .iter()
                .map(|(cred, slots)| CredentialEntry {
                    credential_id: (*cred).into(),
                    name: Some(format!("name of {cred}")),
                    kid: None,
                    algorithm: None,
                    credential_type: None,
                    created_at: None,
                    expires_at: None,
                    slots: slots.iter().map(|s| (*s).to_owned()).collect(),
                    managed: None,
                    flags: vec![],
                })
                .collect(),
        }
    }

    fn entries(d: &[DriftEntry]) -> Vec<(String, &'static str, &'static str, String)> {
        d.iter()
            .map(|e| (e.credential_id.clone(), e.kind.as_str(), e.what.as_str(), e.slot.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn changes_outside_keyward_are_drift() {
        let before =
            Snapshot::of(&[client("app", &[("gone", &["private_key_jwt"]), ("jar", &["signed_request_object"])])]);
        let now = Snapshot::of(&[
            client("app", &[("jar", &[]), ("new", &["private_key_jwt"])]),
            client("other", &[("orphan", &[])]),
        ]);
        let d = diff(&before, &now, &Ours::default());
        assert_eq!(
            entries(&d),
            vec![
                ("gone".into(), "disappeared", "record", String::new()),
                ("jar".into(), "disappeared", "attachment", "signed_request_object".into()),
                ("new".into(), "appeared", "record", String::new()),
                ("orphan".into(), "appeared", "record", String::new()),
            ]
        );
        let gone = d.iter().find(|e| e.credential_id == "gone").unwrap();
        assert_eq!(
            (gone.slots.clone(), gone.name.as_deref()),
            (vec!["private_key_jwt".to_owned()], Some("name of gone"))
        );
        assert!(diff(&now, &now, &Ours::default()).is_empty());
    }

    #[test]
    fn what_keyward_did_is_not_drift() {
        // A rotation: the new key registered and attached, the old one retired (detached and
        // deleted), an unmanaged credential evicted to make room.
        let before = Snapshot::of(&[client("app", &[("old", &["private_key_jwt"]), ("hand", &["private_key_jwt"])])]);
        let now = Snapshot::of(&[client("app", &[("new", &["private_key_jwt"])])]);
        let ours = Ours {
            keys: [("old".to_owned(), KeyState::Retired), ("new".to_owned(), KeyState::Active)].into(),
            removed: ["hand".to_owned()].into(),
            methods: BTreeMap::new(),
        };
        assert!(diff(&before, &now, &ours).is_empty());
        // A JAR rotation: keyward attaching its JAR key to signed_request_object is its own doing.
        let jar_before = Snapshot::of(&[client("app", &[("pk", &["private_key_jwt"])])]);
        let jar_now =
            Snapshot::of(&[client("app", &[("pk", &["private_key_jwt"]), ("jar", &["signed_request_object"])])]);
        let jar_ours = Ours {
            keys: [("pk".to_owned(), KeyState::Active), ("jar".to_owned(), KeyState::Active)].into(),
            removed: BTreeSet::new(),
            methods: [("jar".to_owned(), "signed_request_object")].into(),
        };
        assert!(diff(&jar_before, &jar_now, &jar_ours).is_empty());
        // keyward's live key deleted, or attached to another method, behind its back is drift.
        let ours = Ours {
            keys: [("old".to_owned(), KeyState::Active)].into(),
            removed: BTreeSet::new(),
            methods: BTreeMap::new(),
        };
        let now = Snapshot::of(&[client("app", &[("hand", &["private_key_jwt"])])]);
        assert_eq!(entries(&diff(&before, &now, &ours)), vec![("old".into(), "disappeared", "record", String::new())]);
        let now = Snapshot::of(&[client(
            "app",
            &[("old", &["private_key_jwt", "signed_request_object"]), ("hand", &["private_key_jwt"])],
        )]);
        assert_eq!(
            entries(&diff(&before, &now, &ours)),
            vec![("old".into(), "appeared", "attachment", "signed_request_object".into())]
        );
    }

    #[test]
    fn snapshots_round_trip_and_a_bad_one_is_corrupt() {
        let s = Snapshot::of(&[client("app", &[("a", &["private_key_jwt"])]), client("empty", &[])]);
        let json = s.to_json().unwrap();
        assert!(!json.contains("empty"), "{json}");
        assert_eq!(Snapshot::from_json(&json).unwrap(), s);
        assert!(matches!(Snapshot::from_json("[]"), Err(Error::Corrupt(_))));
    }
}
