//! `keyward inventory`: a tenant's clients with their credential records (grouped by client),
//! connection keys, signing keys, flags, drift and what could not be read.

use serde_json::{Value, json};

use super::human::{duration, relative, say, short, table, time, when};
use super::{CliError, Style, print_json, seconds, stamp, text};
use crate::cli::out::outln;
use crate::grpc::proto::{self, GetTenantInventoryResponse, InventoryFlag};

/// A flag's name: `ORPHANED`, `EXPIRING`, …
fn flag(v: i32) -> &'static str {
    InventoryFlag::try_from(v).map(|f| f.as_str_name().trim_start_matches("INVENTORY_FLAG_")).unwrap_or("UNKNOWN")
}

fn flags(v: &[i32]) -> Vec<&'static str> {
    v.iter().map(|f| flag(*f)).collect()
}

/// Text from Auth0 (names can hold anything) without control characters, for a terminal.
fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

fn credential_json(c: &proto::InventoryCredential) -> Value {
    json!({
        "credential_id": c.credential_id, "name": text(&c.name), "kid": text(&c.kid),
        "algorithm": text(&c.algorithm), "credential_type": text(&c.credential_type),
        "created_at": stamp(c.created_at.as_ref()), "expires_at": stamp(c.expires_at.as_ref()),
        "age": seconds(c.age.as_ref()), "slots": c.slots, "managed_by_keyward": c.managed_by_keyward,
        "key_state": text(&c.key_state), "flags": flags(&c.flags),
    })
}

fn json_of(r: &GetTenantInventoryResponse) -> Value {
    let clients: Vec<Value> = r
        .clients
        .iter()
        .map(|c| {
            json!({"client_id": c.client_id, "name": text(&c.name), "app_type": text(&c.app_type),
                "managed_by_keyward": c.managed_by_keyward,
                "credentials": c.credentials.iter().map(credential_json).collect::<Vec<_>>()})
        })
        .collect();
    let connection_keys: Vec<Value> = r
        .connection_keys
        .iter()
        .map(|k| {
            json!({"connection_id": k.connection_id, "kid": k.kid, "current": k.current, "next": k.next,
                "previous": k.previous, "algorithm": text(&k.algorithm),
                "current_since": stamp(k.current_since.as_ref()), "not_before": stamp(k.not_before.as_ref()),
                "not_after": stamp(k.not_after.as_ref()), "age": seconds(k.age.as_ref()), "flags": flags(&k.flags)})
        })
        .collect();
    let signing_keys: Vec<Value> = r
        .signing_keys
        .iter()
        .map(|k| {
            json!({"kid": k.kid, "current": k.current, "next": k.next, "previous": k.previous, "revoked": k.revoked,
                "current_since": stamp(k.current_since.as_ref()), "current_until": stamp(k.current_until.as_ref()),
                "revoked_at": stamp(k.revoked_at.as_ref()), "not_before": stamp(k.not_before.as_ref()),
                "not_after": stamp(k.not_after.as_ref()), "age": seconds(k.age.as_ref()), "flags": flags(&k.flags)})
        })
        .collect();
    let drift: Vec<Value> = r
        .drift
        .iter()
        .map(|d| {
            json!({"kind": d.kind, "what": d.what, "client_id": d.client_id, "credential_id": d.credential_id,
                "slot": text(&d.slot), "slots": d.slots, "name": text(&d.name)})
        })
        .collect();
    let s = r.summary.unwrap_or_default();
    json!({
        "tenant": r.tenant, "taken_at": stamp(r.taken_at.as_ref()), "expiry_window": seconds(r.expiry_window.as_ref()),
        "baseline": r.baseline, "previous_taken_at": stamp(r.previous_taken_at.as_ref()),
        "clients": clients, "connection_keys": connection_keys, "signing_keys": signing_keys, "drift": drift,
        "summary": {"clients": s.clients, "credentials": s.credentials, "managed_credentials": s.managed_credentials,
            "connection_keys": s.connection_keys, "signing_keys": s.signing_keys, "orphaned": s.orphaned,
            "expiring": s.expiring, "expired": s.expired, "older_than_policy": s.older_than_policy, "drift": s.drift},
        "gaps": r.gaps.iter().map(|g| json!({"what": g.what, "id": text(&g.id), "reason": g.reason})).collect::<Vec<_>>(),
    })
}

/// A date with how far it is: `2026-12-12 (in 4d)`; empty when unset.
fn day(t: Option<&prost_types::Timestamp>) -> String {
    let Some(at) = t else { return String::new() };
    let date: String = time(t).chars().take(10).collect();
    format!("{date} ({})", relative(at.seconds - now()))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn role(current: bool, next: bool, previous: bool, revoked: bool) -> String {
    let roles = [(current, "current"), (next, "next"), (previous, "previous"), (revoked, "revoked")];
    roles.iter().filter(|(on, _)| *on).map(|(_, r)| *r).collect::<Vec<_>>().join(",")
}

/// `keyward inventory`: JSON, or a section per client, then the keys, the drift and a summary.
pub(in crate::cli) fn inventory(r: &GetTenantInventoryResponse, style: Style) -> Result<(), CliError> {
    if style.json {
        return print_json(&json_of(r));
    }
    say(&format!(
        "tenant {} at {}; EXPIRING looks {} ahead",
        printable(&r.tenant),
        when(r.taken_at.as_ref()),
        duration(r.expiry_window.as_ref())
    ))?;
    for c in &r.clients {
        let managed = if c.managed_by_keyward { ", managed by keyward" } else { "" };
        let kind = if c.app_type.is_empty() { String::new() } else { format!(", {}", printable(&c.app_type)) };
        outln!("\n{} ({}{kind}{managed})", printable(&c.client_id), printable(&c.name))?;
        if c.credentials.is_empty() {
            outln!("  no credential records")?;
            continue;
        }
        let rows: Vec<Vec<String>> = c
            .credentials
            .iter()
            .map(|k| {
                let owner = if k.managed_by_keyward { format!("keyward {}", k.key_state) } else { "other".to_owned() };
                let mut row = vec![format!("  {}", short(&k.credential_id, style))];
                if style.wide {
                    row.extend([printable(&k.kid), printable(&k.algorithm)]);
                }
                row.extend([
                    owner,
                    duration(k.age.as_ref()),
                    day(k.expires_at.as_ref()),
                    k.slots.join(","),
                    flags(&k.flags).join(","),
                    printable(&k.name),
                ]);
                row
            })
            .collect();
        let mut header = vec!["  CREDENTIAL"];
        if style.wide {
            header.extend(["KID", "ALG"]);
        }
        header.extend(["OWNER", "AGE", "EXPIRES", "SLOTS", "FLAGS", "NAME"]);
        table(&header, &rows, style)?;
    }
    if !r.connection_keys.is_empty() {
        outln!("\nconnection keys:")?;
        let rows: Vec<Vec<String>> = r
            .connection_keys
            .iter()
            .map(|k| {
                vec![
                    k.connection_id.clone(),
                    short(&k.kid, style),
                    role(k.current, k.next, k.previous, false),
                    duration(k.age.as_ref()),
                    day(k.not_after.as_ref()),
                    flags(&k.flags).join(","),
                ]
            })
            .collect();
        table(&["CONNECTION", "KID", "ROLE", "AGE", "EXPIRES", "FLAGS"], &rows, style)?;
    }
    if !r.signing_keys.is_empty() {
        outln!("\ntenant signing keys:")?;
        let rows: Vec<Vec<String>> = r
            .signing_keys
            .iter()
            .map(|k| {
                vec![
                    short(&k.kid, style),
                    role(k.current, k.next, k.previous, k.revoked),
                    duration(k.age.as_ref()),
                    when(k.current_since.as_ref()),
                    day(k.not_after.as_ref()),
                    flags(&k.flags).join(","),
                ]
            })
            .collect();
        table(&["KID", "ROLE", "AGE", "CURRENT SINCE", "EXPIRES", "FLAGS"], &rows, style)?;
    }
    outln!()?;
    if r.baseline {
        outln!("drift: none reported; this is the tenant's first inventory (the baseline for the next)")?;
    } else if r.drift.is_empty() {
        outln!("drift: nothing changed outside keyward since {}", when(r.previous_taken_at.as_ref()))?;
    } else {
        outln!("drift since {} (changes made outside keyward):", when(r.previous_taken_at.as_ref()))?;
        let rows: Vec<Vec<String>> = r
            .drift
            .iter()
            .map(|d| {
                let slot = if d.slot.is_empty() { d.slots.join(",") } else { d.slot.clone() };
                vec![
                    format!("  {}", d.kind),
                    d.what.clone(),
                    printable(&d.client_id),
                    short(&d.credential_id, style),
                    slot,
                    printable(&d.name),
                ]
            })
            .collect();
        table(&["  CHANGE", "WHAT", "CLIENT", "CREDENTIAL", "SLOT", "NAME"], &rows, style)?;
    }
    for g in &r.gaps {
        say(&format!("not read: {} {}: {}", g.what, printable(&g.id), printable(&g.reason)))?;
    }
    let s = r.summary.unwrap_or_default();
    say(&format!(
        "{} clients, {} credential records ({} keyward's), {} connection keys, {} signing keys; \
         orphaned {}, expiring {}, expired {}, older than policy {}; drift {}",
        s.clients,
        s.credentials,
        s.managed_credentials,
        s.connection_keys,
        s.signing_keys,
        s.orphaned,
        s.expiring,
        s.expired,
        s.older_than_policy,
        s.drift
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_auth0_reach_the_terminal_without_control_characters() {
        assert_eq!(printable("evil\u{1b}[2Jname\n"), "evil?[2Jname?");
        assert_eq!(flags(&[1, 3, 99]), vec!["ORPHANED", "OLDER_THAN_POLICY", "UNKNOWN"]);
    }
}
