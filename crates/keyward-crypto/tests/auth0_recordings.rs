//! Real Auth0 responses (tests/data/auth0-recorded-keys.json): we recompute every kid,
//! fingerprint and thumbprint Auth0 reported from its certificate, rebuild its `pkcs` byte for
//! byte, and check our certificates have the same shape as Auth0's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use keyward_crypto::{
    Algorithm, Backend, CertArtifacts, Certificate, CertificateParams, PemBlock, PublicKey, certificates_from_pkcs7,
    degenerate_pkcs7, fingerprint, pem_crlf, signer_for, thumbprint,
};
use serde_json::Value;

fn recorded() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/auth0-recorded-keys.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn entries(section: &str) -> Vec<Value> {
    let all = recorded()[section].as_array().unwrap().clone();
    assert!(all.len() >= 5, "too few recorded {section}");
    all
}

fn s<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field).and_then(Value::as_str)
}

#[test]
fn recomputes_every_recorded_kid_fingerprint_and_thumbprint() {
    for key in entries("connection_keys") {
        let source = s(&key, "source").unwrap();
        let cert = Certificate::from_pem(s(&key, "cert").unwrap()).unwrap();
        if let Some(fp) = s(&key, "fingerprint") {
            assert_eq!(fingerprint(cert.der()), fp, "{source}");
        }
        if let Some(tp) = s(&key, "thumbprint") {
            assert_eq!(thumbprint(cert.der()), tp, "{source}");
        }
        // The cert PEM re-encodes to Auth0's exact string (64 columns, \r\n).
        assert_eq!(cert.to_pem_crlf().unwrap(), s(&key, "cert").unwrap(), "{source}");
        if s(&key, "kind") == Some("connection_key") {
            // Connection-key kids are RFC 7638 thumbprints; tenant signing keys use random ids.
            assert_eq!(cert.public_key().unwrap().thumbprint().unwrap(), s(&key, "kid").unwrap(), "{source}");
            let art = CertArtifacts::from_certificate(&cert, None).unwrap();
            if let Some(dn) = s(&key, "subject_dn") {
                assert_eq!(art.subject_dn, dn, "{source}");
            }
            if let Some(alg) = s(&key, "algorithm") {
                assert_eq!(art.algorithm.as_str(), alg, "{source}");
            }
        }
    }
}

#[test]
fn rebuilds_every_recorded_pkcs_byte_for_byte() {
    let mut rebuilt = 0;
    for key in entries("connection_keys") {
        let Some(pkcs) = s(&key, "pkcs") else { continue };
        let source = s(&key, "source").unwrap();
        let cert = Certificate::from_pem(s(&key, "cert").unwrap()).unwrap();
        let ours = pem_crlf("PKCS7", &degenerate_pkcs7(cert.der()).unwrap()).unwrap();
        assert_eq!(ours, pkcs, "{source}");
        assert_eq!(CertArtifacts::from_certificate(&cert, None).unwrap().pkcs, pkcs, "{source}");
        let block = PemBlock::find(pkcs, &["PKCS7"]).unwrap();
        assert_eq!(certificates_from_pkcs7(&block.der).unwrap(), vec![cert.der().to_vec()], "{source}");
        rebuilt += 1;
    }
    assert!(rebuilt >= 8, "only {rebuilt} recorded pkcs values");
}

#[test]
fn recorded_credential_kids_are_thumbprints_of_the_uploaded_pem() {
    for cred in entries("credentials") {
        let key = PublicKey::from_pem(s(&cred, "pem").unwrap()).unwrap();
        assert_eq!(key.thumbprint().unwrap(), s(&cred, "kid").unwrap(), "{}", s(&cred, "source").unwrap());
    }
}

/// The DER of each extension in order: (oid, critical).
fn extension_shape(cert: &Certificate) -> Vec<(String, bool)> {
    use der::Decode;
    let parsed = x509_cert::Certificate::from_der(cert.der()).unwrap();
    parsed.tbs_certificate().extensions().unwrap().iter().map(|e| (e.extn_id.to_string(), e.critical)).collect()
}

#[test]
fn our_certificates_have_auth0s_shape() {
    let key = entries("connection_keys").into_iter().find(|k| s(k, "pkcs").is_some()).unwrap();
    let theirs = Certificate::from_pem(s(&key, "cert").unwrap()).unwrap();
    let name = theirs.common_name().unwrap();
    let ours_key = &common::keys()[0];
    let signer = signer_for(Backend::RustCrypto, ours_key, Algorithm::RS256).unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_748_625_727_722);
    let ours = Certificate::self_signed(&*signer, &CertificateParams::new(&name, now), &mut common::os_rng()).unwrap();

    assert_eq!(extension_shape(&ours), extension_shape(&theirs));
    assert_eq!(ours.subject_dn(), theirs.subject_dn());
    assert_eq!(ours.serial().len(), 9);
    assert_eq!(theirs.serial().len(), 9);
    assert_eq!(
        ours.not_after().duration_since(ours.not_before()).unwrap(),
        theirs.not_after().duration_since(theirs.not_before()).unwrap()
    );
    // notBefore is the given time truncated to whole seconds.
    assert_eq!(ours.not_before(), SystemTime::UNIX_EPOCH + Duration::from_secs(1_748_625_727));
    ours.verify_self_signed().unwrap();
    theirs.verify_self_signed().unwrap();
}
