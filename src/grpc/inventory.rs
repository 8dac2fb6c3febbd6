//! Read-only KeyRotation calls that report on what keyward holds: `ListRotations`, `WhoAmI` and
//! `ListConnectionKeys`.

use tonic::{Request, Response, Status};

use super::auth::Authorize;
use super::convert::{connection_key, required, rotation, rotation_state_filter};
use super::proto;
use super::status::to_status;
use crate::access::{Permission, Principal};
use crate::clock::Timestamp;
use crate::rotation::Engine;
use crate::signing::Signing;
use crate::store::{Departed, Departure, RevocationState, RotationFilter, RotationRecord};

/// A page holds this many rotations unless asked otherwise, and never more than [`MAX_PAGE`].
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;
/// One call reads at most this many rows looking for ones the caller may see; past it, the page
/// ends early with a token to go on from.
const MAX_SCANNED: usize = 5_000;

/// The shortest id prefix `GetRotation` resolves: `rot_` and 6 characters.
const MIN_PREFIX: usize = 10;

/// One rotation, by its id or (as tables print them) a unique prefix of it.
pub(super) async fn get_rotation(
    engine: &Engine,
    authorize: &Authorize,
    request: Request<proto::GetRotationRequest>,
) -> Result<Response<proto::Rotation>, Status> {
    let id = request.get_ref().rotation_id.trim_end_matches('…');
    required(id, "rotation_id")?;
    let mut r = match engine.store().rotation(id).await.map_err(|e| to_status(&e))? {
        Some(r) => r,
        None => by_prefix(engine, &*Authorize::caller(&request)?, id).await?,
    };
    authorize.check(&request, Permission::Read, &r.tenant, Some(&r.client_id)).await?;
    // An old credential revoked before its retirement closed left by the revocation.
    if r.old_departed.is_none()
        && let Some(old) = &r.old_key_id
        && let Some(rev) = engine.store().revocation_of_key(old).await.map_err(|e| to_status(&e))?
        && !matches!(rev.state, RevocationState::Planned | RevocationState::Failed)
    {
        r.old_departed = Some(Departed { how: Departure::Revoked, at: rev.updated_at });
    }
    Ok(Response::new(rotation(&r)))
}

/// The one rotation the caller may read whose id starts with `prefix` (or, when it may read
/// none, one it may not, for the check to refuse).
async fn by_prefix(engine: &Engine, caller: &Principal, prefix: &str) -> Result<RotationRecord, Status> {
    let not_found = || to_status(&crate::Error::NotFound(format!("rotation {prefix:?}")));
    if prefix.chars().count() < MIN_PREFIX || !prefix.starts_with("rot_") {
        return Err(not_found());
    }
    let filter = RotationFilter { id_prefix: Some(prefix.to_owned()), ..RotationFilter::default() };
    let found = engine.store().list_rotations(&filter, 50).await.map_err(|e| to_status(&e))?;
    let (mut visible, hidden): (Vec<_>, Vec<_>) = found.into_iter().partition(|r| visible(caller, r));
    match visible.len() {
        1 => Ok(visible.remove(0)),
        0 => hidden.into_iter().next().ok_or_else(not_found),
        n => {
            Err(Status::invalid_argument(format!("rotation_id: {prefix:?} starts {n} rotations' ids; give more of it")))
        }
    }
}

/// A page of rotations, newest first, on the clients the caller may read.
pub(super) async fn list_rotations(
    engine: &Engine,
    authorize: &Authorize,
    request: Request<proto::ListRotationsRequest>,
) -> Result<Response<proto::ListRotationsResponse>, Status> {
    let caller = Authorize::caller(&request)?;
    let m = request.get_ref();
    let optional = |value: &str, field: &str| {
        if value.is_empty() { Ok(None) } else { required(value, field).map(|()| Some(value.to_owned())) }
    };
    let tenant = optional(&m.tenant, "tenant")?;
    let client_id = optional(&m.client_id, "client_id")?;
    if let Some(tenant) = &tenant {
        // A tenant (or client) the caller cannot read at all is refused, not listed empty.
        authorize.check(&request, Permission::Read, tenant, client_id.as_deref()).await?;
    } else if client_id.is_some() {
        return Err(Status::invalid_argument("client_id: needs tenant"));
    }
    let state = rotation_state_filter(m.state)?;
    let before = match m.page_token.as_str() {
        "" => None,
        token => Some(parse_token(token)?),
    };
    let page = match m.page_size {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    } as usize;
    let mut filter = RotationFilter { tenant, client_id, state, before, id_prefix: None };
    let mut rotations = Vec::with_capacity(page);
    let mut scanned = 0;
    let next = loop {
        let batch = engine.store().list_rotations(&filter, page as i64).await.map_err(|e| to_status(&e))?;
        let exhausted = batch.len() < page;
        for r in batch {
            scanned += 1;
            filter.before = Some((r.created_at, r.rotation_id.clone()));
            if visible(&caller, &r) {
                rotations.push(rotation(&r));
                if rotations.len() == page {
                    break;
                }
            }
        }
        if exhausted && rotations.len() < page {
            break None;
        }
        if rotations.len() == page || scanned >= MAX_SCANNED {
            break filter.before.as_ref().map(|(at, id)| format!("{}.{id}", at.as_millis()));
        }
    };
    Ok(Response::new(proto::ListRotationsResponse { rotations, next_page_token: next.unwrap_or_default() }))
}

fn visible(caller: &Principal, r: &RotationRecord) -> bool {
    caller.may(Permission::Read, &r.tenant, Some(&r.client_id))
}

/// `{created_at}.{rotation_id}` as the previous page ended.
fn parse_token(token: &str) -> Result<(Timestamp, String), Status> {
    let invalid = || Status::invalid_argument("page_token: is not one this server handed out");
    let (at, id) = token.split_once('.').ok_or_else(invalid)?;
    let at: i64 = at.parse().map_err(|_| invalid())?;
    let id_ok = id.starts_with("rot_")
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !id_ok {
        return Err(invalid());
    }
    Ok((Timestamp::from_millis(at), id.to_owned()))
}

/// The caller, its grants and the tenants they name; this server's version, replica,
/// readiness and store.
pub(super) async fn who_am_i(
    engine: &Engine,
    signing: &Signing,
    request: Request<proto::WhoAmIRequest>,
) -> Result<Response<proto::WhoAmIResponse>, Status> {
    let caller = Authorize::caller(&request)?;
    let ready = signing.readiness().await.is_ok();
    let authenticated_by = if request.metadata().get("authorization").is_some() { "token" } else { "mtls" };
    let grants = caller
        .grants
        .iter()
        .map(|g| proto::GrantInfo {
            permissions: g.permissions.iter().map(|p| p.as_str().to_owned()).collect(),
            tenants: g.tenants.clone(),
            clients: g.clients.clone(),
        })
        .collect();
    Ok(Response::new(proto::WhoAmIResponse {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        commit: env!("KEYWARD_GIT_COMMIT").to_owned(),
        replica_id: engine.owner().to_owned(),
        ready,
        store: engine.store().kind().to_owned(),
        tenants: engine.tenants().names().filter(|t| caller.names_tenant(t)).map(str::to_owned).collect(),
        principal: caller.name.clone(),
        grants,
        authenticated_by: authenticated_by.to_owned(),
    }))
}

/// A connection's keys at Auth0, verified; changes nothing.
pub(super) async fn list_connection_keys(
    engine: &Engine,
    authorize: &Authorize,
    request: Request<proto::ListConnectionKeysRequest>,
) -> Result<Response<proto::ListConnectionKeysResponse>, Status> {
    required(&request.get_ref().tenant, "tenant")?;
    required(&request.get_ref().connection_id, "connection_id")?;
    authorize
        .check(&request, Permission::Read, &request.get_ref().tenant, Some(&request.get_ref().connection_id))
        .await?;
    let m = request.into_inner();
    let keys = engine
        .connection_keys(&m.tenant, &m.connection_id)
        .await
        .map_err(|e| to_status(&e.naming("connection_id", &m.connection_id)))?;
    let verified = keys.iter().all(|k| k.problems.is_empty());
    Ok(Response::new(proto::ListConnectionKeysResponse { keys: keys.iter().map(connection_key).collect(), verified }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_are_only_what_a_page_handed_out() {
        assert_eq!(parse_token("17.rot_ab-12").unwrap(), (Timestamp::from_millis(17), "rot_ab-12".to_owned()));
        for bad in ["", "17", "x.rot_a", "17.cred_a", "17.rot_a b", &format!("1.rot_{}", "a".repeat(80))] {
            let e = parse_token(bad).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{bad:?}");
            assert!(e.message().starts_with("page_token: "), "{bad:?}");
        }
    }
}
