//! The strings Auth0 reports for a connection key (CONTRACT.md §3.2), computed from its
//! certificate.

use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::alg::Algorithm;
use crate::error::Error;
use crate::jwk::Jwk;
use crate::pem::pem_crlf;
use crate::pkcs7::degenerate_pkcs7;
use crate::x509::Certificate;

/// SHA-1 of the DER certificate, uppercase hex, bytes joined by `:`.
pub fn fingerprint(cert_der: &[u8]) -> String {
    let digest = Sha1::digest(cert_der);
    digest.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// SHA-1 of the DER certificate, uppercase hex, no separators.
pub fn thumbprint(cert_der: &[u8]) -> String {
    Sha1::digest(cert_der).iter().map(|b| format!("{b:02X}")).collect()
}

/// base64url (unpadded) SHA-256 of the DER certificate.
pub fn thumbprint_sha256(cert_der: &[u8]) -> String {
    crate::b64::encode(&Sha256::digest(cert_der))
}

/// Everything Auth0 returns for a connection key, plus `thumbprint_sha256` and the JWK.
#[derive(Debug, Clone, Serialize)]
pub struct CertArtifacts {
    /// RFC 7638 thumbprint of the certificate's key.
    pub kid: String,
    /// The JWS algorithm the key signs with.
    pub algorithm: Algorithm,
    /// Always `signing`.
    pub key_use: &'static str,
    /// `/CN=<name>`.
    pub subject_dn: String,
    /// The certificate PEM, `\r\n` line endings.
    pub cert: String,
    /// The certs-only PKCS#7 PEM (`PKCS7`), `\r\n` line endings.
    pub pkcs: String,
    /// SHA-1 fingerprint with `:`.
    pub fingerprint: String,
    /// SHA-1 fingerprint without separators.
    pub thumbprint: String,
    /// base64url SHA-256 of the DER certificate.
    pub thumbprint_sha256: String,
    /// The public JWK (kid, alg, use).
    pub jwk: Jwk,
}

impl CertArtifacts {
    /// Computes every field from `cert`; `alg` defaults to the key's certificate algorithm.
    pub fn from_certificate(cert: &Certificate, alg: Option<Algorithm>) -> Result<Self, Error> {
        let key = cert.public_key()?;
        let algorithm = alg.unwrap_or_else(|| Algorithm::for_certificate(key.kind()));
        crate::signer::check_key_for_alg(&key, algorithm)?;
        let der = cert.der();
        Ok(Self {
            kid: key.thumbprint()?,
            algorithm,
            key_use: "signing",
            subject_dn: cert.subject_dn(),
            cert: cert.to_pem_crlf()?,
            pkcs: pem_crlf("PKCS7", &degenerate_pkcs7(der)?)?,
            fingerprint: fingerprint(der),
            thumbprint: thumbprint(der),
            thumbprint_sha256: thumbprint_sha256(der),
            jwk: key.to_jwk(Some(algorithm))?,
        })
    }
}
