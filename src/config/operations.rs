//! The operational sections of `keyward.toml`: the admin port, telemetry, the rotation
//! scheduler, rotation policies, the replica's name and the shutdown drain.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::telemetry::TelemetryConfig;

const DEFAULT_TICK: Duration = Duration::from_secs(30);
const DEFAULT_JITTER: Duration = Duration::from_secs(3600);
const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);
const DEFAULT_DRAIN: Duration = Duration::from_secs(20);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TelemetryFile {
    otlp_endpoint: Option<String>,
    service_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SchedulerFile {
    enabled: Option<bool>,
    tick: Option<String>,
    jitter: Option<String>,
    lease_ttl: Option<String>,
    lease_renew_interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyFile {
    tenant: String,
    client: Option<String>,
    connection: Option<String>,
    max_key_age: Option<String>,
    interval: Option<String>,
    window: Option<String>,
}

/// The top-level operational keys of the file.
#[derive(Debug, Default)]
pub(super) struct OperationsFile {
    pub admin_listen: Option<String>,
    pub replica_id: Option<String>,
    pub drain_timeout: Option<String>,
    pub telemetry: Option<TelemetryFile>,
    pub scheduler: Option<SchedulerFile>,
    pub policies: Vec<PolicyFile>,
}

/// What a policy's target is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyTarget {
    /// A client id (maximum key age).
    Client(String),
    /// A connection id (interval).
    Connection(String),
}

impl std::fmt::Display for PolicyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Client(c) => write!(f, "client {c:?}"),
            Self::Connection(c) => write!(f, "connection {c:?}"),
        }
    }
}

/// A rotation policy from the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Tenant name.
    pub tenant: String,
    /// The client or connection.
    pub target: PolicyTarget,
    /// Maximum key age (clients) or interval (connections).
    pub max_age: Duration,
    /// Daily UTC window `HH:MM-HH:MM`.
    pub window: Option<RotationWindow>,
}

/// A daily UTC window, in minutes after midnight; it may wrap past midnight (22:00-02:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationWindow {
    /// Opens at (minutes after 00:00 UTC).
    pub start: u32,
    /// Closes at (minutes after 00:00 UTC).
    pub end: u32,
}

impl RotationWindow {
    /// Whether `unix_ms` falls inside the window.
    pub fn contains(&self, unix_ms: i64) -> bool {
        let minute = u32::try_from(unix_ms.rem_euclid(86_400_000) / 60_000).unwrap_or(0);
        if self.start <= self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }
}

impl std::fmt::Display for RotationWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}-{:02}:{:02}", self.start / 60, self.start % 60, self.end / 60, self.end % 60)
    }
}

impl std::str::FromStr for RotationWindow {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let minutes = |hm: &str| -> Option<u32> {
            let (h, m) = hm.trim().split_once(':')?;
            let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
            (h < 24 && m < 60 && hm.trim().len() == 5).then_some(h * 60 + m)
        };
        let shown: String = s.chars().take(32).collect();
        let bad = || format!("{shown:?} is not a UTC window like 02:00-05:00");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let (start, end) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
        if start == end {
            return Err(format!("{shown:?}: the window is empty"));
        }
        Ok(Self { start, end })
    }
}

/// How a lease is kept: renewed every `renew`, and each Auth0 call under it bounded by
/// `call_deadline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// How long a lease lasts past its last renewal.
    pub ttl: Duration,
    /// How often a step in progress renews its lease.
    pub renew: Duration,
    /// The longest an Auth0 call made under the lease may take (retries and rate-limit waits
    /// included): the TTL less one renewal interval, so a call that began right after a renewal
    /// ends while the lease still has a renewal interval to run.
    pub call_deadline: Duration,
}

impl LeaseTiming {
    /// The timing for a lease of `ttl`, renewed every `renew` (default: a third of the TTL).
    /// The renewal interval must be at least 100 ms and at most half the TTL, so a renewal can
    /// be late by a whole interval and the lease still holds.
    pub fn new(ttl: Duration, renew: Option<Duration>) -> Result<Self, String> {
        let renew = renew.unwrap_or(ttl / 3);
        if ttl < Duration::from_secs(1) {
            return Err(format!("scheduler.lease_ttl: {ttl:?} is shorter than 1s"));
        }
        if renew < Duration::from_millis(100) || renew > ttl / 2 {
            return Err(format!(
                "scheduler.lease_renew_interval: {renew:?} must be between 100ms and half of \
                 scheduler.lease_ttl ({ttl:?})"
            ));
        }
        Ok(Self { ttl, renew, call_deadline: ttl - renew })
    }
}

/// The rotation scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Whether this replica runs scheduled rotations.
    pub enabled: bool,
    /// How often it looks for due rotations.
    pub tick: Duration,
    /// Rotations start up to this much before they are due, spread per key.
    pub jitter: Duration,
    /// How long a lease lasts unless renewed.
    pub lease_ttl: Duration,
    /// How a lease is renewed while its work runs, and how long an Auth0 call under it may take
    /// (derived from `lease_ttl` and `lease_renew_interval`, validated against each other).
    pub lease: LeaseTiming,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        let lease = LeaseTiming {
            ttl: DEFAULT_LEASE_TTL,
            renew: DEFAULT_LEASE_TTL / 3,
            call_deadline: DEFAULT_LEASE_TTL - DEFAULT_LEASE_TTL / 3,
        };
        Self { enabled: true, tick: DEFAULT_TICK, jitter: DEFAULT_JITTER, lease_ttl: DEFAULT_LEASE_TTL, lease }
    }
}

/// The operational settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operations {
    /// The admin HTTP port (`/metrics`, `/healthz`, `/readyz`); none when unset.
    pub admin_listen: Option<SocketAddr>,
    /// This replica's name in leases (default: the host name).
    pub replica_id: String,
    /// How long shutdown waits for in-flight RPCs.
    pub drain_timeout: Duration,
    /// Logs and spans.
    pub telemetry: TelemetryConfig,
    /// The scheduler.
    pub scheduler: SchedulerConfig,
    /// Rotation policies from the file.
    pub policies: Vec<PolicyConfig>,
}

impl Default for Operations {
    fn default() -> Self {
        Self {
            admin_listen: None,
            replica_id: default_replica_id(),
            drain_timeout: DEFAULT_DRAIN,
            telemetry: TelemetryConfig { otlp_endpoint: None, service_name: "keyward".into() },
            scheduler: SchedulerConfig::default(),
            policies: Vec::new(),
        }
    }
}

/// The host name (`HOSTNAME`, else `/etc/hostname`), else `keyward`.
pub fn default_replica_id() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "keyward".into())
}

fn duration(field: &str, text: Option<&String>, default: Duration, errors: &mut Vec<String>) -> Duration {
    match text {
        None => default,
        Some(t) => humantime::parse_duration(t).unwrap_or_else(|e| {
            errors.push(format!("{field}: {t:?}: {e}"));
            default
        }),
    }
}

/// Resolves the operational settings: flag > environment > file.
pub(super) fn resolve(
    file: OperationsFile,
    env: &HashMap<String, String>,
    admin_flag: Option<&String>,
    errors: &mut Vec<String>,
) -> Operations {
    let mut ops = Operations::default();
    if let Some(text) = admin_flag.or(env.get("KEYWARD_ADMIN_LISTEN")).or(file.admin_listen.as_ref()) {
        match text.parse() {
            Ok(addr) => ops.admin_listen = Some(addr),
            Err(_) => errors.push(format!("admin_listen: {text:?} is not HOST:PORT")),
        }
    }
    if let Some(id) = env.get("KEYWARD_REPLICA_ID").or(file.replica_id.as_ref()) {
        if id.is_empty() || id.len() > 128 || id.chars().any(char::is_whitespace) {
            errors.push(format!("replica_id: {id:?} must be 1 to 128 characters without spaces"));
        }
        ops.replica_id.clone_from(id);
    }
    ops.drain_timeout = duration("drain_timeout", file.drain_timeout.as_ref(), DEFAULT_DRAIN, errors);

    let t = file.telemetry.unwrap_or_default();
    ops.telemetry.otlp_endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT").or(t.otlp_endpoint.as_ref()).cloned();
    if let Some(e) = &ops.telemetry.otlp_endpoint
        && !(e.starts_with("http://") || e.starts_with("https://"))
    {
        errors.push(format!("telemetry.otlp_endpoint: {e:?} must start with http:// or https://"));
    }
    if let Some(name) = env.get("OTEL_SERVICE_NAME").or(t.service_name.as_ref()) {
        ops.telemetry.service_name.clone_from(name);
    }

    let s = file.scheduler.unwrap_or_default();
    ops.scheduler = SchedulerConfig {
        enabled: s.enabled.unwrap_or(true),
        tick: duration("scheduler.tick", s.tick.as_ref(), DEFAULT_TICK, errors),
        jitter: duration("scheduler.jitter", s.jitter.as_ref(), DEFAULT_JITTER, errors),
        lease_ttl: duration("scheduler.lease_ttl", s.lease_ttl.as_ref(), DEFAULT_LEASE_TTL, errors),
        lease: SchedulerConfig::default().lease,
    };
    if ops.scheduler.tick < Duration::from_millis(100) || ops.scheduler.lease_ttl < Duration::from_secs(1) {
        errors.push("scheduler: tick must be at least 100ms and lease_ttl at least 1s".into());
    }
    let renew = s.lease_renew_interval.as_ref().map(|t| {
        humantime::parse_duration(t).unwrap_or_else(|e| {
            errors.push(format!("scheduler.lease_renew_interval: {t:?}: {e}"));
            ops.scheduler.lease_ttl / 3
        })
    });
    match LeaseTiming::new(ops.scheduler.lease_ttl, renew) {
        Ok(timing) => ops.scheduler.lease = timing,
        Err(e) => errors.push(e),
    }

    for (i, p) in file.policies.into_iter().enumerate() {
        if let Some(policy) = resolve_policy(i, p, errors) {
            ops.policies.push(policy);
        }
    }
    ops
}

fn resolve_policy(i: usize, p: PolicyFile, errors: &mut Vec<String>) -> Option<PolicyConfig> {
    let at = format!("policies[{i}]");
    let (target, age_field, age) = match (p.client, p.connection, p.max_key_age, p.interval) {
        (Some(c), None, Some(age), None) => (PolicyTarget::Client(c), "max_key_age", age),
        (None, Some(c), None, Some(every)) => (PolicyTarget::Connection(c), "interval", every),
        _ => {
            errors.push(format!(
                "{at}: set either client with max_key_age, or connection with interval (tenant {:?})",
                p.tenant
            ));
            return None;
        }
    };
    let max_age = match humantime::parse_duration(&age) {
        Ok(d) if d >= Duration::from_secs(60) => d,
        Ok(_) => {
            errors.push(format!("{at}.{age_field}: must be at least 1 minute"));
            return None;
        }
        Err(e) => {
            errors.push(format!("{at}.{age_field}: {age:?}: {e}"));
            return None;
        }
    };
    let window = match p.window.as_deref().map(str::parse::<RotationWindow>) {
        None => None,
        Some(Ok(w)) => Some(w),
        Some(Err(e)) => {
            errors.push(format!("{at}.window: {e}"));
            return None;
        }
    };
    Some(PolicyConfig { tenant: p.tenant, target, max_age, window })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_and_wrap_midnight() {
        let w: RotationWindow = "22:30-02:00".parse().unwrap();
        assert_eq!(w.to_string(), "22:30-02:00");
        let at = |h: i64, m: i64| (h * 60 + m) * 60_000;
        assert!(w.contains(at(23, 0)) && w.contains(at(1, 59)) && !w.contains(at(2, 0)) && !w.contains(at(12, 0)));
        let day: RotationWindow = "02:00-05:00".parse().unwrap();
        assert!(day.contains(at(2, 0)) && !day.contains(at(5, 0)));
        for bad in ["2:00-05:00", "02:00", "25:00-01:00", "02:00-02:00", "aa:bb-cc:dd"] {
            assert!(bad.parse::<RotationWindow>().is_err(), "{bad}");
        }
    }

    #[test]
    fn timing_is_validated() {
        let t = LeaseTiming::new(Duration::from_secs(30), None).unwrap();
        assert_eq!((t.renew, t.call_deadline), (Duration::from_secs(10), Duration::from_secs(20)));
        let err = LeaseTiming::new(Duration::from_secs(30), Some(Duration::from_secs(20))).unwrap_err();
        assert!(err.contains("lease_renew_interval") && err.contains("half"), "{err}");
        assert!(LeaseTiming::new(Duration::from_secs(30), Some(Duration::from_millis(50))).is_err());
        assert!(LeaseTiming::new(Duration::from_millis(500), None).is_err());
        assert!(LeaseTiming::new(Duration::from_secs(2), Some(Duration::from_secs(1))).is_ok());
    }
}
