//! Rotation policies: from the config file (authoritative for the targets it names) and
//! through the API, validated against the tenant's managed clients and connections.

use std::time::Duration;

use super::{PolicyStatus, statuses};
use crate::Error;
use crate::config::{MIN_SIGNING_KEYS_INTERVAL, PolicyConfig, PolicyTarget, RotationWindow};
use crate::custody::Custody;
use crate::rotation::Engine;
use crate::store::{AuditEvent, AuditKind, PolicyKind, PolicyRecord, PolicySource};

/// A policy as a caller sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInput {
    /// Tenant name.
    pub tenant: String,
    /// Client or connection.
    pub kind: PolicyKind,
    /// The client or connection id.
    pub target: String,
    /// Maximum key age (clients) or interval (connections).
    pub max_age: Duration,
    /// Daily UTC window `HH:MM-HH:MM`.
    pub window: Option<String>,
    /// Where the keys of its rotations live (clients only); `None`: the tenant's configuration.
    pub custody: Option<Custody>,
}

/// The target of a tenant's signing-keys policy: the whole tenant.
pub const SIGNING_KEYS_TARGET: &str = "*";

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn check_target(engine: &Engine, tenant: &str, kind: PolicyKind, target: &str) -> Result<(), Error> {
    let t = engine.tenant(tenant)?;
    let managed = match kind {
        PolicyKind::Client => t.config.clients.contains(target) || t.config.signing.local_clients.contains(target),
        PolicyKind::Connection => t.config.connections.contains(target),
        PolicyKind::SigningKeys => target == SIGNING_KEYS_TARGET,
    };
    if managed {
        Ok(())
    } else {
        Err(Error::NotFound(format!("{kind} {target:?} is not managed by keyward in tenant {tenant:?}")))
    }
}

/// Writes the config file's policies (source `config`) and removes config policies the file no
/// longer names. A policy whose settings did not change keeps its schedule.
pub async fn apply_config(engine: &Engine, policies: &[PolicyConfig]) -> Result<(), Error> {
    let store = engine.store();
    let existing = store.policies().await?;
    let now = engine.clock().now();
    let mut named = Vec::new();
    for p in policies {
        let (kind, target) = match &p.target {
            PolicyTarget::Client(c) => (PolicyKind::Client, c.clone()),
            PolicyTarget::Connection(c) => (PolicyKind::Connection, c.clone()),
            PolicyTarget::SigningKeys => (PolicyKind::SigningKeys, SIGNING_KEYS_TARGET.to_owned()),
        };
        let window = p.window.map(|w| w.to_string());
        let old = existing.iter().find(|e| e.tenant == p.tenant && e.kind == kind && e.target == target);
        let unchanged = old
            .is_some_and(|o| o.source == PolicySource::Config && o.max_age_ms == ms(p.max_age) && o.window == window);
        if !unchanged {
            let record = PolicyRecord {
                tenant: p.tenant.clone(),
                kind,
                target: target.clone(),
                max_age_ms: ms(p.max_age),
                window,
                source: PolicySource::Config,
                updated_at: old.map_or(now, |o| o.updated_at),
                due_at: None,
                last_rotated_at: None,
                last_result: None,
                lease: crate::store::Lease::default(),
                custody: None,
            };
            store.put_policy(&record).await?;
        }
        named.push((p.tenant.clone(), kind, target));
    }
    for e in existing.iter().filter(|e| e.source == PolicySource::Config) {
        if !named.iter().any(|(t, k, c)| *t == e.tenant && *k == e.kind && *c == e.target) {
            store.delete_policy(&e.tenant, e.kind, &e.target).await?;
        }
    }
    Ok(())
}

async fn config_owned(engine: &Engine, tenant: &str, kind: PolicyKind, target: &str) -> Result<bool, Error> {
    let all = engine.store().policies().await?;
    Ok(all
        .iter()
        .any(|p| p.tenant == tenant && p.kind == kind && p.target == target && p.source == PolicySource::Config))
}

async fn audit(engine: &Engine, actor: &str, tenant: &str, target: &str, kind: AuditKind, detail: String) {
    let event = AuditEvent::new(kind, actor, tenant, target, detail);
    if let Err(e) = engine.store().append_audit(&event).await {
        tracing::error!(error = %e, "audit event {kind} not recorded");
    }
}

/// Creates or replaces an API policy; FAILED_PRECONDITION for a target the config file owns.
pub async fn set_policy(engine: &Engine, input: &PolicyInput, actor: &str) -> Result<PolicyStatus, Error> {
    check_target(engine, &input.tenant, input.kind, &input.target)?;
    let field = match input.kind {
        PolicyKind::Client => "max_key_age",
        PolicyKind::Connection | PolicyKind::SigningKeys => "interval",
    };
    if input.kind == PolicyKind::SigningKeys && input.max_age < MIN_SIGNING_KEYS_INTERVAL {
        return Err(Error::arg(
            field,
            "must be at least 1 day for signing keys (Auth0 allows 5 signing-key rotations a day, and each \
             previous key must outlive the tenant's tokens)",
        ));
    }
    if input.max_age < Duration::from_secs(60) || input.max_age > Duration::from_secs(10 * 366 * 86_400) {
        return Err(Error::arg(field, "must be between 1 minute and 10 years"));
    }
    let window = match input.window.as_deref().filter(|w| !w.is_empty()) {
        Some(w) => Some(w.parse::<RotationWindow>().map_err(|e| Error::arg("window", e))?.to_string()),
        None => None,
    };
    match (input.kind, input.custody) {
        (PolicyKind::Connection | PolicyKind::SigningKeys, Some(_)) => {
            return Err(Error::arg("custody", "applies to client policies only (these keys live at Auth0)"));
        }
        (PolicyKind::Client, Some(Custody::Pkcs11)) if !engine.has_token() => {
            return Err(Error::FailedPrecondition(
                "custody: pkcs11 keeps the key in a PKCS#11 token, and this server has none ([kek] pkcs11)".into(),
            ));
        }
        _ => {}
    }
    if config_owned(engine, &input.tenant, input.kind, &input.target).await? {
        return Err(Error::FailedPrecondition(format!(
            "the rotation policy of {} {:?} is set in keyward.toml; change it there",
            input.kind, input.target
        )));
    }
    let record = PolicyRecord {
        tenant: input.tenant.clone(),
        kind: input.kind,
        target: input.target.clone(),
        max_age_ms: ms(input.max_age),
        window,
        source: PolicySource::Api,
        updated_at: engine.clock().now(),
        due_at: None,
        last_rotated_at: None,
        last_result: None,
        lease: crate::store::Lease::default(),
        custody: input.custody,
    };
    engine.store().put_policy(&record).await?;
    let detail = serde_json::json!({ "kind": input.kind.as_str(), "max_age_ms": record.max_age_ms,
        "window": record.window, "custody": record.custody.map(|c| c.as_str()) });
    audit(engine, actor, &input.tenant, &input.target, AuditKind::PolicySet, detail.to_string()).await;
    get_policy(engine, &input.tenant, input.kind, &input.target).await
}

/// One policy with its status, or NOT_FOUND.
pub async fn get_policy(engine: &Engine, tenant: &str, kind: PolicyKind, target: &str) -> Result<PolicyStatus, Error> {
    statuses(engine, engine.clock().now())
        .await?
        .into_iter()
        .find(|s| s.tenant == tenant && s.policy.kind == kind && s.target == target)
        .ok_or_else(|| Error::NotFound(format!("no rotation policy for {kind} {target:?} in tenant {tenant:?}")))
}

/// Deletes an API policy; FAILED_PRECONDITION for one the config file owns.
pub async fn delete_policy(
    engine: &Engine,
    tenant: &str,
    kind: PolicyKind,
    target: &str,
    actor: &str,
) -> Result<(), Error> {
    if config_owned(engine, tenant, kind, target).await? {
        return Err(Error::FailedPrecondition(format!(
            "the rotation policy of {kind} {target:?} is set in keyward.toml; remove it there"
        )));
    }
    if !engine.store().delete_policy(tenant, kind, target).await? {
        return Err(Error::NotFound(format!("no rotation policy for {kind} {target:?} in tenant {tenant:?}")));
    }
    audit(engine, actor, tenant, target, AuditKind::PolicyDeleted, format!(r#"{{"kind":"{kind}"}}"#)).await;
    Ok(())
}
