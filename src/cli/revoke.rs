//! `keyward revoke`: an emergency revocation of a client credential against a running keyward.

use clap::Args;

use super::CliError;
use super::connect::{ClientOptions, connect, runtime};
use super::render;
use crate::grpc::proto;

/// `keyward revoke --tenant T --client C --credential cred_… --reason "…" [--force]`.
#[derive(Debug, Args)]
#[command(after_long_help = "--json: {revocation: {revocation_id, state, credential_id, kid, reason, …}, \
                             client_has_active_key, active_credential_id}.")]
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
        render::revoked(&resp, opts.style())
    })
}
