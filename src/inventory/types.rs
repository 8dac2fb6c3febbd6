//! What an inventory of a tenant holds: its clients' credential records, the managed
//! connections' keys, the tenant's signing keys, their flags, the drift since the last inventory
//! and what could not be read.

use std::time::Duration;

use crate::Error;
use crate::clock::Timestamp;
use crate::store::KeyState;

/// What needs attention on a record (a fixed set: the metrics' `flag` label takes these names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    /// A client credential record attached to no method.
    Orphaned,
    /// Expires within the tenant's expiry window.
    Expiring,
    /// Older than its rotation policy allows.
    OlderThanPolicy,
    /// Past its expiry.
    Expired,
}

impl Flag {
    /// Every flag.
    pub const ALL: [Flag; 4] = [Flag::Orphaned, Flag::Expiring, Flag::OlderThanPolicy, Flag::Expired];

    /// Its name in metrics and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Orphaned => "orphaned",
            Flag::Expiring => "expiring",
            Flag::OlderThanPolicy => "older_than_policy",
            Flag::Expired => "expired",
        }
    }
}

/// One record of a client's credential pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialEntry {
    /// `cred_…`.
    pub credential_id: String,
    /// Friendly name, as Auth0 holds it.
    pub name: Option<String>,
    /// Key id.
    pub kid: Option<String>,
    /// `alg`.
    pub algorithm: Option<String>,
    /// `public_key`, `cert_subject_dn` or `x509_cert`.
    pub credential_type: Option<String>,
    /// When Auth0 created it.
    pub created_at: Option<Timestamp>,
    /// When it expires.
    pub expires_at: Option<Timestamp>,
    /// The methods that list it, sorted.
    pub slots: Vec<String>,
    /// keyward's state of it, when it is one of keyward's keys.
    pub managed: Option<KeyState>,
    /// Its flags, sorted.
    pub flags: Vec<Flag>,
}

/// One client of the tenant with its credential pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientEntry {
    /// The client id.
    pub client_id: String,
    /// Its name.
    pub name: Option<String>,
    /// Its `app_type`.
    pub app_type: Option<String>,
    /// Whether the tenant's configuration lets keyward manage it.
    pub managed_by_keyward: bool,
    /// Its credential records, by id.
    pub credentials: Vec<CredentialEntry>,
}

/// One key of a managed connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionKeyEntry {
    /// `con_…`.
    pub connection_id: String,
    /// Key id.
    pub kid: String,
    /// Signing now.
    pub current: bool,
    /// Current after the next rotation.
    pub next: bool,
    /// Current before the last rotation.
    pub previous: bool,
    /// E.g. `RS256`.
    pub algorithm: Option<String>,
    /// When it became current (Auth0's reading).
    pub current_since: Option<Timestamp>,
    /// Its certificate's notBefore, when the certificate parses.
    pub not_before: Option<Timestamp>,
    /// Its certificate's notAfter.
    pub not_after: Option<Timestamp>,
    /// Its flags, sorted.
    pub flags: Vec<Flag>,
}

impl ConnectionKeyEntry {
    /// What its age counts from: for the current key, when it became current (else its
    /// certificate's notBefore); for the others, the notBefore.
    pub fn age_from(&self) -> Option<Timestamp> {
        if self.current { self.current_since.or(self.not_before) } else { self.not_before }
    }
}

/// One signing key of the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyEntry {
    /// Key id.
    pub kid: String,
    /// Signing now.
    pub current: bool,
    /// Next in line.
    pub next: bool,
    /// Signed before.
    pub previous: bool,
    /// Revoked.
    pub revoked: bool,
    /// When it became current.
    pub current_since: Option<Timestamp>,
    /// When it stopped being current.
    pub current_until: Option<Timestamp>,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
    /// Its certificate's notBefore.
    pub not_before: Option<Timestamp>,
    /// Its certificate's notAfter.
    pub not_after: Option<Timestamp>,
    /// Its flags, sorted.
    pub flags: Vec<Flag>,
}

/// Whether something appeared or disappeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DriftKind {
    /// Present now, absent from the last inventory.
    Appeared,
    /// Present in the last inventory, absent now.
    Disappeared,
}

impl DriftKind {
    /// `appeared` or `disappeared`.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::Appeared => "appeared",
            DriftKind::Disappeared => "disappeared",
        }
    }
}

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DriftWhat {
    /// A credential record in a client's pool.
    Record,
    /// A record listed by a method.
    Attachment,
}

impl DriftWhat {
    /// `record` or `attachment`.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftWhat::Record => "record",
            DriftWhat::Attachment => "attachment",
        }
    }
}

/// A change made outside keyward between two inventories.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DriftEntry {
    /// The client.
    pub client_id: String,
    /// The record.
    pub credential_id: String,
    /// Record or attachment.
    pub what: DriftWhat,
    /// Appeared or disappeared.
    pub kind: DriftKind,
    /// The method, for an attachment.
    pub slot: Option<String>,
    /// For a record: the methods that listed it (now, or when last seen).
    pub slots: Vec<String>,
    /// The record's name (now, or when last seen).
    pub name: Option<String>,
}

/// Something the inventory could not read; the rest of it is whole.
#[derive(Debug)]
pub struct Gap {
    /// `connection` or `signing_keys`.
    pub what: &'static str,
    /// Its id (empty for the signing keys).
    pub id: String,
    /// Why.
    pub error: Error,
}

/// A tenant's inventory.
#[derive(Debug)]
pub struct Inventory {
    /// The tenant.
    pub tenant: String,
    /// When it was read.
    pub taken_at: Timestamp,
    /// The window EXPIRING looks ahead.
    pub expiry_window: Duration,
    /// Every client, by id.
    pub clients: Vec<ClientEntry>,
    /// The managed connections' keys.
    pub connection_keys: Vec<ConnectionKeyEntry>,
    /// The tenant's signing keys.
    pub signing_keys: Vec<SigningKeyEntry>,
    /// What changed outside keyward since the previous inventory.
    pub drift: Vec<DriftEntry>,
    /// When the previous inventory was taken; `None` on the first (a baseline).
    pub previous_taken_at: Option<Timestamp>,
    /// What could not be read.
    pub gaps: Vec<Gap>,
}

impl Inventory {
    /// Every client credential record.
    pub fn credentials(&self) -> impl Iterator<Item = &CredentialEntry> {
        self.clients.iter().flat_map(|c| c.credentials.iter())
    }

    /// How many records of each kind carry `flag`: (client credentials, connection keys,
    /// signing keys).
    pub fn flagged(&self, flag: Flag) -> (usize, usize, usize) {
        (
            self.credentials().filter(|c| c.flags.contains(&flag)).count(),
            self.connection_keys.iter().filter(|k| k.flags.contains(&flag)).count(),
            self.signing_keys.iter().filter(|k| k.flags.contains(&flag)).count(),
        )
    }

    /// The earliest expiry among keyward's keys at Auth0.
    pub fn earliest_managed_expiry(&self) -> Option<Timestamp> {
        self.credentials().filter(|c| c.managed.is_some()).filter_map(|c| c.expires_at).min()
    }
}
