//! [`TokenSigner`]: a [`keyward_crypto::Signer`] whose private key never leaves the token.

use std::fmt;

use keyward_crypto::{Algorithm, PublicKey, Signer};

use crate::error::Error;
use crate::keys::TokenKey;
use crate::mechanism::{Plan, ecdsa_to_jws, plan};
use crate::pool::ObjectKind;
use crate::token::Token;

/// Signs with a token key and one JWS algorithm, on a pooled session. The private key's handle
/// is cached per pool generation (found by label once, again after a reconnect).
pub struct TokenSigner {
    token: Token,
    key: TokenKey,
    alg: Algorithm,
}

impl TokenSigner {
    /// A signer for `key` with `alg`; refuses an algorithm that does not fit the key.
    pub fn new(token: Token, key: TokenKey, alg: Algorithm) -> Result<Self, Error> {
        if !alg.fits(key.kind) {
            return Err(keyward_crypto::Error::AlgorithmKeyMismatch { alg, key: key.kind }.into());
        }
        Ok(Self { token, key, alg })
    }

    /// The key's label.
    pub fn label(&self) -> &str {
        &self.key.label
    }

    /// Signs `message`, with this crate's error (for callers that need
    /// [`Error::is_unavailable`]); [`Signer::sign`] is this mapped onto the crypto core's error.
    pub fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let op = "sign";
        let map = |e| Error::from_ck(op, e);
        match plan(self.alg) {
            Plan::Direct(mechanism) => self.token.with_object(
                op,
                ObjectKind::Private,
                &self.key.label,
                |s, k| s.sign(&mechanism, k, message),
                map,
            ),
            Plan::Ecdsa { digest, width } => {
                let digest = digest(message);
                let mechanism = cryptoki::mechanism::Mechanism::Ecdsa;
                let sig = self.token.with_object(
                    op,
                    ObjectKind::Private,
                    &self.key.label,
                    |s, k| s.sign(&mechanism, k, &digest),
                    map,
                )?;
                ecdsa_to_jws(&sig, width)
            }
        }
    }
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("token", &self.token.label())
            .field("key", &self.key.label)
            .field("alg", &self.alg)
            .finish()
    }
}

impl Signer for TokenSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }

    fn public_key(&self) -> &PublicKey {
        &self.key.public
    }

    /// The token draws PSS salts and ECDSA nonces itself; `rng` is not used.
    fn sign(&self, _rng: keyward_crypto::Rng<'_>, message: &[u8]) -> Result<Vec<u8>, keyward_crypto::Error> {
        self.sign_message(message).map_err(|e| match e {
            Error::Crypto(inner) => inner,
            // The crypto core has no "backend unavailable" variant: every token failure is the
            // opaque internal `Signing`; `sign_message` keeps the detail.
            _ => keyward_crypto::Error::Signing,
        })
    }
}
