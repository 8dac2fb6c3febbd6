//! The KEK: a non-extractable AES-256 key inside the token, used with AES-GCM (96-bit IV,
//! 128-bit tag), so what it seals is standard AES-GCM output: ciphertext || tag.

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use zeroize::Zeroizing;

use crate::error::{Error, rv_of};
use crate::pool::ObjectKind;
use crate::token::{Token, find_one};

/// The GCM tag length in bits.
const TAG_BITS: u64 = 128;
/// The GCM tag length in bytes.
pub const TAG_LEN: usize = 16;

impl Token {
    /// Generates a token AES-256 key labelled `label`: private, sensitive, never extractable,
    /// for encryption and decryption only. Refuses a label that is already taken.
    pub fn create_aes_key(&self, label: &str) -> Result<(), Error> {
        self.with_session("create AES key", |session| {
            if find_one(session, ObjectKind::Secret, label)?.is_some() {
                return Err(Error::AlreadyExists { label: label.to_owned() });
            }
            let template = [
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(32.into()),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Wrap(false),
                Attribute::Unwrap(false),
                Attribute::Label(label.as_bytes().to_vec()),
            ];
            session
                .generate_key(&Mechanism::AesKeyGen, &template)
                .map_err(|e| Error::from_ck("generate AES key", e))?;
            Ok(())
        })
    }

    /// Whether an AES key labelled `label` exists.
    pub fn aes_key_exists(&self, label: &str) -> Result<bool, Error> {
        self.with_session("find AES key", |session| {
            let found = find_one(session, ObjectKind::Secret, label)?.is_some();
            if !found {
                self.confirm_present("find AES key")?;
            }
            Ok(found)
        })
    }

    /// AES-256-GCM encryption under the token key `label`: ciphertext || 16-byte tag.
    ///
    /// The caller owns IV uniqueness (a random 96-bit IV per message).
    pub fn aes_gcm_encrypt(&self, label: &str, iv: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        self.with_object(
            "AES-GCM encrypt",
            ObjectKind::Secret,
            label,
            |session, key| {
                let mut iv = *iv;
                let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())?;
                session.encrypt(&Mechanism::AesGcm(params), key, plaintext)
            },
            |e| Error::from_ck("AES-GCM encrypt", e),
        )
    }

    /// AES-256-GCM decryption of ciphertext || tag under the token key `label`. A failed tag
    /// check (or wrong IV or AAD) is the opaque [`Error::Decrypt`].
    pub fn aes_gcm_decrypt(
        &self,
        label: &str,
        iv: &[u8; 12],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        if ciphertext_and_tag.len() < TAG_LEN {
            return Err(Error::Decrypt);
        }
        let result = self.with_object(
            "AES-GCM decrypt",
            ObjectKind::Secret,
            label,
            |session, key| {
                let mut iv = *iv;
                let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())?;
                session.decrypt(&Mechanism::AesGcm(params), key, ciphertext_and_tag).map(Zeroizing::new)
            },
            decrypt_error,
        );
        if let Err(Error::Decrypt) = result {
            // SoftHSM2 reports a bad tag as CKR_GENERAL_ERROR: make sure it was not the token.
            self.confirm_present("AES-GCM decrypt")?;
        }
        result
    }
}

/// A failed authentication is opaque; token trouble stays what it is. Modules differ in how
/// they report a bad tag (SoftHSM2: CKR_GENERAL_ERROR), so the generic failures count too; the
/// caller then checks that the token is still there.
fn decrypt_error(e: CkError) -> Error {
    match rv_of(&e) {
        Some(
            RvError::GeneralError
            | RvError::FunctionFailed
            | RvError::EncryptedDataInvalid
            | RvError::EncryptedDataLenRange
            | RvError::DataInvalid
            | RvError::DataLenRange,
        ) => Error::Decrypt,
        _ => Error::from_ck("AES-GCM decrypt", e),
    }
}
