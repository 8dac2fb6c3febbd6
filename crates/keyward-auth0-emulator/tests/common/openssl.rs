//! OpenSSL (the command-line tool) as the independent witness for what the emulator publishes:
//! certificates, PKCS#7 bundles and RS256 JWT signatures.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use base64ct::{Base64, Base64UrlUnpadded, Encoding};

/// Runs `openssl args` in `dir`; its stdout, or `None` when it fails.
fn run(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What `openssl x509` reads from a certificate PEM.
pub struct X509 {
    /// `subject=CN=…` (RFC 2253 form).
    pub subject: String,
    pub issuer: String,
    /// `SHA1 Fingerprint=AA:BB:…`, value only.
    pub sha1_fingerprint: String,
    /// The `-text` dump.
    pub text: String,
    /// Whether `openssl verify` accepts it as its own trust anchor (self-signed, CA, keyCertSign).
    pub self_signed: bool,
}

pub fn x509(pem: &str) -> X509 {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), format!("{pem}\n")).unwrap();
    let field = |flag: &str| {
        run(dir.path(), &["x509", "-in", "cert.pem", "-noout", flag, "-nameopt", "RFC2253"]).unwrap().trim().to_owned()
    };
    let fp = run(dir.path(), &["x509", "-in", "cert.pem", "-noout", "-fingerprint", "-sha1"]).unwrap();
    X509 {
        subject: field("-subject"),
        issuer: field("-issuer"),
        sha1_fingerprint: fp.trim().split_once('=').unwrap().1.to_owned(),
        text: run(dir.path(), &["x509", "-in", "cert.pem", "-noout", "-text"]).unwrap(),
        self_signed: run(dir.path(), &["verify", "-CAfile", "cert.pem", "cert.pem"]).is_some(),
    }
}

/// The certificates of a PKCS#7 PEM, as OpenSSL prints them (PEM, `\n` line ends).
pub fn pkcs7_certs(pem: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p7.pem"), format!("{pem}\n")).unwrap();
    run(dir.path(), &["pkcs7", "-in", "p7.pem", "-print_certs"]).unwrap()
}

/// A certificate PEM from a JWK `x5c` entry (base64 DER).
pub fn pem_from_x5c(x5c: &str) -> String {
    let der = Base64::decode_vec(x5c).unwrap();
    let b64 = Base64::encode_string(&der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----", lines.join("\n"))
}

/// Whether OpenSSL verifies the RS256 signature of compact JWS `token` with the key of the
/// certificate `cert_pem`.
pub fn verifies_rs256(token: &str, cert_pem: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else { return false };
    let Ok(signature) = Base64UrlUnpadded::decode_vec(s) else { return false };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), format!("{cert_pem}\n")).unwrap();
    std::fs::write(dir.path().join("input"), format!("{h}.{p}")).unwrap();
    std::fs::write(dir.path().join("sig"), signature).unwrap();
    let public = run(dir.path(), &["x509", "-in", "cert.pem", "-noout", "-pubkey"]).unwrap();
    std::fs::write(dir.path().join("pub.pem"), public).unwrap();
    run(dir.path(), &["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "input"]).is_some()
}
