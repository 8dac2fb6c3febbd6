//! `keyward policy`: scheduled-rotation policies against a running keyward.

use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::json;

use super::CliError;
use super::connect::{ClientOptions, connect, pb_duration, runtime};
use super::render::{table, time};
use super::{parse_duration, print_json};
use crate::grpc::proto;

#[derive(Debug, Subcommand)]
pub(super) enum PolicyCommand {
    /// Every policy of a tenant: key age, next due time and whether it is overdue.
    Status {
        /// Tenant name as configured.
        #[arg(long)]
        tenant: String,
    },
    /// Create or replace a client's or connection's policy.
    Set(SetArgs),
    /// Remove a policy set over the API.
    Delete(Target),
}

#[derive(Debug, Args)]
pub(super) struct Target {
    /// Tenant name as configured.
    #[arg(long)]
    tenant: String,
    /// Auth0 client_id.
    #[arg(long, conflicts_with = "connection", required_unless_present = "connection")]
    client: Option<String>,
    /// Auth0 connection id (con_…).
    #[arg(long)]
    connection: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct SetArgs {
    #[command(flatten)]
    target: Target,
    /// Rotate a client before its key is this old (e.g. 90d).
    #[arg(long, value_parser = parse_duration, conflicts_with = "interval")]
    max_key_age: Option<Duration>,
    /// Rotate a connection this often (e.g. 180d).
    #[arg(long, value_parser = parse_duration)]
    interval: Option<Duration>,
    /// Daily UTC window in which scheduled rotations may start, e.g. 02:00-05:00.
    #[arg(long)]
    window: Option<String>,
}

fn duration_text(d: Option<&prost_types::Duration>) -> String {
    d.map(|d| humantime::format_duration(Duration::from_secs(u64::try_from(d.seconds).unwrap_or(0))).to_string())
        .unwrap_or_default()
}

fn policy_json(p: &proto::RotationPolicy) -> serde_json::Value {
    json!({
        "tenant": p.tenant,
        "client_id": p.client_id,
        "connection_id": p.connection_id,
        "max_key_age_seconds": p.max_key_age.as_ref().map(|d| d.seconds),
        "interval_seconds": p.interval.as_ref().map(|d| d.seconds),
        "window": p.window,
        "source": p.source,
        "key_age_seconds": p.key_age.as_ref().map(|d| d.seconds),
        "due_at": time(p.due_at.as_ref()),
        "overdue": p.overdue,
        "last_rotated_at": time(p.last_rotated_at.as_ref()),
        "last_result": p.last_result,
    })
}

fn show(policies: &[proto::RotationPolicy], as_json: bool) -> Result<(), CliError> {
    if as_json {
        return print_json(&policies.iter().map(policy_json).collect::<Vec<_>>());
    }
    let rows: Vec<Vec<String>> = policies
        .iter()
        .map(|p| {
            let (target, period) = if p.client_id.is_empty() {
                (format!("connection {}", p.connection_id), duration_text(p.interval.as_ref()))
            } else {
                (format!("client {}", p.client_id), duration_text(p.max_key_age.as_ref()))
            };
            vec![
                target,
                period,
                p.window.clone(),
                duration_text(p.key_age.as_ref()),
                time(p.due_at.as_ref()),
                if p.overdue { "OVERDUE".into() } else { "ok".into() },
                p.source.clone(),
                p.last_result.clone(),
            ]
        })
        .collect();
    table(&["TARGET", "MAX AGE", "WINDOW", "KEY AGE", "DUE", "STATUS", "SOURCE", "LAST RESULT"], &rows)?;
    Ok(())
}

pub(super) fn run(opts: &ClientOptions, cmd: PolicyCommand) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let mut client = connect(opts).await?;
        match cmd {
            PolicyCommand::Status { tenant } => {
                let req = proto::ListRotationPoliciesRequest { tenant };
                let resp = client.list_rotation_policies(req).await.map_err(CliError::from)?.into_inner();
                show(&resp.policies, opts.json)
            }
            PolicyCommand::Set(a) => {
                let policy = proto::RotationPolicy {
                    tenant: a.target.tenant,
                    client_id: a.target.client.unwrap_or_default(),
                    connection_id: a.target.connection.unwrap_or_default(),
                    max_key_age: pb_duration(a.max_key_age),
                    interval: pb_duration(a.interval),
                    window: a.window.unwrap_or_default(),
                    ..proto::RotationPolicy::default()
                };
                let req = proto::SetRotationPolicyRequest { policy: Some(policy) };
                let resp = client.set_rotation_policy(req).await.map_err(CliError::from)?.into_inner();
                show(&[resp], opts.json)
            }
            PolicyCommand::Delete(t) => {
                let req = proto::GetRotationPolicyRequest {
                    tenant: t.tenant,
                    client_id: t.client.unwrap_or_default(),
                    connection_id: t.connection.unwrap_or_default(),
                };
                client.delete_rotation_policy(req).await.map_err(CliError::from)?;
                if opts.json { print_json(&json!({"deleted": true})) } else { Ok(()) }
            }
        }
    })
}
