//! `KeyRotation.RevokeCredential` over real HTTP/2 against a real server, the real emulator and
//! both stores: a retiring credential revoked at once (gone from Auth0, which then refuses an
//! assertion it signed; key destroyed; audited with reason and requester; idempotent), the
//! refusals (permission, arguments, the client's only active key without `force`), a forced
//! revocation of the active key (signing stops; the next rotation brings it back), a crash after
//! every revocation state of the real binary (it resumes on restart), and two replicas on
//! PostgreSQL: a revocation on one stops signing on the other. Nothing here asserts on timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/rig.rs"]
mod rig;
mod support;
#[path = "support/grpc_world.rs"]
mod world;

use std::time::Duration;

use keyward::access::{Access, Grant, Permission, Principal};
use keyward::clock::wall_now;
use keyward::grpc::proto::{self, RevocationState as PbState, signer_client::SignerClient};
use keyward::grpc::token_hash;
use keyward::rotation::RotateRequest;
use keyward::store::{Departure, KeyState, KeyStore, RevocationStore, RotationState, RotationStore, Store};
use serde_json::Value;
use tonic::{Code, Request};
use world::*;

const REVOKER: &str = "kw-incident-bot-9e2f";
const ROTATOR: &str = "kw-deployer-3b7a";

/// The admin tokens, `incident-bot` (revoke only, on demo-*) and `deployer` (rotate only).
fn access() -> Access {
    let mut a = Access::all_access(&[token_hash(TOKEN)]);
    let on = |p| Grant { permissions: vec![p], tenants: vec!["dev".into()], clients: vec!["demo-*".into()] };
    a.add(Principal { name: "incident-bot".into(), grants: vec![on(Permission::Revoke)] }, &[token_hash(REVOKER)], &[]);
    a.add(Principal { name: "deployer".into(), grants: vec![on(Permission::Rotate)] }, &[token_hash(ROTATOR)], &[]);
    a
}

fn as_token<T>(token: &str, m: T) -> Request<T> {
    let mut r = Request::new(m);
    r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

fn revoke(credential: &str, reason: &str, force: bool, request_id: &str) -> proto::RevokeCredentialRequest {
    proto::RevokeCredentialRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        credential_id: credential.into(),
        reason: reason.into(),
        force,
        request_id: request_id.into(),
        plan: false,
    }
}

async fn rotate_as(w: &World, token: &str) -> proto::RotateClientCredentialResponse {
    let req =
        proto::RotateClientCredentialRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() };
    w.client().await.rotate_client_credential(as_token(token, req)).await.unwrap().into_inner()
}

async fn sign(w: &World) -> Result<String, tonic::Status> {
    let req = proto::SignClientAssertionRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() };
    SignerClient::new(w.channel().await).sign_client_assertion(authed(req)).await.map(|r| r.into_inner().assertion)
}

/// The audit events of `kind`, with their actor and parsed detail.
async fn events(store: &dyn Store, kind: &str) -> Vec<(String, Value)> {
    let all = store.audit_after(0, 10_000).await.unwrap();
    all.into_iter().filter(|e| e.kind == kind).map(|e| (e.actor, serde_json::from_str(&e.detail).unwrap())).collect()
}

/// The ids of the credentials the emulated application holds, and those attached.
async fn at_auth0(w: &World) -> (Vec<String>, Vec<String>) {
    let app = w.app().await;
    let creds = app["credentials"].as_array().unwrap();
    let id = |c: &Value| c["id"].as_str().unwrap().to_owned();
    (creds.iter().map(id).collect(), creds.iter().filter(|c| c["attached"] == true).map(id).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_is_revoked_at_once_and_only_with_force_the_active_one() {
    for (name, store, dir) in stores().await {
        let w = world_with(name, store, dir, Setup { access: access(), ..Setup::default() }).await;
        let first = rotate_as(&w, ROTATOR).await;
        let second = rotate_as(&w, ROTATOR).await;
        let old = first.credential.unwrap().credential_id;
        let current = second.credential.unwrap().credential_id;
        // Attribution: the rotation and its audit events name the principal that asked.
        let rotation = second.rotation.unwrap();
        assert_eq!(rotation.requested_by, "deployer", "{name}");
        let planned = events(&*w.store, "rotation.planned").await;
        assert!(planned.iter().all(|(actor, _)| actor == "deployer"), "{name}: {planned:?}");
        assert!(!events(&*w.store, "rotation.active").await.is_empty(), "{name}");
        assert!(events(&*w.store, "rotation.active").await.iter().all(|(a, _)| a == "deployer"), "{name}");

        // The old key still works at Auth0 until it is revoked.
        let old_key = w.key_for(&old).await;
        assert_eq!(old_key.state, KeyState::Retiring, "{name}");
        let (status, body) = w.exchange_with(&old_key).await;
        assert_eq!(status, 200, "{name}: {body}");
        let signed_before = support::assertion_with(&[&w.kek], &old_key);

        // Refusals change nothing.
        let mut c = w.client().await;
        let denied = c.revoke_credential(as_token(ROTATOR, revoke(&old, "x", false, ""))).await.unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{name}: {denied:?}");
        let no_reason = c.revoke_credential(as_token(REVOKER, revoke(&old, " ", false, ""))).await.unwrap_err();
        assert_eq!(no_reason.code(), Code::InvalidArgument, "{name}: {no_reason:?}");
        assert!(no_reason.message().starts_with("reason"), "{name}: {no_reason:?}");
        let unknown = c.revoke_credential(as_token(REVOKER, revoke("cred_nope", "x", false, ""))).await.unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound, "{name}: {unknown:?}");
        assert!(unknown.message().contains("credential_id"), "{name}: {unknown:?}");
        let only = c.revoke_credential(as_token(REVOKER, revoke(&current, "x", false, ""))).await.unwrap_err();
        assert_eq!(only.code(), Code::FailedPrecondition, "{name}: {only:?}");
        assert!(only.message().contains("force"), "{name}: {only:?}");
        assert_eq!(w.key_for(&current).await.state, KeyState::Active, "{name}");
        assert_eq!(at_auth0(&w).await.1.len(), 2, "{name}: both credentials still attached");

        // The retiring credential goes at once, whatever its grace period.
        let reason = "private key pasted in a CI log";
        let out = c.revoke_credential(as_token(REVOKER, revoke(&old, reason, false, "inc-1"))).await.unwrap();
        let out = out.into_inner();
        let r = out.revocation.clone().unwrap();
        assert_eq!(r.state, PbState::Completed as i32, "{name}: {r:?}");
        assert_eq!(
            (r.requested_by.as_str(), r.reason.as_str(), r.kid.as_str()),
            ("incident-bot", reason, old_key.kid.as_str())
        );
        assert!(out.client_has_active_key, "{name}");
        assert_eq!(out.active_credential_id, current, "{name}");
        let (held, attached) = at_auth0(&w).await;
        assert_eq!((held.clone(), attached), (vec![current.clone()], vec![current.clone()]), "{name}");
        let (status, body) = support::exchange_assertion(&w.emu.base_url(), &signed_before).await;
        assert_eq!(status, 401, "{name}: Auth0 must refuse the revoked key: {body}");
        let gone = w.key_for(&old).await;
        assert_eq!(gone.state, KeyState::Retired, "{name}");
        assert!(gone.sealed.ciphertext.is_empty() && gone.sealed.wrapped_dek.is_empty(), "{name}: key material left");
        let planned = events(&*w.store, "revocation.planned").await;
        assert_eq!(planned.len(), 1, "{name}: {planned:?}");
        assert_eq!(planned[0].0, "incident-bot", "{name}");
        assert_eq!(planned[0].1["reason"], reason, "{name}");
        assert_eq!(planned[0].1["key_was"], "retiring", "{name}");
        let completed = events(&*w.store, "revocation.completed").await;
        assert_eq!(completed.len(), 1, "{name}");
        assert_eq!(completed[0].0, "incident-bot", "{name}");

        // Idempotent: by request_id and by credential; the same request_id with another body is
        // refused.
        let again = c.revoke_credential(as_token(REVOKER, revoke(&old, reason, false, "inc-1"))).await.unwrap();
        assert_eq!(again.into_inner().revocation.unwrap().revocation_id, r.revocation_id, "{name}");
        let by_cred = c.revoke_credential(as_token(REVOKER, revoke(&old, "again", false, ""))).await.unwrap();
        assert_eq!(by_cred.into_inner().revocation.unwrap().revocation_id, r.revocation_id, "{name}");
        let reused = c.revoke_credential(as_token(REVOKER, revoke(&old, "other", false, "inc-1"))).await.unwrap_err();
        assert_eq!(reused.code(), Code::InvalidArgument, "{name}: {reused:?}");
        assert_eq!(events(&*w.store, "revocation.planned").await.len(), 1, "{name}");

        // Signing goes on with the active key; the rotation that retired the old one says it was
        // revoked, and completes.
        let assertion = sign(&w).await.unwrap();
        assert_eq!(support::exchange_assertion(&w.emu.base_url(), &assertion).await.0, 200, "{name}");
        let retiring_it = first_rotation_of(&w, &old).await;
        let told = c.get_rotation(as_token(TOKEN, proto::GetRotationRequest { rotation_id: retiring_it.clone() }));
        let told = told.await.unwrap().into_inner();
        assert_eq!(told.old_removed_how, "revoked", "{name}: {told:?}");
        assert!(told.old_removed_at.is_some(), "{name}");
        w.engine.retire_due(wall_now()).await.unwrap();
        let rotation = w.store.rotation(&retiring_it).await.unwrap().unwrap();
        assert_eq!(rotation.state, RotationState::Completed, "{name}: {rotation:?}");
        assert_eq!(rotation.old_departed.map(|d| d.how), Some(Departure::Revoked), "{name}: {rotation:?}");

        // With force, the active key goes too: the client signs nothing until it is rotated.
        let forced = c.revoke_credential(as_token(REVOKER, revoke(&current, "compromised host", true, ""))).await;
        let forced = forced.unwrap().into_inner();
        assert_eq!(forced.revocation.unwrap().state, PbState::Completed as i32, "{name}");
        assert!(!forced.client_has_active_key && forced.active_credential_id.is_empty(), "{name}");
        assert!(at_auth0(&w).await.0.is_empty(), "{name}: Auth0 holds nothing for the client");
        let refused = sign(&w).await.unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{name}: {refused:?}");
        let forced_event = events(&*w.store, "revocation.planned").await;
        assert_eq!(forced_event.last().unwrap().1["key_was"], "active", "{name}");
        rotate_as(&w, ROTATOR).await;
        let assertion = sign(&w).await.unwrap();
        assert_eq!(support::exchange_assertion(&w.emu.base_url(), &assertion).await.0, 200, "{name}");
        w.check_invariants().await;
    }
}

/// The rotation that made `credential`'s key the previous one.
async fn first_rotation_of(w: &World, credential: &str) -> String {
    let key = w.key_for(credential).await;
    w.store.rotation_by_old_key(&key.key_id).await.unwrap().unwrap().rotation_id
}

/// The revocation points the binary can crash after.
const POINTS: [&str; 4] =
    ["revocation:planned", "revocation:signing_stopped", "revocation:detached", "revocation:deleted"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_resumes_after_a_crash_at_every_state() {
    let (_dir, path) = support::tempdir();
    let url = match support::pg_schema_url().await {
        Some(url) => url,
        None => format!("sqlite://{}", path.join("k.db").display()),
    };
    let rig = rig::Rig::new(&url).await;
    let setup = rig.engine();
    let stage = |rid: String| RotateRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        request_id: Some(rid),
        grace_period: Some(Duration::from_secs(3600)),
        ..Default::default()
    };
    setup.rotate_client(&stage("first".into())).await.unwrap();
    for point in POINTS {
        // A retiring credential to revoke beside the active one.
        let out = setup.rotate_client(&stage(format!("stage-{point}"))).await.unwrap();
        let old = out.rotation.old_credential_id.clone().unwrap();
        let id = format!("crash-{}", point.replace(':', "-"));
        let mut k = rig.replica_with(&id, &[("KEYWARD_FAULT_EXIT_AFTER", point)]);
        let req = proto::RevokeCredentialRequest {
            tenant: "dev".into(),
            client_id: APP.into(),
            credential_id: old.clone(),
            reason: format!("crash test at {point}"),
            request_id: format!("rev-{id}"),
            ..Default::default()
        };
        let answer = k.k.client(&rig.token).await.revoke_credential(req.clone()).await;
        assert!(answer.is_err(), "{point}: the process should have died mid-call");
        let (code, out) = k.k.wait_exit(point, Duration::from_secs(60));
        assert_eq!(code, Some(keyward::rotation::FAULT_EXIT_CODE), "{point}: {out:#?}");

        // Restarted under the same name, it finishes the revocation by itself.
        let k = rig.replica_with(&id, &[]);
        let key_id = {
            let keys = rig.store.keys("dev", APP).await.unwrap();
            keys.into_iter().find(|k| k.credential_id.as_deref() == Some(old.as_str())).unwrap().key_id
        };
        let done = support::eventually(&format!("{point}: the revocation to resume"), || async {
            rig.store
                .revocation_of_key(&key_id)
                .await
                .unwrap()
                .filter(|r| r.state == keyward::store::RevocationState::Completed)
        })
        .await;
        assert_eq!(done.requested_by, "token-1", "{point}: resumes keep the requester");
        // Asked again, the same request answers with the same revocation.
        let again = k.k.client(&rig.token).await.revoke_credential(req).await.unwrap().into_inner();
        assert_eq!(again.revocation.unwrap().revocation_id, done.revocation_id, "{point}");
        // The rotation that retired the key completes; Auth0 holds exactly the active key.
        support::eventually(&format!("{point}: the rotation to complete"), || async {
            let r = rig.store.rotation_by_old_key(&key_id).await.unwrap().unwrap();
            (r.state == RotationState::Completed).then_some(())
        })
        .await;
        rig.check_final_state(point).await;
        k.k.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_replica_stops_signing_on_another() {
    let Some(url) = support::pg_schema_url().await else { return };
    let rig = rig::Rig::new(&url).await;
    rig.engine()
        .rotate_client(&RotateRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() })
        .await
        .unwrap();
    let a = rig.replica("revoke-a", None);
    let b = rig.replica("revoke-b", None);
    let b_channel =
        tonic::transport::Channel::from_shared(format!("http://{}", b.k.addr)).unwrap().connect().await.unwrap();
    let sign_on_b = || {
        let mut signer = SignerClient::new(b_channel.clone());
        let token = rig.token.clone();
        async move {
            let req =
                proto::SignClientAssertionRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() };
            signer.sign_client_assertion(as_token(&token, req)).await
        }
    };
    sign_on_b().await.unwrap();
    let active = rig.store.keys("dev", APP).await.unwrap().into_iter().find(|k| k.state == KeyState::Active).unwrap();
    let req = proto::RevokeCredentialRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        credential_id: active.credential_id.clone().unwrap(),
        reason: "two-replica test".into(),
        force: true,
        ..Default::default()
    };
    let out = a.k.client(&rig.token).await.revoke_credential(req).await.unwrap().into_inner();
    assert!(!out.client_has_active_key);
    // B drops the key on its next poll of the store's key version (every 500 ms): polled here
    // with a bound on the number of tries, not on time.
    let mut tries = 0;
    let refused = loop {
        match sign_on_b().await {
            Err(status) => break status,
            Ok(_) => {
                tries += 1;
                assert!(tries < 200, "replica B still signs with the revoked key");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    a.k.kill();
    b.k.kill();
}
