//! Making room at Auth0 for a new credential: at most 2 attached to one method's list
//! (private_key_jwt, or JAR's signed_request_object), at most 4 records per client shared by all
//! lists (CONTRACT.md §1.5). A pure decision over what Auth0 and the store hold. A rotation only
//! ever evicts from its own list; records attached to any other list count towards the pool but
//! are never removed.

use std::collections::BTreeMap;

use keyward_auth0::ClientCredential;

use crate::clock::Timestamp;
use crate::store::{Removal, RemovedCredential};

/// What keyward knows of a credential it manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Managed {
    /// Still signing: never evicted.
    pub active: bool,
    /// Retiring, with the latest `exp` it signed (UNIX ms), if any.
    pub retiring_until: Option<Option<Timestamp>>,
}

/// The credentials to detach (from the rotation's own list) and delete.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Plan {
    /// Credential ids to take off the attached list.
    pub detach: Vec<String>,
    /// Credential ids to delete (after detaching).
    pub delete: Vec<String>,
    /// The attached list after detaching.
    pub attached_after: Vec<String>,
}

/// Auth0's limits.
pub(crate) const SLOT: usize = 2;
pub(crate) const POOL: usize = 4;

/// Decides how to make room for one more credential, attached beside what stays attached.
///
/// Evicted first: managed credentials that do not sign (left over from failed rotations, or
/// retiring keys whose assertions have all expired: early retirement). Unmanaged ones only with
/// `evict_unmanaged`, and never the managed active one. `attached` is the rotation's own list;
/// `elsewhere` what any other list holds (another method's keys): those are counted, never
/// removed, whatever `evict_unmanaged` says. Otherwise a FAILED_PRECONDITION message naming the
/// slots, or the time a retiring key may go.
pub(crate) fn plan(
    records: &[String],
    attached: &[String],
    elsewhere: &[String],
    managed: &BTreeMap<String, Managed>,
    evict_unmanaged: bool,
    now: Timestamp,
) -> Result<Plan, String> {
    let mut plan = Plan { attached_after: attached.to_vec(), ..Plan::default() };
    // A credential on another list (too) is never a victim: detaching it there is not this
    // rotation's to do, and Auth0 refuses to delete it while it is attached anywhere.
    let evictable = |id: &str| {
        !elsewhere.iter().any(|e| e == id) && matches!(can_go(managed.get(id), evict_unmanaged, now), Go::Yes)
    };

    while plan.attached_after.len() >= SLOT {
        let Some(victim) = plan.attached_after.iter().find(|id| evictable(id)).cloned() else {
            let held = plan.attached_after.clone();
            let waiting = later(&held, elsewhere, managed, evict_unmanaged, now);
            return Err(refusal("slots", &held, elsewhere, managed, waiting));
        };
        plan.attached_after.retain(|id| *id != victim);
        plan.detach.push(victim.clone());
        plan.delete.push(victim);
    }
    let remaining: Vec<&String> = records.iter().filter(|id| !plan.delete.contains(id)).collect();
    let mut count = remaining.len();
    // Prefer managed leftovers, then (when allowed) unmanaged, never anything still attached.
    let mut candidates: Vec<&String> =
        remaining.iter().copied().filter(|id| !plan.attached_after.contains(id)).collect();
    candidates.sort_by_key(|id| !managed.contains_key(*id));
    let mut candidates = candidates.into_iter();
    while count >= POOL {
        let Some(victim) = candidates.by_ref().find(|id| evictable(id)) else {
            let held: Vec<String> = remaining.iter().map(|s| (*s).clone()).collect();
            let waiting = later(&held, elsewhere, managed, evict_unmanaged, now);
            return Err(refusal("credential records", &held, elsewhere, managed, waiting));
        };
        plan.delete.push(victim.clone());
        count -= 1;
    }
    Ok(plan)
}

enum Go {
    Yes,
    No,
    /// A retiring key whose assertions live until then (UNIX ms).
    Later(Timestamp),
}

/// Whether a credential may be evicted now.
fn can_go(managed: Option<&Managed>, evict_unmanaged: bool, now: Timestamp) -> Go {
    match managed {
        Some(Managed { active: true, .. }) => Go::No,
        Some(Managed { retiring_until: Some(Some(exp)), .. }) if *exp > now => Go::Later(*exp),
        Some(_) => Go::Yes,
        None if evict_unmanaged => Go::Yes,
        None => Go::No,
    }
}

/// The earliest time one of `ids` may go, if waiting would help (never for one on another
/// list: waiting does not make it this rotation's to remove).
fn later(
    ids: &[String],
    elsewhere: &[String],
    managed: &BTreeMap<String, Managed>,
    evict_unmanaged: bool,
    now: Timestamp,
) -> Option<Timestamp> {
    ids.iter()
        .filter(|id| !elsewhere.contains(id))
        .filter_map(|id| match can_go(managed.get(id), evict_unmanaged, now) {
            Go::Later(t) => Some(t),
            _ => None,
        })
        .min()
}

fn refusal(
    what: &str,
    ids: &[String],
    elsewhere: &[String],
    managed: &BTreeMap<String, Managed>,
    waiting_until: Option<Timestamp>,
) -> String {
    if let Some(when) = waiting_until {
        return format!(
            "Auth0 {what} are full and the retiring key's assertions are still live; the rotation can proceed at {when}"
        );
    }
    let described: Vec<String> = ids
        .iter()
        .map(|id| match managed.get(id) {
            _ if elsewhere.contains(id) => format!("{id} (attached to another method)"),
            Some(Managed { active: true, .. }) => format!("{id} (managed, active)"),
            Some(_) => format!("{id} (managed)"),
            None => format!("{id} (unmanaged)"),
        })
        .collect();
    let hint = if ids.iter().all(|id| elsewhere.contains(id) || managed.contains_key(id)) {
        "keyward never removes a credential another method uses; retire or revoke one first"
    } else {
        "set evict_unmanaged to let keyward remove unmanaged credentials"
    };
    format!("Auth0 {what} are full: {}; {hint}", described.join(", "))
}

/// What `plan` removes, told: each credential with what it was, how it goes and why, as of
/// `now` (`creds` is what Auth0 holds, `attached` what the rotation's `list` holds).
pub(crate) fn told(
    list: &str,
    plan: &Plan,
    creds: &[ClientCredential],
    attached: &[String],
    managed: &BTreeMap<String, Managed>,
    now: Timestamp,
) -> Vec<RemovedCredential> {
    plan.delete
        .iter()
        .map(|id| {
            let at_auth0 = creds.iter().find(|c| &c.id == id);
            let (state, was) = match managed.get(id) {
                Some(Managed { retiring_until: Some(_), .. }) => {
                    ("RETIRING", "its grace period was cut short; every assertion it signed had expired")
                }
                Some(_) => ("PENDING", "left over from a rotation that did not finish"),
                None if attached.contains(id) => ("attached", "not managed by keyward (evict_unmanaged was set)"),
                None => ("stored", "not managed by keyward (evict_unmanaged was set)"),
            };
            let (action, room) = if plan.detach.contains(id) {
                (Removal::Evicted, format!("both {list} slots were taken"))
            } else {
                (Removal::Deleted, "Auth0 holds at most 4 credentials per client".to_owned())
            };
            RemovedCredential {
                credential_id: id.clone(),
                name: at_auth0.and_then(|c| c.name.clone()),
                kid: at_auth0.and_then(|c| c.kid.clone()),
                managed: managed.contains_key(id),
                state: state.to_owned(),
                action,
                reason: format!("{room}; {was}"),
                at: now,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn managed(v: &[(&str, bool, Option<Option<Timestamp>>)]) -> BTreeMap<String, Managed> {
        v.iter().map(|(id, active, r)| ((*id).to_owned(), Managed { active: *active, retiring_until: *r })).collect()
    }

    #[test]
    fn room_already() {
        let p = plan(&ids(&["a"]), &ids(&["a"]), &[], &managed(&[("a", true, None)]), false, at(0)).unwrap();
        assert_eq!(p, Plan { attached_after: ids(&["a"]), ..Plan::default() });
    }

    #[test]
    fn retiring_key_that_signed_nothing_goes_early() {
        let m = managed(&[("act", true, None), ("old", false, Some(None))]);
        let p = plan(&ids(&["act", "old"]), &ids(&["act", "old"]), &[], &m, false, at(0)).unwrap();
        assert_eq!((p.detach, p.delete, p.attached_after), (ids(&["old"]), ids(&["old"]), ids(&["act"])));
    }

    #[test]
    fn retiring_key_with_live_assertions_names_the_time() {
        let m = managed(&[("act", true, None), ("old", false, Some(Some(at(1_800_000_000_000))))]);
        let err = plan(&ids(&["act", "old"]), &ids(&["act", "old"]), &[], &m, false, at(1_000)).unwrap_err();
        assert!(err.contains("can proceed at 2027-01-15T08:00:00Z"), "{err}");
        // Once they expired, it may go.
        assert!(plan(&ids(&["act", "old"]), &ids(&["act", "old"]), &[], &m, false, at(1_800_000_000_001)).is_ok());
    }

    #[test]
    fn unmanaged_slots_need_permission() {
        let err = plan(&ids(&["u1", "u2"]), &ids(&["u1", "u2"]), &[], &BTreeMap::new(), false, at(0)).unwrap_err();
        assert!(
            err.contains("u1 (unmanaged)") && err.contains("u2 (unmanaged)") && err.contains("evict_unmanaged"),
            "{err}"
        );
        let p = plan(&ids(&["u1", "u2"]), &ids(&["u1", "u2"]), &[], &BTreeMap::new(), true, at(0)).unwrap();
        assert_eq!(p.attached_after.len(), 1);
        // The managed active credential is never evicted, even with permission.
        let m = managed(&[("act", true, None)]);
        let p = plan(&ids(&["act", "u1"]), &ids(&["act", "u1"]), &[], &m, true, at(0)).unwrap();
        assert_eq!(p.attached_after, ids(&["act"]));
    }

    #[test]
    fn pool_prefers_managed_leftovers() {
        let m = managed(&[("act", true, None), ("left", false, None)]);
        let records = ids(&["u1", "act", "left", "u2"]);
        let p = plan(&records, &ids(&["act"]), &[], &m, false, at(0)).unwrap();
        assert_eq!((p.detach, p.delete), (vec![], ids(&["left"])));
        let full = ids(&["u1", "act", "u2", "u3"]);
        let err = plan(&full, &ids(&["act"]), &[], &m, false, at(0)).unwrap_err();
        assert!(err.contains("credential records are full"), "{err}");
        assert_eq!(plan(&full, &ids(&["act"]), &[], &m, true, at(0)).unwrap().delete, ids(&["u1"]));
    }

    #[test]
    fn removals_are_told_with_what_they_were_and_why() {
        let m = managed(&[("act", true, None), ("old", false, Some(None))]);
        let creds: Vec<ClientCredential> = serde_json::from_value(serde_json::json!([
            {"id": "old", "kid": "k-old", "name": "keyward key_1"},
            {"id": "hand1", "name": "made by hand"},
        ]))
        .unwrap();
        // Both slots taken, one by a hand-made credential: it is evicted.
        let attached = ids(&["act", "hand1"]);
        let p = plan(&ids(&["act", "old", "hand1"]), &attached, &[], &m, true, at(7)).unwrap();
        let removed = told("private_key_jwt", &p, &creds, &attached, &m, at(7));
        assert_eq!(removed.len(), 1, "{removed:?}");
        let hand = &removed[0];
        assert_eq!((hand.action, hand.state.as_str(), hand.managed), (Removal::Evicted, "attached", false));
        assert_eq!((hand.name.as_deref(), hand.at), (Some("made by hand"), at(7)));
        assert!(hand.reason.starts_with("both private_key_jwt slots were taken"), "{}", hand.reason);
        assert!(hand.reason.contains("evict_unmanaged"), "{}", hand.reason);
        // Four stored, one attached: the retiring leftover is deleted.
        let attached = ids(&["act"]);
        let p = plan(&ids(&["act", "old", "hand1", "hand2"]), &attached, &[], &m, true, at(8)).unwrap();
        let removed = told("private_key_jwt", &p, &creds, &attached, &m, at(8));
        assert_eq!(removed.len(), 1, "{removed:?}");
        let old = &removed[0];
        assert_eq!((old.action, old.state.as_str(), old.managed), (Removal::Deleted, "RETIRING", true));
        assert_eq!(old.kid.as_deref(), Some("k-old"));
        assert!(old.reason.starts_with("Auth0 holds at most 4 credentials"), "{}", old.reason);
    }

    #[test]
    fn another_methods_credentials_are_counted_never_removed() {
        // The pool holds the private_key_jwt pair (active + retiring whose assertions expired) and
        // the JAR pair; a JAR rotation may only make room among its own list.
        let m = managed(&[
            ("pk_act", true, None),
            ("pk_old", false, Some(None)),
            ("jar_act", true, None),
            ("jar_old", false, Some(None)),
        ]);
        let records = ids(&["pk_act", "pk_old", "jar_act", "jar_old"]);
        let p = plan(&records, &ids(&["jar_act", "jar_old"]), &ids(&["pk_act", "pk_old"]), &m, true, at(0)).unwrap();
        assert_eq!((p.detach, p.delete, p.attached_after), (ids(&["jar_old"]), ids(&["jar_old"]), ids(&["jar_act"])));
        // Four records, three of them on the other list and the fourth active: refused, naming them,
        // even with evict_unmanaged (which never reaches another method's credentials).
        let m = managed(&[("pk_act", true, None), ("pk_old", false, Some(None)), ("jar_act", true, None)]);
        let full = ids(&["pk_act", "pk_old", "hand", "jar_act"]);
        let err = plan(&full, &ids(&["jar_act"]), &ids(&["pk_act", "pk_old", "hand"]), &m, true, at(0)).unwrap_err();
        assert!(err.contains("credential records are full"), "{err}");
        assert!(
            err.contains("pk_old (attached to another method)") && err.contains("hand (attached to another method)"),
            "{err}"
        );
        // A retiring key of the other method that left every list (detached by hand) may go.
        let stray = ids(&["pk_act", "pk_old", "jar_act", "u"]);
        let p = plan(&stray, &ids(&["jar_act"]), &ids(&["pk_act"]), &m, false, at(0)).unwrap();
        assert_eq!((p.detach, p.delete), (vec![], ids(&["pk_old"])));
    }

    #[test]
    fn a_credential_on_both_lists_is_never_evicted_from_either() {
        // Made by hand and attached to both: a rotation of either method must leave it be.
        let m = managed(&[("act", true, None)]);
        let err = plan(&ids(&["act", "both"]), &ids(&["act", "both"]), &ids(&["both"]), &m, true, at(0)).unwrap_err();
        assert!(err.contains("slots are full") && err.contains("both (attached to another method)"), "{err}");
    }
}
