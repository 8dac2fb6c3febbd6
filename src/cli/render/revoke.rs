//! `keyward revoke`: what the revocation did and where it left the client.

use serde_json::json;

use super::human::{fields, say, when};
use super::{CliError, Style, print_json, stamp, text};
use crate::grpc::proto::{RevocationState, RevokeCredentialResponse};

fn state(v: i32) -> &'static str {
    RevocationState::try_from(v).map(|s| s.as_str_name().trim_start_matches("REVOCATION_STATE_")).unwrap_or("UNKNOWN")
}

/// The revocation's outcome in words, for its first line.
fn outcome(state: &str, credential: &str, error: &str) -> String {
    match state {
        "COMPLETED" => format!("revoked {credential}: signing with it stopped, gone from Auth0, key destroyed"),
        "FAILED" => format!("revocation of {credential} FAILED: {error}"),
        "DELETED" => format!("revoked {credential}: deleted at Auth0; its key is not destroyed yet"),
        "DETACHED" => format!("revoked {credential}: detached at Auth0, not deleted yet"),
        "SIGNING_STOPPED" => format!("revoking {credential}: signing stopped; it is still at Auth0"),
        other => format!("revocation of {credential} is {other}"),
    }
}

/// `keyward revoke`.
pub(in crate::cli) fn revoked(resp: &RevokeCredentialResponse, style: Style) -> Result<(), CliError> {
    let r = resp.revocation.clone().unwrap_or_default();
    if style.json {
        return print_json(&json!({
            "revocation": {
                "revocation_id": r.revocation_id, "tenant": r.tenant, "client_id": r.client_id,
                "credential_id": r.credential_id, "kid": text(&r.kid), "state": state(r.state),
                "reason": r.reason, "force": r.force, "requested_by": text(&r.requested_by),
                "request_id": text(&r.request_id), "error": text(&r.error),
                "created_at": stamp(r.created_at.as_ref()), "updated_at": stamp(r.updated_at.as_ref()),
            },
            "client_has_active_key": resp.client_has_active_key,
            "active_credential_id": text(&resp.active_credential_id),
        }));
    }
    say(&outcome(state(r.state), &r.credential_id, &r.error))?;
    let active = if resp.client_has_active_key {
        if resp.active_credential_id.is_empty() { "yes".to_owned() } else { resp.active_credential_id.clone() }
    } else {
        "none: signing for this client fails until it is rotated".to_owned()
    };
    fields(&[
        ("revocation", r.revocation_id.clone()),
        ("state", state(r.state).to_owned()),
        ("tenant", r.tenant.clone()),
        ("client", r.client_id.clone()),
        ("credential", r.credential_id.clone()),
        ("kid", r.kid.clone()),
        ("reason", r.reason.clone()),
        ("requested by", r.requested_by.clone()),
        ("at", when(r.updated_at.as_ref())),
        ("active credential", active),
    ])
}
