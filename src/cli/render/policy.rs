//! Scheduled-rotation policies: `policy status`, `policy set`, `policy delete`.

use serde_json::{Value, json};

use super::human::{duration, empty, say, short, table, when};
use super::{CliError, Style, print_json, seconds, stamp, text};
use crate::grpc::proto::RotationPolicy;

/// How a signing-keys policy's target shows in tables.
const SIGNING_KEYS: &str = "signing keys";

fn policy_json(p: &RotationPolicy) -> Value {
    json!({
        "tenant": p.tenant,
        "client_id": text(&p.client_id),
        "connection_id": text(&p.connection_id),
        "max_key_age_seconds": seconds(p.max_key_age.as_ref()),
        "interval_seconds": seconds(p.interval.as_ref()),
        "window": text(&p.window),
        "source": text(&p.source),
        "key_age_seconds": seconds(p.key_age.as_ref()),
        "due_at": stamp(p.due_at.as_ref()),
        "overdue": p.overdue,
        "last_rotated_at": stamp(p.last_rotated_at.as_ref()),
        "last_result": text(&p.last_result),
        "custody": text(&p.custody),
        "signing_keys": p.signing_keys,
    })
}

/// `client demo-app`, `connection con_…` or the tenant's signing keys.
fn target(tenant: &str, client_id: &str, connection_id: &str) -> String {
    if client_id.is_empty() && connection_id.is_empty() {
        format!("the signing keys of tenant {tenant}")
    } else if client_id.is_empty() {
        format!("connection {connection_id} in tenant {tenant}")
    } else {
        format!("client {client_id} in tenant {tenant}")
    }
}

fn policy_table(policies: &[RotationPolicy], style: Style) -> Result<(), CliError> {
    let rows: Vec<Vec<String>> = policies
        .iter()
        .map(|p| {
            let (id, limit) = if p.signing_keys {
                (SIGNING_KEYS, duration(p.interval.as_ref()))
            } else if p.client_id.is_empty() {
                (p.connection_id.as_str(), duration(p.interval.as_ref()))
            } else {
                (p.client_id.as_str(), duration(p.max_key_age.as_ref()))
            };
            let key_age = duration(p.key_age.as_ref());
            vec![
                short(id, style),
                format!("{} / {limit}", if key_age.is_empty() { "-" } else { &key_age }),
                if p.window.is_empty() { "any".to_owned() } else { p.window.clone() },
                when(p.due_at.as_ref()),
                if p.overdue { "OVERDUE".into() } else { "ok".into() },
                p.source.clone(),
                p.last_result.clone(),
            ]
        })
        .collect();
    table(&["TARGET", "AGE / MAX", "WINDOW", "DUE", "STATUS", "SOURCE", "LAST RESULT"], &rows, style)
}

/// `keyward policy status`: every policy of a tenant, or how to set one.
pub(in crate::cli) fn policies(tenant: &str, policies: &[RotationPolicy], style: Style) -> Result<(), CliError> {
    if style.json {
        return print_json(&policies.iter().map(policy_json).collect::<Vec<_>>());
    }
    if policies.is_empty() {
        return empty(
            &format!("no rotation policies in tenant {tenant}; set one with"),
            &format!("keyward policy set --tenant {tenant} --client CLIENT --max-key-age 90d"),
        );
    }
    policy_table(policies, style)
}

/// `keyward policy set`: what was set, then where its target stands.
pub(in crate::cli) fn policy_set(p: &RotationPolicy, style: Style) -> Result<(), CliError> {
    if style.json {
        return print_json(&policy_json(p));
    }
    let what = if p.client_id.is_empty() {
        format!("rotate every {}", duration(p.interval.as_ref()))
    } else {
        format!("max key age {}", duration(p.max_key_age.as_ref()))
    };
    let window = if p.window.is_empty() { "any time of day".to_owned() } else { format!("window {} UTC", p.window) };
    say(&format!("set the policy of {}: {what}, {window}", target(&p.tenant, &p.client_id, &p.connection_id)))?;
    policy_table(std::slice::from_ref(p), style)
}

/// `keyward policy delete`: says which policy is gone.
pub(in crate::cli) fn policy_deleted(
    tenant: &str,
    client_id: &str,
    connection_id: &str,
    style: Style,
) -> Result<(), CliError> {
    if style.json {
        return print_json(&json!({
            "deleted": true, "tenant": tenant, "client_id": text(client_id), "connection_id": text(connection_id),
            "signing_keys": client_id.is_empty() && connection_id.is_empty(),
        }));
    }
    say(&format!("deleted the policy of {}", target(tenant, client_id, connection_id)))
}
