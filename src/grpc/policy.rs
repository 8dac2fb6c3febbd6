//! The rotation-policy RPCs of `keyward.v1.KeyRotation`.

use tonic::{Request, Response, Status};

use super::auth::Authorize;
use super::convert::{duration, echo, required, timestamp};
use super::proto;
use super::status::to_status;
use crate::access::Permission;
use crate::rotation::Engine;
use crate::schedule::{self, PolicyInput, PolicyStatus};
use crate::store::PolicyKind;

/// The target a request names: exactly one of client_id, connection_id and signing_keys (whose
/// target is the whole tenant, `*`: authorizing it needs a grant on every client).
fn target(client_id: &str, connection_id: &str, signing_keys: bool) -> Result<(PolicyKind, String), Status> {
    match (client_id.is_empty(), connection_id.is_empty(), signing_keys) {
        (false, true, false) => {
            required(client_id, "client_id")?;
            Ok((PolicyKind::Client, client_id.to_owned()))
        }
        (true, false, false) => {
            required(connection_id, "connection_id")?;
            Ok((PolicyKind::Connection, connection_id.to_owned()))
        }
        (true, true, true) => Ok((PolicyKind::SigningKeys, schedule::SIGNING_KEYS_TARGET.to_owned())),
        _ => Err(Status::invalid_argument("client_id, connection_id, signing_keys: set exactly one")),
    }
}

fn message(s: &PolicyStatus) -> proto::RotationPolicy {
    let p = &s.policy;
    let age = prost_types::Duration { seconds: p.max_age_ms / 1000, nanos: 0 };
    let (client_id, connection_id, max_key_age, interval) = match p.kind {
        PolicyKind::Client => (p.target.clone(), String::new(), Some(age), None),
        PolicyKind::Connection => (String::new(), p.target.clone(), None, Some(age)),
        PolicyKind::SigningKeys => (String::new(), String::new(), None, Some(age)),
    };
    proto::RotationPolicy {
        tenant: p.tenant.clone(),
        client_id,
        connection_id,
        max_key_age,
        interval,
        window: p.window.clone().unwrap_or_default(),
        source: p.source.as_str().to_owned(),
        due_at: s.due_at.map(timestamp),
        overdue: s.overdue,
        key_age: s.key_age_ms.map(|ms| prost_types::Duration { seconds: ms.max(0) / 1000, nanos: 0 }),
        last_rotated_at: p.last_rotated_at.map(timestamp),
        last_result: p.last_result.clone().unwrap_or_default(),
        custody: p.custody.map(|c| c.to_string()).unwrap_or_default(),
        signing_keys: p.kind == PolicyKind::SigningKeys,
    }
}

pub(super) async fn set(
    engine: &Engine,
    authorize: &Authorize,
    request: Request<proto::SetRotationPolicyRequest>,
) -> Result<Response<proto::RotationPolicy>, Status> {
    let p = request.get_ref().policy.clone().ok_or_else(|| Status::invalid_argument("policy: is required"))?;
    required(&p.tenant, "policy.tenant")?;
    let (kind, target) = target(&p.client_id, &p.connection_id, p.signing_keys)?;
    let caller = authorize.check(&request, Permission::Admin, &p.tenant, Some(&target)).await?;
    let (field, value, other) = match kind {
        PolicyKind::Client => ("policy.max_key_age", p.max_key_age, p.interval),
        PolicyKind::Connection | PolicyKind::SigningKeys => ("policy.interval", p.interval, p.max_key_age),
    };
    if duration(other, "policy")?.is_some() {
        return Err(Status::invalid_argument(
            "policy: max_key_age is for clients and interval for connections and signing keys; set only the one \
             that applies",
        ));
    }
    let max_age = duration(value, field)?.ok_or_else(|| Status::invalid_argument(format!("{field}: is required")))?;
    let input = PolicyInput {
        tenant: p.tenant.clone(),
        kind,
        target,
        max_age,
        window: (!p.window.is_empty()).then(|| p.window.clone()),
        custody: match p.custody.as_str() {
            "" => None,
            c => Some(c.parse().map_err(|_| {
                Status::invalid_argument(format!("policy.custody: {:?} is not sealed or pkcs11", echo(c)))
            })?),
        },
    };
    let status = schedule::set_policy(engine, &input, &caller.name).await.map_err(|e| to_status(&e))?;
    Ok(Response::new(message(&status)))
}

pub(super) async fn get(
    engine: &Engine,
    authorize: &Authorize,
    request: Request<proto::GetRotationPolicyRequest>,
) -> Result<Response<proto::RotationPolicy>, Status> {
    let m = request.get_ref();
    required(&m.tenant, "tenant")?;
    let (kind, target) = target(&m.client_id, &m.connection_id, m.signing_keys)?;
    authorize.check(&request, Permission::Read, &m.tenant, Some(&target)).await?;
    let status = schedule::get_policy(engine, &m.tenant, kind, &target).await.map_err(|e| to_status(&e))?;
    Ok(Response::new(message(&status)))
}

pub(super) async fn list(
    engine: &Engine,
    authorize: &Authorize,
    request: Request<proto::ListRotationPoliciesRequest>,
) -> Result<Response<proto::ListRotationPoliciesResponse>, Status> {
    let tenant = request.get_ref().tenant.clone();
    required(&tenant, "tenant")?;
    let caller = authorize.check(&request, Permission::Read, &tenant, None).await?;
    let policies = schedule::statuses(engine, engine.clock().now())
        .await
        .map_err(|e| to_status(&e))?
        .iter()
        .filter(|s| s.tenant == tenant && caller.may(Permission::Read, &tenant, Some(&s.target)))
        .map(message)
        .collect();
    Ok(Response::new(proto::ListRotationPoliciesResponse { policies }))
}

pub(super) async fn delete(
    engine: &Engine,
    authorize: &Authorize,
    request: Request<proto::GetRotationPolicyRequest>,
) -> Result<Response<proto::DeleteRotationPolicyResponse>, Status> {
    let m = request.get_ref();
    required(&m.tenant, "tenant")?;
    let (kind, target) = target(&m.client_id, &m.connection_id, m.signing_keys)?;
    let caller = authorize.check(&request, Permission::Admin, &m.tenant, Some(&target)).await?;
    schedule::delete_policy(engine, &m.tenant, kind, &target, &caller.name).await.map_err(|e| to_status(&e))?;
    Ok(Response::new(proto::DeleteRotationPolicyResponse {}))
}
