//! How the store keeps a key whose private half lives in the PKCS#11 token.
//!
//! A token key keeps the same row as a sealed one: its `kek_id` is [`TOKEN_KEY_KEK_ID`], its
//! wrapped data key is empty and its "sealed key" is the token object's label. So "holds key
//! material" stays one test for both (a non-empty sealed key), and destroying the material
//! empties it for both; what empties a token key's label also destroys its token object (the
//! engine's sweep of the token).

use super::KeyRecord;
use crate::custody::Custody;

/// The `kek_id` of a key that lives in the token.
pub const TOKEN_KEY_KEK_ID: &str = "pkcs11";

impl KeyRecord {
    /// Where its private half lives.
    pub fn custody(&self) -> Custody {
        if self.sealed.kek_id == TOKEN_KEY_KEK_ID { Custody::Pkcs11 } else { Custody::Sealed }
    }

    /// The label of its token object, while it has one.
    pub fn token_label(&self) -> Option<&str> {
        let label = std::str::from_utf8(&self.sealed.ciphertext).ok().filter(|l| !l.is_empty());
        label.filter(|_| self.custody() == Custody::Pkcs11)
    }
}
