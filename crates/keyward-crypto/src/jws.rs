//! JWS compact serialization (RFC 7515 §7.1): signing through a [`Signer`], verification that
//! refuses `alg: none`, a mismatched `alg`, malformed input and bad signatures.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::b64;
use crate::error::{Error, JwsError};
use crate::key::PublicKey;
use crate::signer::Signer;

/// Longest compact JWS we parse (1 MiB); far above anything keyward signs or Auth0 accepts.
const MAX_TOKEN_LEN: usize = 1 << 20;

/// The protected header keyward writes, and the members it reads back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The algorithm name, as written (may be anything when decoding a foreign token).
    pub alg: String,
    /// Key id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kid: Option<String>,
    /// Media type, e.g. `JWT`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub typ: Option<String>,
}

/// A verified JWS.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The protected header as JSON.
    pub header: Map<String, Value>,
    /// The algorithm it was verified with.
    pub algorithm: Algorithm,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

impl Verified {
    /// The payload as a JSON object of JWT claims.
    pub fn claims(&self) -> Result<Map<String, Value>, Error> {
        serde_json::from_slice(&self.payload).map_err(|_| JwsError::Malformed("payload is not a JSON object").into())
    }
}

/// The header as written, borrowing its members.
#[derive(Serialize)]
struct HeaderRef<'a> {
    alg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    typ: Option<&'a str>,
}

/// The longest signature any supported algorithm makes (RSA-4096).
const MAX_SIGNATURE: usize = 512;

/// Signs `payload` as a compact JWS with header `{"alg", "kid"?, "typ"?}`. The header, the
/// encoded parts and the signature are written into one buffer sized for the whole token.
pub fn sign_compact(
    signer: &dyn Signer,
    kid: Option<&str>,
    typ: Option<&str>,
    payload: &[u8],
    rng: crate::Rng<'_>,
) -> Result<String, Error> {
    let mut header = Vec::with_capacity(96);
    serde_json::to_writer(&mut header, &HeaderRef { alg: signer.algorithm().as_str(), kid, typ })
        .map_err(|e| Error::Encoding(e.to_string()))?;
    let mut out = Vec::with_capacity(
        b64::encoded_len(header.len()) + b64::encoded_len(payload.len()) + b64::encoded_len(MAX_SIGNATURE) + 2,
    );
    b64::encode_into(&header, &mut out);
    out.push(b'.');
    b64::encode_into(payload, &mut out);
    let signature = signer.sign(rng, &out)?;
    out.push(b'.');
    b64::encode_into(&signature, &mut out);
    String::from_utf8(out).map_err(|_| Error::Encoding("base64url output is ASCII".into()))
}

struct Parts<'a> {
    signing_input: &'a str,
    header: Map<String, Value>,
    alg: Result<Algorithm, String>,
    payload_b64: &'a str,
    signature_b64: &'a str,
}

fn split(token: &str) -> Result<Parts<'_>, Error> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwsError::Malformed("token too long").into());
    }
    let mut it = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(JwsError::Malformed("expected three dot-separated parts").into());
    };
    let header_bytes = b64::decode(h).ok_or(JwsError::Malformed("header is not base64url"))?;
    let header: Map<String, Value> =
        serde_json::from_slice(&header_bytes).map_err(|_| JwsError::Malformed("header is not a JSON object"))?;
    let alg = match header.get("alg") {
        Some(Value::String(a)) => a.as_str(),
        _ => return Err(JwsError::Malformed("header has no string \"alg\"").into()),
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(JwsError::Unsigned.into());
    }
    if header.contains_key("crit") {
        return Err(JwsError::Malformed("\"crit\" header parameters are not supported").into());
    }
    let parsed = alg.parse::<Algorithm>().map_err(|_| alg.chars().take(32).collect::<String>());
    Ok(Parts { signing_input: &token[..h.len() + 1 + p.len()], alg: parsed, header, payload_b64: p, signature_b64: s })
}

/// Reads the protected header without verifying anything (to pick a key by `kid`).
pub fn decode_header(token: &str) -> Result<Header, Error> {
    let parts = split(token)?;
    serde_json::from_value(Value::Object(parts.header))
        .map_err(|_| JwsError::Malformed("header has ill-typed members").into())
}

/// Verifies a compact JWS under `key`. With `expected`, the header's `alg` must equal it;
/// either way it must fit the key. `alg: none` and `crit` are refused.
pub fn verify_compact(token: &str, key: &PublicKey, expected: Option<Algorithm>) -> Result<Verified, Error> {
    let parts = split(token)?;
    let alg = match (parts.alg, expected) {
        (Ok(alg), Some(exp)) if alg != exp => {
            return Err(JwsError::AlgorithmMismatch { got: alg.as_str().to_owned(), expected: exp }.into());
        }
        (Err(got), Some(exp)) => return Err(JwsError::AlgorithmMismatch { got, expected: exp }.into()),
        (Err(got), None) => return Err(Error::UnknownAlgorithm(got)),
        (Ok(alg), _) => alg,
    };
    let signature = b64::decode(parts.signature_b64).ok_or(JwsError::Malformed("signature is not base64url"))?;
    let payload = b64::decode(parts.payload_b64).ok_or(JwsError::Malformed("payload is not base64url"))?;
    verify_signature(alg, key, parts.signing_input.as_bytes(), &signature)?;
    Ok(Verified { header: parts.header, algorithm: alg, payload })
}

/// Verifies one JWS-form signature with the reference (RustCrypto) implementation.
pub fn verify_signature(alg: Algorithm, key: &PublicKey, message: &[u8], signature: &[u8]) -> Result<(), Error> {
    crate::signer::rustcrypto_verify(alg, key, message, signature)
}

/// Checks `exp` and `nbf` (when present; they must be numbers) against `now` with `leeway`.
pub fn check_time_claims(claims: &Map<String, Value>, now: SystemTime, leeway: Duration) -> Result<(), Error> {
    let now = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let leeway = leeway.as_secs_f64();
    let number = |name: &str| -> Result<Option<f64>, Error> {
        match claims.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(JwsError::Malformed("time claim out of range").into()),
            Some(_) => Err(JwsError::Malformed("exp, nbf and iat must be numbers").into()),
        }
    };
    if let Some(exp) = number("exp")?
        && now > exp + leeway
    {
        return Err(JwsError::Expired.into());
    }
    if let Some(nbf) = number("nbf")?
        && nbf > now + leeway
    {
        return Err(JwsError::NotYetValid.into());
    }
    Ok(())
}
