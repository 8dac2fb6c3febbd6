//! Token objects: non-extractable private keys, listing and destroying (witnessed by
//! `pkcs11-tool`), the session pool's bound, and certificates signed in the token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::SystemTime;

use keyward_crypto::{Algorithm, Certificate, CertificateParams, KeySpec, Signer};
use keyward_pkcs11::{Error, Token, TokenSigner};
use support::{Hsm, run};

#[test]
fn private_key_is_not_extractable_but_listed() {
    run("private_key_is_not_extractable_but_listed", || {
        let hsm = Hsm::new();
        let token = Token::open(hsm.config(1)).unwrap();
        token.generate_key_pair(KeySpec::P256, "kw-conn-1").unwrap();
        assert!(matches!(token.generate_key_pair(KeySpec::P256, "kw-conn-1"), Err(Error::AlreadyExists { .. })));
        let listed = hsm.list_objects();
        let private = listed.split("Private Key Object").nth(1).expect("a private key object");
        let private = private.split("Object;").next().unwrap_or(private);
        assert!(private.contains("kw-conn-1"), "{listed}");
        assert!(private.contains("sensitive") && private.contains("never extractable"), "{listed}");
        // pkcs11-tool refuses to read a private key out of the token (and there is no value to
        // read: the module does not hand out a sensitive key's value).
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("value");
        let out = out.to_str().unwrap();
        let read =
            hsm.pkcs11_tool(&["--read-object", "--type", "privkey", "--label", "kw-conn-1", "--output-file", out]);
        assert!(!std::path::Path::new(out).exists(), "private key read: {}", String::from_utf8_lossy(&read.stdout));
        // The public half is readable, and is the key we read back.
        let read = hsm.pkcs11_tool(&["--read-object", "--type", "pubkey", "--label", "kw-conn-1"]);
        assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stderr));
    });
}

#[test]
fn list_and_destroy() {
    run("list_and_destroy", || {
        let hsm = Hsm::new();
        let token = Token::open(hsm.config(2)).unwrap();
        for label in ["kw-a", "kw-b", "other-c"] {
            token.generate_key_pair(KeySpec::P256, label).unwrap();
        }
        assert_eq!(token.list_key_labels("kw-").unwrap(), ["kw-a", "kw-b"]);
        assert_eq!(token.list_key_labels("").unwrap(), ["kw-a", "kw-b", "other-c"]);
        assert!(token.destroy_key("kw-a").unwrap());
        assert!(!token.destroy_key("kw-a").unwrap());
        assert_eq!(token.find_key("kw-a").unwrap(), None);
        assert_eq!(token.list_key_labels("kw-").unwrap(), ["kw-b"]);
        let listed = hsm.list_objects();
        assert!(!listed.contains("kw-a"), "{listed}");
        assert!(listed.contains("kw-b"), "{listed}");
        // A signer whose key was destroyed fails with a typed error, not a panic.
        let key = token.find_key("kw-b").unwrap().unwrap();
        let signer = TokenSigner::new(token.clone(), key, Algorithm::ES256).unwrap();
        signer.sign_message(b"x").unwrap();
        assert!(token.destroy_key("kw-b").unwrap());
        assert!(matches!(signer.sign_message(b"x"), Err(Error::KeyNotFound { .. })));
    });
}

#[test]
fn pool_is_bounded() {
    run("pool_is_bounded", || {
        let hsm = Hsm::new();
        let token = Token::open(hsm.config(2)).unwrap();
        let key = token.generate_key_pair(KeySpec::P256, "kw-pool").unwrap();
        let signer = std::sync::Arc::new(TokenSigner::new(token.clone(), key, Algorithm::ES256).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let signer = signer.clone();
                std::thread::spawn(move || {
                    for j in 0..20 {
                        let msg = format!("message {i} {j}");
                        let sig = signer.sign(&mut support::os_rng(), msg.as_bytes()).unwrap();
                        keyward_crypto::verify_signature(Algorithm::ES256, signer.public_key(), msg.as_bytes(), &sig)
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let stats = token.pool_stats();
        assert_eq!(stats.peak_in_use, 2, "{stats:?}");
        assert!(stats.open <= 2, "{stats:?}");
        assert_eq!(stats.in_use, 0);
    });
}

fn certificate(spec: KeySpec) {
    let hsm = Hsm::new();
    let token = Token::open(hsm.config(1)).unwrap();
    let key = token.generate_key_pair(spec, "kw-cert").unwrap();
    let alg = Algorithm::for_certificate(key.kind);
    let signer = TokenSigner::new(token, key, alg).unwrap();
    let cert =
        Certificate::self_signed(&signer, &CertificateParams::new("test", SystemTime::now()), &mut support::os_rng())
            .unwrap();
    assert_eq!(&cert.public_key().unwrap(), signer.public_key());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cert.pem");
    std::fs::write(&path, cert.to_pem().unwrap()).unwrap();
    let path = path.to_str().unwrap();
    let text = support::openssl(&["x509", "-noout", "-text", "-in", path]);
    assert!(text.status.success(), "{}", String::from_utf8_lossy(&text.stderr));
    let out = support::openssl(&["verify", "-CAfile", path, path]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn certificate_rsa() {
    run("certificate_rsa", || certificate(KeySpec::Rsa(2048)));
}

#[test]
fn certificate_p256() {
    run("certificate_p256", || certificate(KeySpec::P256));
}

#[test]
fn certificate_p384() {
    run("certificate_p384", || certificate(KeySpec::P384));
}

#[test]
fn busy_after_the_wait() {
    run("busy_after_the_wait", || {
        let hsm = Hsm::new();
        let mut config = hsm.config(1);
        config.session_wait = std::time::Duration::from_millis(50);
        let token = Token::open(config).unwrap();
        // RSA-4096 generation holds the only session for a good while.
        let busy = token.clone();
        let keygen = std::thread::spawn(move || busy.generate_key_pair(KeySpec::Rsa(4096), "kw-big"));
        std::thread::sleep(std::time::Duration::from_millis(100));
        let err = token.check().unwrap_err();
        assert!(matches!(err, Error::Busy { sessions: 1, .. }), "{err:?}");
        assert!(!err.is_unavailable());
        let key = keygen.join().unwrap().unwrap();
        assert_eq!(key.kind, keyward_crypto::KeyKind::Rsa { bits: 4096 });
        token.check().unwrap();
    });
}
