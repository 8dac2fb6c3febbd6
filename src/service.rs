//! The running service: a validated [`Config`] turned into a store, a KEK ring, tenants and the
//! rotation engine, then served over gRPC with the background work (resuming interrupted
//! rotations, retiring old keys) beside it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::Error;
use crate::access::Access;
use crate::config::{Config, TlsConfig};
use crate::grpc::{self, Deps};
use crate::kek::KekRing;
use crate::rotation::{Engine, millis_now};
use crate::signing::Signing;
use crate::store::{SqlStore, Store};
use crate::tenant::Tenant;

/// How often the background task looks for keys to retire and stalled rotations to resume.
const TICK: Duration = Duration::from_secs(2);
/// How often the signer checks whether another replica changed the keys.
const CACHE_TICK: Duration = Duration::from_millis(500);
/// How often signing counters are written to the audit log.
const COUNTERS_TICK: Duration = Duration::from_secs(10);
/// An open rotation untouched for this long is resumed by the background task (a caller's RPC
/// normally drives it; this picks up rotations paused by an outage or left by another replica).
const STALE: Duration = Duration::from_secs(30);

/// The assembled service, ready to serve.
#[derive(Debug)]
pub struct Service {
    /// The rotation engine.
    pub engine: Arc<Engine>,
    /// The signing core.
    pub signing: Arc<Signing>,
    /// Principals and grants.
    pub access: Arc<Access>,
    /// gRPC TLS.
    pub tls: Option<TlsConfig>,
}

impl Service {
    /// Opens the store (running migrations), loads the KEK ring and connects the tenants.
    /// Configuration problems are [`Error::Config`], reported before any port is bound.
    pub async fn open(config: &Config) -> Result<Self, Error> {
        let ring = KekRing::load(&config.kek).map_err(|e| Error::Config(vec![format!("kek: {e}")]))?;
        let mut tenants = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, t) in &config.tenants {
            match Tenant::connect(t.clone()) {
                Ok(tenant) => {
                    tenants.insert(name.clone(), tenant);
                }
                Err(Error::Config(e)) => errors.extend(e),
                Err(e) => errors.push(format!("tenants.{name}: {e}")),
            }
        }
        if !errors.is_empty() {
            return Err(Error::Config(errors));
        }
        let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&config.store_url).await?);
        let engine = Arc::new(Engine::new(store, tenants, ring.current.clone(), config.defaults.clone()));
        let keks = std::iter::once(ring.current.clone()).chain(ring.previous.iter().cloned()).collect();
        let signing = Arc::new(Signing::new(engine.clone(), keks, config.signer)?);
        signing.cache().refresh(true).await?;
        Ok(Self { engine, signing, access: Arc::new(config.access.clone()), tls: config.tls.clone() })
    }

    /// Resumes every open rotation (after a crash or restart), then serves gRPC on `listener`
    /// until `shutdown`, with the background task running beside it.
    pub async fn run(self, listener: TcpListener, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        resume(&self.engine, None).await;
        let tasks = [
            tokio::spawn(background(self.engine.clone())),
            tokio::spawn(cache_refresher(self.signing.clone())),
            tokio::spawn(counter_flusher(self.signing.clone())),
        ];
        let deps = Deps { signing: self.signing.clone(), access: self.access, tls: self.tls };
        let result = grpc::run(listener, shutdown, deps).await;
        for t in tasks {
            t.abort();
        }
        if let Err(e) = self.signing.counters().flush().await {
            eprintln!("keyward: signing counters not written at shutdown: {e}");
        }
        result
    }
}

async fn resume(engine: &Engine, older_than: Option<Duration>) {
    for (id, outcome) in engine.resume_open(older_than).await {
        match outcome {
            Ok(state) => eprintln!("keyward: rotation {id} resumed: {state}"),
            Err(e) => eprintln!("keyward: rotation {id} not resumed yet: {e}"),
        }
    }
}

async fn background(engine: Arc<Engine>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match engine.retire_due(millis_now()).await {
            Ok(0) => {}
            Ok(n) => eprintln!("keyward: retired {n} key(s)"),
            Err(e) => eprintln!("keyward: retirement deferred: {e}"),
        }
        resume(&engine, Some(STALE)).await;
    }
}

/// Reloads the signer's keys when this process changes them (at once) or the store's key version
/// moves (another replica did; polled).
async fn cache_refresher(signing: Arc<Signing>) {
    let changed = signing.engine().key_changed().clone();
    loop {
        let forced = tokio::select! {
            () = changed.notified() => true,
            () = tokio::time::sleep(CACHE_TICK) => false,
        };
        if let Err(e) = signing.cache().refresh(forced).await {
            eprintln!("keyward: key cache not refreshed: {e}");
        }
    }
}

async fn counter_flusher(signing: Arc<Signing>) {
    let mut tick = tokio::time::interval(COUNTERS_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = signing.counters().flush().await {
            eprintln!("keyward: signing counters not written yet: {e}");
        }
    }
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    eprintln!("keyward: shutting down");
}
