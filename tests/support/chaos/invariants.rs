//! What must hold once a scenario is over: every rotation finished, and per client one active
//! key that Auth0 holds and accepts, nothing orphaned, nothing lost.

use std::time::{Duration, Instant};

use keyward::clock::wall_now;
use keyward::seal::{self, KeyIdentity};
use keyward::store::{KeyState, KeyStore, RotationRecord, RotationState};

use super::drivers::Driven;
use super::replicas::Fleet;
use super::world::World;
use crate::rig::check_one_active_key;
use crate::support;

impl World {
    /// Polls until every rotation is COMPLETED or FAILED (old keys retired included).
    pub async fn wait_all_finished(&self, fleet: &mut Fleet, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let exits = fleet.watch();
            assert!(exits.is_empty(), "replicas exited while rotations finished: {exits:?}");
            let left = self.unfinished().await;
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                let lines: Vec<String> = left
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {} {} request {:?} lease {:?} until {} (now {}) old key {:?}",
                            r.rotation_id,
                            r.client_id,
                            r.state,
                            r.request_id,
                            r.lease.owner,
                            r.lease.expires_at,
                            wall_now(),
                            r.old_key_id
                        )
                    })
                    .collect();
                panic!("rotations still unfinished after {within:?}:\n{}", lines.join("\n"));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The final state, per client: exactly one ACTIVE key whose credential is the only one Auth0
    /// holds (attached, nothing orphaned), every other key retired and wiped, plus the
    /// rotation-service invariants (the active key opens and is accepted by Auth0). And every
    /// FAILED rotation was compensated: its new key is wiped and not at Auth0.
    pub async fn check_final_state(&self, name: &str) {
        let keks_ring = support::kek_ring(&self.kek_file);
        let keks = keks_ring.all();
        for client in &self.clients {
            let who = format!("{name}: {client}");
            let (active, keys, at_auth0) = check_one_active_key(&who, &self.base_url(), &self.store, client).await;
            for k in keys.iter().filter(|k| k.key_id != active.key_id) {
                assert!(k.sealed.wrapped_dek.is_empty(), "{who}: retired key {} still holds its data key", k.key_id);
            }
            let kid = at_auth0["credentials"][0]["kid"].as_str();
            assert_eq!(kid, Some(active.kid.as_str()), "{who}: Auth0 holds another key: {at_auth0}");
            let id = KeyIdentity { tenant: "dev", client_id: client, key_id: &active.key_id };
            assert!(seal::open(&keks, id, &active.sealed).is_ok(), "{who}: the active key does not open");
            let (status, body) = support::exchange(&self.base_url(), &keks, &active).await;
            assert_eq!(status, 200, "{who}: the active key is refused by Auth0: {body}");
        }
        for r in self.rotations().await.into_iter().filter(|r| r.state == RotationState::Failed) {
            if let Some(id) = &r.new_key_id {
                let k = self.store.key(id).await.unwrap().unwrap();
                assert_eq!(
                    k.state,
                    KeyState::Retired,
                    "{name}: failed rotation {} left key {id} {}",
                    r.rotation_id,
                    k.state
                );
            }
        }
    }
}

/// Every rotation the drivers saw succeed is COMPLETED in the store.
pub fn check_driven_completed(rotations: &[RotationRecord], driven: &Driven) {
    for rid in driven.request_ids.lock().unwrap().iter() {
        let r = rotations.iter().find(|r| r.request_id.as_deref() == Some(rid.as_str())).unwrap();
        assert_eq!(r.state, RotationState::Completed, "{rid}: {r:?}");
    }
}

/// The never-killed replica signed in every phase: before the first kill, after each kill
/// (before the next one, or within 10 s when the next one came sooner), after the last one.
pub fn check_signed_in_every_phase(stable: &[Instant], kill_times: &[Instant], last_kill: Instant) {
    let first = kill_times.first().copied().unwrap_or(last_kill);
    assert!(stable.iter().any(|t| *t < first), "the stable replica did not sign before the first kill");
    for (n, k) in kill_times.iter().enumerate() {
        let until = kill_times.get(n + 1).copied().unwrap_or(last_kill).max(*k + Duration::from_secs(10));
        assert!(
            stable.iter().any(|t| *t > *k && *t <= until),
            "the stable replica did not sign between kill #{n} and {:?} later",
            until - *k
        );
    }
    assert!(stable.iter().any(|t| *t > last_kill), "the stable replica did not sign after the last kill");
}
