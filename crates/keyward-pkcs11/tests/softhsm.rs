//! keyward-pkcs11 against a real SoftHSM2 token, with `pkcs11-tool` and `openssl` as witnesses:
//! opening, login errors, the AES KEK, and signing with every algorithm.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use keyward_crypto::{Algorithm, KeySpec, Signer, verify_signature};
use keyward_pkcs11::{Error, Token, TokenConfig, TokenSigner};
use support::{Hsm, run};
use zeroize::Zeroizing;

#[test]
fn open_and_check() {
    run("open_and_check", || {
        let hsm = Hsm::new();
        let token = Token::open(hsm.config(3)).unwrap();
        token.check().unwrap();
        let stats = token.pool_stats();
        assert_eq!((stats.size, stats.open, stats.in_use), (3, 3, 0));
        assert_eq!(token.label(), hsm.label);
        // A second Token on the same module in the same process (already initialised) works.
        let again = Token::open(hsm.config(1)).unwrap();
        again.check().unwrap();
        token.check().unwrap();
    });
}

#[test]
fn wrong_pin_is_a_typed_error_without_the_pin() {
    run("wrong_pin_is_a_typed_error_without_the_pin", || {
        let hsm = Hsm::new();
        let secret = "wrong-pin-4711-secret";
        let mut config = hsm.config(2);
        config.pin = Zeroizing::new(secret.to_owned());
        assert!(!format!("{config:?}").contains(secret));
        let right = hsm.config(1);
        assert!(!format!("{right:?}").contains(&hsm.pin));
        let err = Token::open(config).unwrap_err();
        assert!(matches!(err, Error::Login { .. }), "{err:?}");
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(secret), "{text}");
            assert!(!text.contains(&hsm.pin), "{text}");
        }
        assert!(!err.is_unavailable());
        let token = Token::open(right).unwrap();
        assert!(!format!("{token:?}").contains(&hsm.pin));
    });
}

#[test]
fn unknown_label_and_bad_module() {
    run("unknown_label_and_bad_module", || {
        let hsm = Hsm::new();
        let config = TokenConfig::new(&hsm.module, "no-such-token", Zeroizing::new(hsm.pin.clone()));
        let err = Token::open(config).unwrap_err();
        assert!(matches!(&err, Error::TokenNotFound { label } if label == "no-such-token"), "{err:?}");
        assert!(!err.to_string().contains(&hsm.pin));
        let config = TokenConfig::new("/nonexistent/libnothing.so", &hsm.label, Zeroizing::new(hsm.pin.clone()));
        let err = Token::open(config).unwrap_err();
        assert!(
            matches!(&err, Error::Module { path, .. } if path == std::path::Path::new("/nonexistent/libnothing.so"))
        );
    });
}

#[test]
fn aes_kek_create_encrypt_decrypt_tamper() {
    run("aes_kek_create_encrypt_decrypt_tamper", || {
        let hsm = Hsm::new();
        let token = Token::open(hsm.config(2)).unwrap();
        assert!(!token.aes_key_exists("kek-1").unwrap());
        token.create_aes_key("kek-1").unwrap();
        assert!(token.aes_key_exists("kek-1").unwrap());
        assert!(matches!(token.create_aes_key("kek-1"), Err(Error::AlreadyExists { .. })));

        let (iv, aad, msg) = ([7u8; 12], b"keyward:dek:v1".as_slice(), b"a data encryption key, 32 bytes".as_slice());
        let sealed = token.aes_gcm_encrypt("kek-1", &iv, aad, msg).unwrap();
        assert_eq!(sealed.len(), msg.len() + keyward_pkcs11::TAG_LEN);
        assert_eq!(token.aes_gcm_decrypt("kek-1", &iv, aad, &sealed).unwrap().as_slice(), msg);
        // Same inputs, same output (deterministic given the IV): plain GCM, not a wrap format.
        assert_eq!(token.aes_gcm_encrypt("kek-1", &iv, aad, msg).unwrap(), sealed);

        for i in [0, msg.len() - 1, msg.len(), sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(
                matches!(token.aes_gcm_decrypt("kek-1", &iv, aad, &bad), Err(Error::Decrypt)),
                "bit flip at {i}: {:?}",
                token.aes_gcm_decrypt("kek-1", &iv, aad, &bad)
            );
        }
        assert!(matches!(token.aes_gcm_decrypt("kek-1", &iv, b"other aad", &sealed), Err(Error::Decrypt)));
        assert!(matches!(token.aes_gcm_decrypt("kek-1", &[8u8; 12], aad, &sealed), Err(Error::Decrypt)));
        assert!(matches!(token.aes_gcm_decrypt("kek-1", &iv, aad, &sealed[..10]), Err(Error::Decrypt)));
        assert!(matches!(token.aes_gcm_encrypt("no-kek", &iv, aad, msg), Err(Error::KeyNotFound { .. })));
        // A failed decryption leaves the session usable.
        assert_eq!(token.aes_gcm_decrypt("kek-1", &iv, aad, &sealed).unwrap().as_slice(), msg);

        let listed = hsm.list_objects();
        assert!(listed.contains("kek-1"), "{listed}");
        let out = tempfile::tempdir().unwrap();
        let out = out.path().join("value");
        let read = hsm.pkcs11_tool(&[
            "--read-object",
            "--type",
            "secrkey",
            "--label",
            "kek-1",
            "--output-file",
            out.to_str().unwrap(),
        ]);
        assert!(
            !read.status.success() && !out.exists(),
            "the KEK's value was readable: {}",
            String::from_utf8_lossy(&read.stdout)
        );
    });
}

fn sign_and_verify(spec: KeySpec, alg: Algorithm) {
    let hsm = Hsm::new();
    let token = Token::open(hsm.config(2)).unwrap();
    let label = format!("kw-key-{alg}");
    let key = token.generate_key_pair(spec, &label).unwrap();
    assert_eq!(key.kind, spec.kind());
    assert_eq!(token.find_key(&label).unwrap().as_ref(), Some(&key));
    let signer = TokenSigner::new(token.clone(), key.clone(), alg).unwrap();
    let msg = b"header.payload of a client assertion";
    let sig = signer.sign(&mut support::os_rng(), msg).unwrap();
    verify_signature(alg, &key.public, msg, &sig).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (pem, msg_path, sig_path) = (dir.path().join("pub.pem"), dir.path().join("msg"), dir.path().join("sig"));
    std::fs::write(&pem, key.public.to_spki_pem().unwrap()).unwrap();
    std::fs::write(&msg_path, msg).unwrap();
    let sig_file = match alg {
        Algorithm::ES256 => p256::ecdsa::Signature::from_slice(&sig).unwrap().to_der().as_bytes().to_vec(),
        Algorithm::ES384 => p384::ecdsa::Signature::from_slice(&sig).unwrap().to_der().as_bytes().to_vec(),
        _ => sig.clone(),
    };
    std::fs::write(&sig_path, sig_file).unwrap();
    let digest = match alg {
        Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 => "-sha256",
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => "-sha384",
        Algorithm::RS512 => "-sha512",
    };
    let (pem, msg_path, sig_path) = (pem.to_str().unwrap(), msg_path.to_str().unwrap(), sig_path.to_str().unwrap());
    let mut args = vec!["dgst", digest, "-verify", pem, "-signature", sig_path];
    let salt = if alg == Algorithm::PS256 { "rsa_pss_saltlen:32" } else { "rsa_pss_saltlen:48" };
    if matches!(alg, Algorithm::PS256 | Algorithm::PS384) {
        args.extend(["-sigopt", "rsa_padding_mode:pss", "-sigopt", salt]);
    }
    args.push(msg_path);
    let out = support::openssl(&args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("Verified OK"), "openssl {args:?}: {text}");

    // The wrong algorithm for the key is refused.
    let wrong = if matches!(spec, KeySpec::Rsa(_)) { Algorithm::ES256 } else { Algorithm::RS256 };
    assert!(matches!(TokenSigner::new(token.clone(), key, wrong), Err(Error::Crypto(_))));
}

#[test]
fn sign_rs256() {
    run("sign_rs256", || sign_and_verify(KeySpec::Rsa(2048), Algorithm::RS256));
}

#[test]
fn sign_rs384() {
    run("sign_rs384", || sign_and_verify(KeySpec::Rsa(3072), Algorithm::RS384));
}

#[test]
fn sign_rs512() {
    run("sign_rs512", || sign_and_verify(KeySpec::Rsa(2048), Algorithm::RS512));
}

#[test]
fn sign_ps256() {
    run("sign_ps256", || sign_and_verify(KeySpec::Rsa(2048), Algorithm::PS256));
}

#[test]
fn sign_ps384() {
    run("sign_ps384", || sign_and_verify(KeySpec::Rsa(2048), Algorithm::PS384));
}

#[test]
fn sign_es256() {
    run("sign_es256", || sign_and_verify(KeySpec::P256, Algorithm::ES256));
}

#[test]
fn sign_es384() {
    run("sign_es384", || sign_and_verify(KeySpec::P384, Algorithm::ES384));
}
