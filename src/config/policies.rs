//! `[[policies]]`: when scheduled rotations are due, per client (maximum key age), connection
//! (interval) or a tenant's signing keys (interval, at least a day), optionally only inside a
//! daily UTC window.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::tenants::TenantConfig;
use crate::clock::Timestamp;

#[derive(Debug, Deserialize)]
pub(super) struct PolicyFile {
    tenant: String,
    client: Option<String>,
    connection: Option<String>,
    #[serde(default)]
    signing_keys: bool,
    max_key_age: Option<String>,
    interval: Option<String>,
    window: Option<String>,
}

/// What a policy's target is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyTarget {
    /// A client id (maximum key age).
    Client(String),
    /// A connection id (interval).
    Connection(String),
    /// The tenant's signing keys (interval).
    SigningKeys,
}

impl std::fmt::Display for PolicyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Client(c) => write!(f, "client {c:?}"),
            Self::Connection(c) => write!(f, "connection {c:?}"),
            Self::SigningKeys => f.write_str("signing keys"),
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
    /// Maximum key age (clients) or interval (connections, signing keys).
    pub max_age: Duration,
    /// Daily UTC window `HH:MM-HH:MM`.
    pub window: Option<RotationWindow>,
}

/// The shortest signing-keys interval: Auth0 allows 5 signing-key rotations a day, and each
/// previous key must outlive the tenant's tokens, so keyward schedules at most one a day.
pub const MIN_SIGNING_KEYS_INTERVAL: Duration = Duration::from_secs(86_400);

/// A daily UTC window, in minutes after midnight; it may wrap past midnight (22:00-02:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationWindow {
    /// Opens at (minutes after 00:00 UTC).
    pub start: u32,
    /// Closes at (minutes after 00:00 UTC).
    pub end: u32,
}

impl RotationWindow {
    /// Whether `at` falls inside the window.
    pub fn contains(&self, at: Timestamp) -> bool {
        let minute = u32::try_from(at.as_millis().rem_euclid(86_400_000) / 60_000).unwrap_or(0);
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

/// Resolves `[[policies]]`, dropping (and reporting) those that do not parse.
pub(super) fn resolve(files: Vec<PolicyFile>, errors: &mut Vec<String>) -> Vec<PolicyConfig> {
    files.into_iter().enumerate().filter_map(|(i, p)| resolve_policy(i, p, errors)).collect()
}

/// Reports each policy whose target is not a client or connection of its tenant, or whose tenant
/// is not configured.
pub(super) fn check_targets(
    policies: &[PolicyConfig],
    tenants: &BTreeMap<String, TenantConfig>,
    errors: &mut Vec<String>,
) {
    for (i, p) in policies.iter().enumerate() {
        let known = tenants.get(&p.tenant).is_some_and(|t| match &p.target {
            PolicyTarget::Client(c) => t.clients.contains(c) || t.signing.local_clients.contains(c),
            PolicyTarget::Connection(c) => t.connections.contains(c),
            PolicyTarget::SigningKeys => true,
        });
        if !known && p.target == PolicyTarget::SigningKeys {
            errors.push(format!("policies[{i}]: signing keys of tenant {:?}, which is not configured", p.tenant));
        } else if !known {
            errors
                .push(format!("policies[{i}]: {:?} is not a client or connection of tenant {:?}", p.target, p.tenant));
        }
    }
}

fn resolve_policy(i: usize, p: PolicyFile, errors: &mut Vec<String>) -> Option<PolicyConfig> {
    let at = format!("policies[{i}]");
    let (target, age_field, age) = match (p.client, p.connection, p.signing_keys, p.max_key_age, p.interval) {
        (Some(c), None, false, Some(age), None) => (PolicyTarget::Client(c), "max_key_age", age),
        (None, Some(c), false, None, Some(every)) => (PolicyTarget::Connection(c), "interval", every),
        (None, None, true, None, Some(every)) => (PolicyTarget::SigningKeys, "interval", every),
        _ => {
            errors.push(format!(
                "{at}: set either client with max_key_age, connection with interval, or signing_keys = true with \
                 interval (tenant {:?})",
                p.tenant
            ));
            return None;
        }
    };
    let least = if target == PolicyTarget::SigningKeys { MIN_SIGNING_KEYS_INTERVAL } else { Duration::from_secs(60) };
    let max_age = match humantime::parse_duration(&age) {
        Ok(d) if d >= least => d,
        Ok(_) if target == PolicyTarget::SigningKeys => {
            errors.push(format!(
                "{at}.{age_field}: must be at least 1 day for signing keys (Auth0 allows 5 signing-key rotations a day)"
            ));
            return None;
        }
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
        let at = |h: i64, m: i64| Timestamp::from_millis((h * 60 + m) * 60_000);
        assert!(w.contains(at(23, 0)) && w.contains(at(1, 59)) && !w.contains(at(2, 0)) && !w.contains(at(12, 0)));
        let day: RotationWindow = "02:00-05:00".parse().unwrap();
        assert!(day.contains(at(2, 0)) && !day.contains(at(5, 0)));
        for bad in ["2:00-05:00", "02:00", "25:00-01:00", "02:00-02:00", "aa:bb-cc:dd"] {
            assert!(bad.parse::<RotationWindow>().is_err(), "{bad}");
        }
    }
}
