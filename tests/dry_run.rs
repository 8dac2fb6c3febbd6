//! Dry runs (`plan: true`) of every rotate and revoke RPC over real HTTP/2 against a real server,
//! the real emulator and both stores: each plan is what the real call then does (the credential
//! it says goes is the one the rotation removed, the retirement and revocation times follow the
//! grace period and max_token_lifetime), refusals come back as plans that would refuse, and
//! computing a plan changes nothing: the emulator's whole tenant is byte-for-byte the same
//! after, it saw no mutating request, and the store holds no new rotation, revocation, key or
//! audit event.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "support/grpc_world.rs"]
mod world;

use std::future::Future;
use std::time::Duration;

use keyward::config::SigningKeysPolicy;
use keyward::grpc::proto;
use keyward::store::{RotationFilter, Store};
use serde_json::Value;
use tonic::Code;
use world::*;

/// What the store holds that a call could add or change: rotations, keys, revocations,
/// signing-key rotations and the audit log.
async fn store_state(store: &dyn Store) -> String {
    let rotations = store.list_rotations(&RotationFilter::default(), 1000).await.unwrap();
    let keys = store.keys("dev", APP).await.unwrap();
    let mut revocations = Vec::new();
    for k in &keys {
        revocations.push(store.revocation_of_key(&k.key_id).await.unwrap().map(|r| (r.revocation_id, r.state)));
    }
    let signing = store.signing_key_rotations("dev", 100).await.unwrap();
    let audit = store.audit_after(0, 100_000).await.unwrap();
    format!(
        "{:?}\n{:?}\n{revocations:?}\n{:?}\n{}",
        rotations.iter().map(|r| (&r.rotation_id, r.state, r.version, r.updated_at)).collect::<Vec<_>>(),
        keys.iter().map(|k| (&k.key_id, k.state, k.retire_at, k.last_signed_exp)).collect::<Vec<_>>(),
        signing.iter().map(|r| (&r.id, &r.state, r.updated_at)).collect::<Vec<_>>(),
        audit.len()
    )
}

/// Runs `dry` and checks it changed nothing: the emulator's tenant bytes, its request log (reads
/// only) and the store are as before.
async fn unchanged<T, F: Future<Output = T>>(w: &World, what: &str, dry: F) -> T {
    let (bytes, store, seen) = (w.emu.tenant_bytes().unwrap(), store_state(&*w.store).await, w.requests().await.len());
    let out = dry.await;
    assert_eq!(w.emu.tenant_bytes().unwrap(), bytes, "{}: {what} changed the emulated tenant", w.name);
    assert_eq!(store_state(&*w.store).await, store, "{}: {what} changed the store", w.name);
    for r in w.management_requests_since(seen).await {
        assert_eq!(r["method"], "GET", "{}: {what} sent a mutating request: {r}", w.name);
    }
    out
}

fn plan_of(p: Option<proto::Plan>) -> proto::Plan {
    p.expect("a dry run answers with a plan")
}

fn steps(p: &proto::Plan) -> Vec<(String, String)> {
    p.steps.iter().map(|s| (s.action.clone(), s.target.clone())).collect()
}

fn step<'a>(p: &'a proto::Plan, action: &str) -> &'a proto::PlannedStep {
    p.steps.iter().find(|s| s.action == action).unwrap_or_else(|| panic!("no {action} step in {p:?}"))
}

fn rotate_req() -> proto::RotateClientCredentialRequest {
    proto::RotateClientCredentialRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() }
}

async fn rotate(w: &World) -> proto::RotateClientCredentialResponse {
    w.client().await.rotate_client_credential(authed(rotate_req())).await.unwrap().into_inner()
}

/// Credentials made at Auth0 by hand and left unattached; their ids.
async fn stored_by_hand(w: &World, n: usize) -> Vec<String> {
    let token = w.management_token().await;
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(support::stored_by_hand(&w.http, &w.emu.base_url(), &token, &format!("by hand {i}")).await);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_rotation_plan_is_what_the_rotation_does_and_changes_nothing() {
    for (name, store, dir) in stores().await {
        let w = world(name, store, dir).await;
        let mut c = w.client().await;
        // The first rotation: nothing to make room for, nothing to retire.
        let dry = proto::RotateClientCredentialRequest { plan: true, ..rotate_req() };
        let first = unchanged(&w, "the first plan", c.rotate_client_credential(authed(dry.clone()))).await;
        let first = plan_of(first.unwrap().into_inner().plan);
        assert!(!first.would_refuse, "{name}: {first:?}");
        let actions: Vec<String> = first.steps.iter().map(|s| s.action.clone()).collect();
        assert_eq!(actions, ["generate", "create", "attach", "activate"], "{name}");
        // Two rotations: the old key retiring (it signed nothing), both slots taken; two
        // credentials stored by hand fill Auth0's four records.
        rotate(&w).await;
        let second = rotate(&w).await;
        let (active, retiring) = (second.credential.unwrap().credential_id, second.previous_credential_id);
        stored_by_hand(&w, 2).await;
        assert_eq!(w.app_credentials().await.len(), 4, "{name}");
        let t0 = keyward::clock::wall_now().as_millis();
        let before = unchanged(&w, "the full-pool plan", c.rotate_client_credential(authed(dry.clone()))).await;
        let t1 = keyward::clock::wall_now().as_millis();
        let p = plan_of(before.unwrap().into_inner().plan);
        let want: Vec<(String, String)> = [
            ("generate", "new"),
            ("detach", retiring.as_str()),
            ("delete", retiring.as_str()),
            ("create", "new"),
            ("attach", "new"),
            ("activate", "new"),
            ("retire", active.as_str()),
        ]
        .iter()
        .map(|(a, t)| ((*a).to_owned(), (*t).to_owned()))
        .collect();
        assert_eq!(steps(&p), want, "{name}: {p:?}");
        assert_eq!(step(&p, "detach").method, "private_key_jwt", "{name}");
        let retire_at = ms(step(&p, "retire").at.as_ref().unwrap());
        assert!((t0 + 600_000..=t1 + 600_000).contains(&retire_at), "{name}: now + the configured grace period");

        // The real rotation does what was planned.
        let done = rotate(&w).await;
        let removed: Vec<&str> = done.removed_credentials.iter().map(|r| r.credential_id.as_str()).collect();
        assert_eq!(removed, [retiring.as_str()], "{name}");
        assert_eq!(done.removed_credentials[0].action, "evicted", "{name}");
        assert_eq!(done.previous_credential_id, active, "{name}");
        let real_retire = ms(done.previous_retire_at.as_ref().unwrap());
        // Planned from now; the real one counts from its activation, a moment later.
        assert!(real_retire >= retire_at && real_retire - retire_at < 60_000, "{name}: {real_retire} vs {retire_at}");
        assert!(w.app_credentials().await.iter().all(|c| c["id"] != retiring.as_str()), "{name}");

        // An open rotation or a request_id seen before plans nothing new.
        let again = proto::RotateClientCredentialRequest { request_id: "dry-1".into(), ..rotate_req() };
        c.rotate_client_credential(authed(again.clone())).await.unwrap();
        let seen = proto::RotateClientCredentialRequest { plan: true, ..again };
        let seen = unchanged(&w, "a seen request_id", c.rotate_client_credential(authed(seen))).await;
        let seen = plan_of(seen.unwrap().into_inner().plan);
        assert!(seen.steps.is_empty() && !seen.would_refuse, "{name}: {seen:?}");
        assert!(seen.notes[0].contains("dry-1"), "{name}: {seen:?}");
        // Arguments are checked as the real call checks them.
        let bad = proto::RotateClientCredentialRequest { key_bits: 1024, ..dry.clone() };
        let err = c.rotate_client_credential(authed(bad)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{name}: {err:?}");
        assert!(err.message().starts_with("key_bits"), "{name}: {err:?}");
        let nobody = c.rotate_client_credential(dry).await.unwrap_err();
        assert_eq!(nobody.code(), Code::Unauthenticated, "{name}: {nobody:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_held_by_hand_make_the_plan_refuse_as_the_rotation_does() {
    for (name, store, dir) in stores().await {
        let w = world(name, store, dir).await;
        let token = w.management_token().await;
        support::hand_made_credentials(&w.http, &w.emu.base_url(), &token, &["hand 1", "hand 2"]).await;
        let dry = proto::RotateClientCredentialRequest { plan: true, ..rotate_req() };
        let out = unchanged(&w, "the refused plan", w.client().await.rotate_client_credential(authed(dry))).await;
        let p = plan_of(out.unwrap().into_inner().plan);
        assert!(p.would_refuse && p.steps.is_empty(), "{name}: {p:?}");
        let real = w.client().await.rotate_client_credential(authed(rotate_req())).await.unwrap_err();
        assert_eq!(real.code(), Code::FailedPrecondition, "{name}: {real:?}");
        assert!(real.message().ends_with(&p.refusal), "{name}: {real:?} vs {}", p.refusal);
    }
}

fn revoke_req(credential: &str, force: bool) -> proto::RevokeCredentialRequest {
    proto::RevokeCredentialRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        credential_id: credential.into(),
        reason: "leaked in a log".into(),
        force,
        plan: true,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_plan_refuses_the_only_active_key_and_is_what_the_revocation_does() {
    for (name, store, dir) in stores().await {
        let w = world(name, store, dir).await;
        let mut c = w.client().await;
        rotate(&w).await;
        let second = rotate(&w).await;
        let (active, old) = (second.credential.unwrap().credential_id, second.previous_credential_id);
        let only = unchanged(&w, "revoking the active key", c.revoke_credential(authed(revoke_req(&active, false))));
        let only = plan_of(only.await.unwrap().into_inner().plan);
        assert!(only.would_refuse && only.refusal.contains("force"), "{name}: {only:?}");
        let real =
            c.revoke_credential(authed(proto::RevokeCredentialRequest { plan: false, ..revoke_req(&active, false) }));
        let real = real.await.unwrap_err();
        assert_eq!((real.code(), real.message()), (Code::FailedPrecondition, only.refusal.as_str()), "{name}");
        // With force the plan goes through and says what that leaves.
        let forced = unchanged(&w, "a forced plan", c.revoke_credential(authed(revoke_req(&active, true))));
        let forced = plan_of(forced.await.unwrap().into_inner().plan);
        assert!(!forced.would_refuse && forced.notes.iter().any(|n| n.contains("no ACTIVE key")), "{name}: {forced:?}");
        // Arguments and targets are checked as the real call checks them.
        let no_reason = proto::RevokeCredentialRequest { reason: " ".into(), ..revoke_req(&old, false) };
        let err = c.revoke_credential(authed(no_reason)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{name}: {err:?}");
        let err = c.revoke_credential(authed(revoke_req("cred_nope", false))).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{name}: {err:?}");

        let out = unchanged(&w, "revoking the old key", c.revoke_credential(authed(revoke_req(&old, false))));
        let p = plan_of(out.await.unwrap().into_inner().plan);
        let kid = w.key_for(&old).await.kid;
        let want: Vec<(String, String)> = [
            ("stop_signing", old.as_str()),
            ("detach", old.as_str()),
            ("delete", old.as_str()),
            ("destroy", kid.as_str()),
        ]
        .iter()
        .map(|(a, t)| ((*a).to_owned(), (*t).to_owned()))
        .collect();
        assert_eq!(steps(&p), want, "{name}: {p:?}");
        assert!(p.steps.iter().all(|s| s.at.is_none()), "{name}: a revocation happens now");
        let done =
            c.revoke_credential(authed(proto::RevokeCredentialRequest { plan: false, ..revoke_req(&old, false) }));
        let done = done.await.unwrap().into_inner();
        assert_eq!(done.revocation.unwrap().state, proto::RevocationState::Completed as i32, "{name}");
        let held: Vec<Value> = w.app_credentials().await;
        assert!(held.iter().all(|c| c["id"] != old.as_str()), "{name}: planned delete happened");
        assert!(held.iter().any(|c| c["id"] == active.as_str() && c["attached"] == true), "{name}");
        // Revoked already: the plan says so and plans nothing.
        let again = unchanged(&w, "revoking again", c.revoke_credential(authed(revoke_req(&old, false))));
        let again = plan_of(again.await.unwrap().into_inner().plan);
        assert!(again.steps.is_empty() && !again.would_refuse && again.notes[0].contains("revoked already"), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_plan_names_the_keys_auth0_then_promotes() {
    for (name, store, dir) in stores().await {
        let w = world(name, store, dir).await;
        let mut c = w.client().await;
        let req = proto::RotateConnectionKeysRequest {
            tenant: "dev".into(),
            connection_id: CONN.into(),
            ..Default::default()
        };
        let kid = |keys: &[Value], flag: &str| {
            keys.iter().find(|k| k[flag] == true).map(|k| k["kid"].as_str().unwrap().to_owned())
        };
        let before = w.connection_keys().await;
        let dry = proto::RotateConnectionKeysRequest { plan: true, ..req.clone() };
        let out = unchanged(&w, "the connection plan", c.rotate_connection_keys(authed(dry.clone()))).await;
        let p = plan_of(out.unwrap().into_inner().plan);
        assert!(!p.would_refuse, "{name}: {p:?}");
        let (next, current) = (kid(&before, "next").unwrap(), kid(&before, "current").unwrap());
        assert_eq!(step(&p, "activate").target, next, "{name}");
        assert_eq!(step(&p, "retire").target, current, "{name}");
        assert_eq!(step(&p, "generate").target, "new", "{name}");
        let done = c.rotate_connection_keys(authed(req)).await.unwrap().into_inner();
        let after = w.connection_keys().await;
        assert_eq!(kid(&after, "current"), Some(next), "{name}");
        assert_eq!(kid(&after, "previous"), Some(current.clone()), "{name}");
        assert_eq!(kid(&after, "next"), Some(done.key.unwrap().kid), "{name}");
        // A second plan drops the previous key the first rotation made.
        let out = unchanged(&w, "the second connection plan", c.rotate_connection_keys(authed(dry))).await;
        let p = plan_of(out.unwrap().into_inner().plan);
        assert_eq!(step(&p, "delete").target, current, "{name}: {p:?}");
        let bad = proto::RotateConnectionKeysRequest { signing_alg: "HS256".into(), plan: true, ..Default::default() };
        let bad = proto::RotateConnectionKeysRequest { tenant: "dev".into(), connection_id: CONN.into(), ..bad };
        let err = c.rotate_connection_keys(authed(bad)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{name}: {err:?}");
    }
}

fn rotate_keys(plan: bool) -> proto::RotateTenantSigningKeysRequest {
    proto::RotateTenantSigningKeysRequest { tenant: "dev".into(), plan, ..Default::default() }
}

fn revoke_key(kid: &str, plan: bool) -> proto::RevokeTenantSigningKeyRequest {
    proto::RevokeTenantSigningKeyRequest { tenant: "dev".into(), kid: kid.into(), plan, ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_key_plans_follow_max_token_lifetime_and_refuse_what_the_rules_refuse() {
    for (name, store, dir) in stores().await {
        let keys =
            SigningKeysPolicy { max_token_lifetime: Duration::from_secs(2), auto_revoke: false, verifiers: Vec::new() };
        let w = world_with(name, store, dir, Setup { signing_keys: keys, ..Setup::default() }).await;
        let mut c = w.client().await;
        let t0 = keyward::clock::wall_now().as_millis();
        let out = unchanged(&w, "the signing-key plan", c.rotate_tenant_signing_keys(authed(rotate_keys(true)))).await;
        let t1 = keyward::clock::wall_now().as_millis();
        let p = plan_of(out.unwrap().into_inner().plan);
        assert!(!p.would_refuse, "{name}: {p:?}");
        let (next, current) = (step(&p, "activate").target.clone(), step(&p, "retire").target.clone());
        let revoke = p.steps.iter().rfind(|s| s.action == "revoke").unwrap();
        assert_eq!(revoke.target, current, "{name}: the key that becomes previous is revoked later");
        let revoke_at = ms(revoke.at.as_ref().unwrap());
        assert!((t0 + 2_000..=t1 + 2_000).contains(&revoke_at), "{name}: now + max_token_lifetime");

        let done = c.rotate_tenant_signing_keys(authed(rotate_keys(false))).await.unwrap().into_inner();
        let r = done.rotation.unwrap();
        assert_eq!((r.current_kid.as_str(), r.previous_kid.as_str()), (next.as_str(), current.as_str()), "{name}");
        let not_before = ms(r.revoke_not_before.as_ref().unwrap());
        assert!(not_before >= revoke_at && not_before - revoke_at < 60_000, "{name}");

        // Before max_token_lifetime has passed: both another rotation and the revocation refuse.
        let again = unchanged(&w, "rotating too soon", c.rotate_tenant_signing_keys(authed(rotate_keys(true)))).await;
        let again = plan_of(again.unwrap().into_inner().plan);
        let soon =
            unchanged(&w, "revoking too soon", c.revoke_tenant_signing_key(authed(revoke_key(&current, true)))).await;
        let soon = plan_of(soon.unwrap().into_inner().plan);
        if keyward::clock::wall_now().as_millis() < not_before {
            assert!(again.would_refuse && again.refusal.contains(&current), "{name}: {again:?}");
            assert!(soon.would_refuse && soon.refusal.contains("may not be revoked yet"), "{name}: {soon:?}");
        }
        // The current key is never revoked.
        let cur =
            unchanged(&w, "revoking the current key", c.revoke_tenant_signing_key(authed(revoke_key(&next, true))))
                .await;
        let cur = plan_of(cur.unwrap().into_inner().plan);
        assert!(cur.would_refuse && cur.refusal.contains("is the current key"), "{name}: {cur:?}");

        // Once it has passed: the plan is the revocation the real call then makes.
        let p = support::eventually("max_token_lifetime to pass", || async {
            let p = c.clone().revoke_tenant_signing_key(authed(revoke_key(&current, true))).await.unwrap().into_inner();
            Some(plan_of(p.plan)).filter(|p| !p.would_refuse)
        })
        .await;
        assert_eq!(steps(&p), [("revoke".to_owned(), current.clone())], "{name}: {p:?}");
        let bytes = w.emu.tenant_bytes().unwrap();
        let p2 =
            plan_of(c.revoke_tenant_signing_key(authed(revoke_key(&current, true))).await.unwrap().into_inner().plan);
        assert_eq!((w.emu.tenant_bytes().unwrap(), steps(&p2)), (bytes, steps(&p)), "{name}");
        let done = c.revoke_tenant_signing_key(authed(revoke_key(&current, false))).await.unwrap().into_inner();
        assert_eq!(done.kid, current, "{name}");
        let revoked = w.state().await["signing_keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == current.as_str() && k["revoked"] == true);
        assert!(revoked, "{name}: the planned revocation happened");
    }
}
