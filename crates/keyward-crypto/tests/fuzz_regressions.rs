//! The fuzz targets' seeds and every crash input `scripts/fuzz.sh` found, replayed through the
//! same harnesses (`fuzz/harness/crypto.rs`), so `cargo test` keeps fixed crashes fixed.
//!
//! `cargo test -p keyward-crypto --test fuzz_regressions -- --ignored` rewrites the JWS seeds
//! signed by the harness's fixed keys (`fuzz/corpus/jws_verify/signed-*`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../fuzz/harness/crypto.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

use keyward_crypto::{Algorithm, RustCryptoSigner, sign_compact};
use replay::replay;

#[test]
fn key_pem() {
    replay("key_pem", harness::key_pem);
}

#[test]
fn key_der() {
    replay("key_der", harness::key_der);
}

#[test]
fn certificate() {
    replay("certificate", harness::certificate);
}

#[test]
fn pkcs7() {
    replay("pkcs7", harness::pkcs7);
}

#[test]
fn jwk() {
    replay("jwk", harness::jwk);
}

#[test]
fn jws_verify() {
    replay("jws_verify", harness::jws_verify);
}

#[test]
fn jws_roundtrip() {
    replay("jws_roundtrip", harness::jws_roundtrip);
}

/// Writes one token per algorithm, signed by the harness's fixed key for it, into
/// `fuzz/corpus/jws_verify/`.
#[test]
#[ignore = "rewrites seed files; run by hand"]
fn write_signed_jws_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/jws_verify");
    std::fs::create_dir_all(&dir).unwrap();
    let payload =
        br#"{"iss":"app","sub":"app","aud":"https://tenant.example/","iat":1700000000,"exp":1700000060,"jti":"a"}"#;
    for alg in Algorithm::ALL {
        let signer = RustCryptoSigner::new(harness::fixed_key_for(alg), alg).unwrap();
        let token = sign_compact(&signer, Some("kid-1"), Some("JWT"), payload, &mut harness::rng(9)).unwrap();
        harness::jws_verify(token.as_bytes());
        std::fs::write(dir.join(format!("signed-{alg}")), token).unwrap();
    }
}
