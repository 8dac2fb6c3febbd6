//! `[tls]`: the gRPC server's certificate and key, and the client CA that lets callers
//! authenticate by certificate (mTLS).

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(super) struct TlsFile {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
}

/// gRPC server TLS; with a client CA, callers may authenticate by certificate (mTLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Server certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Server private key (PEM).
    pub key_file: PathBuf,
    /// Trusted client CA (PEM); enables client certificates.
    pub client_ca_file: Option<PathBuf>,
}

/// Resolves `[tls]`: its files must exist, and principals known by certificate
/// (`client_certificates`) need a client CA.
pub(super) fn resolve(file: Option<TlsFile>, client_certificates: bool, errors: &mut Vec<String>) -> Option<TlsConfig> {
    let tls =
        file.map(|t| TlsConfig { cert_file: t.cert_file, key_file: t.key_file, client_ca_file: t.client_ca_file });
    if let Some(t) = &tls {
        for (field, path) in [
            ("tls.cert_file", Some(&t.cert_file)),
            ("tls.key_file", Some(&t.key_file)),
            ("tls.client_ca_file", t.client_ca_file.as_ref()),
        ] {
            if let Some(p) = path
                && !p.exists()
            {
                errors.push(format!("{field}: {} does not exist", p.display()));
            }
        }
    }
    if client_certificates && tls.as_ref().is_none_or(|t| t.client_ca_file.is_none()) {
        errors.push("principals.mtls_san: needs tls.client_ca_file (client certificates)".into());
    }
    tls
}
