//! What the audit log records: each event's kind (stable names) and the event itself.

use std::fmt;
use std::str::FromStr;

use super::types::{RevocationState, RotationState, string_enum};
use crate::Error;
use crate::clock::Timestamp;

string_enum! {
    /// What an audit event records: stable names (operators' queries and alerts use them).
    AuditKind {
        /// A rotation was asked for.
        RotationPlanned => "rotation.planned",
        /// Its key pair was generated and sealed.
        RotationKeyGenerated => "rotation.key_generated",
        /// An Auth0 slot was freed for it.
        RotationSlotFreed => "rotation.slot_freed",
        /// Its credential was created at Auth0.
        RotationRegistered => "rotation.registered",
        /// Its credential was attached to private_key_jwt.
        RotationAttached => "rotation.attached",
        /// Signing moved to the new key.
        RotationActive => "rotation.active",
        /// The old key was retired.
        RotationRetired => "rotation.retired",
        /// Done.
        RotationCompleted => "rotation.completed",
        /// Compensated; the old key stays active.
        RotationFailed => "rotation.failed",
        /// Stopped by a transient failure; it resumes.
        RotationPaused => "rotation.paused",
        /// Another replica took the rotation over.
        RotationTakenOver => "rotation.taken_over",
        /// A credential was evicted to free an Auth0 slot.
        CredentialEvicted => "credential.evicted",
        /// A revocation was asked for.
        RevocationPlanned => "revocation.planned",
        /// No replica signs with the revoked key any more.
        RevocationSigningStopped => "revocation.signing_stopped",
        /// The revoked credential was detached at Auth0.
        RevocationDetached => "revocation.detached",
        /// The revoked credential was deleted at Auth0.
        RevocationDeleted => "revocation.deleted",
        /// The revoked key was destroyed.
        RevocationCompleted => "revocation.completed",
        /// The revocation was refused when it came to stopping the key.
        RevocationFailed => "revocation.failed",
        /// Another replica took the revocation over.
        RevocationTakenOver => "revocation.taken_over",
        /// A connection's keys were rotated and verified.
        ConnectionRotated => "connection.rotated",
        /// A connection's keys were rotated but did not all verify.
        ConnectionUnverified => "connection.unverified",
        /// Another replica took a connection rotation over.
        ConnectionTakenOver => "connection.taken_over",
        /// A tenant's signing keys were rotated and every key verified.
        SigningKeysRotated => "signing_keys.rotated",
        /// A tenant's signing keys were rotated but some key failed verification.
        SigningKeysUnverified => "signing_keys.unverified",
        /// A tenant's previous signing key was revoked.
        SigningKeyRevoked => "signing_key.revoked",
        /// A revocation of a previous signing key was refused (time left, lagging verifiers).
        SigningKeyRevokeRefused => "signing_key.revoke_refused",
        /// A rotation policy was set.
        PolicySet => "policy.set",
        /// A rotation policy was deleted.
        PolicyDeleted => "policy.deleted",
        /// A principal was refused.
        AccessDenied => "access.denied",
        /// The configured principals and grants (global).
        AccessGrants => "access.grants",
        /// Failed authentication from one peer (global, aggregated).
        AuthFailed => "auth.failed",
        /// Signatures made per principal and client (aggregated).
        SigningCount => "signing.count",
        /// The KEK ring was rotated.
        KekRotated => "kek.rotated",
        /// Keys were rewrapped under the current KEK.
        KekRewrapped => "kek.rewrapped",
        /// Old KEKs were pruned from the ring.
        KekPruned => "kek.pruned",
        /// An inventory found records or attachments that changed outside keyward.
        InventoryDrift => "inventory.drift",
    }
}

impl AuditKind {
    /// The event of a rotation reaching `state`.
    pub fn rotation(state: RotationState) -> Self {
        match state {
            RotationState::Planned => Self::RotationPlanned,
            RotationState::KeyGenerated => Self::RotationKeyGenerated,
            RotationState::SlotFreed => Self::RotationSlotFreed,
            RotationState::Registered => Self::RotationRegistered,
            RotationState::Attached => Self::RotationAttached,
            RotationState::Active => Self::RotationActive,
            RotationState::Retired => Self::RotationRetired,
            RotationState::Completed => Self::RotationCompleted,
            RotationState::Failed => Self::RotationFailed,
        }
    }

    /// The event of a revocation reaching `state`.
    pub fn revocation(state: RevocationState) -> Self {
        match state {
            RevocationState::Planned => Self::RevocationPlanned,
            RevocationState::SigningStopped => Self::RevocationSigningStopped,
            RevocationState::Detached => Self::RevocationDetached,
            RevocationState::Deleted => Self::RevocationDeleted,
            RevocationState::Completed => Self::RevocationCompleted,
            RevocationState::Failed => Self::RevocationFailed,
        }
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Assigned by the store (0 before insertion).
    pub id: i64,
    /// When; the epoch until the store appends it, which stamps it with its clock.
    pub at: Timestamp,
    /// Who: a principal or `keyward` for background work.
    pub actor: String,
    /// Tenant name.
    pub tenant: String,
    /// What it concerns: a client or connection id.
    pub subject: String,
    /// What happened: an [`AuditKind`]'s name (kept as text, so that events written by a newer
    /// replica during an upgrade still read).
    pub kind: String,
    /// JSON detail, never secret.
    pub detail: String,
}

impl AuditEvent {
    /// An event of `kind` happening now: the store assigns its id and stamps its time with the
    /// store's clock when it appends it.
    pub fn new(
        kind: AuditKind,
        actor: impl Into<String>,
        tenant: impl Into<String>,
        subject: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            id: 0,
            at: Timestamp::EPOCH,
            actor: actor.into(),
            tenant: tenant.into(),
            subject: subject.into(),
            kind: kind.as_str().to_owned(),
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_kinds_keep_their_names() {
        let names: std::collections::BTreeSet<&str> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), AuditKind::ALL.len(), "every name is distinct");
        for k in AuditKind::ALL {
            assert_eq!(k.as_str().parse::<AuditKind>().ok(), Some(*k));
        }
        // The step events are named after the states, as they were when the names were built.
        for s in RotationState::ALL {
            assert_eq!(AuditKind::rotation(*s).as_str(), format!("rotation.{s}"));
        }
        for s in RevocationState::ALL {
            assert_eq!(AuditKind::revocation(*s).as_str(), format!("revocation.{s}"));
        }
    }
}
