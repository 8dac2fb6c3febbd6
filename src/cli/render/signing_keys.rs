//! Tenant signing keys: `rotate signing-keys` and `revoke signing-key`.

use serde_json::{Value, json};

use super::human::{fields, say, short, table, when, yes};
use super::{CliError, Style, print_json, stamp, text};
use crate::cli::out::outln;
use crate::grpc::proto::{SigningKeyRotation, SigningKeyRotationState, TenantSigningKey, VerifierStatus};

fn state(v: i32) -> &'static str {
    SigningKeyRotationState::try_from(v)
        .map(|s| s.as_str_name().trim_start_matches("SIGNING_KEY_ROTATION_STATE_"))
        .unwrap_or("UNKNOWN")
}

fn key_json(k: &TenantSigningKey) -> Value {
    json!({
        "kid": k.kid, "current": k.current, "next": k.next, "previous": k.previous, "revoked": k.revoked,
        "current_since": text(&k.current_since), "current_until": text(&k.current_until),
        "revoked_at": text(&k.revoked_at), "fingerprint": text(&k.fingerprint), "thumbprint": text(&k.thumbprint),
        "cert": text(&k.cert), "pkcs7": text(&k.pkcs7), "verified": k.verified, "problems": k.problems,
    })
}

fn verifier_json(v: &VerifierStatus) -> Value {
    json!({
        "jwks_url": v.jwks_url, "shows_current": v.shows_current, "problem": text(&v.problem),
        "checked_at": stamp(v.checked_at.as_ref()), "attempts": v.attempts,
        "next_check_at": stamp(v.next_check_at.as_ref()),
    })
}

fn rotation_json(r: &SigningKeyRotation) -> Value {
    json!({
        "rotation_id": r.rotation_id, "tenant": r.tenant, "request_id": text(&r.request_id), "state": state(r.state),
        "verified": r.verified, "current_kid": text(&r.current_kid), "next_kid": text(&r.next_kid),
        "previous_kid": text(&r.previous_kid), "rotated_at": stamp(r.rotated_at.as_ref()),
        "revoke_not_before": stamp(r.revoke_not_before.as_ref()), "auto_revoke": r.auto_revoke,
        "revoked_at": stamp(r.revoked_at.as_ref()), "lagging_verifiers": r.lagging_verifiers,
        "verifiers": r.verifiers.iter().map(verifier_json).collect::<Vec<_>>(),
        "keys": r.keys.iter().map(key_json).collect::<Vec<_>>(), "error": text(&r.error),
        "requested_by": text(&r.requested_by), "created_at": stamp(r.created_at.as_ref()),
        "updated_at": stamp(r.updated_at.as_ref()),
    })
}

fn status(k: &TenantSigningKey) -> &'static str {
    match (k.revoked, k.current, k.next, k.previous) {
        (true, ..) => "revoked",
        (_, true, ..) => "current",
        (_, _, true, _) => "next",
        (_, _, _, true) => "previous",
        _ => "?",
    }
}

fn rotation_text(r: &SigningKeyRotation, style: Style) -> Result<(), CliError> {
    fields(&[
        ("rotation", r.rotation_id.clone()),
        ("state", state(r.state).to_owned()),
        ("current kid", r.current_kid.clone()),
        ("next kid", r.next_kid.clone()),
        ("previous kid", if r.previous_kid.is_empty() { "none".into() } else { r.previous_kid.clone() }),
        ("rotated", when(r.rotated_at.as_ref())),
        ("revocable from", when(r.revoke_not_before.as_ref())),
        ("auto revoke", yes(r.auto_revoke)),
        ("revoked", when(r.revoked_at.as_ref())),
    ])?;
    if !r.keys.is_empty() {
        outln!()?;
        let rows: Vec<Vec<String>> = r
            .keys
            .iter()
            .map(|k| {
                vec![
                    k.kid.clone(),
                    status(k).to_owned(),
                    short(&k.thumbprint, style),
                    if k.verified { "verified".to_owned() } else { k.problems.join("; ") },
                ]
            })
            .collect();
        table(&["KID", "STATUS", "THUMBPRINT", "VERDICT"], &rows, style)?;
    }
    if !r.verifiers.is_empty() {
        outln!()?;
        let rows: Vec<Vec<String>> = r
            .verifiers
            .iter()
            .map(|v| {
                let shows = if v.shows_current { "shows current".to_owned() } else { format!("lags: {}", v.problem) };
                vec![v.jwks_url.clone(), shows, v.attempts.to_string(), when(v.next_check_at.as_ref())]
            })
            .collect();
        table(&["VERIFIER", "STATUS", "POLLS", "NEXT POLL"], &rows, style)?;
    }
    if !r.error.is_empty() {
        say(&format!("error: {}", r.error))?;
    }
    Ok(())
}

/// `keyward rotate signing-keys`.
pub(in crate::cli) fn rotated_signing_keys(r: Option<&SigningKeyRotation>, style: Style) -> Result<(), CliError> {
    let Some(r) = r else { return outln!("the server answered no rotation") };
    if style.json {
        return print_json(&json!({ "rotation": rotation_json(r) }));
    }
    say(&format!("rotated the signing keys of tenant {}", r.tenant))?;
    rotation_text(r, style)
}

/// `keyward revoke signing-key`.
pub(in crate::cli) fn revoked_signing_key(
    r: Option<&SigningKeyRotation>,
    kid: &str,
    style: Style,
) -> Result<(), CliError> {
    if style.json {
        return print_json(&json!({ "kid": kid, "rotation": r.map(rotation_json) }));
    }
    say(&format!("revoked signing key {kid}"))?;
    match r {
        Some(r) => rotation_text(r, style),
        None => Ok(()),
    }
}
