//! Custody: where a managed key's private half lives ([`Custody`]), how keyward names the
//! objects it makes in the PKCS#11 token, and the token's readiness probe. The token itself is
//! opened once at start (`kek::open_token`) and shared through the context.
//!
//! The token's calls block; the async parts make them on blocking threads.

use std::time::Duration;

use std::fmt;
use std::str::FromStr;

use keyward_pkcs11::Token;
use serde::{Deserialize, Serialize};

use crate::Error;

/// How long a readiness probe of the token may take before the replica reports not ready.
pub const TOKEN_PROBE: Duration = Duration::from_secs(2);

/// Whether `token` answers, within [`TOKEN_PROBE`] (for `/readyz`).
pub async fn probe(token: &Token) -> Result<(), String> {
    let t = token.clone();
    match tokio::time::timeout(TOKEN_PROBE, tokio::task::spawn_blocking(move || t.check())).await {
        Err(_) => Err(format!("the PKCS#11 token {:?} did not answer in time", token.label())),
        Ok(Err(_)) => Err("the PKCS#11 token probe did not run".into()),
        Ok(Ok(Err(e))) => Err(format!("the PKCS#11 token {:?} is unavailable: {e}", token.label())),
        Ok(Ok(Ok(()))) => Ok(()),
    }
}

/// What every token object keyward makes for a signing key is labelled with first.
pub const TOKEN_KEY_PREFIX: &str = "keyward:";

/// Where a key's private half lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Custody {
    /// In the store, sealed under the KEK; opened into memory to sign.
    #[default]
    Sealed,
    /// Inside the PKCS#11 token: generated there, sensitive, never extractable.
    Pkcs11,
}

impl Custody {
    /// The name configuration, the CLI and the API use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sealed => "sealed",
            Self::Pkcs11 => "pkcs11",
        }
    }
}

impl fmt::Display for Custody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Custody {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "sealed" => Ok(Self::Sealed),
            "pkcs11" => Ok(Self::Pkcs11),
            other => {
                Err(Error::arg("custody", format!("{:?} is not sealed or pkcs11", other.escape_debug().to_string())))
            }
        }
    }
}

/// The token label of the signing key `key_id` that rotation `rotation_id` generates:
/// `keyward:ROTATION:KEY`, so a crashed attempt's object is found by its rotation.
pub fn token_key_label(rotation_id: &str, key_id: &str) -> String {
    format!("{TOKEN_KEY_PREFIX}{rotation_id}:{key_id}")
}

/// The rotation and key a label of [`token_key_label`]'s names, if it is one.
pub fn parse_token_key_label(label: &str) -> Option<(&str, &str)> {
    let (rotation, key) = label.strip_prefix(TOKEN_KEY_PREFIX)?.split_once(':')?;
    (rotation.starts_with("rot_") && key.starts_with("key_")).then_some((rotation, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_their_rotation_and_key() {
        let label = token_key_label("rot_1", "key_2");
        assert_eq!(label, "keyward:rot_1:key_2");
        assert_eq!(parse_token_key_label(&label), Some(("rot_1", "key_2")));
        for foreign in ["keyward-kek", "keyward:rot_1", "keyward:x:key_2", "other:rot_1:key_2"] {
            assert_eq!(parse_token_key_label(foreign), None, "{foreign}");
        }
        assert_eq!("pkcs11".parse::<Custody>().unwrap(), Custody::Pkcs11);
        let e = "hsm".parse::<Custody>().unwrap_err().to_string();
        assert_eq!(e, "custody: \"hsm\" is not sealed or pkcs11");
        assert_eq!(serde_json::to_string(&Custody::Pkcs11).unwrap(), "\"pkcs11\"");
    }
}
