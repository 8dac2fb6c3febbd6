//! Client-credential rotations: `rotate client`, `rotation get`, `rotation list`, and what a
//! rotation removed from Auth0 to make room.

use serde_json::{Value, json};

use super::human::{age, empty, fields, fields_at, say, short, table, when, yes};
use super::{CliError, Style, print_json, rotation_state, stamp, text};
use crate::cli::out::outln;
use crate::grpc::proto::{self, RemovedCredential, Rotation};

pub(super) fn rotation_json(r: &Rotation) -> Value {
    json!({
        "rotation_id": r.rotation_id, "tenant": r.tenant, "client_id": r.client_id,
        "state": rotation_state(r.state), "request_id": text(&r.request_id),
        "new_credential_id": text(&r.new_credential_id), "old_credential_id": text(&r.old_credential_id),
        "retire_at": stamp(r.retire_at.as_ref()),
        "old_removed_at": stamp(r.old_removed_at.as_ref()), "old_removed_how": text(&r.old_removed_how),
        "method": text(&r.method),
        "removed_credentials": r.removed_credentials.iter().map(removed_json).collect::<Vec<_>>(),
        "error": text(&r.error),
        "created_at": stamp(r.created_at.as_ref()), "updated_at": stamp(r.updated_at.as_ref()),
        "requested_by": text(&r.requested_by),
    })
}

fn removed_json(c: &RemovedCredential) -> Value {
    json!({
        "credential_id": c.credential_id, "name": text(&c.name), "kid": text(&c.kid), "managed": c.managed,
        "state": text(&c.state), "action": text(&c.action), "reason": text(&c.reason),
        "removed_at": stamp(c.removed_at.as_ref()),
    })
}

/// A rotation as labelled lines; `credential` (the new one) adds its kid, algorithm and expiry.
fn rotation_fields(r: &Rotation, credential: Option<&proto::Credential>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![
        ("rotation".into(), r.rotation_id.clone()),
        ("state".into(), rotation_state(r.state).to_owned()),
        ("requested by".into(), r.requested_by.clone()),
        ("tenant".into(), r.tenant.clone()),
        ("client".into(), r.client_id.clone()),
        // Shown for JAR rotations only: private_key_jwt is what a rotation is unless told.
        ("method".into(), if r.method == "private_key_jwt" { String::new() } else { r.method.clone() }),
        ("request id".into(), r.request_id.clone()),
        ("new credential".into(), r.new_credential_id.clone()),
    ];
    if let Some(c) = credential {
        out.extend([
            ("kid".into(), c.kid.clone()),
            ("algorithm".into(), format!("{} ({} bits)", c.algorithm, c.key_bits)),
            ("custody".into(), c.custody.clone()),
            ("fingerprint".into(), c.fingerprint.clone()),
            ("expires".into(), when(c.expires_at.as_ref())),
        ]);
    }
    out.push(("old credential".into(), r.old_credential_id.clone()));
    if r.old_removed_at.is_some() || !r.old_removed_how.is_empty() {
        let how = if r.old_removed_how.is_empty() { "removed" } else { r.old_removed_how.as_str() };
        out.push((format!("old credential {how} at"), when(r.old_removed_at.as_ref())));
    } else {
        out.push(("old retires at".into(), when(r.retire_at.as_ref())));
    }
    out.extend([
        ("error".into(), r.error.clone()),
        ("created".into(), when(r.created_at.as_ref())),
        ("updated".into(), when(r.updated_at.as_ref())),
    ]);
    out
}

fn print_fields(pairs: &[(String, String)]) -> Result<(), CliError> {
    let pairs: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    fields(&pairs)
}

/// What a rotation took out of Auth0 to make room, one labelled block each; nothing when none.
fn removed(list: &[RemovedCredential]) -> Result<(), CliError> {
    if list.is_empty() {
        return Ok(());
    }
    let n = list.len();
    outln!("\nremoved from Auth0 to make room ({n} credential{}):", if n == 1 { "" } else { "s" })?;
    for c in list {
        let action = if c.action.is_empty() { "removed" } else { c.action.as_str() };
        let managed = if c.managed { "managed by keyward" } else { "NOT managed by keyward" };
        let was = if c.state.is_empty() { String::new() } else { format!(", was {}", c.state) };
        outln!("  {action} {} ({managed}{was})", c.credential_id)?;
        fields_at(
            4,
            &[
                ("name", c.name.clone()),
                ("kid", c.kid.clone()),
                ("why", c.reason.clone()),
                ("at", when(c.removed_at.as_ref())),
            ],
        )?;
    }
    Ok(())
}

/// `keyward rotation get`.
pub(in crate::cli) fn rotation(r: &Rotation, style: Style) -> Result<(), CliError> {
    if style.json {
        return print_json(&rotation_json(r));
    }
    print_fields(&rotation_fields(r, None))?;
    removed(&r.removed_credentials)
}

/// `keyward rotate client`: what was rotated, the new key, and what left Auth0.
pub(in crate::cli) fn rotated_client(
    resp: &proto::RotateClientCredentialResponse,
    style: Style,
) -> Result<(), CliError> {
    let rotation = resp.rotation.clone().unwrap_or_default();
    let removed_list =
        if resp.removed_credentials.is_empty() { &rotation.removed_credentials } else { &resp.removed_credentials };
    if style.json {
        return print_json(&json!({
            "rotation": resp.rotation.as_ref().map(rotation_json),
            "credential": resp.credential.as_ref().map(super::keys::credential_json),
            "previous_credential_id": text(&resp.previous_credential_id),
            "previous_retire_at": stamp(resp.previous_retire_at.as_ref()),
            "removed_credentials": removed_list.iter().map(removed_json).collect::<Vec<_>>(),
        }));
    }
    let target = format!("client {} in tenant {}", rotation.client_id, rotation.tenant);
    let state = rotation_state(rotation.state);
    match state {
        "ACTIVE" | "RETIRED" | "COMPLETED" => {
            say(&format!("rotated the credential of {target}: {} is active", rotation.new_credential_id))?;
        }
        _ => say(&format!("rotation of {target} is {state}"))?,
    }
    let mut shown = rotation.clone();
    if shown.old_credential_id.is_empty() {
        shown.old_credential_id.clone_from(&resp.previous_credential_id);
    }
    if shown.retire_at.is_none() {
        shown.retire_at = resp.previous_retire_at;
    }
    print_fields(&rotation_fields(&shown, resp.credential.as_ref()))?;
    removed(removed_list)
}

/// `keyward rotation list`: one row per rotation, newest first.
pub(in crate::cli) fn rotations(resp: &proto::ListRotationsResponse, style: Style) -> Result<(), CliError> {
    if style.json {
        return print_json(&json!({
            "rotations": resp.rotations.iter().map(rotation_json).collect::<Vec<_>>(),
            "next_page_token": text(&resp.next_page_token),
        }));
    }
    if resp.rotations.is_empty() {
        return empty("no rotations found; start one with", "keyward rotate client --tenant TENANT --client CLIENT");
    }
    let rows: Vec<Vec<String>> = resp
        .rotations
        .iter()
        .map(|r| {
            vec![
                short(&r.rotation_id, style),
                rotation_state(r.state).to_owned(),
                r.tenant.clone(),
                short(&r.client_id, style),
                age(r.created_at.as_ref()),
                yes(!r.removed_credentials.is_empty()),
                r.requested_by.clone(),
            ]
        })
        .collect();
    table(&["ROTATION", "STATE", "TENANT", "CLIENT", "AGE", "REMOVED", "REQUESTED BY"], &rows, style)?;
    if !resp.next_page_token.is_empty() {
        outln!("\nmore rotations: raise --limit, or narrow with --tenant, --client or --state")?;
    }
    Ok(())
}
