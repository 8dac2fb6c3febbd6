//! How client commands print `keyward.v1` answers: aligned tables for people, JSON for scripts.
//!
//! Table mode (the default) fits 100 columns: durations are compact (`90d`, `2h30m`), times are
//! RFC 3339 UTC with a relative hint (`2026-12-13T10:00:00Z (in 6d)`), long ids, kids and
//! fingerprints are shortened (`jSPNwmR9IaRV…`) unless `--wide`, an empty result says so and
//! what to run next, and a command that changes something says what it did. `--json` prints one
//! JSON document (JSON Lines for `audit tail`): absent values are `null`, lists are arrays,
//! times plain RFC 3339, durations in seconds.

mod audit;
mod human;
mod inventory;
mod keys;
mod plan;
mod policy;
mod revoke;
mod rotation;
mod signing_keys;
mod status;

use serde_json::Value;

use super::CliError;
use super::print_json;
use crate::grpc::proto::{CredentialState, RotationState};

pub(super) use audit::AuditTail;
pub(super) use human::time;
pub(super) use inventory::inventory;
pub(super) use keys::{connection_keys, credentials, rotated_connection};
pub(super) use plan::plan;
pub(super) use policy::{policies, policy_deleted, policy_set};
pub(super) use revoke::revoked;
pub(super) use rotation::{rotated_client, rotation, rotations};
pub(super) use signing_keys::{revoked_signing_key, rotated_signing_keys};
pub(super) use status::status;

/// How a client command prints: JSON for scripts, or tables for people (`wide`: ids in full).
#[derive(Debug, Clone, Copy)]
pub(super) struct Style {
    /// `--json`: one JSON document (JSON Lines for `audit tail`).
    pub(super) json: bool,
    /// `--wide`: long ids, kids and fingerprints printed whole in tables, and nothing cut.
    pub(super) wide: bool,
}

/// A string for JSON: `null` when empty.
fn text(s: &str) -> Value {
    if s.is_empty() { Value::Null } else { Value::String(s.to_owned()) }
}

/// A timestamp for JSON: RFC 3339, `null` when unset.
fn stamp(t: Option<&prost_types::Timestamp>) -> Value {
    text(&time(t))
}

/// A duration for JSON: whole seconds, `null` when unset.
fn seconds(d: Option<&prost_types::Duration>) -> Value {
    d.map_or(Value::Null, |d| Value::from(d.seconds))
}

fn rotation_state(v: i32) -> &'static str {
    RotationState::try_from(v).map(|s| s.as_str_name().trim_start_matches("ROTATION_STATE_")).unwrap_or("UNKNOWN")
}

fn credential_state(v: i32) -> &'static str {
    CredentialState::try_from(v).map(|s| s.as_str_name().trim_start_matches("CREDENTIAL_STATE_")).unwrap_or("UNKNOWN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_values_are_json_null() {
        assert_eq!(text(""), Value::Null);
        assert_eq!(text("x"), Value::from("x"));
        assert_eq!(stamp(None), Value::Null);
        assert_eq!(seconds(None), Value::Null);
        assert_eq!(seconds(Some(&prost_types::Duration { seconds: 60, nanos: 0 })), Value::from(60));
    }
}
