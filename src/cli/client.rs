//! Client commands against a running keyward: `rotate client|connection`, `credentials list`,
//! `audit tail`.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::CliError;
use super::connect::{ClientOptions, channel, connect, pb_duration, runtime};
use super::{parse_duration, render};
use crate::grpc::proto;

#[derive(Debug, Subcommand)]
pub(super) enum RotateCommand {
    /// Rotate an application's private_key_jwt credential; returns once the new key is active.
    ///
    /// Prints what it did, the new key, when the old one retires, and any credential it evicted or
    /// deleted at Auth0 to make room. --json: {rotation, credential, previous_credential_id,
    /// previous_retire_at, removed_credentials: [...]}; with --dry-run, {plan: {steps: [{step, action,
    /// target, method, at, reason}], would_refuse, refusal, notes}}.
    Client(RotateClientArgs),
    /// Rotate a connection's signing keys and verify what Auth0 returns.
    ///
    /// --json: {key, keys: [...], verified}; with --dry-run, {plan: {steps, would_refuse, refusal,
    /// notes}}.
    Connection(RotateConnectionArgs),
    /// Rotate the tenant's signing keys, verify every key Auth0 returns and schedule the previous
    /// key's revocation (after the tenant's max_token_lifetime, once every verifier shows the new
    /// current key).
    ///
    /// --json: {rotation: {rotation_id, state, current_kid, next_kid, previous_kid, rotated_at,
    /// revoke_not_before, lagging_verifiers, verifiers: [...], keys: [...], ...}}; with --dry-run,
    /// {plan: {steps, would_refuse, refusal, notes}}.
    SigningKeys(RotateSigningKeysArgs),
}

#[derive(Debug, Args)]
pub(super) struct RotateSigningKeysArgs {
    /// Tenant name as configured.
    #[arg(long)]
    tenant: String,
    /// Idempotency key: the same key never rotates twice and shows the rotation as it stands.
    #[arg(long)]
    request_id: Option<String>,
    /// Dry run: show what the rotation would do (the key promotion, the verifiers to wait for,
    /// when the previous key may be revoked), and change nothing. Exits 0 once the plan is
    /// computed, even when the real call would be refused (printed first; --json:
    /// plan.would_refuse).
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
pub(super) struct RotateClientArgs {
    /// Tenant name as configured.
    #[arg(long)]
    tenant: String,
    /// Auth0 client_id.
    #[arg(long)]
    client: String,
    /// RS256 (default), RS384 or PS256.
    #[arg(long)]
    alg: Option<String>,
    /// RSA key size: 2048 (default), 3072 or 4096.
    #[arg(long)]
    bits: Option<u32>,
    /// How long the old key stays attached (e.g. 10m); default from the server's config.
    #[arg(long, value_parser = parse_duration)]
    grace: Option<Duration>,
    /// The new credential's lifetime (e.g. 90d); none by default.
    #[arg(long, value_parser = parse_duration)]
    lifetime: Option<Duration>,
    /// Idempotency key: the same key returns the same rotation.
    #[arg(long)]
    request_id: Option<String>,
    /// Where the new private key lives: sealed (in the store) or pkcs11 (inside the server's
    /// token, never extractable); default from the server's tenant configuration.
    #[arg(long, value_parser = ["sealed", "pkcs11"])]
    custody: Option<String>,
    /// Allow evicting credentials keyward does not manage when both Auth0 slots are taken.
    #[arg(long)]
    evict_unmanaged: bool,
    /// Dry run: show what the rotation would do (generate, make room, create, attach, activate,
    /// retire and when) from Auth0's current state, and change nothing. Needs the same permission.
    /// Exits 0 once the plan is computed, even when the real call would be refused (the refusal is
    /// printed first; --json: plan.would_refuse).
    #[arg(long)]
    dry_run: bool,
    /// Which credential list to rotate: private_key_jwt (client assertions, the default) or
    /// signed_request_object (JAR request objects).
    #[arg(long, value_parser = ["private_key_jwt", "signed_request_object"])]
    method: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct RotateConnectionArgs {
    /// Tenant name as configured.
    #[arg(long)]
    tenant: String,
    /// Auth0 connection id (con_…).
    #[arg(long)]
    connection: String,
    /// Signing algorithm of the new key (RS256, RS384, RS512, PS256, PS384, ES256, ES384).
    #[arg(long)]
    alg: Option<String>,
    /// Idempotency key.
    #[arg(long)]
    request_id: Option<String>,
    /// Dry run: show what the rotation would do to the connection's keys (next → current,
    /// current → previous, the old previous dropped, a new next), and change nothing. Exits 0
    /// once the plan is computed, even when the real call would be refused.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub(super) enum CredentialsCommand {
    /// The credentials keyward manages for a client, and what Auth0 holds.
    ///
    /// --json: {credentials: [...], auth0_credentials: [...]}.
    List {
        /// Tenant name as configured.
        #[arg(long)]
        tenant: String,
        /// Auth0 client_id.
        #[arg(long)]
        client: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// Print audit events, oldest first; with --follow, keep printing new ones.
    ///
    /// --json: JSON Lines, one object per event as it arrives: {id, at, actor, tenant, subject,
    /// kind, detail}.
    Tail {
        /// Start after this event id (default: the last 20 events).
        #[arg(long)]
        after: Option<i64>,
        /// Keep polling for new events until interrupted.
        #[arg(long)]
        follow: bool,
    },
}

pub(super) fn rotate(opts: &ClientOptions, cmd: RotateCommand) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let mut client = connect(opts).await?;
        match cmd {
            RotateCommand::Client(a) => {
                let req = proto::RotateClientCredentialRequest {
                    tenant: a.tenant,
                    client_id: a.client,
                    algorithm: a.alg.unwrap_or_default(),
                    key_bits: a.bits.unwrap_or(0),
                    grace_period: pb_duration(a.grace),
                    credential_lifetime: pb_duration(a.lifetime),
                    request_id: a.request_id.unwrap_or_default(),
                    evict_unmanaged: a.evict_unmanaged,
                    custody: a.custody.unwrap_or_default(),
                    plan: a.dry_run,
                    method: a.method.unwrap_or_default(),
                };
                let what = format!("rotating client {} in tenant {}", req.client_id, req.tenant);
                let resp = client.rotate_client_credential(req).await.map_err(CliError::from)?.into_inner();
                if a.dry_run {
                    return render::plan(resp.plan.as_ref(), &what, opts.style());
                }
                render::rotated_client(&resp, opts.style())
            }
            RotateCommand::Connection(a) => {
                let req = proto::RotateConnectionKeysRequest {
                    tenant: a.tenant,
                    connection_id: a.connection,
                    signing_alg: a.alg.unwrap_or_default(),
                    request_id: a.request_id.unwrap_or_default(),
                    plan: a.dry_run,
                };
                let what = format!("rotating connection {} in tenant {}", req.connection_id, req.tenant);
                let resp = client.rotate_connection_keys(req).await.map_err(CliError::from)?.into_inner();
                if a.dry_run {
                    return render::plan(resp.plan.as_ref(), &what, opts.style());
                }
                render::rotated_connection(&resp, opts.style())
            }
            RotateCommand::SigningKeys(a) => {
                let req = proto::RotateTenantSigningKeysRequest {
                    tenant: a.tenant,
                    request_id: a.request_id.unwrap_or_default(),
                    plan: a.dry_run,
                };
                let what = format!("rotating tenant {}'s signing keys", req.tenant);
                let resp = client.rotate_tenant_signing_keys(req).await.map_err(CliError::from)?.into_inner();
                if a.dry_run {
                    return render::plan(resp.plan.as_ref(), &what, opts.style());
                }
                render::rotated_signing_keys(resp.rotation.as_ref(), opts.style())
            }
        }
    })
}

pub(super) fn credentials(opts: &ClientOptions, cmd: CredentialsCommand) -> Result<(), CliError> {
    let CredentialsCommand::List { tenant, client: client_id } = cmd;
    runtime()?.block_on(async {
        let mut client = connect(opts).await?;
        let req = proto::ListClientCredentialsRequest { tenant, client_id };
        let resp = client.list_client_credentials(req.clone()).await.map_err(CliError::from)?.into_inner();
        render::credentials(&req, &resp, opts.style())
    })
}

pub(super) fn audit(opts: &ClientOptions, cmd: AuditCommand) -> Result<(), CliError> {
    let AuditCommand::Tail { after, follow } = cmd;
    runtime()?.block_on(async {
        let (channel, bearer) = channel(opts).await?;
        let mut client = proto::audit_client::AuditClient::with_interceptor(channel, bearer);
        let mut after = match after {
            Some(a) => a,
            None => {
                // The last 20: page to the end, keeping the tail.
                let mut last = Vec::new();
                let mut cursor = 0;
                loop {
                    let req = proto::ListAuditEventsRequest { after_id: cursor, limit: 1000 };
                    let page = client.list_audit_events(req).await.map_err(CliError::from)?.into_inner().events;
                    let Some(end) = page.last() else { break };
                    cursor = end.id;
                    last.extend(page);
                    let keep = last.len().saturating_sub(20);
                    last.drain(..keep);
                }
                last.first().map_or(cursor, |e| e.id - 1)
            }
        };
        let mut tail = render::AuditTail::new(opts.style());
        loop {
            let req = proto::ListAuditEventsRequest { after_id: after, limit: 1000 };
            let page = client.list_audit_events(req).await.map_err(CliError::from)?.into_inner().events;
            for e in &page {
                tail.event(e)?;
                after = e.id;
            }
            if !follow {
                return tail.end();
            }
            if page.is_empty() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    })
}
