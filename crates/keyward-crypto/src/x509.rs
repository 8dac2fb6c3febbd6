//! Auth0-shaped self-signed certificates (CONTRACT.md §3.2), built by rcgen over any
//! [`Signer`], and the certificate reading keyward needs.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::{Decode, Encode};
use rcgen::{DistinguishedName, DnType, DnValue, IsCa, SerialNumber};
use sha1::{Digest, Sha1};
use x509_cert::der::asn1::ObjectIdentifier;

use crate::alg::{Algorithm, KeyKind};
use crate::error::Error;
use crate::key::PublicKey;
use crate::pem::{PemBlock, pem_crlf, pem_lf};
use crate::signer::Signer;

/// Auth0 connection-key certificates live exactly 365 days.
pub const DEFAULT_CERT_LIFETIME: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The longest common name X.520 allows (ub-common-name).
const MAX_COMMON_NAME: usize = 64;

const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// What to put in a self-signed certificate.
#[derive(Debug, Clone)]
pub struct CertificateParams {
    /// The subject and issuer common name.
    pub common_name: String,
    /// notBefore; truncated to whole seconds.
    pub not_before: SystemTime,
    /// notAfter − notBefore; 365 days for Auth0's connection keys.
    pub lifetime: Duration,
}

impl CertificateParams {
    /// Auth0's shape: `CN=<name>`, valid for 365 days from `now`.
    pub fn new(common_name: impl Into<String>, now: SystemTime) -> Self {
        Self { common_name: common_name.into(), not_before: now, lifetime: DEFAULT_CERT_LIFETIME }
    }
}

/// A parsed X.509 certificate with its DER.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    parsed: x509_cert::Certificate,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Certificate({})", self.subject_dn())
    }
}

impl Certificate {
    /// Builds the self-signed certificate Auth0 would mint for `signer`'s key: X.509 v3,
    /// `CN=<name>` subject and issuer (PrintableString where it fits, else UTF8String), a random
    /// positive serial of exactly 9 DER content bytes, basicConstraints critical CA:TRUE,
    /// subjectKeyIdentifier, keyUsage critical digitalSignature+keyCertSign.
    ///
    /// `signer` must use the certificate algorithm for its key ([`Algorithm::for_certificate`]):
    /// RS256 for RSA, ES256 for P-256, ES384 for P-384.
    pub fn self_signed(signer: &dyn Signer, params: &CertificateParams, rng: crate::Rng<'_>) -> Result<Self, Error> {
        let public = signer.public_key();
        let wanted = Algorithm::for_certificate(public.kind());
        if signer.algorithm() != wanted {
            return Err(Error::Certificate(format!(
                "a {} key's certificate is signed with {wanted}, not {}",
                public.kind(),
                signer.algorithm()
            )));
        }
        let name = params.common_name.as_str();
        if name.is_empty() || name.chars().count() > MAX_COMMON_NAME {
            return Err(Error::Certificate(format!("common name must be 1 to {MAX_COMMON_NAME} characters")));
        }
        let lifetime = params.lifetime.as_secs();
        if lifetime == 0 {
            return Err(Error::Certificate("certificate lifetime must be at least one second".into()));
        }
        let start = params
            .not_before
            .duration_since(UNIX_EPOCH)
            .map_err(|_| Error::Certificate("notBefore precedes 1970".into()))?
            .as_secs();
        let not_before = offset_time(start)?;
        let not_after = offset_time(start.saturating_add(lifetime))?;

        let raw = public.raw_public_key()?;
        let mut serial = [0u8; 9];
        rng.fill_bytes(&mut serial);
        // Positive and exactly 9 content bytes: high bit clear, first byte non-zero.
        serial[0] = (serial[0] % 0x7f) + 1;

        let mut dn = DistinguishedName::new();
        let value = match rcgen::string::PrintableString::try_from(name) {
            Ok(p) => DnValue::PrintableString(p),
            Err(_) => DnValue::Utf8String(name.to_owned()),
        };
        dn.push(DnType::CommonName, value);

        let mut p = rcgen::CertificateParams::default();
        p.not_before = not_before;
        p.not_after = not_after;
        p.serial_number = Some(SerialNumber::from_slice(&serial));
        p.distinguished_name = dn;
        // rcgen writes its own extensions in a fixed order; Auth0's certificates carry
        // basicConstraints, subjectKeyIdentifier, keyUsage in that order, so we leave rcgen's
        // off and pass these three, encoded by x509-cert's typed structures.
        p.is_ca = IsCa::NoCa;
        p.use_authority_key_identifier_extension = false;
        p.custom_extensions = auth0_extensions(&raw)?;

        let key = RcgenKey { signer, raw, rng: RefCell::new(rng) };
        let cert = p.self_signed(&key).map_err(|e| Error::Certificate(e.to_string()))?;
        Self::from_der(cert.der())
    }

    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let parsed = x509_cert::Certificate::from_der(der)
            .map_err(|e| Error::Certificate(format!("not a valid X.509 certificate ({e})")))?;
        Ok(Self { der: der.to_vec(), parsed })
    }

    /// Parses the first `CERTIFICATE` block of a PEM document.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let block = PemBlock::find(pem, &["CERTIFICATE"])?;
        Self::from_der(&block.der)
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM as Auth0 emits it (`\r\n`).
    pub fn to_pem_crlf(&self) -> Result<String, Error> {
        pem_crlf("CERTIFICATE", &self.der)
    }

    /// PEM with `\n` line endings.
    pub fn to_pem(&self) -> Result<String, Error> {
        pem_lf("CERTIFICATE", &self.der)
    }

    /// The subject public key.
    pub fn public_key(&self) -> Result<PublicKey, Error> {
        let spki = self
            .parsed
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| Error::Certificate(e.to_string()))?;
        PublicKey::from_spki_der(&spki)
    }

    /// The subject in OpenSSL's one-line form as Auth0 reports it: `/CN=<name>`.
    pub fn subject_dn(&self) -> String {
        let mut out = String::new();
        for atv in self.parsed.tbs_certificate().subject().iter() {
            let key = short_name(atv.oid);
            let value = attribute_text(&atv.value);
            out.push_str(&format!("/{key}={value}"));
        }
        out
    }

    /// The subject's common name, if it has one.
    pub fn common_name(&self) -> Option<String> {
        self.parsed
            .tbs_certificate()
            .subject()
            .iter()
            .find(|atv| atv.oid == COMMON_NAME)
            .map(|atv| attribute_text(&atv.value))
    }

    /// notBefore.
    pub fn not_before(&self) -> SystemTime {
        self.parsed.tbs_certificate().validity().not_before.to_system_time()
    }

    /// notAfter.
    pub fn not_after(&self) -> SystemTime {
        self.parsed.tbs_certificate().validity().not_after.to_system_time()
    }

    /// The serial number's DER content bytes.
    pub fn serial(&self) -> Vec<u8> {
        self.parsed.tbs_certificate().serial_number().as_bytes().to_vec()
    }

    /// Checks the certificate's signature against its own public key (it is self-signed).
    pub fn verify_self_signed(&self) -> Result<(), Error> {
        let key = self.public_key()?;
        let alg = match (self.parsed.signature_algorithm().oid, key.kind()) {
            (SHA256_WITH_RSA, KeyKind::Rsa { .. }) => Algorithm::RS256,
            (ECDSA_WITH_SHA256, KeyKind::P256) => Algorithm::ES256,
            (ECDSA_WITH_SHA384, KeyKind::P384) => Algorithm::ES384,
            (oid, kind) => {
                return Err(Error::Certificate(format!("unexpected signature algorithm {oid} for a {kind} key")));
            }
        };
        let tbs = self.parsed.tbs_certificate().to_der().map_err(|e| Error::Certificate(e.to_string()))?;
        let raw = self.parsed.signature().raw_bytes();
        let sig = match key.kind() {
            KeyKind::Rsa { .. } => Ok(raw.to_vec()),
            KeyKind::P256 => p256::ecdsa::Signature::from_der(raw).map(|s| s.to_bytes().to_vec()),
            KeyKind::P384 => p384::ecdsa::Signature::from_der(raw).map(|s| s.to_bytes().to_vec()),
        }
        .map_err(|_| Error::Jws(crate::JwsError::Verification))?;
        crate::signer::rustcrypto_verify(alg, &key, &tbs, &sig)
    }
}

/// basicConstraints (critical, CA:TRUE), subjectKeyIdentifier (RFC 5280 §4.2.1.2 method 1:
/// SHA-1 of the subjectPublicKey bits), keyUsage (critical, digitalSignature + keyCertSign).
fn auth0_extensions(raw_public_key: &[u8]) -> Result<Vec<rcgen::CustomExtension>, Error> {
    use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
    let der = |r: der::Result<Vec<u8>>| r.map_err(|e| Error::Certificate(e.to_string()));
    let ski = der::asn1::OctetString::new(Sha1::digest(raw_public_key).to_vec())
        .map_err(|e| Error::Certificate(e.to_string()))?;
    let ext = |oid: &[u64], content: Vec<u8>, critical: bool| {
        let mut e = rcgen::CustomExtension::from_oid_content(oid, content);
        e.set_criticality(critical);
        e
    };
    Ok(vec![
        ext(&[2, 5, 29, 19], der(BasicConstraints { ca: true, path_len_constraint: None }.to_der())?, true),
        ext(&[2, 5, 29, 14], der(SubjectKeyIdentifier(ski).to_der())?, false),
        ext(&[2, 5, 29, 15], der(KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyCertSign).to_der())?, true),
    ])
}

fn offset_time(unix: u64) -> Result<time::OffsetDateTime, Error> {
    i64::try_from(unix)
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .filter(|t| t.year() <= 9999)
        .ok_or_else(|| Error::Certificate("validity beyond year 9999".into()))
}

fn short_name(oid: ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "2.5.4.3" => "CN".into(),
        "2.5.4.6" => "C".into(),
        "2.5.4.7" => "L".into(),
        "2.5.4.8" => "ST".into(),
        "2.5.4.10" => "O".into(),
        "2.5.4.11" => "OU".into(),
        "1.2.840.113549.1.9.1" => "emailAddress".into(),
        other => other.to_owned(),
    }
}

fn attribute_text(value: &der::Any) -> String {
    match std::str::from_utf8(value.value()) {
        Ok(s) => s.to_owned(),
        Err(_) => value.value().iter().map(|b| format!("\\x{b:02X}")).collect(),
    }
}

/// rcgen's view of one of our signers.
struct RcgenKey<'a, 'r> {
    signer: &'a dyn Signer,
    raw: Vec<u8>,
    rng: RefCell<crate::Rng<'r>>,
}

impl rcgen::PublicKeyData for RcgenKey<'_, '_> {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self.signer.public_key().kind() {
            KeyKind::Rsa { .. } => &rcgen::PKCS_RSA_SHA256,
            KeyKind::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyKind::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        }
    }
}

impl rcgen::SigningKey for RcgenKey<'_, '_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let mut rng = self.rng.borrow_mut();
        let sig = self.signer.sign(&mut **rng, msg).map_err(|_| rcgen::Error::RemoteKeyError)?;
        // X.509 carries ECDSA signatures DER-encoded, JWS as R||S.
        let der = match self.signer.public_key().kind() {
            KeyKind::Rsa { .. } => Ok(sig),
            KeyKind::P256 => p256::ecdsa::Signature::from_slice(&sig).map(|s| s.to_der().as_bytes().to_vec()),
            KeyKind::P384 => p384::ecdsa::Signature::from_slice(&sig).map(|s| s.to_der().as_bytes().to_vec()),
        };
        der.map_err(|_| rcgen::Error::RemoteKeyError)
    }
}
impl PublicKey {
    /// Reads a public key from PEM: SPKI (`PUBLIC KEY`), PKCS#1 (`RSA PUBLIC KEY`) or the
    /// subject key of a `CERTIFICATE` (here, beside the certificate parser, so that keys need
    /// not know certificates).
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let block = PemBlock::find(pem, &["PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE"])?;
        match block.label.as_str() {
            "PUBLIC KEY" => Self::from_spki_der(&block.der),
            "RSA PUBLIC KEY" => Self::from_pkcs1_der(&block.der),
            _ => Certificate::from_der(&block.der)?.public_key(),
        }
    }
}
