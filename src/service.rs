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
use crate::context::Context;
use crate::grpc::{self, Deps};
use crate::kek::KekRing;
use crate::rotation::Engine;
use crate::schedule;
use crate::signing::{SignPool, Signing};
use crate::store::{AuditEvent, AuditKind, SqlStore, Store};
use crate::tenant::Tenant;

/// How often the background task looks for keys to retire and stalled rotations to resume.
const TICK: Duration = Duration::from_secs(2);
/// How often the signer checks whether another replica changed the keys.
const CACHE_TICK: Duration = Duration::from_millis(500);
/// How often signing counters are written to the audit log.
const COUNTERS_TICK: Duration = Duration::from_secs(10);
/// How often the drain reports what it still waits for.
const DRAIN_REPORT: Duration = Duration::from_secs(1);
/// How long before the drain's end the callers still waiting on a rotation are answered
/// UNAVAILABLE (naming it), so the answer leaves before the connections close.
const INTERRUPT_LEAD: Duration = Duration::from_secs(2);

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
        // One token session per signing thread: the pool is what bounds concurrent token calls.
        let sessions = SignPool::threads_for(config.signer.threads);
        let (ring, token) =
            KekRing::open(&config.kek, sessions).map_err(|e| Error::Config(vec![format!("kek: {e}")]))?;
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
        // What the parts share, built once; each takes what it uses.
        let ctx = Context::new(Arc::new(store), tenants, ring)
            .with_replica(ops.replica_id.clone())
            .with_clock(clock)
            .with_custody(token);
        let engine = Arc::new(Engine::new(&ctx, config.defaults.clone()).with_lease_timing(ops.scheduler.lease));
        schedule::apply_config(&engine, &ops.policies).await?;
        audit_grants(&*ctx.store, &config.access, &ops.replica_id).await?;
        let signing = Arc::new(Signing::new(&ctx, config.signer)?);
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
    /// configured drain time, logging each second how many RPCs and rotations it waits for.
    /// Shortly before the drain time ends, callers still waiting on a rotation are answered
    /// UNAVAILABLE naming it; rotations cut short stay open under this replica's lease and
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
            let parts = crate::admin::Parts { engine: self.engine.clone(), signing: self.signing.clone() };
            tokio::spawn(crate::admin::serve(l, parts, cap, stopped(admin_rx)))
        });
        let deps = Deps {
            engine: self.engine.clone(),
            signing: self.signing.clone(),
            access: self.access,
            tls: self.tls,
            limits: self.limits,
        };
        let in_flight = grpc::InFlight::default();
        let server = grpc::run_counting(listener, stopped(stop_rx.clone()), deps, in_flight.clone());
        tokio::pin!(server);
        let result = tokio::select! {
            result = &mut server => result,
            () = shutdown => {
                self.signing.set_draining();
                let _ = stop_tx.send(true);
                let drain = self.operations.drain_timeout;
                drain_server(server, drain, &in_flight, &self.engine).await
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
            tracing::warn!(error = %e, "signing counters not written at shutdown");
        }
        if result.is_ok() {
            tracing::info!("stopped");
        }
        result
    }
}

/// Waits up to `drain` for `server` to finish its calls, reporting once a second how many RPCs
/// are in flight and how many rotations run; `INTERRUPT_LEAD` before the end, callers still
/// waiting on a rotation are answered UNAVAILABLE (the rotations resume at the next start).
async fn drain_server(
    mut server: std::pin::Pin<&mut impl Future<Output = Result<(), Error>>>,
    drain: Duration,
    in_flight: &grpc::InFlight,
    engine: &Engine,
) -> Result<(), Error> {
    let start = tokio::time::Instant::now();
    let deadline = start + drain;
    // With a short drain, half of it for the rotations to finish on their own.
    let interrupt_at = deadline - INTERRUPT_LEAD.min(drain / 2);
    let mut interrupted = false;
    let mut report = tokio::time::interval(DRAIN_REPORT);
    report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let progress = || {
        tracing::info!(rpcs_in_flight = in_flight.get(), rotations_running = engine.rotations_running(), "draining");
    };
    tracing::info!(?drain, "no new calls accepted; draining the calls in flight");
    // Where the drain starts from, then once a second (the first tick is at once).
    progress();
    report.tick().await;
    loop {
        tokio::select! {
            result = server.as_mut() => {
                tracing::info!(elapsed = ?start.elapsed(), "drained");
                return result;
            }
            _ = report.tick() => progress(),
            () = tokio::time::sleep_until(interrupt_at), if !interrupted => {
                interrupted = true;
                if engine.rotations_running() > 0 {
                    tracing::warn!(
                        rotations_running = engine.rotations_running(),
                        "drain ending: answering the callers of unfinished rotations UNAVAILABLE; \
                         the rotations resume at the next start"
                    );
                }
                engine.interrupt_callers();
            }
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!(
                    ?drain,
                    rpcs_in_flight = in_flight.get(),
                    rotations_running = engine.rotations_running(),
                    "calls still in flight at the end of the drain; stopping anyway"
                );
                return Ok(());
            }
        }
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
        AuditEvent::new(AuditKind::AccessGrants, format!("keyward replica {replica}"), "", "principals", summary);
    store.append_audit(&event).await?;
    Ok(())
}

async fn resume(engine: &Engine, startup: bool) {
    if startup && let Err(e) = engine.resume_signing_keys_at_start().await {
        tracing::warn!(error = %e, "signing-key rotations not resumed yet");
    }
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
        match engine.retire_due(engine.clock().now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(keys = n, "retired old keys"),
            Err(e) => tracing::warn!(error = %e, "retirement deferred"),
        }
        match engine.signing_keys_due(engine.clock().now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(keys = n, "revoked previous signing keys"),
            Err(e) => tracing::warn!(error = %e, "signing-key work deferred"),
        }
        resume(&engine, false).await;
    }
}

/// Reloads the signer's keys when this process changes them (at once) or the store's key version
/// moves (another replica did; polled).
pub async fn cache_refresher(signing: Arc<Signing>) {
    let changed = signing.key_changed().clone();
    loop {
        let forced = tokio::select! {
            () = changed.notified() => true,
            () = tokio::time::sleep(CACHE_TICK) => false,
        };
        if let Err(e) = signing.cache().refresh(forced).await {
            tracing::warn!(error = %e, "key cache not refreshed");
        }
    }
}

async fn counter_flusher(signing: Arc<Signing>) {
    let mut tick = tokio::time::interval(COUNTERS_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = signing.counters().flush().await {
            tracing::warn!(error = %e, "signing counters not written yet");
        }
    }
}

/// The exit code after a second SIGINT (128 + 2, as a shell reports it).
pub const EXIT_ON_SECOND_SIGINT: i32 = 130;
/// The exit code after a second SIGTERM (128 + 15).
pub const EXIT_ON_SECOND_SIGTERM: i32 = 143;

/// Resolves when the process is asked to stop (SIGINT, i.e. Ctrl-C, or SIGTERM), which starts the
/// drain. From then on a second SIGINT or SIGTERM exits at once, with
/// [`EXIT_ON_SECOND_SIGINT`] or [`EXIT_ON_SECOND_SIGTERM`]: the saga is crash-safe, so the
/// rotations it cuts short stay resumable.
///
/// Call inside the Tokio runtime. It listens from the call on, so a signal while the service is
/// still starting is neither lost nor fatal: it is logged at once, the drain starts as soon as
/// the service serves, and a second signal still exits at once.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    let mut signals = Signals::new();
    let (stop, mut stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let first = signals.next().await;
        tracing::info!(signal = first.name, "shutting down (a second SIGINT or SIGTERM exits at once)");
        let _ = stop.send(true);
        let second = signals.next().await;
        tracing::warn!(
            signal = second.name,
            "second signal: exiting now; interrupted rotations resume on the next start"
        );
        std::process::exit(second.exit_code);
    });
    async move {
        // An error means the listening task ended with the runtime: stopping is all there is left.
        let _ = stopping.wait_for(|stop| *stop).await;
    }
}

/// A stop signal received.
#[derive(Debug, Clone, Copy)]
struct Received {
    name: &'static str,
    exit_code: i32,
}

/// The stop signals, listened to from the start (so none is missed between the first and the
/// second).
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            // Not listening (no signal driver) leaves the default action: the process ends.
            Self { interrupt: signal(SignalKind::interrupt()).ok(), terminate: signal(SignalKind::terminate()).ok() }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn next(&mut self) -> Received {
        #[cfg(unix)]
        {
            async fn recv(s: Option<&mut tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = recv(self.interrupt.as_mut()) => Received { name: "SIGINT", exit_code: EXIT_ON_SECOND_SIGINT },
                () = recv(self.terminate.as_mut()) => Received { name: "SIGTERM", exit_code: EXIT_ON_SECOND_SIGTERM },
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            Received { name: "Ctrl-C", exit_code: EXIT_ON_SECOND_SIGINT }
        }
    }
}
