//! The client credentials grant: the POST to `/oauth/token`, authenticated by secret or by a
//! caller's client assertion, and its answer read into an [`AccessToken`].

use std::time::Duration;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::time::Instant;

use super::AccessToken;
use crate::client_auth::ClientAuth;
use crate::error::{Error, Resource};
use crate::http::{Call, Http, Idempotency, parse_json};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    scope: Option<String>,
}

/// `expires_in` as a number, or a numeric string; anything else is a protocol error.
fn expires_in(value: Option<&serde_json::Value>) -> Option<u64> {
    match value? {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Requests a token with the client credentials grant.
pub(crate) async fn request_token(
    http: &Http,
    auth: &ClientAuth,
    audience: &str,
    scope: Option<&str>,
) -> Result<AccessToken, Error> {
    let url = http.config.token_url()?;
    let assertion_audience = http.config.assertion_audience();
    let call = Call {
        operation: "get_token",
        resource: Resource::Token,
        method: Method::POST,
        idempotency: Idempotency::Idempotent,
    };
    let reply = http
        .send(call, || {
            let mut form: Vec<(&str, String)> = vec![
                ("grant_type", "client_credentials".to_owned()),
                ("client_id", auth.client_id().to_owned()),
                ("audience", audience.to_owned()),
            ];
            if let Some(scope) = scope {
                form.push(("scope", scope.to_owned()));
            }
            let builder = http.client.request(Method::POST, url.clone());
            let builder = match auth {
                ClientAuth::SecretPost { client_secret, .. } => {
                    form.push(("client_secret", client_secret.expose_secret().to_owned()));
                    builder
                }
                ClientAuth::SecretBasic { client_id, client_secret } => {
                    builder.basic_auth(client_id, Some(client_secret.expose_secret()))
                }
                ClientAuth::PrivateKeyJwt { provider, .. } => {
                    let assertion =
                        provider.assertion(&assertion_audience).map_err(|source| Error::Assertion { source })?;
                    form.push(("client_assertion_type", JWT_BEARER.to_owned()));
                    form.push(("client_assertion", assertion));
                    builder
                }
            };
            Ok(builder.form(&form))
        })
        .await?;
    let body: TokenResponse = parse_json(&reply)?;
    let seconds = expires_in(body.expires_in.as_ref()).ok_or_else(|| Error::Protocol {
        status: reply.status,
        detail: "token answer without a usable expires_in".to_owned(),
    })?;
    if body.access_token.expose_secret().is_empty() {
        return Err(Error::Protocol { status: reply.status, detail: "empty access_token".to_owned() });
    }
    Ok(AccessToken {
        token: body.access_token,
        token_type: body.token_type.unwrap_or_else(|| "Bearer".to_owned()),
        expires_in: Duration::from_secs(seconds),
        scope: body.scope,
        received_at: Instant::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_forms() {
        assert_eq!(expires_in(Some(&serde_json::json!(86400))), Some(86400));
        assert_eq!(expires_in(Some(&serde_json::json!("60"))), Some(60));
        assert_eq!(expires_in(Some(&serde_json::json!(1.5))), Some(1));
        assert_eq!(expires_in(Some(&serde_json::json!(-1))), None);
        assert_eq!(expires_in(Some(&serde_json::json!(null))), None);
        assert_eq!(expires_in(None), None);
    }
}
