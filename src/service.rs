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
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, Operations, TlsConfig};
use crate::grpc::{self, Deps};
use crate::kek::KekRing;
use crate::rotation::Engine;
use crate::schedule;
use crate::signing::Signing;
use crate::store::{AuditEvent, AuditKind, SqlStore, Store};
use crate::tenant::Tenant;

/// How often the background task looks for keys to retire and stalled rotations to resume.
const TICK: Duration = Duration::from_secs(2);
/// How often the signer checks whether another replica changed the keys.
const CACHE_TICK: Duration = Duration::from_millis(500);
/// How often signing counters are written to the audit log.
const COUNTERS_TICK: Duration = Duration::from_secs(10);

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
    /// Transport limits of the ports.
    pub limits: crate::config::Limits,
    /// The admin port, scheduler and drain settings.
    pub operations: Operations,
}

impl Service {
    /// Opens the store (running migrations), loads the KEK ring, connects the tenants and
    /// writes the config file's rotation policies. Configuration problems are
    /// [`Error::Config`], reported before any port is bound.
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
        let ops = &config.operations;
        // One clock for the store, the engine, its scheduler and the signer.
        let clock: SharedClock = SystemClock::shared();
        let store = SqlStore::connect(&config.store_url)
            .await?
            .with_lease_ttl(ops.scheduler.lease_ttl)
            .with_clock(clock.clone());
        let engine = Arc::new(
            Engine::new(Arc::new(store), tenants, ring.current.clone(), config.defaults.clone())
                .with_owner(ops.replica_id.clone())
                .with_lease_timing(ops.scheduler.lease)
                .with_clock(clock),
        );
        schedule::apply_config(&engine, &ops.policies).await?;
        audit_grants(&**engine.store(), &config.access, &ops.replica_id).await?;
        let keks = std::iter::once(ring.current.clone()).chain(ring.previous.iter().cloned()).collect();
        let signing = Arc::new(Signing::new(engine.clone(), keks, config.signer)?);
        signing.cache().refresh(true).await?;
        Ok(Self {
            engine,
            signing,
            access: Arc::new(config.access.clone()),
            tls: config.tls.clone(),
            limits: config.limits,
            operations: ops.clone(),
        })
    }

    /// [`Service::run_with_admin`] without an admin port.
    pub async fn run(self, listener: TcpListener, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        self.run_with_admin(listener, None, shutdown).await
    }

    /// Resumes the open rotations this replica may drive (after a crash or restart), then serves
    /// gRPC on `listener` and the admin port on `admin` with the background work beside them.
    /// On `shutdown` it stops accepting calls, reports not-ready, and gives in-flight RPCs the
    /// configured drain time; rotations cut short stay open under this replica's lease and
    /// resume at its next start (or on another replica once the lease lapses).
    pub async fn run_with_admin(
        self,
        listener: TcpListener,
        admin: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        resume(&self.engine, true).await;
        let mut tasks = vec![
            tokio::spawn(background(self.engine.clone())),
            tokio::spawn(cache_refresher(self.signing.clone())),
            tokio::spawn(counter_flusher(self.signing.clone())),
        ];
        if self.operations.scheduler.enabled {
            tasks.push(tokio::spawn(schedule::run(self.engine.clone(), self.operations.scheduler.clone())));
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        // The admin port outlives the drain, answering /readyz with 503 meanwhile.
        let (admin_stop, admin_rx) = tokio::sync::watch::channel(false);
        let admin_task = admin.map(|l| {
            let cap = self.limits.max_connections;
            tokio::spawn(crate::telemetry::admin::serve(l, self.signing.clone(), cap, stopped(admin_rx)))
        });
        let deps = Deps { signing: self.signing.clone(), access: self.access, tls: self.tls, limits: self.limits };
        let server = grpc::run(listener, stopped(stop_rx.clone()), deps);
        tokio::pin!(server);
        let result = tokio::select! {
            result = &mut server => result,
            () = shutdown => {
                self.signing.set_draining();
                let _ = stop_tx.send(true);
                let drain = self.operations.drain_timeout;
                match tokio::time::timeout(drain, &mut server).await {
                    Ok(result) => result,
                    Err(_) => {
                        eprintln!("keyward: in-flight RPCs still running after {drain:?}; stopping anyway");
                        Ok(())
                    }
                }
            }
        };
        let _ = stop_tx.send(true);
        let _ = admin_stop.send(true);
        for t in tasks {
            t.abort();
        }
        if let Some(t) = admin_task {
            let _ = t.await;
        }
        if let Err(e) = self.signing.counters().flush().await {
            eprintln!("keyward: signing counters not written at shutdown: {e}");
        }
        result
    }
}

/// Records the principals and grants in the audit log when they differ from the last record
/// (`access.grants`): grant changes arrive with a changed configuration.
async fn audit_grants(store: &dyn Store, access: &Access, replica: &str) -> Result<(), Error> {
    let summary = access.summary().to_string();
    if store.last_audit(AuditKind::AccessGrants).await?.is_some_and(|e| e.detail == summary) {
        return Ok(());
    }
    let event =
        AuditEvent::now(AuditKind::AccessGrants, format!("keyward replica {replica}"), "", "principals", summary);
    store.append_audit(&event).await?;
    Ok(())
}

async fn resume(engine: &Engine, startup: bool) {
    for (id, outcome) in engine.resume_open(startup).await {
        match outcome {
            Ok(state) => tracing::info!(rotation = %id, %state, "rotation resumed"),
            Err(e) => tracing::warn!(rotation = %id, error = %e, "rotation not resumed yet"),
        }
    }
    for (id, outcome) in engine.resume_revocations(startup).await {
        match outcome {
            Ok(state) => tracing::info!(revocation = %id, %state, "revocation resumed"),
            Err(e) => tracing::warn!(revocation = %id, error = %e, "revocation not resumed yet"),
        }
    }
}

async fn background(engine: Arc<Engine>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match engine.retire_due(engine.clock().now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(keys = n, "retired old keys"),
            Err(e) => tracing::warn!(error = %e, "retirement deferred"),
        }
        resume(&engine, false).await;
    }
}

/// Reloads the signer's keys when this process changes them (at once) or the store's key version
/// moves (another replica did; polled).
pub async fn cache_refresher(signing: Arc<Signing>) {
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
