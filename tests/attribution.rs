//! Who asked, on every audited action, over real HTTP/2 against a real server: a client rotation
//! and its eviction of an older credential, a connection rotation and a policy change each name
//! the calling principal; failed authentication reaches the audit log aggregated (one event per
//! peer a minute at most, with its count per reason), never one row per call. Scheduled
//! rotations are attributed to `scheduler` (tests/scheduling.rs), revocations to their caller
//! (tests/revoke.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "support/grpc_world.rs"]
mod world;

use keyward::access::{Access, Grant, Permission, Principal};
use keyward::grpc::proto::{self, signer_client::SignerClient};
use keyward::grpc::token_hash;
use keyward::store::AuditEvent;
use serde_json::Value;
use tonic::Request;
use world::*;

const OPERATOR: &str = "kw-operator-51c8";

fn access() -> Access {
    let mut a = Access::all_access(&[token_hash(TOKEN)]);
    let grant = Grant { permissions: vec![Permission::Admin], tenants: vec!["dev".into()], clients: vec!["*".into()] };
    a.add(Principal { name: "platform-oncall".into(), grants: vec![grant] }, &[token_hash(OPERATOR)], &[]);
    a
}

fn as_operator<T>(m: T) -> Request<T> {
    let mut r = Request::new(m);
    r.metadata_mut().insert("authorization", format!("Bearer {OPERATOR}").parse().unwrap());
    r
}

async fn events(w: &World) -> Vec<AuditEvent> {
    w.store.audit_after(0, 10_000).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_audited_action_names_the_principal_that_asked() {
    for (name, store, dir) in stores().await {
        let w = world_with(name, store, dir, Setup { access: access(), ..Setup::default() }).await;
        let mut c = w.client().await;
        let rotate = || proto::RotateClientCredentialRequest {
            tenant: "dev".into(),
            client_id: APP.into(),
            ..Default::default()
        };
        // Three rotations: the third evicts the first's still-retiring credential early.
        for _ in 0..3 {
            let out = c.rotate_client_credential(as_operator(rotate())).await.unwrap().into_inner();
            assert_eq!(out.rotation.unwrap().requested_by, "platform-oncall", "{name}");
        }
        let all = events(&w).await;
        let evicted: Vec<_> = all.iter().filter(|e| e.kind == "credential.evicted").collect();
        assert!(!evicted.is_empty(), "{name}: the third rotation evicts: {all:#?}");
        let rotation_events: Vec<_> =
            all.iter().filter(|e| e.kind.starts_with("rotation.") || e.kind.starts_with("credential.")).collect();
        assert!(rotation_events.iter().all(|e| e.actor == "platform-oncall"), "{name}: {rotation_events:#?}");

        let conn = proto::RotateConnectionKeysRequest {
            tenant: "dev".into(),
            connection_id: CONN.into(),
            ..Default::default()
        };
        c.rotate_connection_keys(as_operator(conn)).await.unwrap();
        let policy = proto::SetRotationPolicyRequest {
            policy: Some(proto::RotationPolicy {
                tenant: "dev".into(),
                client_id: APP.into(),
                max_key_age: Some(prost_types::Duration { seconds: 90 * 86_400, nanos: 0 }),
                ..Default::default()
            }),
        };
        c.set_rotation_policy(as_operator(policy)).await.unwrap();
        let all = events(&w).await;
        for kind in ["connection.rotated", "policy.set"] {
            let e = all.iter().find(|e| e.kind == kind).unwrap_or_else(|| panic!("{name}: no {kind}: {all:#?}"));
            assert_eq!(e.actor, "platform-oncall", "{name}: {e:?}");
        }
        // GetRotation reports the requester too.
        let id = all.iter().find(|e| e.kind == "rotation.planned").unwrap();
        let id: Value = serde_json::from_str(&id.detail).unwrap();
        let got = c
            .get_rotation(as_operator(proto::GetRotationRequest {
                rotation_id: id["rotation_id"].as_str().unwrap().into(),
            }))
            .await
            .unwrap();
        assert_eq!(got.into_inner().requested_by, "platform-oncall", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentication_is_audited_once_a_minute_per_peer() {
    let (name, store, dir) = stores().await.into_iter().next().unwrap();
    let w = world_with(name, store, dir, Setup { access: access(), ..Setup::default() }).await;
    let channel = w.channel().await;
    let jwks = || proto::GetJwksRequest { tenant: "dev".into(), client_id: APP.into() };
    for i in 0..300 {
        let req = with_auth(jwks(), Some(format!("Bearer not-a-token-{i}").as_bytes()));
        let status = SignerClient::new(channel.clone()).get_jwks(req).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }
    let failed =
        |all: Vec<AuditEvent>| -> Vec<AuditEvent> { all.into_iter().filter(|e| e.kind == "auth.failed").collect() };
    let first = support::eventually("an auth.failed audit event", || async {
        let found = failed(events(&w).await);
        (!found.is_empty()).then_some(found)
    })
    .await;
    // More failures within the minute add no row; what was counted is in the one there is.
    for _ in 0..300 {
        let status = SignerClient::new(channel.clone()).get_jwks(Request::new(jwks())).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }
    // Give the once-a-second writer a few chances to (wrongly) write again.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let after = failed(events(&w).await);
    assert_eq!(after.len(), 1, "at most one event a minute per peer: {after:#?}");
    assert_eq!(after, first);
    let e = &after[0];
    assert_eq!((e.actor.as_str(), e.tenant.as_str(), e.subject.as_str()), ("unauthenticated", "", "127.0.0.1"));
    let detail: Value = serde_json::from_str(&e.detail).unwrap();
    let counted = detail["reasons"]["unknown_token"].as_u64().unwrap();
    assert!((1..=300).contains(&counted), "{detail}");
    assert_eq!(detail["failures"].as_u64().unwrap(), counted, "{detail}");
    // Nobody's token is written down.
    assert!(!e.detail.contains("not-a-token"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_denied_calls_writes_a_bounded_number_of_audit_rows() {
    let (name, store, dir) = stores().await.into_iter().next().unwrap();
    let w = world_with(name, store, dir, Setup { access: access(), ..Setup::default() }).await;
    let mut c = w.client().await;
    // `platform-oncall` is admin on tenant dev only: every call on another tenant is denied.
    for i in 0..200 {
        let req = proto::GetRotationPolicyRequest {
            tenant: format!("other-{i}"),
            client_id: APP.into(),
            ..Default::default()
        };
        let status = c.get_rotation_policy(as_operator(req)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    }
    let denied: Vec<_> = events(&w).await.into_iter().filter(|e| e.kind == "access.denied").collect();
    assert_eq!(denied.len(), 10, "ten events a minute per principal: {denied:#?}");
    assert!(denied.iter().all(|e| e.actor == "platform-oncall"));
}
