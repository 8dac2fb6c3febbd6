//! Published test vectors: RFC 7515 Appendix A, RFC 7520 §4, RFC 7638 §3.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use keyward_crypto::{
    Algorithm, Backend, Error, Jwk, JwsError, PrivateKey, PublicKey, sign_compact, signer_for, verify_compact,
};
use serde_json::Value;

fn data(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn b64(v: &Value) -> Vec<u8> {
    Base64UrlUnpadded::decode_vec(v.as_str().unwrap()).unwrap()
}

fn uint(v: &Value) -> rsa::BoxedUint {
    let bytes = b64(v);
    rsa::BoxedUint::from_be_slice_vartime(&bytes)
}

/// An RSA private key from a private JWK (n, e, d, p, q).
fn rsa_private(jwk: &Value) -> PrivateKey {
    let key = rsa::PrivateKey::from_components(
        uint(&jwk["n"]),
        uint(&jwk["e"]),
        uint(&jwk["d"]),
        vec![uint(&jwk["p"]), uint(&jwk["q"])],
    )
    .unwrap();
    PrivateKey::Rsa(Box::new(key))
}

/// Signs (header, payload) exactly as given and returns the compact JWS, with our signer but
/// the vector's own header bytes.
fn sign_with_header(key: &PrivateKey, alg: Algorithm, header: &str, payload: &[u8], backend: Backend) -> String {
    let input = format!(
        "{}.{}",
        Base64UrlUnpadded::encode_string(header.as_bytes()),
        Base64UrlUnpadded::encode_string(payload)
    );
    let sig = signer_for(backend, key, alg).unwrap().sign(&mut common::os_rng(), input.as_bytes()).unwrap();
    format!("{input}.{}", Base64UrlUnpadded::encode_string(&sig))
}

#[test]
fn rfc7520_4_1_rs256_reproduced_byte_for_byte() {
    let v = data("rfc7520.json");
    let key = rsa_private(&v["key"]);
    let payload = v["payload"].as_str().unwrap().as_bytes();
    let expected = v["rs256_compact"].as_str().unwrap();
    // The protected header is {"alg":"RS256","kid":"bilbo.baggins@hobbiton.example"}, which is
    // exactly what sign_compact writes for a kid and no typ.
    for backend in common::backends() {
        let signer = signer_for(backend, &key, Algorithm::RS256).unwrap();
        let ours = sign_compact(&*signer, Some("bilbo.baggins@hobbiton.example"), None, payload, &mut common::os_rng())
            .unwrap();
        assert_eq!(ours, expected, "{backend}");
    }
    let verified = verify_compact(expected, &key.public_key(), Some(Algorithm::RS256)).unwrap();
    assert_eq!(verified.payload, payload);
}

#[test]
fn rfc7520_4_2_ps384_verifies_and_ours_verify_back() {
    let v = data("rfc7520.json");
    let key = rsa_private(&v["key"]);
    let token = v["ps384_compact"].as_str().unwrap();
    let verified = verify_compact(token, &key.public_key(), Some(Algorithm::PS384)).unwrap();
    assert_eq!(verified.payload, v["payload"].as_str().unwrap().as_bytes());
    // Under the wrong expected algorithm it is refused, not verified.
    assert!(matches!(
        verify_compact(token, &key.public_key(), Some(Algorithm::PS256)),
        Err(Error::Jws(JwsError::AlgorithmMismatch { .. }))
    ));
    // PSS is randomised: ours differ from the RFC's but verify under the same key.
    for backend in common::backends() {
        let ours = sign_with_header(&key, Algorithm::PS384, r#"{"alg":"PS384"}"#, b"payload", backend);
        verify_compact(&ours, &key.public_key(), Some(Algorithm::PS384)).unwrap();
    }
}

#[test]
fn rfc7520_key_as_public_jwk() {
    let v = data("rfc7520.json");
    let key = rsa_private(&v["key"]);
    let jwk = key.public_key().to_jwk(Some(Algorithm::RS256)).unwrap();
    assert_eq!(Some(jwk.n.as_deref().unwrap()), v["key"]["n"].as_str());
    assert_eq!(jwk.e.as_deref(), Some("AQAB"));
    let back: Jwk = serde_json::from_value(v["key"].clone()).unwrap();
    assert_eq!(back.to_public_key().unwrap(), key.public_key());
    // The exported JWK carries no private member.
    let text = serde_json::to_string(&jwk).unwrap();
    for private in ["\"d\"", "\"p\"", "\"q\"", "\"dp\"", "\"dq\"", "\"qi\""] {
        assert!(!text.contains(private), "{text}");
    }
}

#[test]
fn public_key_from_jwk_refuses_bad_input() {
    let cases = [
        r#"{"kty":"oct","k":"AAAA"}"#,
        r#"{"kty":"RSA","e":"AQAB"}"#,
        r#"{"kty":"RSA","n":"!!!","e":"AQAB"}"#,
        r#"{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}"#,
        r#"{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}"#,
    ];
    for case in cases {
        let jwk: Jwk = serde_json::from_str(case).unwrap();
        assert!(matches!(jwk.to_public_key(), Err(Error::Jwk(_))), "{case}");
    }
    let _: PublicKey = common::keys()[1].public_key();
}

#[test]
fn rfc7515_a2_rs256_reproduced_byte_for_byte() {
    let v = data("rfc7515.json");
    let key = rsa_private(&v["a2"]["key"]);
    let payload = v["payload"].as_str().unwrap().as_bytes();
    let expected = v["a2"]["compact"].as_str().unwrap();
    for backend in common::backends() {
        // {"alg":"RS256"} is exactly the header sign_compact writes without kid and typ.
        let signer = signer_for(backend, &key, Algorithm::RS256).unwrap();
        assert_eq!(sign_compact(&*signer, None, None, payload, &mut common::os_rng()).unwrap(), expected, "{backend}");
        let header = v["a2"]["header"].as_str().unwrap();
        assert_eq!(sign_with_header(&key, Algorithm::RS256, header, payload, backend), expected, "{backend}");
    }
    let verified = verify_compact(expected, &key.public_key(), Some(Algorithm::RS256)).unwrap();
    assert_eq!(verified.payload, payload);
}

#[test]
fn rfc7515_a3_es256_verifies_under_both_backends() {
    let v = data("rfc7515.json");
    let jwk = &v["a3"]["key"];
    let public: Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let public = public.to_public_key().unwrap();
    let token = v["a3"]["compact"].as_str().unwrap();
    let verified = verify_compact(token, &public, Some(Algorithm::ES256)).unwrap();
    assert_eq!(verified.payload, v["payload"].as_str().unwrap().as_bytes());
    #[cfg(feature = "aws-lc")]
    {
        let (input, sig) = token.rsplit_once('.').unwrap();
        keyward_crypto::aws_lc_verify(Algorithm::ES256, &public, input.as_bytes(), &b64(&Value::from(sig))).unwrap();
    }
    // Our signatures under the RFC's private key verify under the RFC's public key.
    let secret = p256::SecretKey::from_slice(&b64(&jwk["d"])).unwrap();
    let key = PrivateKey::P256(secret);
    assert_eq!(key.public_key(), public);
    for backend in common::backends() {
        let ours = sign_with_header(&key, Algorithm::ES256, v["a3"]["header"].as_str().unwrap(), b"x", backend);
        verify_compact(&ours, &public, Some(Algorithm::ES256)).unwrap();
    }
}

#[test]
fn rfc7515_a4_es512_is_refused_as_unsupported() {
    let v = data("rfc7515.json");
    let token = format!("{}.e30.AAAA", v["a4_protected_b64"].as_str().unwrap());
    let key = common::keys()[2].public_key();
    assert!(matches!(verify_compact(&token, &key, None), Err(Error::UnknownAlgorithm(a)) if a == "ES512"));
    assert!(matches!(
        verify_compact(&token, &key, Some(Algorithm::ES384)),
        Err(Error::Jws(JwsError::AlgorithmMismatch { .. }))
    ));
}

#[test]
fn rfc7638_thumbprint_example() {
    let v = data("rfc7638.json");
    let jwk: Jwk = serde_json::from_value(v["jwk"].clone()).unwrap();
    let key = jwk.to_public_key().unwrap();
    assert_eq!(key.thumbprint().unwrap(), v["thumbprint"].as_str().unwrap());
    assert_eq!(key.to_jwk(None).unwrap().kid.as_deref(), v["thumbprint"].as_str());
}
