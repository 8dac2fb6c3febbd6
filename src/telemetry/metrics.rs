//! The Prometheus metrics keyward exposes on its admin port (`/metrics`). One process-wide
//! registry: the counters are bumped where things happen (the RPC layer, the signing pool, the
//! rotation engine, the Auth0 adapter's observer), the gauges that describe stored state (open
//! rotations, key ages, due rotations) are refreshed at scrape time.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A gauge holding seconds.
pub type SecondsGauge = Gauge<f64, AtomicU64>;

/// An RPC's method (`keyward.v1.Signer/SignJwt`) and gRPC code name (`OK`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    /// `package.Service/Method`.
    pub method: String,
    /// The gRPC code name.
    pub code: &'static str,
}

/// One label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlgorithmLabel {
    /// The JWS algorithm.
    pub algorithm: String,
}

/// A rotation's kind and how it ended (or got to).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RotationLabels {
    /// `client` or `connection`.
    pub kind: &'static str,
    /// `active`, `completed` or `failed`.
    pub outcome: &'static str,
}

/// Why authentication failed (a fixed set).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// `missing`, `malformed`, `unknown_token` or `unknown_certificate`.
    pub reason: &'static str,
}

/// Leased work and the step it was in (both from fixed sets: bounded).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LeaseLabels {
    /// `client`, `retirement` or `connection`.
    pub kind: &'static str,
    /// The saga state the step started from.
    pub step: &'static str,
}

/// A saga state.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// The state's name.
    pub state: String,
}

/// One Auth0 call's endpoint and status.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Auth0Labels {
    /// The configured tenant name.
    pub tenant: String,
    /// The adapter's operation name (e.g. `create client credential`).
    pub endpoint: String,
    /// The HTTP status, or `error` when no answer came.
    pub status: String,
}

/// A tenant.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabel {
    /// The configured tenant name.
    pub tenant: String,
}

/// A client of a tenant.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClientLabels {
    /// The configured tenant name.
    pub tenant: String,
    /// The client id.
    pub client: String,
}

/// A rotation policy's target (a client id or a connection id) in a tenant.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    /// The configured tenant name.
    pub tenant: String,
    /// The client or connection id.
    pub target: String,
}

/// A result or outcome.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// e.g. `hit`, `miss`.
    pub result: &'static str,
}

/// A scheduled rotation's outcome.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `started`, `skipped` or `failed`.
    pub outcome: &'static str,
}

/// An inventory count: the configured tenant, a kind of record and a flag (both fixed sets).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InventoryLabels {
    /// The configured tenant name.
    pub tenant: String,
    /// `client_credential`, `connection_key` or `signing_key`.
    pub kind: &'static str,
    /// `all`, `orphaned`, `expiring`, `older_than_policy` or `expired`.
    pub flag: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// Every metric keyward exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// RPCs by method and code.
    pub rpc_requests: Family<RpcLabels, Counter>,
    /// RPC latency by method and code.
    pub rpc_duration: Family<RpcLabels, Histogram, fn() -> Histogram>,
    /// Signatures made, by algorithm.
    pub signatures: Family<AlgorithmLabel, Counter>,
    /// Jobs waiting for a signing worker.
    pub signer_queue_depth: Gauge,
    /// Signing jobs refused because the queue was full.
    pub signer_rejections: Counter,
    /// Rotations by kind and outcome.
    pub rotations: Family<RotationLabels, Counter>,
    /// Open rotations per saga state (refreshed at scrape).
    pub rotations_in_state: Family<StateLabel, Gauge>,
    /// Age of the oldest open rotation (refreshed at scrape).
    pub rotation_oldest_open: SecondsGauge,
    /// Auth0 calls by tenant, endpoint and status.
    pub auth0_requests: Family<Auth0Labels, Counter>,
    /// The last `x-ratelimit-remaining` Auth0 sent, per tenant.
    pub auth0_ratelimit_remaining: Family<TenantLabel, Gauge>,
    /// Access-token cache lookups by result.
    pub token_cache: Family<ResultLabel, Counter>,
    /// Age of each client's active key (refreshed at scrape).
    pub key_age: Family<ClientLabels, SecondsGauge>,
    /// Seconds to each target's next scheduled rotation, negative when overdue.
    pub rotation_due: Family<TargetLabels, SecondsGauge>,
    /// 1 when a target is past its policy's maximum age.
    pub rotation_overdue: Family<TargetLabels, Gauge>,
    /// Scheduled rotations by outcome.
    pub scheduled_rotations: Family<OutcomeLabel, Counter>,
    /// Calls refused because they were not authenticated, by reason.
    pub auth_failures: Family<ReasonLabel, Counter>,
    /// Steps this replica abandoned because its lease passed to another replica.
    pub lease_lost_steps: Family<LeaseLabels, Counter>,
    /// Leased work this replica took over from another replica.
    pub lease_takeovers: Family<LeaseLabels, Counter>,
    /// 1 when this replica is ready to serve.
    pub ready: Gauge,
    /// Records at the last inventory, by tenant, kind and flag.
    pub inventory_records: Family<InventoryLabels, Gauge>,
    /// Changes outside keyward found by the last inventory, by tenant.
    pub inventory_drift: Family<TenantLabel, Gauge>,
    /// UNIX time (seconds) of the earliest expiry among keyward's credentials at the last
    /// inventory, by tenant; absent when none expires.
    pub inventory_earliest_expiry: Family<TenantLabel, Gauge>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let m = Self {
            rpc_requests: Family::default(),
            rpc_duration: Family::new_with_constructor(latency_histogram),
            signatures: Family::default(),
            signer_queue_depth: Gauge::default(),
            signer_rejections: Counter::default(),
            rotations: Family::default(),
            rotations_in_state: Family::default(),
            rotation_oldest_open: SecondsGauge::default(),
            auth0_requests: Family::default(),
            auth0_ratelimit_remaining: Family::default(),
            token_cache: Family::default(),
            key_age: Family::default(),
            rotation_due: Family::default(),
            rotation_overdue: Family::default(),
            scheduled_rotations: Family::default(),
            auth_failures: Family::default(),
            lease_lost_steps: Family::default(),
            lease_takeovers: Family::default(),
            ready: Gauge::default(),
            inventory_records: Family::default(),
            inventory_drift: Family::default(),
            inventory_earliest_expiry: Family::default(),
            registry: Registry::default(),
        };
        let build = Family::<VersionLabel, Gauge>::default();
        build.get_or_create(&VersionLabel { version: env!("CARGO_PKG_VERSION") }).set(1);
        let r = &mut registry;
        r.register("keyward_build_info", "keyward's version", build);
        r.register("keyward_ready", "1 when the store is reachable and keys are loaded", m.ready.clone());
        r.register("keyward_rpc_requests", "gRPC requests by method and code", m.rpc_requests.clone());
        r.register("keyward_rpc_duration_seconds", "gRPC latency by method and code", m.rpc_duration.clone());
        r.register("keyward_signatures", "Signatures by algorithm", m.signatures.clone());
        r.register("keyward_signer_queue_depth", "Signing jobs waiting for a worker", m.signer_queue_depth.clone());
        r.register("keyward_signer_rejections", "Signing jobs refused (queue full)", m.signer_rejections.clone());
        r.register("keyward_rotations", "Rotations by kind and outcome", m.rotations.clone());
        r.register("keyward_rotations_in_state", "Open rotations by saga state", m.rotations_in_state.clone());
        r.register(
            "keyward_rotation_oldest_open_seconds",
            "Age of the oldest open rotation",
            m.rotation_oldest_open.clone(),
        );
        r.register("keyward_auth0_requests", "Auth0 calls by endpoint and status", m.auth0_requests.clone());
        r.register(
            "keyward_auth0_ratelimit_remaining",
            "Auth0's last x-ratelimit-remaining",
            m.auth0_ratelimit_remaining.clone(),
        );
        r.register("keyward_token_cache_lookups", "Access-token cache lookups by result", m.token_cache.clone());
        r.register("keyward_key_age_seconds", "Age of each client's active key", m.key_age.clone());
        r.register(
            "keyward_rotation_due_seconds",
            "Seconds until the next scheduled rotation (negative: overdue)",
            m.rotation_due.clone(),
        );
        r.register("keyward_rotation_overdue", "1 when past the policy's maximum age", m.rotation_overdue.clone());
        r.register("keyward_scheduled_rotations", "Scheduled rotations by outcome", m.scheduled_rotations.clone());
        r.register("keyward_auth_failures", "Calls refused as not authenticated, by reason", m.auth_failures.clone());
        r.register(
            "keyward_lease_lost_steps",
            "Steps abandoned because their lease passed to another replica",
            m.lease_lost_steps.clone(),
        );
        r.register("keyward_lease_takeovers", "Leased work taken over from another replica", m.lease_takeovers.clone());
        r.register(
            "keyward_inventory_records",
            "Records at the last inventory by tenant, kind and flag",
            m.inventory_records.clone(),
        );
        r.register(
            "keyward_inventory_drift",
            "Changes outside keyward found by the last inventory",
            m.inventory_drift.clone(),
        );
        r.register(
            "keyward_inventory_earliest_expiry_seconds",
            "UNIX time of the earliest expiry among keyward-managed credentials at the last inventory",
            m.inventory_earliest_expiry.clone(),
        );
        Self { registry, ..m }
    }

    /// The registry in the Prometheus/OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Sets a tenant's inventory counts for one flag (or `all`): client credentials, connection
    /// keys and signing keys.
    pub fn inventory_records(
        &self,
        tenant: &str,
        flag: &'static str,
        (credentials, connection, signing): (usize, usize, usize),
    ) {
        for (kind, n) in [("client_credential", credentials), ("connection_key", connection), ("signing_key", signing)]
        {
            let labels = InventoryLabels { tenant: tenant.to_owned(), kind, flag };
            self.inventory_records.get_or_create(&labels).set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Sets how many changes outside keyward a tenant's last inventory found.
    pub fn inventory_drift(&self, tenant: &str, n: usize) {
        self.inventory_drift
            .get_or_create(&TenantLabel { tenant: tenant.to_owned() })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Sets (or, with none, removes) the earliest expiry among a tenant's managed credentials.
    pub fn inventory_earliest_expiry(&self, tenant: &str, unix_seconds: Option<i64>) {
        let label = TenantLabel { tenant: tenant.to_owned() };
        match unix_seconds {
            Some(s) => {
                self.inventory_earliest_expiry.get_or_create(&label).set(s);
            }
            None => {
                self.inventory_earliest_expiry.remove(&label);
            }
        }
    }

    /// Counts one rotation outcome.
    pub fn rotation(&self, kind: &'static str, outcome: &'static str) {
        self.rotations.get_or_create(&RotationLabels { kind, outcome }).inc();
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}
