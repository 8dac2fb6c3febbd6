//! What keyward tells about what it did and holds, over real HTTP/2 against a real server and
//! the emulator, on both stores: the credentials a rotation evicted or deleted (named, managed or
//! not, and why) and when a rotation's old credential actually left; `ListRotations` pages,
//! filters and shows only what the caller may read; `WhoAmI`; `ListConnectionKeys` verifies
//! Auth0's keys and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/records.rs"]
mod records;
mod support;
#[path = "support/grpc_world.rs"]
mod world;

use std::collections::BTreeSet;

use keyward::access::{Access, Grant, Permission, Principal};
use keyward::grpc::proto::{self, key_rotation_client::KeyRotationClient};
use keyward::grpc::token_hash;
use serde_json::json;
use tonic::transport::Channel;
use tonic::{Code, Request};
use world::*;

/// Reads only the ghost app's rotations in `dev`.
const GHOST_READER: &str = "kw-ghost-reader-3d1";
/// Holds grants only on another tenant.
const STRANGER: &str = "kw-stranger-9e2";

fn access() -> Access {
    let mut a = Access::all_access(&[token_hash(TOKEN)]);
    let ghost =
        Grant { permissions: vec![Permission::Read], tenants: vec!["dev".into()], clients: vec![GHOST_APP.into()] };
    a.add(Principal { name: "ghost-reader".into(), grants: vec![ghost] }, &[token_hash(GHOST_READER)], &[]);
    let other =
        Grant { permissions: vec![Permission::Admin], tenants: vec!["prod-*".into()], clients: vec!["*".into()] };
    a.add(Principal { name: "stranger".into(), grants: vec![other] }, &[token_hash(STRANGER)], &[]);
    a
}

fn as_token<T>(token: &str, m: T) -> Request<T> {
    let mut r = Request::new(m);
    r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

fn rotate(evict_unmanaged: bool) -> proto::RotateClientCredentialRequest {
    proto::RotateClientCredentialRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        evict_unmanaged,
        ..Default::default()
    }
}

async fn list(
    c: &mut KeyRotationClient<Channel>,
    token: &str,
    req: proto::ListRotationsRequest,
) -> Result<proto::ListRotationsResponse, tonic::Status> {
    c.list_rotations(as_token(token, req)).await.map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_tell_what_they_removed_and_list_a_page_at_a_time() {
    for (name, store, dir) in stores().await {
        let w = world_with(name, store, dir, Setup { access: access(), ..Setup::default() }).await;
        let mut c = w.client().await;
        let token = w.management_token().await;
        let hand =
            support::hand_made_credentials(&w.http, &w.emu.base_url(), &token, &["hand-made 0", "hand-made 1"]).await;

        // Refused without evict_unmanaged: a FAILED rotation that removed nothing.
        let refused = c.rotate_client_credential(authed(rotate(false))).await.unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{name}: {refused:?}");

        // Each of the next two evicts one hand-made credential, and says so.
        let mut rotations = Vec::new();
        for _ in 0..2 {
            let out = c.rotate_client_credential(authed(rotate(true))).await.unwrap().into_inner();
            let r = out.rotation.clone().unwrap();
            assert_eq!(out.removed_credentials, r.removed_credentials, "{name}: the response and the rotation agree");
            assert_eq!(out.removed_credentials.len(), 1, "{name}: {out:?}");
            let gone = &out.removed_credentials[0];
            assert!(hand.contains(&gone.credential_id), "{name}: {gone:?}");
            assert!(!gone.managed && gone.name.starts_with("hand-made "), "{name}: {gone:?}");
            assert_eq!((gone.state.as_str(), gone.action.as_str()), ("attached", "evicted"), "{name}");
            assert!(gone.reason.contains("both private_key_jwt slots were taken"), "{name}: {}", gone.reason);
            assert!(gone.removed_at.is_some(), "{name}");
            rotations.push(r);
        }
        let credentials: BTreeSet<String> =
            w.app_credentials().await.iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
        assert!(hand.iter().all(|h| !credentials.contains(h)), "{name}: both hand-made credentials are gone");

        // The third evicts the second's old credential (still retiring, nothing it signed live).
        let third = c.rotate_client_credential(authed(rotate(false))).await.unwrap().into_inner();
        let first_key = rotations[0].new_credential_id.clone();
        assert_eq!(third.removed_credentials.len(), 1, "{name}: {third:?}");
        let gone = &third.removed_credentials[0];
        assert_eq!(gone.credential_id, first_key, "{name}");
        assert!(gone.managed && gone.state == "RETIRING" && gone.action == "evicted", "{name}: {gone:?}");
        assert!(gone.reason.contains("grace period was cut short"), "{name}: {}", gone.reason);

        // The second rotation shows when and how its old credential actually left.
        let second = c
            .get_rotation(authed(proto::GetRotationRequest { rotation_id: rotations[1].rotation_id.clone() }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(second.old_credential_id, first_key, "{name}");
        assert_eq!(second.old_removed_how, "evicted", "{name}: {second:?}");
        let left = second.old_removed_at.unwrap().seconds;
        assert!(left <= third.rotation.as_ref().unwrap().updated_at.unwrap().seconds, "{name}");
        assert!(second.retire_at.unwrap().seconds > left, "{name}: evicted before its planned retirement");
        // The newest rotation's old credential is still attached.
        let newest = third.rotation.unwrap();
        assert!(newest.old_removed_at.is_none() && newest.old_removed_how.is_empty(), "{name}");

        // ListRotations: newest first, a page at a time, with nothing lost or repeated.
        let all =
            list(&mut c, TOKEN, proto::ListRotationsRequest { page_size: 500, ..Default::default() }).await.unwrap();
        assert_eq!(all.rotations.len(), 4, "{name}: {all:?}");
        assert!(all.next_page_token.is_empty(), "{name}");
        let created: Vec<i64> = all.rotations.iter().map(|r| r.created_at.unwrap().seconds).collect();
        assert!(created.windows(2).all(|p| p[0] >= p[1]), "{name}: newest first: {created:?}");
        let mut paged = Vec::new();
        let mut req = proto::ListRotationsRequest { tenant: "dev".into(), page_size: 3, ..Default::default() };
        loop {
            let page = list(&mut c, TOKEN, req.clone()).await.unwrap();
            assert!(page.rotations.len() <= 3, "{name}");
            paged.extend(page.rotations.into_iter().map(|r| r.rotation_id));
            if page.next_page_token.is_empty() {
                break;
            }
            req.page_token = page.next_page_token;
        }
        let ids: Vec<String> = all.rotations.iter().map(|r| r.rotation_id.clone()).collect();
        assert_eq!(paged, ids, "{name}");
        let failed = proto::ListRotationsRequest {
            tenant: "dev".into(),
            client_id: APP.into(),
            state: proto::RotationState::Failed.into(),
            ..Default::default()
        };
        let failed = list(&mut c, TOKEN, failed).await.unwrap().rotations;
        assert_eq!(failed.len(), 1, "{name}: {failed:?}");
        assert!(failed[0].error.contains("evict_unmanaged"), "{name}: {failed:?}");

        // Only what the caller may read: the ghost reader sees none of the app's rotations and
        // may not ask for them by name; a stranger may not ask for the tenant at all.
        let seen = list(&mut c, GHOST_READER, proto::ListRotationsRequest::default()).await.unwrap();
        assert!(seen.rotations.is_empty() && seen.next_page_token.is_empty(), "{name}: {seen:?}");
        let seen =
            list(&mut c, GHOST_READER, proto::ListRotationsRequest { tenant: "dev".into(), ..Default::default() });
        assert!(seen.await.unwrap().rotations.is_empty(), "{name}");
        let by_name = proto::ListRotationsRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() };
        assert_eq!(list(&mut c, GHOST_READER, by_name).await.unwrap_err().code(), Code::PermissionDenied, "{name}");
        let tenant = proto::ListRotationsRequest { tenant: "dev".into(), ..Default::default() };
        assert_eq!(list(&mut c, STRANGER, tenant).await.unwrap_err().code(), Code::PermissionDenied, "{name}");

        // Bad requests name their field.
        let bad = [
            (proto::ListRotationsRequest { client_id: APP.into(), ..Default::default() }, "client_id: "),
            (proto::ListRotationsRequest { page_token: "17.cred_x".into(), ..Default::default() }, "page_token: "),
            (proto::ListRotationsRequest { state: 99, ..Default::default() }, "state: "),
            (proto::ListRotationsRequest { tenant: "x".repeat(200), ..Default::default() }, "tenant: "),
        ];
        for (req, field) in bad {
            let e = list(&mut c, TOKEN, req).await.unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{name}: {e:?}");
            assert!(e.message().starts_with(field), "{name}: {e:?}");
        }
        w.check_invariants().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_am_i_names_the_caller_its_grants_and_the_server() {
    for (name, store, dir) in stores().await {
        let w = world_with(name, store, dir, Setup { access: access(), ..Setup::default() }).await;
        let mut c = w.client().await;
        let me = c.who_am_i(authed(proto::WhoAmIRequest {})).await.unwrap().into_inner();
        assert_eq!(me.principal, "token-1", "{name}");
        assert_eq!((me.store.as_str(), me.version.as_str()), (name, env!("CARGO_PKG_VERSION")), "{name}");
        assert!(!me.commit.is_empty() && !me.replica_id.is_empty(), "{name}: {me:?}");
        assert_eq!(me.tenants, vec!["dev".to_owned()], "{name}");
        assert_eq!(me.authenticated_by, "token", "{name}");
        assert_eq!(me.grants.len(), 1, "{name}");
        assert_eq!(me.grants[0].permissions, vec!["admin".to_owned()], "{name}");
        // Ready once the signer's keys are loaded.
        let ready = support::eventually("ready", || {
            let mut c = c.clone();
            async move { c.who_am_i(authed(proto::WhoAmIRequest {})).await.ok().filter(|r| r.get_ref().ready) }
        })
        .await;
        assert!(ready.get_ref().ready, "{name}");

        let ghost = c.who_am_i(as_token(GHOST_READER, proto::WhoAmIRequest {})).await.unwrap().into_inner();
        assert_eq!(ghost.principal, "ghost-reader", "{name}");
        assert_eq!(ghost.grants[0].clients, vec![GHOST_APP.to_owned()], "{name}");
        let stranger = c.who_am_i(as_token(STRANGER, proto::WhoAmIRequest {})).await.unwrap().into_inner();
        assert!(stranger.tenants.is_empty(), "{name}: tenants its grants do not name stay hidden: {stranger:?}");
        let nobody = c.who_am_i(Request::new(proto::WhoAmIRequest {})).await.unwrap_err();
        assert_eq!(nobody.code(), Code::Unauthenticated, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_keys_are_read_and_verified_without_changing_anything() {
    for (name, store, dir) in stores().await {
        let w = world_with(name, store, dir, Setup { access: access(), ..Setup::default() }).await;
        let mut c = w.client().await;
        let req = || proto::ListConnectionKeysRequest { tenant: "dev".into(), connection_id: CONN.into() };
        let before = w.tenant_state().await;
        let out = c.list_connection_keys(authed(req())).await.unwrap().into_inner();
        assert_eq!(w.tenant_state().await, before, "{name}: nothing changed at Auth0");
        assert!(out.verified, "{name}: {out:?}");
        let at_auth0 = w.connection_keys().await;
        assert_eq!(out.keys.len(), at_auth0.len(), "{name}");
        for k in &out.keys {
            assert!(k.problem.is_empty(), "{name}: {k:?}");
            let a = at_auth0.iter().find(|a| a["kid"] == k.kid.as_str()).unwrap();
            assert_eq!(a["fingerprint"], k.fingerprint.as_str(), "{name}");
        }

        // Auth0 answers with corrupted fingerprints: every key says why it failed.
        w.fault(json!({"method": "GET", "path_prefix": format!("/api/v2/connections/{CONN}/keys"), "times": 1,
            "action": {"kind": "tamper", "field": "fingerprint"}}))
            .await;
        let out = c.list_connection_keys(authed(req())).await.unwrap().into_inner();
        assert!(!out.verified, "{name}");
        assert!(out.keys.iter().all(|k| k.problem.contains("fingerprint")), "{name}: {out:?}");

        let unknown = proto::ListConnectionKeysRequest { connection_id: "con_unknown000000".into(), ..req() };
        let e = c.list_connection_keys(authed(unknown)).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{name}: {e:?}");
        let e = c.list_connection_keys(as_token(GHOST_READER, req())).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{name}: {e:?}");
        let e = c
            .list_connection_keys(authed(proto::ListConnectionKeysRequest {
                tenant: "dev".into(),
                ..Default::default()
            }))
            .await
            .unwrap_err();
        assert!(e.code() == Code::InvalidArgument && e.message().starts_with("connection_id: "), "{name}: {e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_is_found_by_a_unique_prefix_of_its_id() {
    for (name, store, dir) in stores().await {
        // Three finished rotations, two of them sharing their first 12 characters.
        let ids = ["rot_aaaaaa11-0000", "rot_aaaaaa11-1111", "rot_bbbbbb22-0000"];
        let mut other = records::rotation("dev", GHOST_APP).build();
        other.rotation_id = "rot_cccccc33-0000".into();
        other.state = keyward::store::RotationState::Failed;
        store.insert_rotation(&other).await.unwrap();
        for id in ids {
            let mut r = records::rotation("dev", APP).build();
            r.rotation_id = id.into();
            r.state = keyward::store::RotationState::Failed;
            store.insert_rotation(&r).await.unwrap();
        }
        let w = world_with(name, store, dir, Setup { access: access(), ..Setup::default() }).await;
        let c = w.client().await;
        let get = |token: &'static str, id: &str| {
            let mut c = c.clone();
            let req = as_token(token, proto::GetRotationRequest { rotation_id: id.into() });
            async move { c.get_rotation(req).await.map(tonic::Response::into_inner) }
        };
        // As a table prints it (cut short with an ellipsis), or typed short.
        assert_eq!(get(TOKEN, "rot_bbbbbb…").await.unwrap().rotation_id, ids[2], "{name}");
        assert_eq!(get(TOKEN, "rot_aaaaaa11-1").await.unwrap().rotation_id, ids[1], "{name}");
        let e = get(TOKEN, "rot_aaaaaa11").await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{name}: {e:?}");
        assert!(e.message().starts_with("rotation_id: ") && e.message().contains("starts 2"), "{name}: {e:?}");
        for (short, code) in
            [("rot_bbbbb", Code::NotFound), ("rot_dddddd", Code::NotFound), ("bbbbbb22-0000", Code::NotFound)]
        {
            assert_eq!(get(TOKEN, short).await.unwrap_err().code(), code, "{name}: {short}");
        }
        // The ghost reader resolves the prefix its grant covers; another client's is refused.
        assert_eq!(get(GHOST_READER, "rot_cccccc").await.unwrap().client_id, GHOST_APP, "{name}");
        assert_eq!(get(GHOST_READER, "rot_bbbbbb").await.unwrap_err().code(), Code::PermissionDenied, "{name}");
        // A wildcard in the prefix is a character, not a pattern.
        assert_eq!(get(TOKEN, "rot_aaaaaa%%").await.unwrap_err().code(), Code::NotFound, "{name}");
    }
}
