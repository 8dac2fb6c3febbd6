//! The engine's side of keys kept in the PKCS#11 token: the token for a rotation that asks for
//! `pkcs11` custody, and the sweep that destroys the token objects the store no longer
//! references (retired, revoked or compensated keys, and keys of attempts that stopped before
//! the store recorded them).

use keyward_pkcs11::Token;

use super::Engine;
use crate::Error;
use crate::custody::{TOKEN_KEY_PREFIX, parse_token_key_label};
use crate::store::RotationState;

impl Engine {
    /// Whether this server has a PKCS#11 token (for keys with `pkcs11` custody).
    pub fn has_token(&self) -> bool {
        self.custody.is_some()
    }

    /// The token keys with `pkcs11` custody are made in.
    pub(super) fn token(&self) -> Result<Token, Error> {
        self.custody.clone().ok_or_else(|| {
            Error::FailedPrecondition("custody: pkcs11 needs a PKCS#11 token, and this server has none".into())
        })
    }

    /// Destroys every signing-key object keyward made in the token that nothing will use: its
    /// key's row is gone or its key material destroyed (retired, revoked, a failed rotation's
    /// key), or the store never recorded it and its rotation has moved past PLANNED (an attempt
    /// that crashed or lost its lease before saving it; while the rotation is PLANNED the object
    /// may be the one its driver is about to save). Returns how many it destroyed.
    pub async fn sweep_token(&self) -> Result<usize, Error> {
        let Some(token) = self.custody.clone() else { return Ok(0) };
        let t = token.clone();
        let labels = blocking(move || t.list_key_labels(TOKEN_KEY_PREFIX)).await?;
        let mut destroyed = 0;
        for label in labels {
            // Objects of another naming are not keyward's to judge.
            let Some((rotation_id, key_id)) = parse_token_key_label(&label) else { continue };
            match self.store.key(key_id).await? {
                Some(k) if k.token_label() == Some(label.as_str()) => continue,
                Some(_) => {}
                None => {
                    let rotation = self.store.rotation(rotation_id).await?;
                    if rotation.is_some_and(|r| r.state == RotationState::Planned) {
                        continue;
                    }
                    // Its driver may have saved it (and left PLANNED) between the two reads:
                    // once the rotation has moved on, a second look at the key is final.
                    if self.store.key(key_id).await?.is_some() {
                        continue;
                    }
                }
            }
            let (t, l) = (token.clone(), label.clone());
            if blocking(move || t.destroy_key(&l)).await? {
                tracing::info!(label = %label, "destroyed a token key nothing references");
                destroyed += 1;
            }
        }
        Ok(destroyed)
    }
}

/// Runs a token call on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, keyward_pkcs11::Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f).await.map_err(Error::resource("the PKCS#11 token"))?.map_err(Error::Custody)
}
