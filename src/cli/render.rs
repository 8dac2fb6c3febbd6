//! How client commands print `keyward.v1` answers: aligned tables for people, JSON for scripts.

use serde_json::{Value, json};

use super::CliError;
use super::out::outln;
use super::print_json;
use crate::grpc::proto::{
    AuditEvent, Auth0Credential, ConnectionKey, Credential, CredentialState, ListClientCredentialsResponse,
    RotateClientCredentialResponse, RotateConnectionKeysResponse, Rotation, RotationState,
};

/// RFC 3339 in UTC, or empty when unset.
pub(super) fn time(t: Option<&prost_types::Timestamp>) -> String {
    let Some(t) = t else { return String::new() };
    time::OffsetDateTime::from_unix_timestamp(t.seconds)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

fn rotation_state(v: i32) -> &'static str {
    RotationState::try_from(v).map(|s| s.as_str_name().trim_start_matches("ROTATION_STATE_")).unwrap_or("UNKNOWN")
}

fn credential_state(v: i32) -> &'static str {
    CredentialState::try_from(v).map(|s| s.as_str_name().trim_start_matches("CREDENTIAL_STATE_")).unwrap_or("UNKNOWN")
}

fn rotation_json(r: &Rotation) -> Value {
    json!({
        "rotation_id": r.rotation_id, "tenant": r.tenant, "client_id": r.client_id,
        "state": rotation_state(r.state), "request_id": r.request_id,
        "new_credential_id": r.new_credential_id, "old_credential_id": r.old_credential_id,
        "retire_at": time(r.retire_at.as_ref()), "error": r.error,
        "created_at": time(r.created_at.as_ref()), "updated_at": time(r.updated_at.as_ref()),
        "requested_by": r.requested_by,
    })
}

fn credential_json(c: &Credential) -> Value {
    json!({
        "credential_id": c.credential_id, "kid": c.kid, "algorithm": c.algorithm, "key_bits": c.key_bits,
        "state": credential_state(c.state), "public_key_pem": c.public_key_pem, "cert": c.cert,
        "fingerprint": c.fingerprint, "thumbprint": c.thumbprint, "thumbprint_sha256": c.thumbprint_sha256,
        "pkcs": c.pkcs, "subject_dn": c.subject_dn,
        "created_at": time(c.created_at.as_ref()), "expires_at": time(c.expires_at.as_ref()),
    })
}

fn auth0_credential_json(c: &Auth0Credential) -> Value {
    json!({"id": c.id, "kid": c.kid, "alg": c.alg, "name": c.name, "attached": c.attached, "managed": c.managed})
}

fn connection_key_json(k: &ConnectionKey) -> Value {
    json!({
        "kid": k.kid, "algorithm": k.algorithm, "key_use": k.key_use,
        "current": k.current, "next": k.next, "previous": k.previous,
        "current_since": time(k.current_since.as_ref()), "subject_dn": k.subject_dn,
        "fingerprint": k.fingerprint, "thumbprint": k.thumbprint, "cert": k.cert, "pkcs": k.pkcs,
    })
}

/// Prints rows as columns padded to the widest cell.
pub(super) fn table(header: &[&str], rows: &[Vec<String>]) -> Result<(), CliError> {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        outln!("{}", padded.join("  ").trim_end())
    };
    line(header.iter().map(|h| (*h).to_owned()).collect())?;
    for r in rows {
        line(r.clone())?;
    }
    Ok(())
}

pub(super) fn fields(pairs: &[(&str, String)]) -> Result<(), CliError> {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        outln!("{k:<width$}  {v}")?;
    }
    Ok(())
}

fn rotation_fields(r: &Rotation) -> Vec<(&'static str, String)> {
    vec![
        ("rotation", r.rotation_id.clone()),
        ("state", rotation_state(r.state).to_owned()),
        ("requested by", r.requested_by.clone()),
        ("tenant", r.tenant.clone()),
        ("client", r.client_id.clone()),
        ("request id", r.request_id.clone()),
        ("new credential", r.new_credential_id.clone()),
        ("old credential", r.old_credential_id.clone()),
        ("old retires at", time(r.retire_at.as_ref())),
        ("error", r.error.clone()),
        ("created", time(r.created_at.as_ref())),
        ("updated", time(r.updated_at.as_ref())),
    ]
}

pub(super) fn rotation(r: &Rotation, as_json: bool) -> Result<(), CliError> {
    if as_json {
        return print_json(&rotation_json(r));
    }
    fields(&rotation_fields(r))?;
    Ok(())
}

pub(super) fn rotated_client(resp: &RotateClientCredentialResponse, as_json: bool) -> Result<(), CliError> {
    if as_json {
        return print_json(&json!({
            "rotation": resp.rotation.as_ref().map(rotation_json),
            "credential": resp.credential.as_ref().map(credential_json),
            "previous_credential_id": resp.previous_credential_id,
            "previous_retire_at": time(resp.previous_retire_at.as_ref()),
        }));
    }
    let mut out = resp.rotation.as_ref().map(rotation_fields).unwrap_or_default();
    if let Some(c) = &resp.credential {
        out.extend([
            ("kid", c.kid.clone()),
            ("algorithm", format!("{} ({} bits)", c.algorithm, c.key_bits)),
            ("fingerprint", c.fingerprint.clone()),
            ("expires", time(c.expires_at.as_ref())),
        ]);
    }
    fields(&out)?;
    Ok(())
}

pub(super) fn rotated_connection(resp: &RotateConnectionKeysResponse, as_json: bool) -> Result<(), CliError> {
    if as_json {
        return print_json(&json!({
            "key": resp.key.as_ref().map(connection_key_json),
            "keys": resp.keys.iter().map(connection_key_json).collect::<Vec<_>>(),
            "verified": resp.verified,
        }));
    }
    let rows: Vec<Vec<String>> = resp
        .keys
        .iter()
        .map(|k| {
            let role = [(k.current, "current"), (k.next, "next"), (k.previous, "previous")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, r)| *r)
                .collect::<Vec<_>>()
                .join(",");
            vec![k.kid.clone(), k.algorithm.clone(), role, time(k.current_since.as_ref()), k.fingerprint.clone()]
        })
        .collect();
    table(&["KID", "ALG", "ROLE", "CURRENT SINCE", "FINGERPRINT"], &rows)?;
    outln!()?;
    if resp.verified {
        outln!("verified: every key's certificate, PKCS#7, fingerprint, thumbprint and kid check out")?;
    } else {
        outln!("NOT VERIFIED: a key failed verification; see keyward's log and audit events")?;
    }
    Ok(())
}

pub(super) fn credentials(resp: &ListClientCredentialsResponse, as_json: bool) -> Result<(), CliError> {
    if as_json {
        return print_json(&json!({
            "credentials": resp.credentials.iter().map(credential_json).collect::<Vec<_>>(),
            "auth0_credentials": resp.auth0_credentials.iter().map(auth0_credential_json).collect::<Vec<_>>(),
        }));
    }
    outln!("managed by keyward:")?;
    let rows: Vec<Vec<String>> = resp
        .credentials
        .iter()
        .map(|c| {
            vec![
                c.credential_id.clone(),
                credential_state(c.state).to_owned(),
                c.kid.clone(),
                format!("{}/{}", c.algorithm, c.key_bits),
                time(c.created_at.as_ref()),
                time(c.expires_at.as_ref()),
            ]
        })
        .collect();
    table(&["CREDENTIAL", "STATE", "KID", "ALG", "CREATED", "EXPIRES"], &rows)?;
    outln!("\nat Auth0:")?;
    let rows: Vec<Vec<String>> = resp
        .auth0_credentials
        .iter()
        .map(|c| {
            let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
            vec![c.id.clone(), c.kid.clone(), c.alg.clone(), yes(c.attached), yes(c.managed), c.name.clone()]
        })
        .collect();
    table(&["ID", "KID", "ALG", "ATTACHED", "MANAGED", "NAME"], &rows)?;
    Ok(())
}

/// One audit event: a JSON line, or `time  actor  tenant/subject  kind  detail`.
pub(super) fn audit_event(e: &AuditEvent, as_json: bool) -> Result<(), CliError> {
    if as_json {
        let detail: Value = serde_json::from_str(&e.detail).unwrap_or_else(|_| Value::String(e.detail.clone()));
        let line = json!({"id": e.id, "at": time(e.at.as_ref()), "actor": e.actor, "tenant": e.tenant,
            "subject": e.subject, "kind": e.kind, "detail": detail});
        outln!("{line}")?;
    } else {
        outln!("{}  {}  {}  {}/{}  {}  {}", e.id, time(e.at.as_ref()), e.actor, e.tenant, e.subject, e.kind, e.detail)?;
    }
    Ok(())
}
