//! The `keyward.v1.Signer`, `keyward.v1.Tokens` and `keyward.v1.Audit` services.

use std::sync::Arc;

use tokio::time::Instant;

use secrecy::ExposeSecret;
use tonic::{Request, Response, Status};

use super::auth::Authorize;
use super::convert::{duration, required, timestamp};
use super::proto;
use super::pushback::Pushback;
use super::status::to_status;
use crate::access::Permission;
use crate::signing::Signing;

/// The Signer, Tokens and Audit services over the signing core.
#[derive(Debug, Clone)]
pub struct SigningService {
    pub(super) signing: Arc<Signing>,
    pub(super) authorize: Authorize,
    /// How long refusals of the full signing pool are held.
    pub(super) pushback: Pushback,
}

#[tonic::async_trait]
impl proto::signer_server::Signer for SigningService {
    async fn sign_client_assertion(
        &self,
        request: Request<proto::SignClientAssertionRequest>,
    ) -> Result<Response<proto::SignClientAssertionResponse>, Status> {
        let m = request.get_ref();
        required(&m.tenant, "tenant")?;
        required(&m.client_id, "client_id")?;
        let lifetime = duration(m.lifetime, "lifetime")?;
        let caller = self.authorize.check(&request, Permission::Sign, &m.tenant, Some(&m.client_id)).await?;
        let audience = (!m.audience.is_empty()).then_some(m.audience.as_str());
        let out = self.signing.sign_client_assertion(&caller.name, &m.tenant, &m.client_id, audience, lifetime).await;
        let out = self.pushback.answer(request.metadata(), out).await?;
        Ok(Response::new(proto::SignClientAssertionResponse {
            assertion: out.assertion,
            kid: out.kid,
            credential_id: out.credential_id,
            algorithm: out.algorithm,
            expires_at: Some(timestamp(out.expires_at)),
        }))
    }

    async fn sign_jwt(
        &self,
        request: Request<proto::SignJwtRequest>,
    ) -> Result<Response<proto::SignJwtResponse>, Status> {
        let m = request.get_ref();
        required(&m.tenant, "tenant")?;
        required(&m.client_id, "client_id")?;
        if m.claims_json.is_empty() {
            return Err(Status::invalid_argument("claims_json: is required"));
        }
        let caller = self.authorize.check(&request, Permission::Sign, &m.tenant, Some(&m.client_id)).await?;
        let typ = (!m.typ.is_empty()).then_some(m.typ.as_str());
        let signed = self.signing.sign_jwt(&caller.name, &m.tenant, &m.client_id, &m.claims_json, typ).await;
        let (jwt, key) = self.pushback.answer(request.metadata(), signed).await?;
        Ok(Response::new(proto::SignJwtResponse { jwt, kid: key.kid.clone(), algorithm: key.algorithm().to_string() }))
    }

    async fn sign_request_object(
        &self,
        request: Request<proto::SignRequestObjectRequest>,
    ) -> Result<Response<proto::SignRequestObjectResponse>, Status> {
        let m = request.get_ref();
        required(&m.tenant, "tenant")?;
        required(&m.client_id, "client_id")?;
        if m.claims_json.is_empty() {
            return Err(Status::invalid_argument(
                "claims_json: is required (a JSON object, e.g. {\"response_type\":\"code\"})",
            ));
        }
        let lifetime = duration(m.lifetime, "lifetime")?;
        let caller = self.authorize.check(&request, Permission::Sign, &m.tenant, Some(&m.client_id)).await?;
        let audience = (!m.audience.is_empty()).then_some(m.audience.as_str());
        let signed =
            self.signing.sign_request_object(&caller.name, &m.tenant, &m.client_id, &m.claims_json, lifetime, audience);
        let out = self.pushback.answer(request.metadata(), signed.await).await?;
        Ok(Response::new(proto::SignRequestObjectResponse {
            request_object: out.request_object,
            kid: out.kid,
            credential_id: out.credential_id,
            algorithm: out.algorithm,
            expires_at: Some(timestamp(out.expires_at)),
            jti: out.jti,
        }))
    }

    async fn get_jwks(
        &self,
        request: Request<proto::GetJwksRequest>,
    ) -> Result<Response<proto::GetJwksResponse>, Status> {
        let m = request.get_ref();
        required(&m.tenant, "tenant")?;
        required(&m.client_id, "client_id")?;
        self.authorize.check(&request, Permission::Read, &m.tenant, Some(&m.client_id)).await?;
        let jwks_json = self.signing.jwks(&m.tenant, &m.client_id).await.map_err(|e| to_status(&e))?;
        Ok(Response::new(proto::GetJwksResponse { jwks_json }))
    }
}

#[tonic::async_trait]
impl proto::tokens_server::Tokens for SigningService {
    async fn get_access_token(
        &self,
        request: Request<proto::GetAccessTokenRequest>,
    ) -> Result<Response<proto::GetAccessTokenResponse>, Status> {
        let m = request.get_ref();
        required(&m.tenant, "tenant")?;
        required(&m.client_id, "client_id")?;
        if m.audience.is_empty() || m.audience.len() > 2048 || m.audience.chars().any(char::is_control) {
            return Err(Status::invalid_argument(
                "audience: is required (the API identifier), at most 2048 characters",
            ));
        }
        if m.scope.len() > 4096 || m.scope.chars().any(char::is_control) {
            return Err(Status::invalid_argument("scope: at most 4096 printable characters"));
        }
        let caller = self.authorize.check(&request, Permission::Token, &m.tenant, Some(&m.client_id)).await?;
        let scope = (!m.scope.is_empty()).then_some(m.scope.as_str());
        let token = self.signing.access_token(&caller.name, &m.tenant, &m.client_id, &m.audience, scope).await;
        let token = self.pushback.answer(request.metadata(), token).await?;
        let left = token.expires_at().saturating_duration_since(Instant::now());
        let expires_at = self.signing.clock().now().plus(left);
        Ok(Response::new(proto::GetAccessTokenResponse {
            access_token: token.secret().expose_secret().to_owned(),
            token_type: token.token_type().to_owned(),
            expires_at: Some(timestamp(expires_at)),
            scope: token.scope().unwrap_or_default().to_owned(),
        }))
    }
}

#[tonic::async_trait]
impl proto::audit_server::Audit for SigningService {
    async fn list_audit_events(
        &self,
        request: Request<proto::ListAuditEventsRequest>,
    ) -> Result<Response<proto::ListAuditEventsResponse>, Status> {
        let m = request.get_ref();
        if m.after_id < 0 {
            return Err(Status::invalid_argument("after_id: must not be negative"));
        }
        let limit = match m.limit {
            0 => 100,
            l @ 1..=1000 => l,
            _ => return Err(Status::invalid_argument("limit: must be 1 to 1000 (0 = 100)")),
        };
        let caller = request
            .extensions()
            .get::<super::auth::Caller>()
            .map(|c| c.0.clone())
            .ok_or_else(|| Status::unauthenticated("no authenticated principal"))?;
        let events = self.signing.store().audit_after(m.after_id, i64::from(limit)).await.map_err(|e| to_status(&e))?;
        // Each principal sees the events of the tenants and clients it may read; global events
        // and other principals' denials only the global admin.
        let events = events
            .into_iter()
            .filter(|e| caller.may_read_event(&e.tenant, &e.subject, &e.kind, &e.actor))
            .map(|e| proto::AuditEvent {
                id: e.id,
                at: Some(timestamp(e.at)),
                actor: e.actor,
                tenant: e.tenant,
                subject: e.subject,
                kind: e.kind,
                detail: e.detail,
            })
            .collect();
        Ok(Response::new(proto::ListAuditEventsResponse { events }))
    }
}
