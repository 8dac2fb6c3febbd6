//! What a rotation took out of Auth0: the credentials it evicted or deleted to make room, and
//! how and when its own old credential left.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::clock::Timestamp;

/// How a rotation removed a credential to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Removal {
    /// Detached from private_key_jwt (both slots were taken), then deleted.
    Evicted,
    /// Deleted from Auth0's store of credential records (it was full).
    Deleted,
}

impl Removal {
    /// The stable name (`evicted`, `deleted`).
    pub fn as_str(self) -> &'static str {
        match self {
            Removal::Evicted => "evicted",
            Removal::Deleted => "deleted",
        }
    }
}

/// One credential a rotation removed at Auth0, recorded before it is removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedCredential {
    /// The Auth0 credential id.
    pub credential_id: String,
    /// Its name at Auth0.
    pub name: Option<String>,
    /// Its kid at Auth0.
    pub kid: Option<String>,
    /// Whether keyward created it.
    pub managed: bool,
    /// What it was: a managed key's state (`RETIRING`), or `attached`/`stored` for one keyward
    /// does not manage.
    pub state: String,
    /// Evicted or deleted.
    pub action: Removal,
    /// Why, in words.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

/// The removed credentials as stored (a JSON array).
pub(crate) fn to_json(removed: &[RemovedCredential]) -> String {
    serde_json::to_string(removed).unwrap_or_else(|_| "[]".to_owned())
}

/// The removed credentials from their stored JSON; anything else is corruption, never empty.
pub(crate) fn from_json(rotation_id: &str, text: &str) -> Result<Vec<RemovedCredential>, Error> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("rotation {rotation_id}: removed credentials: {e}")))
}

/// How a rotation's old credential left Auth0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// After its grace period, by its own rotation.
    Retired,
    /// Early, by a later rotation that needed its slot.
    Evicted,
    /// By a revocation.
    Revoked,
}

impl Departure {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Departure::Retired => "retired",
            Departure::Evicted => "evicted",
            Departure::Revoked => "revoked",
        }
    }
}

impl fmt::Display for Departure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Departure {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "retired" => Ok(Departure::Retired),
            "evicted" => Ok(Departure::Evicted),
            "revoked" => Ok(Departure::Revoked),
            other => Err(Error::Corrupt(format!("{other:?} is not a way a credential departs"))),
        }
    }
}

/// When and how the old credential left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Departed {
    /// How.
    pub how: Departure,
    /// When.
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_credentials_round_trip_and_garbage_is_corruption() {
        let r = RemovedCredential {
            credential_id: "cred_1".into(),
            name: None,
            kid: Some("k".into()),
            managed: false,
            state: "attached".into(),
            action: Removal::Evicted,
            reason: "both private_key_jwt slots were taken".into(),
            at: Timestamp::from_millis(5),
        };
        let text = to_json(std::slice::from_ref(&r));
        assert_eq!(from_json("rot_1", &text).unwrap(), vec![r]);
        assert!(matches!(from_json("rot_1", "{"), Err(Error::Corrupt(_))));
        for d in [Departure::Retired, Departure::Evicted, Departure::Revoked] {
            assert_eq!(d.as_str().parse::<Departure>().unwrap(), d);
        }
        assert!("gone".parse::<Departure>().is_err());
    }
}
