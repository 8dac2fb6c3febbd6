//! `KeyRotation.RotateTenantSigningKeys` and `RevokeTenantSigningKey`: authorization (`rotate`
//! on the whole tenant: the keys sign every token of it), field checks, the engine, and the
//! answer with the verified key set, the revocation's state and the lagging verifiers.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::Authorize;
use super::convert::{echo, required, timestamp};
use super::plan::plan;
use super::proto;
use super::status::to_status;
use crate::access::Permission;
use crate::rotation::{Engine, SigningKeysRotation, VerifiedSigningKey, VerifierStatus};

/// The client pattern a grant needs for tenant-wide work: `*` (a grant limited to some clients
/// may not change keys that sign every token of the tenant).
const WHOLE_TENANT: &str = "*";

fn request_id(value: &str) -> Result<Option<String>, Status> {
    if value.chars().count() > 128 || value.chars().any(char::is_control) {
        return Err(Status::invalid_argument("request_id: must be at most 128 printable characters"));
    }
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// `RotateTenantSigningKeys`.
pub(super) async fn rotate(
    engine: &Arc<Engine>,
    authorize: &Authorize,
    request: Request<proto::RotateTenantSigningKeysRequest>,
) -> Result<Response<proto::RotateTenantSigningKeysResponse>, Status> {
    required(&request.get_ref().tenant, "tenant")?;
    let caller = authorize.check(&request, Permission::Rotate, &request.get_ref().tenant, Some(WHOLE_TENANT)).await?;
    let m = request.into_inner();
    let request_id = request_id(&m.request_id)?;
    if m.plan {
        let planned =
            engine.plan_rotate_signing_keys(&m.tenant, request_id.as_deref()).await.map_err(|e| to_status(&e))?;
        return Ok(Response::new(proto::RotateTenantSigningKeysResponse {
            rotation: None,
            plan: Some(plan(&planned)),
        }));
    }
    let _running = engine.running_rotation();
    let rotated = tokio::select! {
        out = engine.rotate_signing_keys(&m.tenant, request_id.as_deref(), &caller.name) => out,
        () = engine.callers_interrupted() => {
            tracing::warn!(tenant = %m.tenant, "signing-key rotation interrupted by shutdown");
            let retry = match &request_id {
                Some(id) => format!("retry with request_id {:?} once keyward is back", echo(id)),
                None => "it resumes when keyward is back".to_owned(),
            };
            return Err(Status::unavailable(format!(
                "rotation of tenant {:?}'s signing keys interrupted by shutdown; {retry}",
                echo(&m.tenant)
            )));
        }
    };
    let out = rotated.map_err(|e| to_status(&e))?;
    Ok(Response::new(proto::RotateTenantSigningKeysResponse { rotation: Some(rotation(&out)), plan: None }))
}

/// `RevokeTenantSigningKey`.
pub(super) async fn revoke(
    engine: &Arc<Engine>,
    authorize: &Authorize,
    request: Request<proto::RevokeTenantSigningKeyRequest>,
) -> Result<Response<proto::RevokeTenantSigningKeyResponse>, Status> {
    required(&request.get_ref().tenant, "tenant")?;
    required(&request.get_ref().kid, "kid")?;
    let caller = authorize.check(&request, Permission::Rotate, &request.get_ref().tenant, Some(WHOLE_TENANT)).await?;
    let m = request.into_inner();
    let request_id = request_id(&m.request_id)?;
    if m.plan {
        let planned = engine.plan_revoke_signing_key(&m.tenant, &m.kid).await.map_err(|e| to_status(&e))?;
        return Ok(Response::new(proto::RevokeTenantSigningKeyResponse {
            rotation: None,
            kid: m.kid,
            plan: Some(plan(&planned)),
        }));
    }
    let out = engine
        .revoke_signing_key(&m.tenant, &m.kid, request_id.as_deref(), &caller.name)
        .await
        .map_err(|e| to_status(&e))?;
    Ok(Response::new(proto::RevokeTenantSigningKeyResponse { rotation: Some(rotation(&out)), kid: m.kid, plan: None }))
}

fn state(s: &str) -> proto::SigningKeyRotationState {
    use proto::SigningKeyRotationState as S;
    match s {
        "pending" => S::Pending,
        "waiting" => S::Waiting,
        "revoking" => S::Revoking,
        "completed" => S::Completed,
        "failed" => S::Failed,
        _ => S::Unspecified,
    }
}

fn key(k: &VerifiedSigningKey) -> proto::TenantSigningKey {
    proto::TenantSigningKey {
        kid: k.kid.clone(),
        cert: k.cert.clone(),
        pkcs7: k.pkcs7.clone(),
        fingerprint: k.fingerprint.clone(),
        thumbprint: k.thumbprint.clone(),
        current: k.current,
        next: k.next,
        previous: k.previous,
        revoked: k.revoked,
        current_since: k.current_since.clone().unwrap_or_default(),
        current_until: k.current_until.clone().unwrap_or_default(),
        revoked_at: k.revoked_at.clone().unwrap_or_default(),
        verified: k.problems.is_empty(),
        problems: k.problems.clone(),
    }
}

fn verifier(v: &VerifierStatus) -> proto::VerifierStatus {
    proto::VerifierStatus {
        jwks_url: v.jwks_url.clone(),
        shows_current: v.shows_current,
        problem: v.problem.clone().unwrap_or_default(),
        checked_at: v.checked_at.map(timestamp),
        attempts: v.attempts,
        next_check_at: v.next_check_at.map(timestamp),
    }
}

/// The message of a rotation.
pub(super) fn rotation(r: &SigningKeysRotation) -> proto::SigningKeyRotation {
    let (rec, d) = (&r.record, &r.detail);
    proto::SigningKeyRotation {
        rotation_id: rec.id.clone(),
        tenant: rec.tenant.clone(),
        request_id: rec.request_id.clone().unwrap_or_default(),
        state: state(&rec.state).into(),
        keys: d.keys.iter().map(key).collect(),
        verified: r.verified(),
        current_kid: d.current_kid.clone().unwrap_or_default(),
        next_kid: d.next_kid.clone().unwrap_or_default(),
        previous_kid: rec.previous_kid.clone().unwrap_or_default(),
        rotated_at: rec.rotated_at.map(timestamp),
        revoke_not_before: rec.revoke_not_before.map(timestamp),
        verifiers: d.verifiers.iter().map(verifier).collect(),
        lagging_verifiers: r.lagging().iter().map(|v| v.jwks_url.clone()).collect(),
        auto_revoke: d.auto_revoke,
        revoked_at: d.revoked_at.map(timestamp),
        error: d.error.clone().unwrap_or_default(),
        requested_by: rec.requested_by.clone(),
        created_at: Some(timestamp(rec.created_at)),
        updated_at: Some(timestamp(rec.updated_at)),
    }
}
