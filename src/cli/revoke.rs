//! `keyward revoke`: an emergency revocation of a client credential, or the revocation of a
//! tenant's previous signing key, against a running keyward.

use clap::{Args, Subcommand};

use super::CliError;
use super::connect::{ClientOptions, connect, runtime};
use super::render;
use crate::grpc::proto;

/// `keyward revoke --tenant T --client C --credential cred_… --reason "…" [--force]`, or
/// `keyward revoke signing-key --tenant T --kid K`.
#[derive(Debug, Args)]
#[command(
    subcommand_negates_reqs = true,
    after_long_help = "--json: {revocation: {revocation_id, state, credential_id, kid, reason, …}, \
                       client_has_active_key, active_credential_id}; with --dry-run, {plan: {steps: [{step, \
                       action, target, method, at, reason}], would_refuse, refusal, notes}}. A dry run exits 0 \
                       once the plan is computed, even when the real call would be refused."
)]
pub(super) struct RevokeArgs {
    #[command(subcommand)]
    target: Option<RevokeTarget>,
    /// Tenant name as configured.
    #[arg(long, required = true)]
    tenant: Option<String>,
    /// Auth0 client_id.
    #[arg(long, required = true)]
    client: Option<String>,
    /// The Auth0 credential id to revoke (cred_…; see `keyward credentials list`).
    #[arg(long, required = true)]
    credential: Option<String>,
    /// Why it is revoked (recorded in the audit log).
    #[arg(long, required = true)]
    reason: Option<String>,
    /// Also revoke the client's active key, leaving it with none until the next rotation.
    #[arg(long)]
    force: bool,
    /// Idempotency key: the same key returns the same revocation.
    #[arg(long)]
    request_id: Option<String>,
    /// Dry run: show what the revocation would do (stop signing, detach, delete, destroy), or why
    /// it would be refused, and change nothing. Needs the same permission.
    #[arg(long)]
    dry_run: bool,
}

/// What else `keyward revoke` revokes.
#[derive(Debug, Subcommand)]
enum RevokeTarget {
    /// Revoke the tenant's previous signing key now: only once the tenant's max_token_lifetime
    /// has passed since the rotation that made it previous and every verifier shows the current
    /// key (otherwise refused, naming the time left and the lagging verifiers).
    ///
    /// --json: {kid, rotation: {rotation_id, state, previous_kid, revoked_at, ...}}; with
    /// --dry-run, {plan: {steps, would_refuse, refusal, notes}}.
    SigningKey(RevokeSigningKeyArgs),
}

#[derive(Debug, Args)]
struct RevokeSigningKeyArgs {
    /// Tenant name as configured.
    #[arg(long)]
    tenant: String,
    /// The previous key's kid (see `keyward rotate signing-keys`).
    #[arg(long)]
    kid: String,
    /// Idempotency key (recorded in the audit log).
    #[arg(long)]
    request_id: Option<String>,
    /// Dry run: show whether the key may be revoked now (the time left, the lagging verifiers,
    /// read now) and change nothing. Exits 0 once the plan is computed, even when the real call
    /// would be refused (printed first; --json: plan.would_refuse).
    #[arg(long)]
    dry_run: bool,
}

/// Revokes the credential (or the signing key) and prints where that left things.
pub(super) fn run(opts: &ClientOptions, a: RevokeArgs) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let mut client = connect(opts).await?;
        if let Some(RevokeTarget::SigningKey(s)) = a.target {
            let req = proto::RevokeTenantSigningKeyRequest {
                tenant: s.tenant,
                kid: s.kid,
                request_id: s.request_id.unwrap_or_default(),
                plan: s.dry_run,
            };
            let what = format!("revoking signing key {} of tenant {}", req.kid, req.tenant);
            let resp = client.revoke_tenant_signing_key(req).await.map_err(CliError::from)?.into_inner();
            if s.dry_run {
                return render::plan(resp.plan.as_ref(), &what, opts.style());
            }
            return render::revoked_signing_key(resp.rotation.as_ref(), &resp.kid, opts.style());
        }
        let missing = |flag: &'static str| CliError::usage(flag, "is required");
        let req = proto::RevokeCredentialRequest {
            tenant: a.tenant.ok_or_else(|| missing("--tenant"))?,
            client_id: a.client.ok_or_else(|| missing("--client"))?,
            credential_id: a.credential.ok_or_else(|| missing("--credential"))?,
            reason: a.reason.ok_or_else(|| missing("--reason"))?,
            force: a.force,
            request_id: a.request_id.unwrap_or_default(),
            plan: a.dry_run,
        };
        let what = format!("revoking credential {} of client {}", req.credential_id, req.client_id);
        let resp = client.revoke_credential(req).await.map_err(CliError::from)?.into_inner();
        if a.dry_run {
            return render::plan(resp.plan.as_ref(), &what, opts.style());
        }
        render::revoked(&resp, opts.style())
    })
}
