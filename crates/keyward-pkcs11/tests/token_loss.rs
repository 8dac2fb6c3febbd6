//! The token goes away while keyward runs, and comes back: calls fail with
//! `Error::is_unavailable()` (no panic, no hang), then work again without reopening.
//!
//! SoftHSM2 keeps each token in its own directory under `directories.tokendir`; moving that
//! directory out of the token directory makes the module drop the token (it rescans the
//! directory on C_GetSlotList and on object access), moving it back makes it reappear.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use keyward_crypto::{Algorithm, KeySpec, Signer};
use keyward_pkcs11::{Token, TokenSigner};
use support::{Hsm, run};

#[test]
fn token_loss_and_recovery() {
    run("token_loss_and_recovery", || {
        let hsm = Hsm::new();
        let token = Token::open(hsm.config(2)).unwrap();
        let key = token.generate_key_pair(KeySpec::P256, "kw-loss").unwrap();
        let signer = TokenSigner::new(token.clone(), key, Algorithm::ES256).unwrap();
        token.create_aes_key("kek").unwrap();
        signer.sign_message(b"before").unwrap();
        token.check().unwrap();

        // Take the token away: every kind of call fails as unavailable, fast.
        let away = hsm.token_dir.parent().unwrap().parent().unwrap().join("away");
        std::fs::rename(&hsm.token_dir, &away).unwrap();
        let start = Instant::now();
        let err = signer.sign_message(b"while away").unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        for _ in 0..3 {
            let err = signer.sign_message(b"while away").unwrap_err();
            assert!(err.is_unavailable(), "{err:?}");
            assert!(token.check().unwrap_err().is_unavailable());
            let err = token.aes_gcm_encrypt("kek", &[0; 12], b"", b"x").unwrap_err();
            assert!(err.is_unavailable(), "{err:?}");
            assert!(token.find_key("kw-loss").unwrap_err().is_unavailable());
            assert!(token.reconnect().unwrap_err().is_unavailable());
            std::thread::sleep(keyward_pkcs11::RETRY_INTERVAL);
        }
        assert!(start.elapsed() < Duration::from_secs(10), "failing took {:?}", start.elapsed());
        // The crypto core's view of the same failure: its opaque signing error, not a panic.
        let rng = &mut support::os_rng();
        assert!(matches!(signer.sign(rng, b"x"), Err(keyward_crypto::Error::Signing)));

        // Bring it back: the same Token and signer work again by themselves.
        std::fs::rename(&away, &hsm.token_dir).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let sig = loop {
            match signer.sign_message(b"after") {
                Ok(sig) => break sig,
                Err(e) if e.is_unavailable() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("no recovery: {e:?}"),
            }
        };
        keyward_crypto::verify_signature(Algorithm::ES256, signer.public_key(), b"after", &sig).unwrap();
        token.check().unwrap();
        let sealed = token.aes_gcm_encrypt("kek", &[0; 12], b"", b"x").unwrap();
        assert_eq!(token.aes_gcm_decrypt("kek", &[0; 12], b"", &sealed).unwrap().as_slice(), b"x");
        assert!(token.pool_stats().connects >= 2, "{:?}", token.pool_stats());
    });
}

#[test]
fn explicit_reconnect_after_return() {
    run("explicit_reconnect_after_return", || {
        let hsm = Hsm::new();
        let token = Token::open(hsm.config(2)).unwrap();
        let key = token.generate_key_pair(KeySpec::P256, "kw-loss").unwrap();
        let signer = TokenSigner::new(token.clone(), key, Algorithm::ES256).unwrap();
        let away = hsm.token_dir.parent().unwrap().parent().unwrap().join("away");
        std::fs::rename(&hsm.token_dir, &away).unwrap();
        assert!(token.check().unwrap_err().is_unavailable());
        std::fs::rename(&away, &hsm.token_dir).unwrap();
        // An operator's "retry now" needs no waiting for the retry interval.
        token.reconnect().unwrap();
        signer.sign_message(b"after").unwrap();
    });
}
