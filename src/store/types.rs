//! What the store keeps: managed keys, rotations and audit events.

use std::fmt;
use std::str::FromStr;

use keyward_crypto::Algorithm;

use crate::Error;
use crate::clock::Timestamp;
use crate::custody::Custody;
use crate::seal::Sealed;

use super::method::CredentialMethod;

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(Error::Corrupt(format!("unknown {} {other:?}", stringify!($name)))),
                }
            }
        }
    };
}

pub(super) use string_enum;

string_enum! {
    /// The saga's states (ARCHITECTURE.md).
    RotationState {
        /// Request validated, row inserted.
        Planned => "planned",
        /// Key pair generated and sealed in the same transaction.
        KeyGenerated => "key_generated",
        /// An Auth0 slot is free for the new credential.
        SlotFreed => "slot_freed",
        /// The credential exists at Auth0.
        Registered => "registered",
        /// The credential is attached to private_key_jwt.
        Attached => "attached",
        /// keyward signs with the new key.
        Active => "active",
        /// The old key has been detached, deleted and destroyed.
        Retired => "retired",
        /// Done.
        Completed => "completed",
        /// Compensated; the old key stays active.
        Failed => "failed",
    }
}

impl RotationState {
    /// Open rotations block another rotation of the same client.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Planned | Self::KeyGenerated | Self::SlotFreed | Self::Registered | Self::Attached)
    }
}

string_enum! {
    /// A managed key's life.
    KeyState {
        /// Generated, not yet signing.
        Pending => "pending",
        /// Signing.
        Active => "active",
        /// Still attached, retired at `retire_at`.
        Retiring => "retiring",
        /// Detached, deleted at Auth0, private key destroyed.
        Retired => "retired",
    }
}

/// A private key in custody, with its certificate artifacts and Auth0 credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// keyward's id for the key.
    pub key_id: String,
    /// Tenant name.
    pub tenant: String,
    /// Auth0 client id.
    pub client_id: String,
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// JWS algorithm.
    pub algorithm: Algorithm,
    /// RSA modulus size.
    pub key_bits: u32,
    /// SPKI PEM.
    pub public_key_pem: String,
    /// Certificate PEM (Auth0's `\r\n` form).
    pub cert_pem: String,
    /// PKCS#7 PEM.
    pub pkcs: String,
    /// SHA-1 fingerprint with colons.
    pub fingerprint: String,
    /// SHA-1 fingerprint without separators.
    pub thumbprint: String,
    /// base64url SHA-256 of the certificate.
    pub thumbprint_sha256: String,
    /// `/CN=…`.
    pub subject_dn: String,
    /// The sealed private key.
    pub sealed: Sealed,
    /// The Auth0 credential id once registered.
    pub credential_id: Option<String>,
    /// The credential list it is attached to (and what it signs).
    pub method: CredentialMethod,
    /// Where it is in its life.
    pub state: KeyState,
    /// When it was created.
    pub created_at: Timestamp,
    /// Credential expiry.
    pub expires_at: Option<Timestamp>,
    /// When it became active.
    pub activated_at: Option<Timestamp>,
    /// When a retiring key is retired.
    pub retire_at: Option<Timestamp>,
    /// The latest `exp` keyward signed with it.
    pub last_signed_exp: Option<Timestamp>,
}

/// One client-credential rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationRecord {
    /// keyward's id.
    pub rotation_id: String,
    /// Tenant name.
    pub tenant: String,
    /// Auth0 client id.
    pub client_id: String,
    /// Saga state.
    pub state: RotationState,
    /// The caller's idempotency key.
    pub request_id: Option<String>,
    /// A hash of the request's parameters: the same request_id with another body is refused.
    pub request_hash: String,
    /// The request's parameters (JSON).
    pub params: String,
    /// The key being rolled in.
    pub new_key_id: Option<String>,
    /// The key being rolled out.
    pub old_key_id: Option<String>,
    /// Its Auth0 credential.
    pub new_credential_id: Option<String>,
    /// The old Auth0 credential.
    pub old_credential_id: Option<String>,
    /// When the old key is retired.
    pub retire_at: Option<Timestamp>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Bumped by every update; updates compare and set it.
    pub version: i64,
    /// The lease on driving this rotation.
    pub lease: Lease,
    /// Who asked: a principal's name, or `scheduler`; resumes keep it.
    pub requested_by: String,
    /// The credentials it evicted or deleted at Auth0 to make room.
    pub removed: Vec<super::RemovedCredential>,
    /// When and how its old credential left Auth0 (unset while attached).
    pub old_departed: Option<super::Departed>,
}

/// A replica's lease on a piece of work: its owner, the fencing token it claimed (every write
/// under the lease checks it) and when it lapses (the epoch = free).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lease {
    /// The replica holding it.
    pub owner: Option<String>,
    /// Raised by every claim.
    pub token: i64,
    /// When it lapses unless renewed.
    pub expires_at: Timestamp,
}

impl Lease {
    /// Whether `owner` may act under this lease at `now` without claiming it anew.
    pub fn held_by(&self, owner: &str, now: Timestamp) -> bool {
        self.owner.as_deref() == Some(owner) && self.expires_at > now
    }
}

string_enum! {
    /// An emergency revocation's states: signing stops first (in the store, for every replica),
    /// then the credential leaves Auth0, then the key material is destroyed.
    RevocationState {
        /// Request validated, row inserted.
        Planned => "planned",
        /// The key is RETIRED in the store: no replica signs with it again.
        SigningStopped => "signing_stopped",
        /// The credential is off the client's private_key_jwt list at Auth0.
        Detached => "detached",
        /// The credential is deleted at Auth0.
        Deleted => "deleted",
        /// The sealed key is destroyed. Done.
        Completed => "completed",
        /// Refused when it came to stopping the key (nothing changed).
        Failed => "failed",
    }
}

impl RevocationState {
    /// Open revocations are resumed until they complete.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Completed | Self::Failed)
    }
}

/// One emergency revocation of a client credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRecord {
    /// keyward's id.
    pub revocation_id: String,
    /// Tenant name.
    pub tenant: String,
    /// Auth0 client id.
    pub client_id: String,
    /// The Auth0 credential revoked.
    pub credential_id: String,
    /// The key behind it.
    pub key_id: String,
    /// Saga state.
    pub state: RevocationState,
    /// The caller's idempotency key.
    pub request_id: Option<String>,
    /// A hash of the request's parameters.
    pub request_hash: String,
    /// Why (the operator's words, audited).
    pub reason: String,
    /// Whether the caller allowed leaving the client with no active key.
    pub force: bool,
    /// Who asked.
    pub requested_by: String,
    /// The key's state when the revocation was asked for (`active` or `retiring`).
    pub key_was: String,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Bumped by every update; updates compare and set it.
    pub version: i64,
    /// The lease on driving it.
    pub lease: Lease,
}

string_enum! {
    /// What a rotation policy targets.
    PolicyKind {
        /// An application's client credential (maximum key age).
        Client => "client",
        /// A connection's signing keys (interval).
        Connection => "connection",
        /// A tenant's signing keys (interval; target `*`, the whole tenant).
        SigningKeys => "signing_keys",
    }
}

string_enum! {
    /// Where a rotation policy comes from.
    PolicySource {
        /// keyward.toml: changed only by editing the file.
        Config => "config",
        /// `KeyRotation.SetRotationPolicy`.
        Api => "api",
    }
}

/// A scheduled-rotation policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    /// Tenant name.
    pub tenant: String,
    /// Client or connection.
    pub kind: PolicyKind,
    /// The client id or connection id.
    pub target: String,
    /// Maximum key age (clients) or interval (connections), ms.
    pub max_age_ms: i64,
    /// Daily UTC window `HH:MM-HH:MM` in which scheduled rotations may start.
    pub window: Option<String>,
    /// Config file or API.
    pub source: PolicySource,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When the target should next rotate (jitter applied), if known.
    pub due_at: Option<Timestamp>,
    /// When the scheduler last rotated it.
    pub last_rotated_at: Option<Timestamp>,
    /// How the last scheduled rotation ended.
    pub last_result: Option<String>,
    /// The scheduler's lease on it.
    pub lease: Lease,
    /// Where the keys of its scheduled rotations live; `None` takes the tenant's configuration.
    pub custody: Option<Custody>,
}

/// What the last inventory of a tenant saw of its client credentials (drift's baseline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventorySnapshotRecord {
    /// Tenant name.
    pub tenant: String,
    /// When that inventory was taken.
    pub taken_at: Timestamp,
    /// The snapshot, JSON (written and read by the inventory, bounded by it).
    pub snapshot: String,
}

/// What inserting a rotation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The new rotation was stored.
    New,
    /// A rotation with this request_id exists already.
    SameRequest(RotationRecord),
    /// Another rotation of the client is open.
    Busy(RotationRecord),
}

/// One connection key rotation, recorded for idempotency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRotationRecord {
    /// keyward's id.
    pub id: String,
    /// Tenant name.
    pub tenant: String,
    /// Auth0 connection id.
    pub connection_id: String,
    /// The caller's idempotency key.
    pub request_id: Option<String>,
    /// A hash of the request's parameters.
    pub request_hash: String,
    /// JSON: `{"state":"pending","before":[kids]}` or the verified result.
    pub result: String,
    /// Whether every key verified.
    pub verified: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// The lease on driving it.
    pub lease: Lease,
    /// Who asked: a principal's name, or `scheduler`.
    pub requested_by: String,
}

/// A connection key as keyward last saw and verified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionKeyRecord {
    /// Tenant name.
    pub tenant: String,
    /// Auth0 connection id.
    pub connection_id: String,
    /// Its kid.
    pub kid: String,
    /// JWS algorithm.
    pub algorithm: String,
    /// `/CN=…`.
    pub subject_dn: String,
    /// Certificate PEM.
    pub cert: String,
    /// SHA-1 fingerprint.
    pub fingerprint: String,
    /// SHA-1 thumbprint.
    pub thumbprint: String,
    /// PKCS#7 PEM.
    pub pkcs: String,
    /// `current`, `next` or `previous`.
    pub status: String,
    /// Whether keyward's checks passed.
    pub verified: bool,
    /// When keyward last saw it.
    pub seen_at: Timestamp,
}

/// A tenant signing-key rotation: its state, where its previous key's revocation stands, its
/// lease. `detail` is the engine's JSON (the keys before, the verified set, the verifiers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRotationRecord {
    /// keyward's id (`skrot_…`).
    pub id: String,
    /// Tenant name.
    pub tenant: String,
    /// The caller's idempotency key.
    pub request_id: Option<String>,
    /// A hash of the request (the tenant).
    pub request_hash: String,
    /// `pending`, `waiting`, `revoking`, `completed` or `failed`.
    pub state: String,
    /// JSON owned by the engine.
    pub detail: String,
    /// The key this rotation made previous.
    pub previous_kid: Option<String>,
    /// When Auth0 rotated (as keyward saw it).
    pub rotated_at: Option<Timestamp>,
    /// The previous key may be revoked from then on (rotation + the longest token lifetime).
    pub revoke_not_before: Option<Timestamp>,
    /// When the background task looks at it next.
    pub next_check_at: Timestamp,
    /// Who asked: a principal's name, or `scheduler`.
    pub requested_by: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// The lease on driving it.
    pub lease: Lease,
}

/// A tenant signing key as keyward last saw and verified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Tenant name.
    pub tenant: String,
    /// Auth0's kid.
    pub kid: String,
    /// Certificate PEM.
    pub cert: String,
    /// PKCS#7 PEM.
    pub pkcs7: String,
    /// As Auth0 reported it.
    pub fingerprint: String,
    /// As Auth0 reported it.
    pub thumbprint: String,
    /// `current`, `next`, `previous` or `revoked`.
    pub status: String,
    /// Whether it passed verification.
    pub verified: bool,
    /// When keyward saw it.
    pub seen_at: Timestamp,
}
