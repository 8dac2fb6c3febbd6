//! Signing key pairs generated inside the token: RSA 2048/3072/4096 or EC P-256/P-384, private
//! halves sensitive and never extractable; the public halves read back as [`PublicKey`]s.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::Session;
use der::Decode;
use der::asn1::{OctetString, UintRef};
use keyward_crypto::{KeyKind, KeySpec, PublicKey};

use crate::error::Error;
use crate::pool::ObjectKind;
use crate::token::{Token, find_all, find_one};

/// DER of the named curve OID prime256v1 (1.2.840.10045.3.1.7), as CKA_EC_PARAMS.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER of the named curve OID secp384r1 (1.3.132.0.34), as CKA_EC_PARAMS.
const P384_PARAMS: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// A key pair in the token: its label (also its CKA_ID) and public half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKey {
    /// The objects' CKA_LABEL (and CKA_ID, as bytes).
    pub label: String,
    /// The key's kind (and RSA size).
    pub kind: KeyKind,
    /// The public half, read from the token's public-key object.
    pub public: PublicKey,
}

impl Token {
    /// Generates a key pair of `spec` in the token, labelled `label` (refused if a private key
    /// with that label exists).
    pub fn generate_key_pair(&self, spec: KeySpec, label: &str) -> Result<TokenKey, Error> {
        // Validates RSA sizes the same way the software path does.
        if let KeySpec::Rsa(bits) = spec {
            KeySpec::rsa(bits)?;
        }
        self.with_session("generate key pair", |session| {
            if find_one(session, ObjectKind::Private, label)?.is_some() {
                return Err(Error::AlreadyExists { label: label.to_owned() });
            }
            let common = |verify_or_sign: Attribute| {
                vec![
                    Attribute::Token(true),
                    Attribute::Label(label.as_bytes().to_vec()),
                    Attribute::Id(label.as_bytes().to_vec()),
                    verify_or_sign,
                ]
            };
            let mut public = common(Attribute::Verify(true));
            let mut private = common(Attribute::Sign(true));
            private.extend([
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Decrypt(false),
            ]);
            let mechanism = match spec {
                KeySpec::Rsa(bits) => {
                    let bits = u64::try_from(bits).map_err(|_| Error::Malformed("RSA size"))?;
                    public.extend([
                        Attribute::ModulusBits(bits.into()),
                        Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
                        Attribute::Encrypt(false),
                    ]);
                    Mechanism::RsaPkcsKeyPairGen
                }
                KeySpec::P256 | KeySpec::P384 => {
                    let params = if spec == KeySpec::P256 { P256_PARAMS } else { P384_PARAMS };
                    public.push(Attribute::EcParams(params.to_vec()));
                    Mechanism::EccKeyPairGen
                }
            };
            let (public_handle, _) = session
                .generate_key_pair(&mechanism, &public, &private)
                .map_err(|e| Error::from_ck("generate key pair", e))?;
            let public = read_public(session, public_handle)?;
            Ok(TokenKey { label: label.to_owned(), kind: public.kind(), public })
        })
    }

    /// The key pair labelled `label`, with its public half read from the token, if it exists
    /// (both halves must).
    pub fn find_key(&self, label: &str) -> Result<Option<TokenKey>, Error> {
        self.with_session("find key", |session| {
            let private = find_one(session, ObjectKind::Private, label)?;
            let public = find_one(session, ObjectKind::Public, label)?;
            let (Some(_), Some(public_handle)) = (private, public) else {
                // Not found, unless the token itself went away.
                self.confirm_present("find key")?;
                return Ok(None);
            };
            let public = read_public(session, public_handle)?;
            Ok(Some(TokenKey { label: label.to_owned(), kind: public.kind(), public }))
        })
    }

    /// Sets `CKA_ID` of both halves of the key pair labelled `label` to `id` (keyward identifies
    /// a key by its JWK thumbprint, known once the key exists).
    pub fn set_key_id(&self, label: &str, id: &[u8]) -> Result<(), Error> {
        self.with_session("set key id", |session| {
            for kind in [ObjectKind::Private, ObjectKind::Public] {
                let handle = find_one(session, kind, label)?.ok_or_else(|| {
                    // Not found, unless the token itself went away.
                    match self.confirm_present("set key id") {
                        Ok(()) => Error::KeyNotFound { label: label.to_owned() },
                        Err(gone) => gone,
                    }
                })?;
                session
                    .update_attributes(handle, &[Attribute::Id(id.to_vec())])
                    .map_err(|e| Error::from_ck("set key id", e))?;
            }
            Ok(())
        })
    }

    /// The labels of the private-key objects whose label starts with `prefix`, sorted.
    pub fn list_key_labels(&self, prefix: &str) -> Result<Vec<String>, Error> {
        self.with_session("list keys", |session| {
            let class = [Attribute::Class(cryptoki::object::ObjectClass::PRIVATE_KEY)];
            let handles = session.find_objects(&class).map_err(|e| Error::from_ck("find objects", e))?;
            let mut labels = Vec::new();
            for handle in handles {
                let attrs = session
                    .get_attributes(handle, &[AttributeType::Label])
                    .map_err(|e| Error::from_ck("read label", e))?;
                for attr in attrs {
                    if let Attribute::Label(bytes) = attr
                        && let Ok(label) = String::from_utf8(bytes)
                        && label.starts_with(prefix)
                    {
                        labels.push(label);
                    }
                }
            }
            self.confirm_present("list keys")?;
            labels.sort();
            labels.dedup();
            Ok(labels)
        })
    }

    /// Destroys the private and public objects labelled `label`; `Ok(false)` if there were
    /// none (so calling it twice is fine).
    pub fn destroy_key(&self, label: &str) -> Result<bool, Error> {
        let destroyed = self.with_session("destroy key", |session| {
            let mut handles: Vec<ObjectHandle> = find_all(session, ObjectKind::Private, label)?;
            handles.extend(find_all(session, ObjectKind::Public, label)?);
            for handle in &handles {
                session.destroy_object(*handle).map_err(|e| Error::from_ck("destroy object", e))?;
            }
            if handles.is_empty() {
                self.confirm_present("destroy key")?;
            }
            Ok(!handles.is_empty())
        });
        self.evict(ObjectKind::Private, label);
        self.evict(ObjectKind::Public, label);
        destroyed
    }
}

/// Reads an RSA or EC public-key object into a [`PublicKey`].
fn read_public(session: &Session, handle: ObjectHandle) -> Result<PublicKey, Error> {
    let types = [AttributeType::KeyType];
    let attrs = session.get_attributes(handle, &types).map_err(|e| Error::from_ck("read key type", e))?;
    let is_rsa = attrs.iter().any(|a| matches!(a, Attribute::KeyType(t) if *t == cryptoki::object::KeyType::RSA));
    if is_rsa {
        let types = [AttributeType::Modulus, AttributeType::PublicExponent];
        let (mut n, mut e) = (None, None);
        for attr in session.get_attributes(handle, &types).map_err(|e| Error::from_ck("read RSA public key", e))? {
            match attr {
                Attribute::Modulus(v) => n = Some(v),
                Attribute::PublicExponent(v) => e = Some(v),
                _ => {}
            }
        }
        let (Some(n), Some(e)) = (n, e) else { return Err(Error::Malformed("RSA public key attributes")) };
        rsa_public(&n, &e)
    } else {
        let types = [AttributeType::EcParams, AttributeType::EcPoint];
        let (mut params, mut point) = (None, None);
        for attr in session.get_attributes(handle, &types).map_err(|e| Error::from_ck("read EC public key", e))? {
            match attr {
                Attribute::EcParams(v) => params = Some(v),
                Attribute::EcPoint(v) => point = Some(v),
                _ => {}
            }
        }
        let (Some(params), Some(point)) = (params, point) else {
            return Err(Error::Malformed("EC public key attributes"));
        };
        ec_public(&params, &point)
    }
}

/// A PKCS#1 `RSAPublicKey` from the modulus and exponent (big-endian).
fn rsa_public(n: &[u8], e: &[u8]) -> Result<PublicKey, Error> {
    use der::Encode;
    let bad = || Error::Malformed("RSA modulus or exponent");
    let key = pkcs1::RsaPublicKey {
        modulus: UintRef::new(n).map_err(|_| bad())?,
        public_exponent: UintRef::new(e).map_err(|_| bad())?,
    };
    let der = key.to_der().map_err(|_| bad())?;
    Ok(PublicKey::from_pkcs1_der(&der)?)
}

/// An EC public key from CKA_EC_PARAMS (a named curve OID) and CKA_EC_POINT (a DER OCTET
/// STRING around the SEC1 point, or the bare point some modules return).
fn ec_public(params: &[u8], point: &[u8]) -> Result<PublicKey, Error> {
    let wrapped = OctetString::from_der(point).ok();
    let sec1 = wrapped.as_ref().map_or(point, |os| os.as_bytes());
    let bad = || Error::Malformed("EC point");
    if params == P256_PARAMS {
        p256::PublicKey::from_sec1_bytes(sec1).map(PublicKey::P256).map_err(|_| bad())
    } else if params == P384_PARAMS {
        p384::PublicKey::from_sec1_bytes(sec1).map(PublicKey::P384).map_err(|_| bad())
    } else {
        Err(Error::Malformed("EC curve other than P-256 or P-384"))
    }
}
