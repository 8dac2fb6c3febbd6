//! Fuzz harnesses for keyward-crypto's parsers of untrusted input: PEM and DER keys,
//! certificates, PKCS#7, JWK(S) and JWS.
//!
//! Shared, through `#[path]`, by the cargo-fuzz targets in `fuzz/fuzz_targets/` and by
//! `crates/keyward-crypto/tests/fuzz_regressions.rs`, which replays the committed corpus and
//! crash inputs under `cargo test`. Every function here must return normally for any input: a
//! panic, including a failed invariant below, is a bug.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keyward_crypto::{
    Algorithm, AssertionParams, Backend, CertArtifacts, Certificate, Error, Jwk, Jwks, KeyKind, KeySpec, PemBlock,
    PrivateKey, PublicKey, certificates_from_pkcs7, check_time_claims, client_assertion, decode_header,
    degenerate_pkcs7, fingerprint, sign_compact, signer_for, verify_compact, verify_signature,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;

/// The message the key harnesses sign.
const MESSAGE: &[u8] = b"keyward fuzz";

/// A deterministic RNG: the harnesses must behave the same on every run.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// The fixed keys the JWS harnesses verify against: RSA-2048, P-256, P-384, generated from
/// fixed seeds, so that `fuzz/corpus/jws_verify/` holds tokens that verify.
pub fn fixed_keys() -> &'static [PrivateKey; 3] {
    static KEYS: OnceLock<[PrivateKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut r = rng(0x006b_6579_7761_7264);
        [
            PrivateKey::generate(KeySpec::Rsa(2048), &mut r).expect("RSA-2048 generation"),
            PrivateKey::generate(KeySpec::P256, &mut r).expect("P-256 generation"),
            PrivateKey::generate(KeySpec::P384, &mut r).expect("P-384 generation"),
        ]
    })
}

fn fixed_public_keys() -> &'static [PublicKey; 3] {
    static KEYS: OnceLock<[PublicKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| fixed_keys().clone().map(|k| k.public_key()))
}

/// The fixed key that fits `alg`.
pub fn fixed_key_for(alg: Algorithm) -> &'static PrivateKey {
    fixed_keys().iter().find(|k| alg.fits(k.kind())).expect("a fixed key for every algorithm")
}

// ---------------------------------------------------------------------------------------------
// Keys

/// PEM text: private keys (PKCS#8, PKCS#1, SEC1), public keys (SPKI, PKCS#1), certificates.
pub fn key_pem(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(blocks) = PemBlock::parse_all(text) {
        assert!(!blocks.is_empty(), "parse_all returned Ok with no block");
    }
    if let Ok(key) = PrivateKey::from_pem(text) {
        check_private(&key);
    }
    if let Ok(key) = PublicKey::from_pem(text) {
        check_public(&key);
    }
    if let Ok(cert) = Certificate::from_pem(text) {
        check_certificate(&cert);
    }
}

/// DER: private keys in any of the three forms, SPKI and PKCS#1 public keys.
pub fn key_der(data: &[u8]) {
    if let Ok(key) = PrivateKey::from_der(data) {
        check_private(&key);
    }
    if let Ok(key) = PublicKey::from_spki_der(data) {
        check_public(&key);
    }
    if let Ok(key) = PublicKey::from_pkcs1_der(data) {
        check_public(&key);
    }
}

/// A private key that imports exports and re-imports to the same key, and signs messages its
/// public half verifies (with both backends when AWS-LC is built in).
pub fn check_private(key: &PrivateKey) {
    let public = key.public_key();
    assert_eq!(public.kind(), key.kind());
    check_public(&public);

    let der = key.to_pkcs8_der().expect("an imported private key exports as PKCS#8");
    let back = PrivateKey::from_pkcs8_der(&der).expect("exported PKCS#8 imports again");
    assert_eq!(back.public_key(), public, "PKCS#8 round trip changed the key");
    let again = PrivateKey::from_der(&der).expect("exported PKCS#8 imports through from_der");
    assert_eq!(again.public_key(), public);
    let pem = key.to_pkcs8_pem().expect("PKCS#8 PEM export");
    let back = PrivateKey::from_pem(&pem).expect("exported PEM imports again");
    assert_eq!(back.public_key(), public, "PEM round trip changed the key");
    assert_eq!(*back.to_pkcs8_der().expect("PKCS#8 export"), *der, "PKCS#8 export is not stable");

    let alg = Algorithm::default_for(key.kind());
    for backend in [Backend::RustCrypto, Backend::AwsLc] {
        if !backend.is_available() {
            continue;
        }
        // Construction may refuse (e.g. RSA keys outside 2048..=8192 bits, or a key AWS-LC
        // finds inconsistent); a signature it does make must verify.
        let Ok(signer) = signer_for(backend, key, alg) else { continue };
        assert_eq!(signer.public_key(), &public);
        if let Ok(sig) = signer.sign(&mut rng(1), MESSAGE) {
            verify_signature(alg, &public, MESSAGE, &sig).unwrap_or_else(|e| {
                panic!("{backend} signature by an imported {} key does not verify: {e}", key.kind())
            });
        }
    }
}

/// A public key that imports round-trips through SPKI (DER and PEM), PKCS#1 (RSA) and JWK, and
/// its thumbprint is the JWK's kid.
pub fn check_public(key: &PublicKey) {
    let spki = key.to_spki_der().expect("SPKI export");
    assert_eq!(&PublicKey::from_spki_der(&spki).expect("SPKI re-import"), key, "SPKI round trip");
    let pem = key.to_spki_pem().expect("SPKI PEM export");
    assert_eq!(&PublicKey::from_pem(&pem).expect("SPKI PEM re-import"), key, "SPKI PEM round trip");
    let raw = key.raw_public_key().expect("raw public key");
    if let KeyKind::Rsa { .. } = key.kind() {
        assert_eq!(&PublicKey::from_pkcs1_der(&raw).expect("PKCS#1 re-import"), key, "PKCS#1 round trip");
    }
    let jwk = key.to_jwk(None).expect("JWK export");
    assert_eq!(&jwk.to_public_key().expect("JWK re-import"), key, "JWK round trip");
    assert_eq!(jwk.kid.as_deref(), Some(key.thumbprint().expect("thumbprint").as_str()));
}

// ---------------------------------------------------------------------------------------------
// Certificates and PKCS#7

/// DER certificates: every accessor, self-signature check, the artifacts keyward compares with
/// what Auth0 returns, and round trips through PEM and a certs-only PKCS#7.
pub fn certificate(data: &[u8]) {
    if let Ok(cert) = Certificate::from_der(data) {
        assert_eq!(cert.der(), data);
        check_certificate(&cert);
    }
}

pub fn check_certificate(cert: &Certificate) {
    let der = cert.der().to_vec();
    let _ = (cert.subject_dn(), cert.common_name(), cert.not_before(), cert.not_after(), cert.serial());
    let _ = format!("{cert:?}");
    let again = Certificate::from_der(&der).expect("a parsed certificate's DER parses again");
    assert_eq!(again.der(), der.as_slice());
    for pem in [cert.to_pem().expect("PEM export"), cert.to_pem_crlf().expect("CRLF PEM export")] {
        let back = Certificate::from_pem(&pem).expect("exported PEM parses again");
        assert_eq!(back.der(), der.as_slice(), "PEM round trip changed the certificate");
    }

    let key = cert.public_key();
    if let Ok(key) = &key {
        check_public(key);
    }
    if cert.verify_self_signed().is_ok() {
        assert!(key.is_ok(), "a certificate verified under a key it cannot produce");
    }

    // The certs-only PKCS#7 keyward builds holds exactly this certificate.
    let p7 = degenerate_pkcs7(&der).expect("a certificate's DER wraps in PKCS#7");
    assert_eq!(certificates_from_pkcs7(&p7).expect("our PKCS#7 parses"), vec![der.clone()]);

    if let Ok(a) = CertArtifacts::from_certificate(cert, None) {
        let key = key.expect("artifacts without a public key");
        assert_eq!(a.kid, key.thumbprint().expect("thumbprint"));
        assert_eq!(a.fingerprint, fingerprint(&der));
        assert_eq!(a.thumbprint, a.fingerprint.replace(':', ""));
        assert_eq!(a.subject_dn, cert.subject_dn());
        assert_eq!(Certificate::from_pem(&a.cert).expect("artifact cert parses").der(), der.as_slice());
        let block = PemBlock::find(&a.pkcs, &["PKCS7"]).expect("artifact pkcs is PKCS7 PEM");
        assert_eq!(certificates_from_pkcs7(&block.der).expect("artifact pkcs parses"), vec![der.clone()]);
        assert_eq!(&a.jwk.to_public_key().expect("artifact JWK"), &key);
        assert!(a.algorithm.fits(key.kind()));
    }
}

/// PKCS#7 (DER, or a `PKCS7` PEM block): the certificates inside, each re-wrapped.
pub fn pkcs7(data: &[u8]) {
    pkcs7_der(data);
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(block) = PemBlock::find(text, &["PKCS7"])
    {
        pkcs7_der(&block.der);
    }
}

fn pkcs7_der(der: &[u8]) {
    let Ok(certs) = certificates_from_pkcs7(der) else { return };
    for c in &certs {
        if let Ok(p7) = degenerate_pkcs7(c) {
            assert_eq!(certificates_from_pkcs7(&p7).expect("re-wrapped PKCS#7 parses"), vec![c.clone()]);
        }
        if let Ok(cert) = Certificate::from_der(c) {
            check_certificate(&cert);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JWK

/// A JWKS document (or one JWK): every key that imports describes the key keyward would
/// publish for it.
pub fn jwk(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut keys = Vec::new();
    if let Ok(jwks) = Jwks::from_json(text) {
        let _ = jwks.find(None);
        for k in &jwks.keys {
            if let Some(kid) = &k.kid {
                assert!(jwks.find(Some(kid)).is_some());
            }
        }
        keys.extend(jwks.keys);
    }
    if let Ok(one) = serde_json::from_str::<Jwk>(text) {
        keys.push(one);
    }
    for k in &keys {
        if let Ok(key) = k.to_public_key() {
            check_public(&key);
            assert_eq!(key.to_jwk(None).expect("JWK export").to_public_key().expect("JWK re-import"), key);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JWS

/// A compact JWS: header decoding, and verification against the fixed keys with and without an
/// expected algorithm. A token that verifies names the algorithm it verified with, verifies
/// again with that algorithm expected, and stops verifying when its signature changes.
pub fn jws_verify(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let header = decode_header(token);
    for key in fixed_public_keys() {
        if let Ok(v) = verify_compact(token, key, None) {
            assert_eq!(v.header.get("alg").and_then(Value::as_str), Some(v.algorithm.as_str()));
            assert!(v.algorithm.fits(key.kind()), "verified with an algorithm that does not fit the key");
            // decode_header refuses only ill-typed kid or typ members once the token has parsed.
            let ill_typed = |m: &str| v.header.get(m).is_some_and(|x| !x.is_string() && !x.is_null());
            assert!(
                header.is_ok() || ill_typed("kid") || ill_typed("typ"),
                "decode_header refused a token that verifies"
            );
            assert!(verify_compact(token, key, Some(v.algorithm)).is_ok());
            if let Ok(claims) = v.claims() {
                let _ = check_time_claims(&claims, SystemTime::now(), Duration::from_secs(60));
                let _ = check_time_claims(&claims, UNIX_EPOCH, Duration::MAX);
            }
            let tampered = tamper_signature(token);
            assert!(
                matches!(verify_compact(&tampered, key, None), Err(Error::Jws(_))),
                "a token still verified after its signature changed"
            );
        }
        for alg in Algorithm::ALL {
            if let Ok(v) = verify_compact(token, key, Some(alg)) {
                assert_eq!(v.algorithm, alg, "verified with an algorithm other than the expected one");
            }
        }
    }
}

/// Changes the last character of the signature segment (to another base64url character).
fn tamper_signature(token: &str) -> String {
    let mut out = token.to_owned();
    let last = out.pop().unwrap_or('A');
    // Changing the final character can leave the decoded bytes unchanged only through its
    // unused low bits; flip a high bit of its 6-bit value instead.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = ALPHABET.iter().position(|&c| c == last as u8).unwrap_or(0);
    out.push(ALPHABET[index ^ 0b10_0000] as char);
    out
}

/// Structured input: signs a payload (with a kid and typ taken from the input) under each
/// fixed key and checks the token verifies back to exactly that payload and header, and that
/// a client assertion built from the input's strings verifies and carries them.
///
/// Layout: byte 0 picks the algorithm, byte 1 the assertion lifetime; the rest is split on
/// `\n` into kid, typ, client_id, audience and the payload (which may hold more newlines).
pub fn jws_roundtrip(data: &[u8]) {
    let [a, lifetime, rest @ ..] = data else { return };
    let alg = Algorithm::ALL[usize::from(*a) % Algorithm::ALL.len()];
    let key = fixed_key_for(alg);
    // The fastest backend signs (AWS-LC where built in: the RustCrypto RSA private operation is
    // slow under the fuzzer's instrumentation); verification is always RustCrypto's.
    let signer = signer_for(Backend::fastest(), key, alg).expect("fixed key fits its algorithm");
    let public = key.public_key();
    let mut parts = rest.splitn(5, |&b| b == b'\n');
    let mut fields: [String; 4] = Default::default();
    for field in &mut fields {
        *field = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    }
    let payload = parts.next().unwrap_or_default();
    let [kid, typ, client_id, audience] = fields;
    let opt = |s: String| if s.is_empty() { None } else { Some(s) };
    let (kid, typ) = (opt(kid), opt(typ));

    let token = sign_compact(&*signer, kid.as_deref(), typ.as_deref(), payload, &mut rng(2)).expect("sign_compact");
    let v = verify_compact(&token, &public, Some(alg)).expect("a token we signed verifies");
    assert_eq!(v.payload, payload, "payload changed in a round trip");
    assert_eq!(v.algorithm, alg);
    let header = decode_header(&token).expect("our header decodes");
    assert_eq!((header.kid, header.typ), (kid.clone(), typ), "header changed in a round trip");
    assert!(verify_compact(&tamper_signature(&token), &public, Some(alg)).is_err());
    jws_verify(token.as_bytes());

    // A client assertion: Auth0's form, verifiable, carrying exactly what it was given.
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let params = AssertionParams {
        client_id: &client_id,
        audience: &audience,
        now,
        lifetime: Duration::from_secs(u64::from(*lifetime) * 2),
        kid: kid.as_deref(),
    };
    if let Ok(assertion) = client_assertion(&*signer, &params, &mut rng(3)) {
        let v = verify_compact(&assertion, &public, Some(alg)).expect("our assertion verifies");
        let claims = v.claims().expect("assertion claims are an object");
        assert_eq!(claims.get("iss").and_then(Value::as_str), Some(client_id.as_str()));
        assert_eq!(claims.get("sub").and_then(Value::as_str), Some(client_id.as_str()));
        assert_eq!(claims.get("aud").and_then(Value::as_str), Some(audience.as_str()));
        let iat = claims.get("iat").and_then(Value::as_u64).expect("iat");
        let exp = claims.get("exp").and_then(Value::as_u64).expect("exp");
        assert_eq!(iat, 1_700_000_000);
        assert!(exp > iat && exp - iat <= 300);
        assert!(check_time_claims(&claims, now, Duration::ZERO).is_ok());
    }
}
