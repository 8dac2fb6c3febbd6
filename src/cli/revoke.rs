//! `keyward revoke`: an emergency revocation of a client credential against a running keyward.

use clap::Args;
use serde_json::json;

use super::CliError;
use super::connect::{ClientOptions, connect, runtime};
use super::print_json;
use super::render::{fields, time};
use crate::grpc::proto::{self, RevocationState};

/// `keyward revoke --tenant T --client C --credential cred_… --reason "…" [--force]`.
#[derive(Debug, Args)]
pub(super) struct RevokeArgs {
    /// Tenant name as configured.
    #[arg(long)]
    tenant: String,
    /// Auth0 client_id.
    #[arg(long)]
    client: String,
    /// The Auth0 credential id to revoke (cred_…; see `keyward credentials list`).
    #[arg(long)]
    credential: String,
    /// Why it is revoked (recorded in the audit log).
    #[arg(long)]
    reason: String,
    /// Also revoke the client's active key, leaving it with none until the next rotation.
    #[arg(long)]
    force: bool,
    /// Idempotency key: the same key returns the same revocation.
    #[arg(long)]
    request_id: Option<String>,
}

fn state(v: i32) -> &'static str {
    RevocationState::try_from(v).map(|s| s.as_str_name().trim_start_matches("REVOCATION_STATE_")).unwrap_or("UNKNOWN")
}

/// Revokes the credential and prints where that left the client.
pub(super) fn run(opts: &ClientOptions, a: RevokeArgs) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let mut client = connect(opts).await?;
        let req = proto::RevokeCredentialRequest {
            tenant: a.tenant,
            client_id: a.client,
            credential_id: a.credential,
            reason: a.reason,
            force: a.force,
            request_id: a.request_id.unwrap_or_default(),
        };
        let resp = client.revoke_credential(req).await.map_err(CliError::from)?.into_inner();
        let r = resp.revocation.unwrap_or_default();
        if opts.json {
            return print_json(&json!({
                "revocation": {
                    "revocation_id": r.revocation_id, "tenant": r.tenant, "client_id": r.client_id,
                    "credential_id": r.credential_id, "kid": r.kid, "state": state(r.state), "reason": r.reason,
                    "force": r.force, "requested_by": r.requested_by, "request_id": r.request_id, "error": r.error,
                    "created_at": time(r.created_at.as_ref()), "updated_at": time(r.updated_at.as_ref()),
                },
                "client_has_active_key": resp.client_has_active_key,
                "active_credential_id": resp.active_credential_id,
            }));
        }
        let active = if resp.client_has_active_key {
            resp.active_credential_id.clone()
        } else {
            "none: signing for this client fails until it is rotated".to_owned()
        };
        fields(&[
            ("revocation", r.revocation_id),
            ("state", state(r.state).to_owned()),
            ("tenant", r.tenant),
            ("client", r.client_id),
            ("credential", r.credential_id),
            ("kid", r.kid),
            ("reason", r.reason),
            ("requested by", r.requested_by),
            ("active credential", active),
        ])?;
        Ok(())
    })
}
