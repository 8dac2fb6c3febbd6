//! One call of the chosen RPC, with its request built fresh each time, over [`crate::wire`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use keyward_proto::{
    GetAccessTokenRequest, GetAccessTokenResponse, GetJwksRequest, GetJwksResponse, SignClientAssertionRequest,
    SignClientAssertionResponse, SignJwtRequest, SignJwtResponse,
};
use tonic::Status;

use crate::args::{Rpc, Target};
use crate::error::Error;
use crate::wire::{Connection, Prepared};

/// `exp` of the JWTs sign-jwt asks for, unless --lifetime says otherwise.
const DEFAULT_JWT_LIFETIME: Duration = Duration::from_secs(60);
/// Client-side slack over the deadline sent to the server, so its DEADLINE_EXCEEDED arrives first.
const DEADLINE_SLACK: Duration = Duration::from_secs(1);

/// Makes calls of one RPC on one connection.
#[derive(Debug, Clone)]
pub struct Caller {
    rpc: Rpc,
    target: Target,
    timeout: Duration,
    connection: Connection,
    method: Prepared,
}

impl Caller {
    /// A caller on `connection`, sending `authorization` with every call.
    pub fn new(
        rpc: Rpc,
        target: Target,
        timeout: Duration,
        connection: Connection,
        authorization: &HeaderValue,
    ) -> Result<Self, Error> {
        let path = match rpc {
            Rpc::SignClientAssertion => "/keyward.v1.Signer/SignClientAssertion",
            Rpc::SignJwt => "/keyward.v1.Signer/SignJwt",
            Rpc::GetJwks => "/keyward.v1.Signer/GetJwks",
            Rpc::GetAccessToken => "/keyward.v1.Tokens/GetAccessToken",
        };
        let method = connection.method(path, authorization, timeout)?;
        Ok(Self { rpc, target, timeout, connection, method })
    }

    /// One call; for sign-client-assertion, the assertion it returned.
    pub async fn call(&mut self) -> Result<Option<String>, Status> {
        let timeout = self.timeout;
        let call = self.call_inner();
        match tokio::time::timeout(timeout + DEADLINE_SLACK, call).await {
            Ok(result) => result,
            Err(_) => {
                Err(Status::deadline_exceeded(format!("no answer within {}", humantime::format_duration(timeout))))
            }
        }
    }

    async fn call_inner(&mut self) -> Result<Option<String>, Status> {
        let t = &self.target;
        let (conn, method) = (&mut self.connection, &self.method);
        match self.rpc {
            Rpc::SignClientAssertion => {
                let req = SignClientAssertionRequest {
                    tenant: t.tenant.clone(),
                    client_id: t.client.clone(),
                    audience: t.audience.clone(),
                    lifetime: t.lifetime.map(pb_duration),
                };
                let resp: SignClientAssertionResponse = conn.unary(method, &req).await?;
                Ok(Some(resp.assertion))
            }
            Rpc::SignJwt => {
                let req = SignJwtRequest {
                    tenant: t.tenant.clone(),
                    client_id: t.client.clone(),
                    claims_json: jwt_claims(t, SystemTime::now()),
                    typ: String::new(),
                };
                let _: SignJwtResponse = conn.unary(method, &req).await?;
                Ok(None)
            }
            Rpc::GetJwks => {
                let req = GetJwksRequest { tenant: t.tenant.clone(), client_id: t.client.clone() };
                let _: GetJwksResponse = conn.unary(method, &req).await?;
                Ok(None)
            }
            Rpc::GetAccessToken => {
                let req = GetAccessTokenRequest {
                    tenant: t.tenant.clone(),
                    client_id: t.client.clone(),
                    audience: t.audience.clone(),
                    scope: t.scope.clone(),
                };
                let _: GetAccessTokenResponse = conn.unary(method, &req).await?;
                Ok(None)
            }
        }
    }
}

/// A protobuf duration from a std one (saturating).
pub fn pb_duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// The claims sign-jwt sends: `iss` = `sub` = the client, `aud` if given, `iat` now and `exp`
/// now + the lifetime (60 s by default).
fn jwt_claims(t: &Target, now: SystemTime) -> String {
    let iat = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let exp = iat.saturating_add(t.lifetime.unwrap_or(DEFAULT_JWT_LIFETIME).as_secs());
    let mut claims = serde_json::json!({ "iss": t.client, "sub": t.client, "iat": iat, "exp": exp });
    if !t.audience.is_empty() {
        claims["aud"] = serde_json::Value::String(t.audience.clone());
    }
    claims.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn target(audience: &str, lifetime: Option<Duration>) -> Target {
        Target {
            tenant: "dev".into(),
            client: "demo-app".into(),
            audience: audience.into(),
            scope: String::new(),
            lifetime,
        }
    }

    #[test]
    fn jwt_claims_expire_a_minute_out_by_default() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let claims: serde_json::Value = serde_json::from_str(&jwt_claims(&target("", None), now)).unwrap();
        assert_eq!(claims["exp"], 1_700_000_060);
        assert_eq!(claims["iat"], 1_700_000_000);
        assert_eq!(claims["iss"], "demo-app");
        assert!(claims.get("aud").is_none());
        let claims: serde_json::Value =
            serde_json::from_str(&jwt_claims(&target("https://rp/", Some(Duration::from_secs(5))), now)).unwrap();
        assert_eq!(claims["exp"], 1_700_000_005);
        assert_eq!(claims["aud"], "https://rp/");
    }

    #[test]
    fn pb_duration_keeps_fractions() {
        assert_eq!(pb_duration(Duration::from_millis(1500)), prost_types::Duration { seconds: 1, nanos: 500_000_000 });
    }
}
