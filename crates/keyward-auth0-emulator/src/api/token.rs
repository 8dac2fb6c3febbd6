//! `POST /oauth/token`, client_credentials with client_secret_post, client_secret_basic and
//! private_key_jwt (CONTRACT.md §5).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use keyward_crypto::{Algorithm, PublicKey, decode_header, verify_compact};
use serde_json::{Map, Value, json};

use crate::auth::TOKEN_LIFETIME;
use crate::envelope::{OAuthError, oauth_json_response};
use crate::shared::Shared;
use crate::state::Client;
use crate::util::{is_past, now_secs};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Auth0 refuses longer assertions.
const MAX_ASSERTION: usize = 2048;
/// Allowed clock skew on iat and nbf.
const SKEW: u64 = 10;
/// exp − iat at most.
const MAX_LIFETIME: u64 = 300;

type Params = BTreeMap<String, String>;

fn params(headers: &HeaderMap, body: &Bytes) -> Result<Params, OAuthError> {
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let bad = || OAuthError::invalid_request("The request body could not be parsed");
    if ctype.starts_with("application/json") {
        let o: Map<String, Value> = serde_json::from_slice(body).map_err(|_| bad())?;
        // A null is an absent parameter: the official SDKs send `"organization": null` and the
        // like, and Auth0 accepts them.
        o.into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                _ => Err(OAuthError::invalid_request(format!("Invalid type for parameter {k}: expected a string"))),
            })
            .collect()
    } else if ctype.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).map(|v| v.into_iter().collect()).map_err(|_| bad())
    } else {
        Err(OAuthError::invalid_request("Content-Type must be application/json or application/x-www-form-urlencoded"))
    }
}

fn access_denied() -> OAuthError {
    OAuthError::new(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized")
}

pub(crate) async fn token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let p = params(&headers, &body)?;
    match p.get("grant_type").map(String::as_str) {
        None => return Err(OAuthError::invalid_request("Missing required parameter: grant_type")),
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::new(
                StatusCode::FORBIDDEN,
                "unsupported_grant_type",
                format!("Unsupported grant type: {}", other.chars().take(64).collect::<String>()),
            ));
        }
    }
    let domain = s.tenant().domain.clone();
    let client = authenticate(&s, &domain, &headers, &p)?;

    let audience = p.get("audience").or_else(|| p.get("resource")).ok_or_else(|| {
        OAuthError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "No audience parameter was provided, and no default audience has been configured",
        )
    })?;
    let grant = client.grants.iter().find(|g| &g.audience == audience).ok_or_else(|| {
        OAuthError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!(
                "Client is not authorized to access \"{audience}\". You need to create a \"client-grant\" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants"
            ),
        )
    })?;
    let scope: Vec<&str> = match p.get("scope") {
        Some(requested) => requested.split_whitespace().filter(|r| grant.scope.iter().any(|g| g == r)).collect(),
        None => grant.scope.iter().map(String::as_str).collect(),
    };
    let scope = scope.join(" ");
    let server_error = || OAuthError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "Internal error");
    let current = s.tenant().signing_keys.current().cloned().ok_or_else(server_error)?;
    let token = s.issuer.issue(&current, &domain, &client.client_id, audience, &scope).map_err(|e| {
        tracing::error!("signing an access token: {e}");
        server_error()
    })?;
    let mut body = json!({"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME.as_secs()});
    if !scope.is_empty() {
        body["scope"] = json!(scope);
    }
    Ok(oauth_json_response(StatusCode::OK, &body))
}

/// Finds and authenticates the client by assertion, Basic header or posted secret.
fn authenticate(s: &Shared, domain: &str, headers: &HeaderMap, p: &Params) -> Result<Client, OAuthError> {
    if let Some(kind) = p.get("client_assertion_type") {
        if kind != JWT_BEARER {
            return Err(OAuthError::invalid_request(format!("client_assertion_type must be {JWT_BEARER}")));
        }
        let assertion =
            p.get("client_assertion").ok_or_else(|| OAuthError::invalid_request("Missing client_assertion"))?;
        return authenticate_assertion(s, domain, p.get("client_id"), assertion);
    }
    let basic = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic "));
    let (client_id, secret, method) = match basic {
        Some(b) => {
            let decoded =
                Base64::decode_vec(b.trim()).ok().and_then(|d| String::from_utf8(d).ok()).ok_or_else(access_denied)?;
            let (id, secret) = decoded.split_once(':').ok_or_else(access_denied)?;
            (id.to_owned(), secret.to_owned(), "client_secret_basic")
        }
        None => {
            let id = p
                .get("client_id")
                .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: client_id"))?;
            let secret = p.get("client_secret").ok_or_else(access_denied)?;
            (id.clone(), secret.clone(), "client_secret_post")
        }
    };
    let t = s.tenant();
    let client = t.clients.get(&client_id).ok_or_else(access_denied)?;
    let ok_secret =
        client.client_secret.as_deref().is_some_and(|cs| constant_time_eq(cs.as_bytes(), secret.as_bytes()));
    if !ok_secret || client.token_endpoint_auth_method.as_deref() != Some(method) {
        return Err(access_denied());
    }
    Ok(client.clone())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authenticate_assertion(
    s: &Shared,
    domain: &str,
    client_id: Option<&String>,
    assertion: &str,
) -> Result<Client, OAuthError> {
    let fail = |why: &str| OAuthError::invalid_client(why.to_owned());
    if assertion.len() > MAX_ASSERTION {
        return Err(fail("client_assertion must be at most 2048 bytes"));
    }
    let header = decode_header(assertion).map_err(|_| fail("client_assertion is not a valid JWT"))?;
    let alg: Algorithm = header.alg.parse().map_err(|_| fail("client_assertion alg is not supported"))?;
    if !alg.is_client_credential_alg() {
        return Err(fail("client_assertion alg must be RS256, RS384 or PS256"));
    }
    let claims = unverified_claims(assertion).ok_or_else(|| fail("client_assertion payload is not a JSON object"))?;
    let str_claim = |k: &str| claims.get(k).and_then(Value::as_str);
    let (Some(iss), Some(sub)) = (str_claim("iss"), str_claim("sub")) else {
        return Err(fail("client_assertion must have iss and sub"));
    };
    if iss != sub || iss.len() > 64 {
        return Err(fail("client_assertion iss and sub must both be the client_id"));
    }
    if client_id.is_some_and(|c| c != iss) {
        return Err(fail("client_id does not match the client_assertion"));
    }
    let client = s.tenant().clients.get(iss).cloned().ok_or_else(|| fail("Unknown client"))?;
    let attached = client.private_key_jwt_ids();
    if client.auth_methods.as_ref().is_none_or(|m| !m.contains_key("private_key_jwt")) {
        return Err(fail("The client is not configured for private_key_jwt"));
    }
    let mut candidates: Vec<_> = client
        .credentials
        .iter()
        .filter(|c| attached.contains(&c.id.as_str()))
        .filter(|c| c.alg == alg.as_str())
        .filter(|c| c.expires_at.as_deref().is_none_or(|e| !is_past(e)))
        .collect();
    // Prefer the credential the kid names; without a kid every attached one is tried.
    if let Some(kid) = &header.kid {
        candidates.sort_by_key(|c| c.kid != *kid);
    }
    let verified = candidates.iter().any(|c| {
        PublicKey::from_pem(&c.public_key_pem).is_ok_and(|k| verify_compact(assertion, &k, Some(alg)).is_ok())
    });
    if !verified {
        return Err(fail("Failed to verify the client_assertion signature"));
    }
    check_claims(&claims, domain)?;
    let jti = str_claim("jti").ok_or_else(|| fail("client_assertion must have a jti"))?;
    if jti.is_empty() || jti.len() > 64 {
        return Err(fail("client_assertion jti must be 1 to 64 characters"));
    }
    let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    let mut rt = s.runtime();
    let now = now_secs();
    rt.jtis.retain(|_, e| e.saturating_add(SKEW) >= now);
    if rt.jtis.insert((iss.to_owned(), jti.to_owned()), exp).is_some() {
        return Err(fail("client_assertion jti has already been used"));
    }
    Ok(client)
}

fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(payload).ok()?).ok()
}

fn check_claims(claims: &Map<String, Value>, domain: &str) -> Result<(), OAuthError> {
    let fail = |why: &str| OAuthError::invalid_client(why.to_owned());
    let expected_aud = format!("https://{domain}/");
    match claims.get("aud") {
        Some(Value::String(a)) if *a == expected_aud => {}
        _ => return Err(fail(&format!("client_assertion aud must be \"{expected_aud}\""))),
    }
    let now = now_secs();
    let number =
        |k: &str| claims.get(k).map(|v| v.as_u64().ok_or_else(|| fail(&format!("'{k}' claim must be a number"))));
    let exp = number("exp").ok_or_else(|| fail("client_assertion must have an exp"))??;
    // Saturating: `exp` is the caller's number, up to u64::MAX (fuzz/regressions/emulator_token/).
    if exp.saturating_add(SKEW) < now {
        return Err(fail("client_assertion has expired"));
    }
    if let Some(iat) = number("iat").transpose()? {
        if iat > now + SKEW {
            return Err(fail("'iat' claim is in the future"));
        }
        if exp.saturating_sub(iat) > MAX_LIFETIME {
            return Err(fail("'exp' claim must specify a time that is no more than 5 minutes after 'iat'"));
        }
    } else if exp > now + MAX_LIFETIME + SKEW {
        return Err(fail("'exp' claim must specify a time that is no more than 5 minutes in the future"));
    }
    if let Some(nbf) = number("nbf").transpose()?
        && nbf > now + SKEW
    {
        return Err(fail("'nbf' claim is in the future"));
    }
    Ok(())
}
