//! Store-reading probes: workers that call the RPCs that read the store through each replica
//! while its PostgreSQL connections are killed, and the recovery check afterwards.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyward::grpc::proto::{self, audit_client::AuditClient, key_rotation_client::KeyRotationClient};
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::transport::Channel;

use super::drivers::Driven;
use super::replicas::{Fleet, View};
use super::rng::Rng;
use super::rpc::{Outcome, connect, rotate_call, with_deadline};
use super::{READ_DEADLINE, ROTATE_DEADLINE, authed, bump};
use crate::support;

/// The store-reading RPCs the probes call.
const PROBES: [&str; 4] = ["GetRotation", "ListClientCredentials", "ListRotationPolicies", "ListAuditEvents"];

/// What the probes saw.
#[derive(Default)]
pub struct Probes {
    /// Outcomes by "Method/CODE".
    pub codes: Mutex<BTreeMap<String, u64>>,
    /// Outcomes other than OK and UNAVAILABLE (must stay empty).
    pub unexpected: Mutex<Vec<String>>,
    /// The longest time a failing probe took to fail (ms).
    pub slowest_failure_ms: AtomicU64,
}

/// One call of the probe `which` through `channel`.
async fn probe(channel: &Channel, which: usize, client: &str, rotation_id: &str) -> Outcome<()> {
    let mut rotation = KeyRotationClient::new(channel.clone());
    match PROBES[which] {
        "GetRotation" => {
            let req = authed(proto::GetRotationRequest { rotation_id: rotation_id.into() });
            with_deadline(req, READ_DEADLINE, async |r| rotation.get_rotation(r).await).await.unit()
        }
        "ListClientCredentials" => {
            let req = authed(proto::ListClientCredentialsRequest { tenant: "dev".into(), client_id: client.into() });
            with_deadline(req, READ_DEADLINE, async |r| rotation.list_client_credentials(r).await).await.unit()
        }
        "ListRotationPolicies" => {
            let req = authed(proto::ListRotationPoliciesRequest { tenant: "dev".into() });
            with_deadline(req, READ_DEADLINE, async |r| rotation.list_rotation_policies(r).await).await.unit()
        }
        _ => {
            let mut audit = AuditClient::new(channel.clone());
            let req = authed(proto::ListAuditEventsRequest { after_id: 0, limit: 20 });
            with_deadline(req, READ_DEADLINE, async |r| audit.list_audit_events(r).await).await.unit()
        }
    }
}

/// Starts a probe worker on each of the fleet's first `slots` slots (rng forks 10, 11, …),
/// probing `clients` and the rotations the drivers finished, until `stop`.
pub fn spawn_probe_workers(
    fleet: &Fleet,
    slots: usize,
    clients: &[String],
    driven: &Arc<Driven>,
    probes: &Arc<Probes>,
    stop: &Arc<AtomicBool>,
    rng: &mut Rng,
) -> Vec<JoinHandle<()>> {
    (0..slots)
        .map(|slot| {
            let view = fleet.view.clone();
            let rng = rng.fork(10 + slot as u64);
            tokio::spawn(probe_worker(slot, view, clients.to_vec(), driven.clone(), probes.clone(), stop.clone(), rng))
        })
        .collect()
}

/// Calls the probes in turn through the replica in `slot` until `stop`.
async fn probe_worker(
    slot: usize,
    view: View,
    clients: Vec<String>,
    driven: Arc<Driven>,
    probes: Arc<Probes>,
    stop: Arc<AtomicBool>,
    mut rng: Rng,
) {
    let mut conn: Option<(u64, Channel)> = None;
    while !stop.load(SeqCst) {
        let Some(ep) = view.lock().unwrap()[slot].clone() else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if conn.as_ref().is_none_or(|(g, _)| *g != ep.generation) {
            conn = Some((ep.generation, connect(&ep.addr).await.unwrap()));
        }
        let channel = &conn.as_ref().unwrap().1;
        let rotation_id = {
            let ids = driven.rotation_ids.lock().unwrap();
            if ids.is_empty() { String::new() } else { ids[rng.below(ids.len())].clone() }
        };
        let which = if rotation_id.is_empty() { 1 + rng.below(PROBES.len() - 1) } else { rng.below(PROBES.len()) };
        let client = rng.pick(&clients.iter().map(String::as_str).collect::<Vec<_>>()).to_owned();
        let t0 = Instant::now();
        let outcome = probe(channel, which, &client, &rotation_id).await;
        bump(&probes.codes, format!("{}/{}", PROBES[which], outcome.label()));
        match &outcome {
            Outcome::Ok(()) => {}
            other => {
                probes.slowest_failure_ms.fetch_max(u64::try_from(t0.elapsed().as_millis()).unwrap(), SeqCst);
                if !matches!(other, Outcome::Status(s) if s.code() == Code::Unavailable) {
                    probes.unexpected.lock().unwrap().push(format!(
                        "{} via {} after {:?}: {}",
                        PROBES[which],
                        ep.id,
                        t0.elapsed(),
                        other.detail()
                    ));
                }
            }
        }
        tokio::time::sleep(rng.ms(20, 80)).await;
    }
}

/// Waits until every probe (about `client` and the first driven rotation) and a rotation of
/// `rotated[slot]` succeed again through the replica in each of slots 0 and 1; how long it took.
pub async fn wait_recovered(fleet: &Fleet, driven: &Driven, client: &str, rotated: &[String]) -> Duration {
    let recovery = Instant::now();
    for (slot, rotated_client) in rotated.iter().take(2).enumerate() {
        let channel = connect(&fleet.endpoint(slot).addr).await.unwrap();
        let rid = driven.rotation_ids.lock().unwrap()[0].clone();
        for (which, name) in PROBES.iter().enumerate() {
            let (channel, rid, client) = (channel.clone(), rid.clone(), client.to_owned());
            support::eventually(&format!("{name} on replica {slot} after the kills"), move || {
                let (channel, rid, client) = (channel.clone(), rid.clone(), client.clone());
                async move { matches!(probe(&channel, which, &client, &rid).await, Outcome::Ok(())).then_some(()) }
            })
            .await;
        }
        let addr = fleet.endpoint(slot).addr;
        let client = rotated_client.clone();
        let rid = format!("pg-recovered-{slot}-{}", support::random_hex(4));
        support::eventually(&format!("a rotation through replica {slot} after the kills"), move || {
            let (addr, client, rid) = (addr.clone(), client.clone(), rid.clone());
            async move { matches!(rotate_call(&addr, &client, &rid, ROTATE_DEADLINE).await, Outcome::Ok(_)).then_some(()) }
        })
        .await;
    }
    recovery.elapsed()
}
