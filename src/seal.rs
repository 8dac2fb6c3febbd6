//! Private keys sealed at rest: AES-256-GCM under a random data key per private key, the data
//! key wrapped by the key-encryption key (KEK). The associated data binds tenant, client and key
//! id, so a ciphertext moved to another row fails to open; rotating the KEK rewraps data keys
//! only.
//!
//! A KEK is either 32 bytes in memory or an AES-256 key inside a PKCS#11 token that never leaves
//! it: the token runs the same AES-256-GCM (`CKM_AES_GCM`, 96-bit nonce, 128-bit tag) over the
//! data key, so both wrap data keys into the same `nonce || ciphertext || tag` blob.

use std::fmt;

use aes_gcm::aead::Aead;
use aes_gcm::aead::Payload;
use aes_gcm::{Aes256Gcm, KeyInit};
use base64ct::{Base64, Encoding};
use keyward_pkcs11::Token;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::Error;

const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;

/// What a `pkcs11:LABEL` line of a KEK ring starts with.
pub const TOKEN_KEK_PREFIX: &str = "pkcs11:";

/// The key-encryption key: 32 bytes in memory (zeroized on drop, never printed), or a key in a
/// PKCS#11 token that keyward only ever asks to wrap and unwrap.
pub struct Kek {
    id: String,
    material: Material,
}

enum Material {
    Memory(Zeroizing<[u8; KEY_LEN]>),
    Token { token: Token, label: String },
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.material {
            Material::Memory(_) => write!(f, "Kek({}, [secret key elided])", self.id),
            Material::Token { token, label } => write!(f, "Kek({}, token {:?} key {label:?})", self.id, token.label()),
        }
    }
}

impl Kek {
    /// A KEK from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let key: [u8; KEY_LEN] =
            bytes.try_into().map_err(|_| Error::Kek(format!("a KEK is {KEY_LEN} bytes, got {}", bytes.len())))?;
        let digest = Sha256::digest(key);
        let id = format!("kek-{}", digest[..8].iter().map(|b| format!("{b:02x}")).collect::<String>());
        Ok(Self { id, material: Material::Memory(Zeroizing::new(key)) })
    }

    /// The AES-256 key labelled `label` in `token` (which must hold it: see
    /// [`Kek::check_in_token`]). Its id names the label, so a token restored from backup or
    /// another member of an HSM cluster holding the same key opens the same data keys.
    pub fn in_token(token: Token, label: &str) -> Self {
        Self { id: format!("kek-pkcs11-{label}"), material: Material::Token { token, label: label.to_owned() } }
    }

    /// For a KEK in a token: that the token holds its key.
    pub fn check_in_token(&self) -> Result<(), Error> {
        let Material::Token { token, label } = &self.material else { return Ok(()) };
        if token.aes_key_exists(label).map_err(Error::Custody)? {
            Ok(())
        } else {
            Err(Error::Kek(format!(
                "{TOKEN_KEK_PREFIX}{label}: token {:?} holds no AES key with that label",
                token.label()
            )))
        }
    }

    /// The label of its key in the token, if it lives in one.
    pub fn token_label(&self) -> Option<&str> {
        match &self.material {
            Material::Memory(_) => None,
            Material::Token { label, .. } => Some(label),
        }
    }

    /// A KEK from its text form: 32 bytes in standard base64 (padded) or hex.
    pub fn from_text(text: &str) -> Result<Self, Error> {
        let t = text.trim();
        let bytes = if t.len() == 2 * KEY_LEN && t.chars().all(|c| c.is_ascii_hexdigit()) {
            Zeroizing::new(
                (0..KEY_LEN).filter_map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok()).collect::<Vec<u8>>(),
            )
        } else {
            Zeroizing::new(Base64::decode_vec(t).map_err(|_| Error::Kek("a KEK is 32 bytes in base64 or hex".into()))?)
        };
        Self::from_bytes(&bytes)
    }

    /// A fresh random KEK.
    pub fn generate(rng: &mut dyn rand_core::CryptoRng) -> Self {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(key.as_mut());
        // A 32-byte array always makes a KEK.
        Self::from_bytes(key.as_ref()).unwrap_or_else(|_| unreachable!("32 bytes"))
    }

    /// The text form, for a KEK ring: the key in base64, or `pkcs11:LABEL` for a key in a token.
    pub fn to_text(&self) -> Zeroizing<String> {
        match &self.material {
            Material::Memory(key) => Zeroizing::new(Base64::encode_string(key.as_ref())),
            Material::Token { label, .. } => Zeroizing::new(format!("{TOKEN_KEK_PREFIX}{label}")),
        }
    }

    /// A short identifier derived from the key (not secret: a truncated SHA-256).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `msg` sealed under this KEK: `nonce || ciphertext || tag`.
    fn encrypt(&self, rng: &mut dyn rand_core::CryptoRng, msg: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        match &self.material {
            // The key has the right length by construction.
            Material::Memory(key) => encrypt(&Aes256Gcm::new((&**key).into()), rng, msg, aad),
            Material::Token { token, label } => {
                let mut nonce = [0u8; NONCE_LEN];
                rng.fill_bytes(&mut nonce);
                let ct = token.aes_gcm_encrypt(label, &nonce, aad, msg).map_err(Error::Custody)?;
                Ok([nonce.as_slice(), &ct].concat())
            }
        }
    }

    /// Opens what [`Kek::encrypt`] sealed. A wrong key or a changed blob is [`Error::Seal`]; a
    /// token that is away is [`Error::Custody`].
    fn decrypt(&self, blob: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        match &self.material {
            Material::Memory(key) => decrypt(&Aes256Gcm::new((&**key).into()), blob, aad),
            Material::Token { token, label } => {
                let (nonce, ct) = blob.split_at_checked(NONCE_LEN).ok_or(Error::Seal)?;
                let nonce: &[u8; NONCE_LEN] = nonce.try_into().map_err(|_| Error::Seal)?;
                token.aes_gcm_decrypt(label, nonce, aad, ct).map_err(|e| match e {
                    keyward_pkcs11::Error::Decrypt => Error::Seal,
                    other => Error::Custody(other),
                })
            }
        }
    }
}

/// Whose private key a sealed blob holds; bound into the associated data.
#[derive(Debug, Clone, Copy)]
pub struct KeyIdentity<'a> {
    /// Tenant name.
    pub tenant: &'a str,
    /// Auth0 client id.
    pub client_id: &'a str,
    /// keyward's key id.
    pub key_id: &'a str,
}

impl KeyIdentity<'_> {
    fn aad(&self, purpose: &str, kek_id: &str) -> Vec<u8> {
        // NUL separators: none of the parts can contain NUL (they are validated identifiers).
        [purpose, self.tenant, self.client_id, self.key_id, kek_id].join("\0").into_bytes()
    }
}

/// A sealed private key: the data key wrapped by a KEK, and the key sealed by the data key.
/// Each blob is nonce || ciphertext || tag.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Which KEK wrapped the data key.
    pub kek_id: String,
    /// The wrapped data key.
    pub wrapped_dek: Vec<u8>,
    /// The sealed private key.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({}, {} bytes)", self.kek_id, self.ciphertext.len())
    }
}

fn encrypt(cipher: &Aes256Gcm, rng: &mut dyn rand_core::CryptoRng, msg: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let ct = cipher.encrypt(&nonce.into(), Payload { msg, aad }).map_err(|_| Error::Seal)?;
    Ok([nonce.as_slice(), &ct].concat())
}

fn decrypt(cipher: &Aes256Gcm, blob: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    if blob.len() < NONCE_LEN {
        return Err(Error::Seal);
    }
    let (nonce, ct) = blob.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Error::Seal)?;
    cipher.decrypt(&nonce.into(), Payload { msg: ct, aad }).map(Zeroizing::new).map_err(|_| Error::Seal)
}

/// Seals `plaintext` (a PKCS#8 private key) for `who` under a fresh data key wrapped by `kek`.
pub fn seal(
    kek: &Kek,
    who: KeyIdentity<'_>,
    plaintext: &[u8],
    rng: &mut dyn rand_core::CryptoRng,
) -> Result<Sealed, Error> {
    let mut dek = Zeroizing::new([0u8; KEY_LEN]);
    rng.fill_bytes(dek.as_mut());
    let data_cipher = Aes256Gcm::new((&*dek).into());
    let ciphertext = encrypt(&data_cipher, rng, plaintext, &who.aad("keyward.key.v1", ""))?;
    let wrapped_dek = kek.encrypt(rng, dek.as_ref(), &who.aad("keyward.dek.v1", kek.id()))?;
    Ok(Sealed { kek_id: kek.id().to_owned(), wrapped_dek, ciphertext })
}

/// Opens a sealed key with whichever of `keks` wrapped it. Any failure of the key itself (unknown
/// KEK, another row's ciphertext, tampering) is the one opaque [`Error::Seal`]; a KEK token that
/// is away is [`Error::Custody`], which a retry may cure.
pub fn open(keks: &[&Kek], who: KeyIdentity<'_>, sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, Error> {
    let dek = unwrap_dek(keks, who, sealed)?;
    let data_cipher = Aes256Gcm::new_from_slice(&dek).map_err(|_| Error::Seal)?;
    decrypt(&data_cipher, &sealed.ciphertext, &who.aad("keyward.key.v1", ""))
}

fn unwrap_dek(keks: &[&Kek], who: KeyIdentity<'_>, sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, Error> {
    let kek = keks.iter().find(|k| k.id() == sealed.kek_id).ok_or(Error::Seal)?;
    kek.decrypt(&sealed.wrapped_dek, &who.aad("keyward.dek.v1", kek.id()))
}

/// Rewraps the data key under `new` (KEK rotation); the sealed key itself is unchanged.
pub fn rewrap(
    keks: &[&Kek],
    new: &Kek,
    who: KeyIdentity<'_>,
    sealed: &Sealed,
    rng: &mut dyn rand_core::CryptoRng,
) -> Result<Sealed, Error> {
    let dek = unwrap_dek(keks, who, sealed)?;
    let wrapped_dek = new.encrypt(rng, &dek, &who.aad("keyward.dek.v1", new.id()))?;
    Ok(Sealed { kek_id: new.id().to_owned(), wrapped_dek, ciphertext: sealed.ciphertext.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
        rand_core::UnwrapErr(getrandom::SysRng)
    }

    const WHO: KeyIdentity<'static> = KeyIdentity { tenant: "dev", client_id: "app", key_id: "k1" };

    #[test]
    fn seal_open_rewrap_and_refusals() {
        let kek = Kek::generate(&mut rng());
        let secret = b"-----BEGIN PRIVATE KEY----- not really";
        let sealed = seal(&kek, WHO, secret, &mut rng()).unwrap();
        assert!(!sealed.ciphertext.windows(10).any(|w| secret.windows(10).any(|s| s == w)));
        assert_eq!(open(&[&kek], WHO, &sealed).unwrap().as_slice(), secret);

        // Another row's identity, another KEK, or one flipped bit: the same opaque error.
        let moved = KeyIdentity { client_id: "other-app", ..WHO };
        assert!(matches!(open(&[&kek], moved, &sealed), Err(Error::Seal)));
        let other = Kek::generate(&mut rng());
        assert!(matches!(open(&[&other], WHO, &sealed), Err(Error::Seal)));
        let mut tampered = sealed.clone();
        let last = tampered.ciphertext.len() - 1;
        tampered.ciphertext[last] ^= 1;
        assert!(matches!(open(&[&kek], WHO, &tampered), Err(Error::Seal)));
        assert!(matches!(open(&[&kek], WHO, &Sealed { ciphertext: vec![1, 2], ..sealed.clone() }), Err(Error::Seal)));

        // Rewrapped under a new KEK: opens with it alone; the ciphertext is untouched.
        let rewrapped = rewrap(&[&kek], &other, WHO, &sealed, &mut rng()).unwrap();
        assert_eq!(rewrapped.kek_id, other.id());
        assert_eq!(rewrapped.ciphertext, sealed.ciphertext);
        assert_eq!(open(&[&other], WHO, &rewrapped).unwrap().as_slice(), secret);
        assert!(open(&[&kek], WHO, &rewrapped).is_err());
    }

    #[test]
    fn kek_text_forms_and_debug() {
        let kek = Kek::generate(&mut rng());
        let text = kek.to_text();
        assert_eq!(Kek::from_text(&text).unwrap().id(), kek.id());
        let hex: String = Base64::decode_vec(&text).unwrap().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(Kek::from_text(&hex).unwrap().id(), kek.id());
        for bad in ["", "short", "AAAA", &"g".repeat(64)] {
            assert!(matches!(Kek::from_text(bad), Err(Error::Kek(_))), "{bad}");
        }
        let debug = format!("{kek:?}");
        assert!(debug.contains("elided") && !debug.contains(text.as_str()) && !debug.contains(&hex));
    }
}
