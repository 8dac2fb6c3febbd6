//! The signing load: a worker per replica slot signs client assertions through whichever
//! process is in the slot now, and exchanges every one at the emulator's token endpoint.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyward::clock::wall_now;
use keyward::grpc::proto::{self, signer_client::SignerClient};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use super::replicas::{Fleet, View};
use super::rpc::{Outcome, connect, with_deadline};
use super::world::World;
use super::{API, SIGN_DEADLINE, authed, bump};

/// What the load saw.
#[derive(Default)]
pub struct Load {
    pub signed: AtomicU64,
    pub exchanged: AtomicU64,
    /// Assertions the emulator refused (must stay empty).
    pub failures: Mutex<Vec<String>>,
    /// Signing RPC outcomes other than OK, by "slot/CODE".
    pub sign_errors: Mutex<BTreeMap<String, u64>>,
    /// Signing RPC outcomes by code (all slots).
    pub sign_codes: Mutex<BTreeMap<String, u64>>,
    /// Successful signatures per slot.
    pub per_slot: Mutex<BTreeMap<usize, u64>>,
    /// When the never-killed replica (slot 0) signed successfully.
    pub stable_ok: Mutex<Vec<Instant>>,
    /// Error samples (first few messages).
    pub samples: Mutex<Vec<String>>,
    /// The longest time a failing signing call took to fail (ms).
    pub slowest_failure_ms: AtomicU64,
}

/// Exchanges an assertion at the emulator's token endpoint; 429s (none expected) are waited out.
async fn exchange(http: &reqwest::Client, base: &str, assertion: &str) -> (u16, String) {
    for _ in 0..20 {
        let r = http
            .post(format!("{base}/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion),
                ("audience", API),
            ])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        if status != 429 {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (429, "rate limited 20 times".into())
}

/// Starts a signing worker on each of the fleet's first `slots` slots, signing for `clients` in
/// turn (40 ms apart) until `stop`.
pub fn spawn_sign_workers(
    world: &World,
    fleet: &Fleet,
    slots: usize,
    clients: &[String],
    load: &Arc<Load>,
    stop: &Arc<AtomicBool>,
) -> Vec<JoinHandle<()>> {
    (0..slots)
        .map(|slot| {
            let worker = SignWorker {
                slot,
                view: fleet.view.clone(),
                clients: clients.to_vec(),
                load: load.clone(),
                stop: stop.clone(),
                http: world.http.clone(),
                base: world.base_url(),
                pause: Duration::from_millis(40),
            };
            tokio::spawn(worker.run())
        })
        .collect()
}

/// Signs client assertions through the replica in `slot` (whichever process is there now), for
/// `clients` in turn, and exchanges every one at the emulator, until `stop`.
struct SignWorker {
    slot: usize,
    view: View,
    clients: Vec<String>,
    load: Arc<Load>,
    stop: Arc<AtomicBool>,
    http: reqwest::Client,
    base: String,
    pause: Duration,
}

impl SignWorker {
    async fn run(self) {
        let Self { slot, view, clients, load, stop, http, base, pause } = self;
        let mut conn: Option<(u64, SignerClient<Channel>)> = None;
        let mut n = 0usize;
        while !stop.load(SeqCst) {
            let Some(ep) = view.lock().unwrap()[slot].clone() else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            if conn.as_ref().is_none_or(|(g, _)| *g != ep.generation) {
                match connect(&ep.addr).await {
                    Ok(c) => conn = Some((ep.generation, SignerClient::new(c))),
                    Err(_) => {
                        bump(&load.sign_errors, format!("{slot}/CONNECT"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                }
            }
            let signer = &mut conn.as_mut().unwrap().1;
            let client = &clients[n % clients.len()];
            n += 1;
            let req = authed(proto::SignClientAssertionRequest {
                tenant: "dev".into(),
                client_id: client.clone(),
                audience: String::new(),
                lifetime: Some(prost_types::Duration { seconds: 10, nanos: 0 }),
            });
            let t0 = Instant::now();
            let outcome = with_deadline(req, SIGN_DEADLINE, async |r| signer.sign_client_assertion(r).await).await;
            bump(&load.sign_codes, outcome.label());
            match outcome {
                Outcome::Ok(a) => {
                    load.signed.fetch_add(1, SeqCst);
                    *load.per_slot.lock().unwrap().entry(slot).or_default() += 1;
                    if slot == 0 {
                        load.stable_ok.lock().unwrap().push(Instant::now());
                    }
                    let (status, body) = exchange(&http, &base, &a.assertion).await;
                    if status == 200 {
                        load.exchanged.fetch_add(1, SeqCst);
                    } else {
                        load.failures.lock().unwrap().push(format!(
                            "{client} kid {} via {} at {}: {status} {body}",
                            a.kid,
                            ep.id,
                            wall_now()
                        ));
                    }
                }
                other => {
                    load.slowest_failure_ms.fetch_max(u64::try_from(t0.elapsed().as_millis()).unwrap(), SeqCst);
                    bump(&load.sign_errors, format!("{slot}/{}", other.label()));
                    let mut samples = load.samples.lock().unwrap();
                    if samples.len() < 20 {
                        samples.push(format!("slot {slot} ({}): {}", ep.id, other.detail()));
                    }
                    // A transport failure: reconnect (the replica may be a new process).
                    conn = None;
                }
            }
            tokio::time::sleep(pause).await;
        }
    }
}
