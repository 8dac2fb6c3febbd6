//! The `keyward.v1.KeyRotation` service over the rotation engine.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::Authorize;
use super::convert::{connection_key, credential, duration, echo, required, revocation, rotation, timestamp};
use super::plan::plan;
use super::proto;
use super::proto::key_rotation_server::KeyRotation;
use super::status::to_status;
use crate::access::Permission;
use crate::rotation::{Engine, RevokeRequest, RotateRequest};
use crate::store::{CredentialMethod, KeyState};

/// The service.
#[derive(Debug)]
pub struct RotationService {
    pub(super) engine: Arc<Engine>,
    /// The signer, whose key cache a revocation reloads before it answers.
    pub(super) signing: Arc<crate::signing::Signing>,
    pub(super) authorize: Authorize,
}

#[tonic::async_trait]
impl KeyRotation for RotationService {
    async fn rotate_client_credential(
        &self,
        request: Request<proto::RotateClientCredentialRequest>,
    ) -> Result<Response<proto::RotateClientCredentialResponse>, Status> {
        required(&request.get_ref().tenant, "tenant")?;
        required(&request.get_ref().client_id, "client_id")?;
        let caller = self
            .authorize
            .check(&request, Permission::Rotate, &request.get_ref().tenant, Some(&request.get_ref().client_id))
            .await?;
        let m = request.into_inner();
        let algorithm = match m.algorithm.as_str() {
            "" => None,
            a => Some(a.parse().map_err(|_| {
                Status::invalid_argument(format!("algorithm: {:?} is not one of RS256, RS384, PS256", echo(a)))
            })?),
        };
        let custody = match m.custody.as_str() {
            "" => None,
            c => Some(
                c.parse()
                    .map_err(|_| Status::invalid_argument(format!("custody: {:?} is not sealed or pkcs11", echo(c))))?,
            ),
        };
        let method = CredentialMethod::parse_arg(&m.method).map_err(|e| to_status(&e))?;
        let req = RotateRequest {
            method,
            custody,
            tenant: m.tenant,
            client_id: m.client_id,
            algorithm,
            key_bits: (m.key_bits != 0).then_some(m.key_bits),
            // Unset takes the configured default; an explicit zero retires the old key at once
            // (still no earlier than the last assertion it signed expires).
            grace_period: match m.grace_period {
                None => None,
                set => Some(duration(set, "grace_period")?.unwrap_or_default()),
            },
            credential_lifetime: duration(m.credential_lifetime, "credential_lifetime")?,
            request_id: (!m.request_id.is_empty()).then_some(m.request_id),
            evict_unmanaged: m.evict_unmanaged,
            requested_by: caller.name.clone(),
        };
        if m.plan {
            let planned = self.engine.plan_rotate_client(&req).await.map_err(|e| to_status(&e))?;
            return Ok(Response::new(proto::RotateClientCredentialResponse {
                plan: Some(plan(&planned)),
                ..Default::default()
            }));
        }
        let out = self.engine.rotate_client(&req).await.map_err(|e| to_status(&e))?;
        Ok(Response::new(proto::RotateClientCredentialResponse {
            rotation: Some(rotation(&out.rotation)),
            credential: out.credential.as_ref().map(credential),
            previous_credential_id: out.rotation.old_credential_id.clone().unwrap_or_default(),
            previous_retire_at: out.rotation.retire_at.map(timestamp),
            removed_credentials: rotation(&out.rotation).removed_credentials,
            plan: None,
        }))
    }

    async fn rotate_connection_keys(
        &self,
        request: Request<proto::RotateConnectionKeysRequest>,
    ) -> Result<Response<proto::RotateConnectionKeysResponse>, Status> {
        required(&request.get_ref().tenant, "tenant")?;
        required(&request.get_ref().connection_id, "connection_id")?;
        let caller = self
            .authorize
            .check(&request, Permission::Rotate, &request.get_ref().tenant, Some(&request.get_ref().connection_id))
            .await?;
        let m = request.into_inner();
        let alg = match m.signing_alg.as_str() {
            "" => None,
            a => Some(a.parse().map_err(|_| {
                Status::invalid_argument(format!("signing_alg: {:?} is not a supported algorithm", echo(a)))
            })?),
        };
        if m.request_id.chars().count() > 128 {
            return Err(Status::invalid_argument("request_id: must be at most 128 characters"));
        }
        let request_id = (!m.request_id.is_empty()).then_some(m.request_id.as_str());
        if m.plan {
            let planned = self
                .engine
                .plan_rotate_connection(&m.tenant, &m.connection_id, alg, request_id)
                .await
                .map_err(|e| to_status(&e.naming("connection_id", &m.connection_id)))?;
            return Ok(Response::new(proto::RotateConnectionKeysResponse {
                plan: Some(plan(&planned)),
                ..Default::default()
            }));
        }
        let _running = self.engine.running_rotation();
        let rotated = tokio::select! {
            out = self.engine.rotate_connection(&m.tenant, &m.connection_id, alg, request_id, &caller.name) => out,
            () = self.engine.callers_interrupted() => {
                // Dropped where a crash would leave it: the request_id recorded before Auth0 was
                // asked makes a retry finish it without rotating twice.
                tracing::warn!(tenant = %m.tenant, connection_id = %m.connection_id, "connection rotation interrupted by shutdown");
                let retry = match request_id {
                    Some(id) => format!("retry with request_id {:?} once keyward is back", echo(id)),
                    None => format!(
                        "see its keys once keyward is back (keyward connection keys --tenant {} --connection {})",
                        echo(&m.tenant),
                        echo(&m.connection_id)
                    ),
                };
                return Err(Status::unavailable(format!(
                    "rotation of connection {:?} interrupted by shutdown; {retry}",
                    echo(&m.connection_id)
                )));
            }
        };
        let out = rotated.map_err(|e| to_status(&e.naming("connection_id", &m.connection_id)))?;
        Ok(Response::new(proto::RotateConnectionKeysResponse {
            key: Some(connection_key(&out.key)),
            keys: out.keys.iter().map(connection_key).collect(),
            verified: out.verified,
            plan: None,
        }))
    }

    async fn get_rotation(
        &self,
        request: Request<proto::GetRotationRequest>,
    ) -> Result<Response<proto::Rotation>, Status> {
        super::inventory::get_rotation(&self.engine, &self.authorize, request).await
    }

    async fn list_client_credentials(
        &self,
        request: Request<proto::ListClientCredentialsRequest>,
    ) -> Result<Response<proto::ListClientCredentialsResponse>, Status> {
        required(&request.get_ref().tenant, "tenant")?;
        required(&request.get_ref().client_id, "client_id")?;
        self.authorize
            .check(&request, Permission::Read, &request.get_ref().tenant, Some(&request.get_ref().client_id))
            .await?;
        let m = request.into_inner();
        required(&m.tenant, "tenant")?;
        required(&m.client_id, "client_id")?;
        let tenant = self.engine.managed_client(&m.tenant, &m.client_id).map_err(|e| to_status(&e))?;
        let keys = self.engine.store().keys(&m.tenant, &m.client_id).await.map_err(|e| to_status(&e))?;
        // Signing-only clients have nothing at Auth0.
        let (at_auth0, client) = if tenant.config.signing.local_clients.contains(&m.client_id) {
            (Vec::new(), None)
        } else {
            let named = |e: keyward_auth0::Error| to_status(&crate::Error::from(e).naming("client_id", &m.client_id));
            let creds = tenant.auth0.list_credentials(&m.client_id).await.map_err(named)?;
            (creds, Some(tenant.auth0.get_client(&m.client_id).await.map_err(named)?))
        };
        let pkjwt = client.as_ref().map(|c| c.private_key_jwt_credential_ids()).unwrap_or_default();
        let jar = client.as_ref().map(|c| c.signed_request_object_credential_ids()).unwrap_or_default();
        let list_of = |id: &str| {
            if pkjwt.contains(&id) {
                CredentialMethod::PrivateKeyJwt.as_str()
            } else if jar.contains(&id) {
                CredentialMethod::SignedRequestObject.as_str()
            } else {
                ""
            }
        };
        let auth0_credentials = at_auth0
            .iter()
            .map(|c| {
                let method = list_of(&c.id);
                proto::Auth0Credential {
                    id: c.id.clone(),
                    kid: c.kid.clone().unwrap_or_default(),
                    alg: c.alg.clone().unwrap_or_default(),
                    name: c.name.clone().unwrap_or_default(),
                    attached: !method.is_empty(),
                    method: method.to_owned(),
                    managed: keys
                        .iter()
                        .any(|k| k.credential_id.as_deref() == Some(c.id.as_str()) && k.state != KeyState::Retired),
                }
            })
            .collect();
        let credentials = keys.iter().filter(|k| k.state != KeyState::Retired).map(credential).collect();
        Ok(Response::new(proto::ListClientCredentialsResponse { credentials, auth0_credentials }))
    }

    async fn revoke_credential(
        &self,
        request: Request<proto::RevokeCredentialRequest>,
    ) -> Result<Response<proto::RevokeCredentialResponse>, Status> {
        required(&request.get_ref().tenant, "tenant")?;
        required(&request.get_ref().client_id, "client_id")?;
        required(&request.get_ref().credential_id, "credential_id")?;
        let caller = self
            .authorize
            .check(&request, Permission::Revoke, &request.get_ref().tenant, Some(&request.get_ref().client_id))
            .await?;
        let m = request.into_inner();
        let req = RevokeRequest {
            tenant: m.tenant,
            client_id: m.client_id,
            credential_id: m.credential_id,
            reason: m.reason,
            force: m.force,
            request_id: (!m.request_id.is_empty()).then_some(m.request_id),
            requested_by: caller.name.clone(),
        };
        if m.plan {
            let planned = self.engine.plan_revoke(&req).await.map_err(|e| to_status(&e))?;
            return Ok(Response::new(proto::RevokeCredentialResponse {
                plan: Some(plan(&planned)),
                ..Default::default()
            }));
        }
        let out = self.engine.revoke(&req).await;
        // Once the answer is out, this replica no longer signs with the key (the others drop it
        // on their next poll of the store's key version).
        if let Err(e) = self.signing.cache().refresh(true).await {
            tracing::warn!(error = %e, "key cache not reloaded after a revocation");
        }
        let out = out.map_err(|e| to_status(&e))?;
        Ok(Response::new(proto::RevokeCredentialResponse {
            revocation: Some(revocation(&out.revocation, &out.kid)),
            client_has_active_key: out.active.is_some(),
            active_credential_id: out.active.and_then(|k| k.credential_id).unwrap_or_default(),
            plan: None,
        }))
    }

    async fn set_rotation_policy(
        &self,
        request: Request<proto::SetRotationPolicyRequest>,
    ) -> Result<Response<proto::RotationPolicy>, Status> {
        super::policy::set(&self.engine, &self.authorize, request).await
    }

    async fn get_rotation_policy(
        &self,
        request: Request<proto::GetRotationPolicyRequest>,
    ) -> Result<Response<proto::RotationPolicy>, Status> {
        super::policy::get(&self.engine, &self.authorize, request).await
    }

    async fn list_rotation_policies(
        &self,
        request: Request<proto::ListRotationPoliciesRequest>,
    ) -> Result<Response<proto::ListRotationPoliciesResponse>, Status> {
        super::policy::list(&self.engine, &self.authorize, request).await
    }

    async fn delete_rotation_policy(
        &self,
        request: Request<proto::GetRotationPolicyRequest>,
    ) -> Result<Response<proto::DeleteRotationPolicyResponse>, Status> {
        super::policy::delete(&self.engine, &self.authorize, request).await
    }

    async fn list_rotations(
        &self,
        request: Request<proto::ListRotationsRequest>,
    ) -> Result<Response<proto::ListRotationsResponse>, Status> {
        super::inventory::list_rotations(&self.engine, &self.authorize, request).await
    }

    async fn who_am_i(
        &self,
        request: Request<proto::WhoAmIRequest>,
    ) -> Result<Response<proto::WhoAmIResponse>, Status> {
        super::inventory::who_am_i(&self.engine, &self.signing, request).await
    }

    async fn list_connection_keys(
        &self,
        request: Request<proto::ListConnectionKeysRequest>,
    ) -> Result<Response<proto::ListConnectionKeysResponse>, Status> {
        super::inventory::list_connection_keys(&self.engine, &self.authorize, request).await
    }

    async fn rotate_tenant_signing_keys(
        &self,
        request: Request<proto::RotateTenantSigningKeysRequest>,
    ) -> Result<Response<proto::RotateTenantSigningKeysResponse>, Status> {
        super::signing_keys::rotate(&self.engine, &self.authorize, request).await
    }

    async fn revoke_tenant_signing_key(
        &self,
        request: Request<proto::RevokeTenantSigningKeyRequest>,
    ) -> Result<Response<proto::RevokeTenantSigningKeyResponse>, Status> {
        super::signing_keys::revoke(&self.engine, &self.authorize, request).await
    }

    async fn get_tenant_inventory(
        &self,
        request: Request<proto::GetTenantInventoryRequest>,
    ) -> Result<Response<proto::GetTenantInventoryResponse>, Status> {
        super::tenant_inventory::get_tenant_inventory(&self.engine, &self.authorize, request).await
    }
}
