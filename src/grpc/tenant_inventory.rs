//! `KeyRotation.GetTenantInventory`: a tenant's inventory (`crate::inventory`) as
//! `keyward.v1` messages. Needs `read` on the whole tenant (every client: `*`), since it lists
//! every client and what changed on any of them.

use std::time::Duration;

use tonic::{Request, Response, Status};

use super::auth::Authorize;
use super::convert::{required, timestamp};
use super::proto;
use super::status::to_status;
use crate::access::Permission;
use crate::clock::Timestamp;
use crate::inventory::{self, ConnectionKeyEntry, CredentialEntry, DriftEntry, Flag, Inventory, SigningKeyEntry};
use crate::rotation::Engine;

/// The client pattern the caller's grant must cover: all of the tenant's clients.
const ALL_CLIENTS: &str = "*";

/// Reads the tenant's inventory and compares it with the last one.
pub(super) async fn get_tenant_inventory(
    engine: &Engine,
    authorize: &Authorize,
    request: Request<proto::GetTenantInventoryRequest>,
) -> Result<Response<proto::GetTenantInventoryResponse>, Status> {
    required(&request.get_ref().tenant, "tenant")?;
    let caller = authorize.check(&request, Permission::Read, &request.get_ref().tenant, Some(ALL_CLIENTS)).await?;
    let tenant = request.into_inner().tenant;
    let inv = inventory::take(engine, &tenant, &caller.name).await.map_err(|e| to_status(&e))?;
    Ok(Response::new(response(&inv)))
}

fn span(d: Duration) -> prost_types::Duration {
    prost_types::Duration { seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), nanos: 0 }
}

fn age(now: Timestamp, since: Option<Timestamp>) -> Option<prost_types::Duration> {
    since.map(|s| span(now.duration_since(s)))
}

fn flags(f: &[Flag]) -> Vec<i32> {
    f.iter()
        .map(|f| match f {
            Flag::Orphaned => proto::InventoryFlag::Orphaned,
            Flag::Expiring => proto::InventoryFlag::Expiring,
            Flag::OlderThanPolicy => proto::InventoryFlag::OlderThanPolicy,
            Flag::Expired => proto::InventoryFlag::Expired,
        } as i32)
        .collect()
}

fn credential(now: Timestamp, c: &CredentialEntry) -> proto::InventoryCredential {
    proto::InventoryCredential {
        credential_id: c.credential_id.clone(),
        name: c.name.clone().unwrap_or_default(),
        kid: c.kid.clone().unwrap_or_default(),
        algorithm: c.algorithm.clone().unwrap_or_default(),
        credential_type: c.credential_type.clone().unwrap_or_default(),
        created_at: c.created_at.map(timestamp),
        expires_at: c.expires_at.map(timestamp),
        age: age(now, c.created_at),
        slots: c.slots.clone(),
        managed_by_keyward: c.managed.is_some(),
        key_state: c.managed.map(|s| s.as_str().to_ascii_uppercase()).unwrap_or_default(),
        flags: flags(&c.flags),
    }
}

fn connection_key(now: Timestamp, k: &ConnectionKeyEntry) -> proto::InventoryConnectionKey {
    proto::InventoryConnectionKey {
        connection_id: k.connection_id.clone(),
        kid: k.kid.clone(),
        current: k.current,
        next: k.next,
        previous: k.previous,
        algorithm: k.algorithm.clone().unwrap_or_default(),
        current_since: k.current_since.map(timestamp),
        not_before: k.not_before.map(timestamp),
        not_after: k.not_after.map(timestamp),
        age: age(now, k.age_from()),
        flags: flags(&k.flags),
    }
}

fn signing_key(now: Timestamp, k: &SigningKeyEntry) -> proto::InventorySigningKey {
    proto::InventorySigningKey {
        kid: k.kid.clone(),
        current: k.current,
        next: k.next,
        previous: k.previous,
        revoked: k.revoked,
        current_since: k.current_since.map(timestamp),
        current_until: k.current_until.map(timestamp),
        revoked_at: k.revoked_at.map(timestamp),
        not_before: k.not_before.map(timestamp),
        not_after: k.not_after.map(timestamp),
        age: age(now, k.not_before),
        flags: flags(&k.flags),
    }
}

fn drift(d: &DriftEntry) -> proto::InventoryDrift {
    proto::InventoryDrift {
        kind: d.kind.as_str().to_owned(),
        what: d.what.as_str().to_owned(),
        client_id: d.client_id.clone(),
        credential_id: d.credential_id.clone(),
        slot: d.slot.clone().unwrap_or_default(),
        slots: d.slots.clone(),
        name: d.name.clone().unwrap_or_default(),
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn summary(inv: &Inventory) -> proto::InventorySummary {
    let flagged = |f| {
        let (a, b, c) = inv.flagged(f);
        count(a + b + c)
    };
    proto::InventorySummary {
        clients: count(inv.clients.len()),
        credentials: count(inv.credentials().count()),
        managed_credentials: count(inv.credentials().filter(|c| c.managed.is_some()).count()),
        connection_keys: count(inv.connection_keys.len()),
        signing_keys: count(inv.signing_keys.len()),
        orphaned: flagged(Flag::Orphaned),
        expiring: flagged(Flag::Expiring),
        expired: flagged(Flag::Expired),
        older_than_policy: flagged(Flag::OlderThanPolicy),
        drift: count(inv.drift.len()),
    }
}

fn response(inv: &Inventory) -> proto::GetTenantInventoryResponse {
    let now = inv.taken_at;
    proto::GetTenantInventoryResponse {
        tenant: inv.tenant.clone(),
        taken_at: Some(timestamp(now)),
        expiry_window: Some(span(inv.expiry_window)),
        clients: inv
            .clients
            .iter()
            .map(|c| proto::InventoryClient {
                client_id: c.client_id.clone(),
                name: c.name.clone().unwrap_or_default(),
                app_type: c.app_type.clone().unwrap_or_default(),
                managed_by_keyward: c.managed_by_keyward,
                credentials: c.credentials.iter().map(|r| credential(now, r)).collect(),
            })
            .collect(),
        connection_keys: inv.connection_keys.iter().map(|k| connection_key(now, k)).collect(),
        signing_keys: inv.signing_keys.iter().map(|k| signing_key(now, k)).collect(),
        drift: inv.drift.iter().map(drift).collect(),
        baseline: inv.previous_taken_at.is_none(),
        previous_taken_at: inv.previous_taken_at.map(timestamp),
        summary: Some(summary(inv)),
        gaps: inv
            .gaps
            .iter()
            .map(|g| proto::InventoryGap {
                what: g.what.to_owned(),
                id: g.id.clone(),
                reason: to_status(&g.error).message().to_owned(),
            })
            .collect(),
    }
}
