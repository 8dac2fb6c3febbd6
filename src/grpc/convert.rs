//! Between store records and `keyward.v1` messages; request field checks that name the field.

use std::time::Duration;

use tonic::Status;

use super::proto;
use crate::clock::Timestamp;
use crate::store::{
    CredentialMethod, KeyRecord, KeyState, RemovedCredential, RevocationRecord, RevocationState, RotationRecord,
    RotationState,
};

/// A protobuf timestamp from UNIX milliseconds.
pub(super) fn timestamp(t: Timestamp) -> prost_types::Timestamp {
    let ms = t.as_millis();
    prost_types::Timestamp { seconds: t.as_secs(), nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0) }
}

/// At most 32 characters of a rejected value, so an error never echoes a huge input.
pub(super) fn echo(value: &str) -> String {
    value.chars().take(32).collect()
}

/// An optional, non-negative duration; zero means "not set".
pub(super) fn duration(d: Option<prost_types::Duration>, field: &str) -> Result<Option<Duration>, Status> {
    let Some(d) = d else { return Ok(None) };
    if d.seconds < 0 || d.nanos < 0 || d.nanos >= 1_000_000_000 {
        return Err(Status::invalid_argument(format!("{field}: must be a non-negative duration")));
    }
    if d.seconds == 0 && d.nanos == 0 {
        return Ok(None);
    }
    let secs = u64::try_from(d.seconds).map_err(|_| Status::invalid_argument(format!("{field}: out of range")))?;
    let nanos = u32::try_from(d.nanos).map_err(|_| Status::invalid_argument(format!("{field}: out of range")))?;
    Ok(Some(Duration::new(secs, nanos)))
}

/// A required identifier field: 1 to 128 printable characters.
pub(super) fn required(value: &str, field: &str) -> Result<(), Status> {
    if value.is_empty() {
        return Err(Status::invalid_argument(format!("{field}: is required")));
    }
    if value.chars().count() > 128 || value.chars().any(char::is_control) {
        return Err(Status::invalid_argument(format!("{field}: must be at most 128 printable characters")));
    }
    Ok(())
}

fn rotation_state(s: RotationState) -> proto::RotationState {
    match s {
        RotationState::Planned => proto::RotationState::Planned,
        RotationState::KeyGenerated => proto::RotationState::KeyGenerated,
        RotationState::SlotFreed => proto::RotationState::SlotFreed,
        RotationState::Registered => proto::RotationState::Registered,
        RotationState::Attached => proto::RotationState::Attached,
        RotationState::Active => proto::RotationState::Active,
        RotationState::Retired => proto::RotationState::Retired,
        RotationState::Completed => proto::RotationState::Completed,
        RotationState::Failed => proto::RotationState::Failed,
    }
}

fn key_state(s: KeyState) -> proto::CredentialState {
    match s {
        KeyState::Pending => proto::CredentialState::Pending,
        KeyState::Active => proto::CredentialState::Active,
        KeyState::Retiring => proto::CredentialState::Retiring,
        KeyState::Retired => proto::CredentialState::Retired,
    }
}

pub(super) fn rotation(r: &RotationRecord) -> proto::Rotation {
    proto::Rotation {
        rotation_id: r.rotation_id.clone(),
        tenant: r.tenant.clone(),
        client_id: r.client_id.clone(),
        state: rotation_state(r.state).into(),
        request_id: r.request_id.clone().unwrap_or_default(),
        new_credential_id: r.new_credential_id.clone().unwrap_or_default(),
        old_credential_id: r.old_credential_id.clone().unwrap_or_default(),
        retire_at: r.retire_at.map(timestamp),
        error: r.error.clone().unwrap_or_default(),
        created_at: Some(timestamp(r.created_at)),
        updated_at: Some(timestamp(r.updated_at)),
        requested_by: r.requested_by.clone(),
        removed_credentials: r.removed.iter().map(removed_credential).collect(),
        old_removed_at: r.old_departed.map(|d| timestamp(d.at)),
        old_removed_how: r.old_departed.map(|d| d.how.as_str().to_owned()).unwrap_or_default(),
        method: rotation_method(r).to_owned(),
    }
}

/// The method a rotation was asked for, from its stored parameters (left out there when
/// private_key_jwt, as every rotation before JAR keys was).
fn rotation_method(r: &RotationRecord) -> &'static str {
    let asked = serde_json::from_str::<serde_json::Value>(&r.params)
        .ok()
        .and_then(|p| p.get("method").and_then(|m| m.as_str()).and_then(|m| m.parse::<CredentialMethod>().ok()));
    asked.unwrap_or_default().as_str()
}

fn removed_credential(c: &RemovedCredential) -> proto::RemovedCredential {
    proto::RemovedCredential {
        credential_id: c.credential_id.clone(),
        name: c.name.clone().unwrap_or_default(),
        kid: c.kid.clone().unwrap_or_default(),
        managed: c.managed,
        state: c.state.clone(),
        action: c.action.as_str().to_owned(),
        reason: c.reason.clone(),
        removed_at: Some(timestamp(c.at)),
    }
}

pub(super) fn revocation(r: &RevocationRecord, kid: &str) -> proto::Revocation {
    let state = match r.state {
        RevocationState::Planned => proto::RevocationState::Planned,
        RevocationState::SigningStopped => proto::RevocationState::SigningStopped,
        RevocationState::Detached => proto::RevocationState::Detached,
        RevocationState::Deleted => proto::RevocationState::Deleted,
        RevocationState::Completed => proto::RevocationState::Completed,
        RevocationState::Failed => proto::RevocationState::Failed,
    };
    proto::Revocation {
        revocation_id: r.revocation_id.clone(),
        tenant: r.tenant.clone(),
        client_id: r.client_id.clone(),
        credential_id: r.credential_id.clone(),
        kid: kid.to_owned(),
        state: state.into(),
        reason: r.reason.clone(),
        force: r.force,
        requested_by: r.requested_by.clone(),
        request_id: r.request_id.clone().unwrap_or_default(),
        error: r.error.clone().unwrap_or_default(),
        created_at: Some(timestamp(r.created_at)),
        updated_at: Some(timestamp(r.updated_at)),
    }
}

pub(super) fn credential(k: &KeyRecord) -> proto::Credential {
    proto::Credential {
        credential_id: k.credential_id.clone().unwrap_or_default(),
        kid: k.kid.clone(),
        algorithm: k.algorithm.to_string(),
        key_bits: k.key_bits,
        public_key_pem: k.public_key_pem.clone(),
        cert: k.cert_pem.clone(),
        fingerprint: k.fingerprint.clone(),
        thumbprint: k.thumbprint.clone(),
        thumbprint_sha256: k.thumbprint_sha256.clone(),
        pkcs: k.pkcs.clone(),
        subject_dn: k.subject_dn.clone(),
        created_at: Some(timestamp(k.created_at)),
        expires_at: k.expires_at.map(timestamp),
        state: key_state(k.state).into(),
        custody: k.custody().to_string(),
        method: k.method.as_str().to_owned(),
    }
}

pub(super) fn connection_key(k: &crate::rotation::VerifiedKey) -> proto::ConnectionKey {
    let current_since = k
        .current_since
        .as_deref()
        .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok());
    proto::ConnectionKey {
        kid: k.kid.clone(),
        cert: k.cert.clone(),
        fingerprint: k.fingerprint.clone(),
        thumbprint: k.thumbprint.clone(),
        pkcs: k.pkcs.clone(),
        next: k.next,
        current: k.current,
        previous: k.previous,
        algorithm: k.algorithm.clone(),
        key_use: k.key_use.clone(),
        subject_dn: k.subject_dn.clone(),
        current_since: current_since.map(|t| prost_types::Timestamp {
            seconds: t.unix_timestamp(),
            nanos: i32::try_from(t.nanosecond()).unwrap_or(0),
        }),
        problem: k.problems.join("; "),
    }
}

/// A listing's state filter: UNSPECIFIED is none; a value the proto does not know is refused.
pub(super) fn rotation_state_filter(v: i32) -> Result<Option<RotationState>, Status> {
    let state = proto::RotationState::try_from(v)
        .map_err(|_| Status::invalid_argument(format!("state: {v} is not a RotationState")))?;
    Ok(match state {
        proto::RotationState::Unspecified => None,
        proto::RotationState::Planned => Some(RotationState::Planned),
        proto::RotationState::KeyGenerated => Some(RotationState::KeyGenerated),
        proto::RotationState::SlotFreed => Some(RotationState::SlotFreed),
        proto::RotationState::Registered => Some(RotationState::Registered),
        proto::RotationState::Attached => Some(RotationState::Attached),
        proto::RotationState::Active => Some(RotationState::Active),
        proto::RotationState::Retired => Some(RotationState::Retired),
        proto::RotationState::Completed => Some(RotationState::Completed),
        proto::RotationState::Failed => Some(RotationState::Failed),
    })
}
