//! `keyward policy`: scheduled-rotation policies against a running keyward.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::CliError;
use super::connect::{ClientOptions, connect, pb_duration, runtime};
use super::parse_duration;
use super::render;
use crate::grpc::proto;

#[derive(Debug, Subcommand)]
pub(super) enum PolicyCommand {
    /// Every policy of a tenant: key age, next due time and whether it is overdue.
    ///
    /// --json: an array of policies, durations in seconds ({tenant, client_id, connection_id,
    /// signing_keys, max_key_age_seconds, interval_seconds, window, source, key_age_seconds, due_at, overdue,
    /// last_rotated_at, last_result, custody}).
    Status {
        /// Tenant name as configured.
        #[arg(long)]
        tenant: String,
    },
    /// Create or replace a client's, a connection's or the tenant's signing keys' policy.
    ///
    /// --json: the policy as `policy status --json` prints each.
    Set(SetArgs),
    /// Remove a policy set over the API.
    ///
    /// --json: {deleted: true, tenant, client_id, connection_id, signing_keys}.
    Delete(Target),
}

#[derive(Debug, Args)]
pub(super) struct Target {
    /// Tenant name as configured.
    #[arg(long)]
    tenant: String,
    /// Auth0 client_id.
    #[arg(long, conflicts_with_all = ["connection", "signing_keys"], required_unless_present_any = ["connection", "signing_keys"])]
    client: Option<String>,
    /// Auth0 connection id (con_…).
    #[arg(long, conflicts_with = "signing_keys")]
    connection: Option<String>,
    /// The tenant's signing keys (rotated on --interval, at least 1d: Auth0 allows 5 a day).
    #[arg(long)]
    signing_keys: bool,
}

#[derive(Debug, Args)]
pub(super) struct SetArgs {
    #[command(flatten)]
    target: Target,
    /// Rotate a client before its key is this old (e.g. 90d).
    #[arg(long, value_parser = parse_duration, conflicts_with = "interval")]
    max_key_age: Option<Duration>,
    /// Rotate a connection, or the tenant's signing keys, this often (e.g. 180d).
    #[arg(long, value_parser = parse_duration)]
    interval: Option<Duration>,
    /// Daily UTC window in which scheduled rotations may start, e.g. 02:00-05:00.
    #[arg(long)]
    window: Option<String>,
    /// Clients: where the keys of its scheduled rotations live, sealed or pkcs11 (in the
    /// server's token); default: the tenant's configuration.
    #[arg(long, value_parser = ["sealed", "pkcs11"])]
    custody: Option<String>,
}

pub(super) fn run(opts: &ClientOptions, cmd: PolicyCommand) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let mut client = connect(opts).await?;
        match cmd {
            PolicyCommand::Status { tenant } => {
                let req = proto::ListRotationPoliciesRequest { tenant };
                let resp = client.list_rotation_policies(req.clone()).await.map_err(CliError::from)?.into_inner();
                render::policies(&req.tenant, &resp.policies, opts.style())
            }
            PolicyCommand::Set(a) => {
                let policy = proto::RotationPolicy {
                    tenant: a.target.tenant,
                    client_id: a.target.client.unwrap_or_default(),
                    connection_id: a.target.connection.unwrap_or_default(),
                    max_key_age: pb_duration(a.max_key_age),
                    interval: pb_duration(a.interval),
                    window: a.window.unwrap_or_default(),
                    custody: a.custody.unwrap_or_default(),
                    signing_keys: a.target.signing_keys,
                    ..proto::RotationPolicy::default()
                };
                let req = proto::SetRotationPolicyRequest { policy: Some(policy) };
                let resp = client.set_rotation_policy(req).await.map_err(CliError::from)?.into_inner();
                render::policy_set(&resp, opts.style())
            }
            PolicyCommand::Delete(t) => {
                let req = proto::GetRotationPolicyRequest {
                    tenant: t.tenant,
                    client_id: t.client.unwrap_or_default(),
                    connection_id: t.connection.unwrap_or_default(),
                    signing_keys: t.signing_keys,
                };
                client.delete_rotation_policy(req.clone()).await.map_err(CliError::from)?;
                render::policy_deleted(&req.tenant, &req.client_id, &req.connection_id, opts.style())
            }
        }
    })
}
