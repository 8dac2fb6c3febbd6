//! The rotation drivers: each takes a client that may rotate again and drives one rotation of it
//! to success through any live replica, retrying through whatever dies on the way.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyward::clock::{Timestamp, wall_now};
use keyward::grpc::proto;
use keyward::store::{KeyState, KeyStore, SqlStore};
use tokio::task::JoinHandle;
use tonic::Code;

use super::replicas::{Fleet, View, random_endpoint};
use super::rng::Rng;
use super::rpc::{Outcome, rotate_call, transient};
use super::world::World;
use super::{ROTATE_DEADLINE, bump};
use crate::support;

/// What the rotation drivers saw.
#[derive(Default)]
pub struct Driven {
    /// Rotations that answered ACTIVE or COMPLETED (each a distinct request_id).
    pub ok: AtomicUsize,
    /// Slots handed out to drivers (never more than wanted).
    pub claimed: AtomicUsize,
    /// request_ids that succeeded.
    pub request_ids: Mutex<Vec<String>>,
    /// Their rotation ids.
    pub rotation_ids: Mutex<Vec<String>>,
    /// FAILED_PRECONDITION "can proceed at": a retiring key's assertions were still live.
    pub refusals: AtomicU64,
    /// Rotations that ended FAILED for another reason (compensated).
    pub failed: Mutex<Vec<String>>,
    /// RPC outcomes by code.
    pub codes: Mutex<BTreeMap<String, u64>>,
    /// The longest time a failing RotateClientCredential took to fail (ms).
    pub slowest_failure_ms: AtomicU64,
    /// Error samples.
    pub samples: Mutex<Vec<String>>,
}

/// The first rotation of every client (its first key), through slot 0.
pub async fn first_keys(world: &World, fleet: &Fleet) {
    let addr = fleet.endpoint(0).addr;
    for c in &world.clients {
        match rotate_call(&addr, c, &format!("first-{c}"), ROTATE_DEADLINE).await {
            Outcome::Ok(_) => {}
            other => panic!("first rotation of {c}: {other:?}"),
        }
    }
}

/// Starts three drivers rotating `clients` (request ids `{name}-…`) until `wanted` rotations
/// were claimed; with `prefer_armed` they mostly call replicas armed with a saga-point exit.
#[allow(clippy::too_many_arguments)]
pub fn spawn_drivers(
    name: &'static str,
    world: &World,
    fleet: &Fleet,
    clients: &[String],
    driven: &Arc<Driven>,
    wanted: usize,
    rng: &mut Rng,
    prefer_armed: bool,
) -> Vec<JoinHandle<()>> {
    let queue = Arc::new(Mutex::new(clients.iter().cloned().collect::<VecDeque<_>>()));
    (0..3)
        .map(|d| {
            let driver = Driver {
                name,
                view: fleet.view.clone(),
                store: world.store.clone(),
                queue: queue.clone(),
                driven: driven.clone(),
                wanted,
                rng: rng.fork(d),
                prefer_armed,
            };
            tokio::spawn(driver.run())
        })
        .collect()
}

/// Whether `client` may rotate again: no retiring key whose assertions may still be live.
async fn ready_to_rotate(store: &SqlStore, client: &str) -> bool {
    let now = wall_now();
    match store.keys("dev", client).await {
        Ok(keys) => keys.iter().all(|k| {
            k.state != KeyState::Retiring || k.last_signed_exp.unwrap_or(Timestamp::EPOCH).plus_ms(1000) < now
        }),
        Err(_) => false,
    }
}

/// Rotates clients from `queue` (each client by one driver at a time, once it is ready) until
/// `wanted` rotations were claimed.
struct Driver {
    name: &'static str,
    view: View,
    store: Arc<SqlStore>,
    queue: Arc<Mutex<VecDeque<String>>>,
    driven: Arc<Driven>,
    wanted: usize,
    rng: Rng,
    prefer_armed: bool,
}

impl Driver {
    async fn run(mut self) {
        loop {
            let n = self.driven.claimed.fetch_add(1, SeqCst);
            if n >= self.wanted {
                return;
            }
            let client = self.next_client().await;
            let rid = format!("{}-{n:04}-{}", self.name, support::random_hex(4));
            self.drive_one(&client, &rid).await;
            self.queue.lock().unwrap().push_back(client);
        }
    }

    /// Takes the first client of the queue that is ready to rotate (waiting for one).
    async fn next_client(&self) -> String {
        loop {
            let candidates: Vec<String> = self.queue.lock().unwrap().iter().cloned().collect();
            for c in candidates {
                if ready_to_rotate(&self.store, &c).await {
                    let mut q = self.queue.lock().unwrap();
                    if let Some(pos) = q.iter().position(|x| *x == c) {
                        q.remove(pos);
                        return c;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Drives one rotation of `client` to success: retries the same request_id through any live
    /// replica on ABORTED, UNAVAILABLE, transport errors and deadlines, and a new request_id
    /// after a refusal or a compensated failure.
    async fn drive_one(&mut self, client: &str, base_rid: &str) -> String {
        let driven = &self.driven;
        let mut rid = base_rid.to_owned();
        let mut retry = 0;
        let give_up = Instant::now() + Duration::from_secs(300);
        loop {
            assert!(Instant::now() < give_up, "rotation {rid} of {client} did not finish within 300 s");
            let Some(ep) = random_endpoint(&self.view, &mut self.rng, self.prefer_armed) else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let t0 = Instant::now();
            let outcome = rotate_call(&ep.addr, client, &rid, ROTATE_DEADLINE).await;
            bump(&driven.codes, outcome.label());
            let failed_after = u64::try_from(t0.elapsed().as_millis()).unwrap();
            if !matches!(outcome, Outcome::Ok(_)) {
                driven.slowest_failure_ms.fetch_max(failed_after, SeqCst);
                let mut samples = driven.samples.lock().unwrap();
                if samples.len() < 30 {
                    samples.push(format!("{rid} via {}: {}", ep.id, outcome.detail()));
                }
            }
            match outcome {
                Outcome::Ok(r) => {
                    let state = r.rotation.as_ref().unwrap().state();
                    assert!(
                        matches!(state, proto::RotationState::Active | proto::RotationState::Completed),
                        "{rid}: answered {state:?}"
                    );
                    driven.ok.fetch_add(1, SeqCst);
                    driven.request_ids.lock().unwrap().push(rid.clone());
                    driven.rotation_ids.lock().unwrap().push(r.rotation.unwrap().rotation_id);
                    return rid;
                }
                Outcome::Status(s) if transient(&s) => {}
                Outcome::Connect(_) | Outcome::Deadline => {}
                Outcome::Status(s) if s.code() == Code::FailedPrecondition => {
                    if s.message().contains("can proceed at") {
                        driven.refusals.fetch_add(1, SeqCst);
                    } else {
                        driven.failed.lock().unwrap().push(format!("{rid}: {}", s.message()));
                    }
                    retry += 1;
                    rid = format!("{base_rid}-r{retry}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Outcome::Status(s) => panic!("{rid} via {}: unexpected {s:?}", ep.id),
            }
            tokio::time::sleep(self.rng.ms(100, 500)).await;
        }
    }
}
