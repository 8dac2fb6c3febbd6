//! Property tests: keygen → export → import → sign → verify, and tamper → reject, for every
//! algorithm and both backends, each backend's signatures verified by the other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use keyward_crypto::{
    Algorithm, Backend, Error, JwsError, KeySpec, PrivateKey, PublicKey, sign_compact, signer_for, verify_compact,
    verify_signature,
};
use proptest::prelude::*;

fn verify_all_backends(alg: Algorithm, key: &PublicKey, msg: &[u8], sig: &[u8]) -> Vec<Result<(), Error>> {
    #[cfg_attr(not(feature = "aws-lc"), allow(unused_mut))]
    let mut out = vec![verify_signature(alg, key, msg, sig)];
    #[cfg(feature = "aws-lc")]
    out.push(keyward_crypto::aws_lc_verify(alg, key, msg, sig));
    out
}

fn is_verification_failure(r: &Result<(), Error>) -> bool {
    matches!(r, Err(Error::Jws(JwsError::Verification)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn sign_verify_and_tamper(alg_index in 0usize..7, msg in proptest::collection::vec(any::<u8>(), 0..600), flip in any::<prop::sample::Index>(), seed in any::<u64>()) {
        let alg = Algorithm::ALL[alg_index];
        let key = common::key_for(alg);
        // Export and import: the key survives PKCS#8 PEM.
        let pem = key.to_pkcs8_pem().unwrap();
        let imported = PrivateKey::from_pem(&pem).unwrap();
        prop_assert_eq!(imported.public_key(), key.public_key());

        for backend in common::backends() {
            let signer = signer_for(backend, &imported, alg).unwrap();
            let sig = signer.sign(&mut common::rng(seed), &msg).unwrap();
            for verdict in verify_all_backends(alg, &key.public_key(), &msg, &sig) {
                prop_assert!(verdict.is_ok(), "{alg} {backend}: {verdict:?}");
            }
            // One flipped bit in the signature, or in the message, is refused by every verifier.
            let mut bad_sig = sig.clone();
            let i = flip.index(bad_sig.len());
            bad_sig[i] ^= 1 << (seed % 8);
            for verdict in verify_all_backends(alg, &key.public_key(), &msg, &bad_sig) {
                prop_assert!(is_verification_failure(&verdict), "{alg} {backend} tampered sig: {verdict:?}");
            }
            let mut bad_msg = msg.clone();
            bad_msg.push(0);
            for verdict in verify_all_backends(alg, &key.public_key(), &bad_msg, &sig) {
                prop_assert!(is_verification_failure(&verdict), "{alg} {backend} tampered msg: {verdict:?}");
            }
        }
    }

    #[test]
    fn jws_compact_round_trip(alg_index in 0usize..7, payload in "[ -~]{0,200}", kid in proptest::option::of("[A-Za-z0-9_-]{10,43}")) {
        let alg = Algorithm::ALL[alg_index];
        let key = common::key_for(alg);
        for backend in common::backends() {
            let signer = signer_for(backend, key, alg).unwrap();
            let token = sign_compact(&*signer, kid.as_deref(), Some("JWT"), payload.as_bytes(), &mut common::os_rng()).unwrap();
            let verified = verify_compact(&token, &key.public_key(), Some(alg)).unwrap();
            prop_assert_eq!(&verified.payload, payload.as_bytes());
            prop_assert_eq!(verified.header.get("kid").and_then(|v| v.as_str()), kid.as_deref());
            // Swapping the payload segment breaks the signature.
            let mut parts: Vec<&str> = token.split('.').collect();
            parts[1] = "eyJ4IjoxfQ";
            let forged = parts.join(".");
            prop_assert!(matches!(verify_compact(&forged, &key.public_key(), Some(alg)), Err(Error::Jws(JwsError::Verification))));
        }
    }
}

#[test]
fn every_key_size_generates_exports_imports_and_signs() {
    let mut specs = vec![KeySpec::Rsa(2048), KeySpec::Rsa(3072), KeySpec::P256, KeySpec::P384];
    // RustCrypto RSA-4096 generation is slow; with AWS-LC built in, cover 4096 through it.
    if Backend::AwsLc.is_available() {
        specs.push(KeySpec::Rsa(4096));
    }
    for spec in specs {
        let keys = generated(spec);
        for key in keys {
            assert_eq!(key.kind(), spec.kind());
            let reimported = PrivateKey::from_der(&key.to_pkcs8_der().unwrap()).unwrap();
            let alg = Algorithm::default_for(key.kind());
            for backend in common::backends() {
                let sig = signer_for(backend, &reimported, alg).unwrap().sign(&mut common::os_rng(), b"m").unwrap();
                verify_signature(alg, &key.public_key(), b"m", &sig).unwrap();
            }
        }
    }
}

/// One key from each available generator.
fn generated(spec: KeySpec) -> Vec<PrivateKey> {
    let mut out = Vec::new();
    if !(matches!(spec, KeySpec::Rsa(4096))) {
        out.push(PrivateKey::generate(spec, &mut common::os_rng()).unwrap());
    }
    #[cfg(feature = "aws-lc")]
    out.push(keyward_crypto::aws_lc_generate(spec).unwrap());
    out
}

#[test]
fn mismatched_algorithm_is_a_typed_error_never_a_panic() {
    for key in common::keys() {
        for alg in Algorithm::ALL.into_iter().filter(|a| !a.fits(key.kind())) {
            for backend in common::backends() {
                assert!(
                    matches!(signer_for(backend, key, alg), Err(Error::AlgorithmKeyMismatch { .. })),
                    "{alg} {backend}"
                );
            }
            assert!(matches!(
                verify_signature(alg, &key.public_key(), b"m", &[0u8; 64]),
                Err(Error::AlgorithmKeyMismatch { .. })
            ));
        }
    }
}

#[test]
fn other_rsa_sizes_are_refused_at_generation() {
    for bits in [512, 1024, 2047, 4095, 8192] {
        assert!(matches!(
            PrivateKey::generate(KeySpec::Rsa(bits), &mut common::os_rng()),
            Err(Error::UnsupportedKeySize { bits: b }) if b == bits
        ));
    }
}

#[test]
fn debug_never_shows_key_material() {
    for key in common::keys() {
        let pem = key.to_pkcs8_pem().unwrap();
        let der = key.to_pkcs8_der().unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains("elided"), "{debug}");
        // No base64 run of the key and no hex of its bytes appear.
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!debug.contains(&body[..40]));
        let hex: String = der[der.len() - 16..].iter().map(|b| format!("{b:02x}")).collect();
        assert!(!debug.to_lowercase().contains(&hex));
        for backend in common::backends() {
            let signer = signer_for(backend, key, Algorithm::default_for(key.kind())).unwrap();
            let debug = format!("{signer:?}");
            assert!(debug.contains("elided") && !debug.contains(&body[..40]), "{debug}");
        }
    }
}
