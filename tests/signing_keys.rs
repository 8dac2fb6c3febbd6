//! Tenant signing keys over gRPC against the real emulator, on SQLite and PostgreSQL: rotation
//! verifies and records every key, a request_id never rotates twice, the previous key is revoked
//! only once the longest token lifetime has passed and every verifier (a real HTTP server here,
//! serving a JWKS copy the test controls) shows the new current key, a tampered key fails the
//! rotation, and a crash after Auth0 rotated resumes without rotating again. The emulator's state
//! and request log are the independent witness; tokens it issued are checked against its JWKS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "support/grpc_world.rs"]
mod world;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyward::config::SigningKeysPolicy;
use keyward::grpc::proto::{self, SigningKeyRotationState as St};
use keyward::store::{Lease, SigningKeyRotationRecord};
use keyward_crypto::{Jwks, decode_header, verify_compact};
use serde_json::{Value, json};
use support::eventually;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use world::*;

const TENANT: &str = "dev";

fn policy(lifetime: Duration, auto_revoke: bool, verifiers: Vec<String>) -> SigningKeysPolicy {
    SigningKeysPolicy { max_token_lifetime: lifetime, auto_revoke, verifiers }
}

async fn world_keys(
    name: &'static str,
    store: Arc<dyn keyward::store::Store>,
    dir: Option<tempfile::TempDir>,
    keys: SigningKeysPolicy,
) -> World {
    world_with(name, store, dir, Setup { signing_keys: keys, ..Setup::default() }).await
}

fn rotate_req(request_id: &str) -> proto::RotateTenantSigningKeysRequest {
    proto::RotateTenantSigningKeysRequest { tenant: TENANT.into(), request_id: request_id.into(), plan: false }
}

fn revoke_req(kid: &str) -> proto::RevokeTenantSigningKeyRequest {
    proto::RevokeTenantSigningKeyRequest { tenant: TENANT.into(), kid: kid.into(), ..Default::default() }
}

/// The emulator's signing keys, as its state shows them.
async fn emulator_keys(w: &World) -> Vec<Value> {
    w.state().await["signing_keys"].as_array().unwrap().clone()
}

/// The status of a key in the emulator's state: `current`, `next`, `previous` or `revoked`.
fn status(k: &Value) -> &'static str {
    ["revoked", "current", "next", "previous"].into_iter().find(|s| k[*s] == true).unwrap_or("?")
}

async fn kid_with(w: &World, wanted: &str) -> Option<String> {
    emulator_keys(w).await.iter().find(|k| status(k) == wanted).map(|k| k["kid"].as_str().unwrap().to_owned())
}

/// How many rotations the emulator performed.
async fn rotations_at_auth0(w: &World) -> usize {
    w.requests()
        .await
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/api/v2/keys/signing/rotate" && r["status"] == 201)
        .count()
}

async fn jwks(w: &World) -> String {
    w.http.get(format!("{}/.well-known/jwks.json", w.emu.base_url())).send().await.unwrap().text().await.unwrap()
}

/// Whether `token` verifies against the emulator's published JWKS now.
async fn verifies(w: &World, token: &str) -> bool {
    let set = Jwks::from_json(&jwks(w).await).unwrap();
    let kid = decode_header(token).unwrap().kid;
    match set.find(kid.as_deref()) {
        Some(jwk) => verify_compact(token, &jwk.to_public_key().unwrap(), None).is_ok(),
        None => false,
    }
}

/// A verifier: a real HTTP server answering every GET with the JWKS the test sets.
struct Verifier {
    url: String,
    body: Arc<Mutex<String>>,
}

async fn verifier(initial: String) -> Verifier {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
    let body = Arc::new(Mutex::new(initial));
    let serving = body.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let body = serving.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    Verifier { url, body }
}

fn only_key(jwks: &str, kid: &str) -> String {
    let v: Value = serde_json::from_str(jwks).unwrap();
    let keys: Vec<Value> = v["keys"].as_array().unwrap().iter().filter(|k| k["kid"] == kid).cloned().collect();
    json!({ "keys": keys }).to_string()
}

#[tokio::test]
async fn rotation_verifies_records_and_never_rotates_twice() {
    for (name, store, dir) in stores().await {
        let w = world_keys(name, store, dir, policy(Duration::from_secs(3600), true, Vec::new())).await;
        let (old_current, old_next) = (kid_with(&w, "current").await.unwrap(), kid_with(&w, "next").await.unwrap());
        let mut c = w.client().await;
        let r = c.rotate_tenant_signing_keys(authed(rotate_req("sk-1"))).await.unwrap().into_inner();
        let r = r.rotation.unwrap();
        assert_eq!(r.state(), St::Waiting, "{name}");
        assert!(r.verified, "{name}: {:?}", r.keys);
        assert_eq!(r.current_kid, old_next, "{name}: the old next key is current");
        assert_eq!(r.previous_kid, old_current, "{name}: the old current key is previous");
        assert_eq!(Some(r.next_kid.clone()), kid_with(&w, "next").await, "{name}");
        assert_eq!(r.keys.len(), 3, "{name}");
        for k in &r.keys {
            assert!(k.verified && k.problems.is_empty(), "{name}: {k:?}");
            assert_eq!(k.fingerprint, openssl_fingerprint(&k.cert), "{name}: fingerprint as openssl computes it");
            assert!(lf(&openssl_pkcs7_certs(&k.pkcs7)).contains(lf(&k.cert).trim()), "{name}: PKCS#7 holds the cert");
        }
        let (rotated, not_before) = (ms(r.rotated_at.as_ref().unwrap()), ms(r.revoke_not_before.as_ref().unwrap()));
        assert_eq!(not_before - rotated, 3_600_000, "{name}: revocable a max_token_lifetime after the rotation");
        assert_eq!(rotations_at_auth0(&w).await, 1, "{name}");

        // The same request_id: the same rotation, no second rotation at Auth0.
        let again = c.rotate_tenant_signing_keys(authed(rotate_req("sk-1"))).await.unwrap().into_inner();
        assert_eq!(again.rotation.unwrap().rotation_id, r.rotation_id, "{name}");
        assert_eq!(rotations_at_auth0(&w).await, 1, "{name}: a retry never rotates twice");

        // Recorded: the rotation, the keys, the audit event.
        let rows = w.store.signing_key_rotations(TENANT, 10).await.unwrap();
        assert_eq!(rows.len(), 1, "{name}");
        assert_eq!(rows[0].state, "waiting", "{name}");
        assert_eq!(rows[0].lease.owner, None, "{name}: the lease is freed");
        let seen = w.store.signing_keys(TENANT).await.unwrap();
        assert_eq!(seen.len(), 3, "{name}");
        assert!(seen.iter().all(|k| k.verified), "{name}");
        let events = w.store.audit_after(0, 1000).await.unwrap();
        assert!(events.iter().any(|e| e.kind == "signing_keys.rotated"), "{name}");

        // Another rotation now would make Auth0 drop the previous key before its tokens expired.
        let refused = c.rotate_tenant_signing_keys(authed(rotate_req("sk-2"))).await.unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{name}: {refused:?}");
        assert!(
            refused.message().contains(&old_current) && refused.message().contains("left"),
            "{name}: {}",
            refused.message()
        );
        assert_eq!(rotations_at_auth0(&w).await, 1, "{name}");

        // The previous key cannot be revoked yet; the current one never.
        let early = c.revoke_tenant_signing_key(authed(revoke_req(&old_current))).await.unwrap_err();
        assert_eq!(early.code(), Code::FailedPrecondition, "{name}");
        assert!(
            early.message().contains("left until the tenant's longest token lifetime"),
            "{name}: {}",
            early.message()
        );
        let current = c.revoke_tenant_signing_key(authed(revoke_req(&old_next))).await.unwrap_err();
        assert_eq!(current.code(), Code::FailedPrecondition, "{name}");
        assert!(current.message().contains("is the current key"), "{name}: {}", current.message());
        let unknown = c.revoke_tenant_signing_key(authed(revoke_req("nosuchkid0000000000000"))).await.unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound, "{name}: {unknown:?}");
        assert!(unknown.message().starts_with("kid \"nosuchkid"), "{name}: {}", unknown.message());
        assert_eq!(kid_with(&w, "previous").await, Some(old_current.clone()), "{name}: nothing revoked");

        // Bad input changes nothing and names the field.
        let bad = c.rotate_tenant_signing_keys(authed(rotate_req(&"x".repeat(129)))).await.unwrap_err();
        assert_eq!(bad.code(), Code::InvalidArgument);
        assert!(bad.message().starts_with("request_id: "), "{}", bad.message());
        let no_kid = c.revoke_tenant_signing_key(authed(revoke_req(""))).await.unwrap_err();
        assert_eq!(no_kid.message(), "kid: is required");
        let no_tenant =
            c.rotate_tenant_signing_keys(authed(proto::RotateTenantSigningKeysRequest::default())).await.unwrap_err();
        assert_eq!(no_tenant.message(), "tenant: is required");
        assert_eq!(rotations_at_auth0(&w).await, 1, "{name}");
    }
}

#[tokio::test]
async fn previous_key_waits_for_the_token_lifetime_and_every_verifier() {
    for (name, store, dir) in stores().await {
        // A verifier that only knows the old current key until the test lets it catch up.
        let v = verifier(String::from("{\"keys\":[]}")).await;
        let lifetime = Duration::from_secs(2);
        let w = world_keys(name, store, dir, policy(lifetime, true, vec![v.url.clone()])).await;
        let old_current = kid_with(&w, "current").await.unwrap();
        *v.body.lock().unwrap() = only_key(&jwks(&w).await, &old_current);
        // A token the emulator signed with the key that is about to become previous.
        let token = w.management_token().await;
        assert_eq!(decode_header(&token).unwrap().kid.as_deref(), Some(old_current.as_str()));
        assert!(verifies(&w, &token).await, "{name}");

        let mut c = w.client().await;
        let r = c.rotate_tenant_signing_keys(authed(rotate_req("sk-v"))).await.unwrap().into_inner().rotation.unwrap();
        assert_eq!(r.state(), St::Waiting, "{name}");
        assert_eq!(r.lagging_verifiers, vec![v.url.clone()], "{name}: the rotation reports the lagging verifier");
        assert!(r.verifiers[0].problem.contains("does not list the current kid"), "{name}: {:?}", r.verifiers);
        assert!(verifies(&w, &token).await, "{name}: tokens of the previous key still verify");

        // Before the lifetime: refused, naming the time left and the verifier.
        let early = c.revoke_tenant_signing_key(authed(revoke_req(&old_current))).await.unwrap_err();
        assert_eq!(early.code(), Code::FailedPrecondition, "{name}");
        assert!(early.message().contains("left") && early.message().contains(&v.url), "{name}: {}", early.message());

        // After it, still refused while the verifier lags: now it names only the verifier.
        tokio::time::sleep(lifetime + Duration::from_millis(200)).await;
        let lagging = c.revoke_tenant_signing_key(authed(revoke_req(&old_current))).await.unwrap_err();
        assert_eq!(lagging.code(), Code::FailedPrecondition, "{name}");
        assert!(!lagging.message().contains(" left "), "{name}: {}", lagging.message());
        assert!(lagging.message().contains(&v.url), "{name}: {}", lagging.message());
        // The background task does not revoke either.
        w.engine.signing_keys_due(w.engine.clock().now()).await.unwrap();
        assert_eq!(kid_with(&w, "previous").await, Some(old_current.clone()), "{name}");
        assert!(verifies(&w, &token).await, "{name}");

        // The verifier catches up: the background task revokes the previous key.
        *v.body.lock().unwrap() = jwks(&w).await;
        let st = w.store.clone();
        eventually("the previous key revoked", || {
            let (engine, st) = (w.engine.clone(), st.clone());
            async move {
                let _ = engine.signing_keys_due(engine.clock().now()).await;
                let rows = st.signing_key_rotations(TENANT, 1).await.unwrap();
                (rows[0].state == "completed").then_some(())
            }
        })
        .await;
        let revoked = emulator_keys(&w).await;
        let k = revoked.iter().find(|k| k["kid"] == old_current.as_str()).unwrap();
        assert_eq!(status(k), "revoked", "{name}: {k}");
        assert!(!verifies(&w, &token).await, "{name}: the previous key's tokens fail once it is revoked");
        let events = w.store.audit_after(0, 1000).await.unwrap();
        assert!(events.iter().any(|e| e.kind == "signing_key.revoked"), "{name}");
        assert!(events.iter().any(|e| e.kind == "signing_key.revoke_refused"), "{name}");

        // Asking again answers the completed rotation.
        let done = c.revoke_tenant_signing_key(authed(revoke_req(&old_current))).await.unwrap().into_inner();
        let done = done.rotation.unwrap();
        assert_eq!(done.state(), St::Completed, "{name}");
        assert!(done.revoked_at.is_some() && done.lagging_verifiers.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn without_auto_revoke_the_caller_revokes_once_allowed() {
    for (name, store, dir) in stores().await {
        let w = world_keys(name, store, dir, policy(Duration::from_secs(1), false, Vec::new())).await;
        let old_current = kid_with(&w, "current").await.unwrap();
        let mut c = w.client().await;
        let r = c.rotate_tenant_signing_keys(authed(rotate_req(""))).await.unwrap().into_inner().rotation.unwrap();
        assert!(!r.auto_revoke, "{name}");
        tokio::time::sleep(Duration::from_millis(1200)).await;
        w.engine.signing_keys_due(w.engine.clock().now()).await.unwrap();
        assert_eq!(kid_with(&w, "previous").await, Some(old_current.clone()), "{name}: not revoked by itself");
        let out = c.revoke_tenant_signing_key(authed(revoke_req(&old_current))).await.unwrap().into_inner();
        assert_eq!(out.kid, old_current);
        assert_eq!(out.rotation.unwrap().state(), St::Completed, "{name}");
        assert_eq!(kid_with(&w, "previous").await, None, "{name}");
        // Now a second rotation is allowed.
        c.rotate_tenant_signing_keys(authed(rotate_req(""))).await.unwrap();
        assert_eq!(rotations_at_auth0(&w).await, 2, "{name}");
    }
}

#[tokio::test]
async fn a_tampered_key_fails_the_rotation_naming_the_kid_and_the_check() {
    for (name, store, dir) in stores().await {
        let w = world_keys(name, store, dir, policy(Duration::from_secs(1), true, Vec::new())).await;
        let old_current = kid_with(&w, "current").await.unwrap();
        w.fault(json!({"method": "GET", "path_prefix": "/api/v2/keys/signing", "times": 10,
            "action": {"kind": "tamper", "field": "fingerprint"}}))
            .await;
        let mut c = w.client().await;
        let err = c.rotate_tenant_signing_keys(authed(rotate_req("sk-t"))).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{name}: {err:?}");
        assert!(err.message().contains("fingerprint is not the SHA-1 of the certificate"), "{name}: {}", err.message());
        assert!(err.message().contains(&format!("key {old_current}")), "{name}: {}", err.message());
        w.clear_faults().await;
        // Recorded: the same answer on retry, an audit event, and nothing revoked later.
        let again = c.rotate_tenant_signing_keys(authed(rotate_req("sk-t"))).await.unwrap_err();
        assert_eq!(again.message(), err.message(), "{name}");
        let events = w.store.audit_after(0, 1000).await.unwrap();
        assert!(events.iter().any(|e| e.kind == "signing_keys.unverified"), "{name}");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        w.engine.signing_keys_due(w.engine.clock().now()).await.unwrap();
        assert_eq!(kid_with(&w, "previous").await, Some(old_current), "{name}: no revocation after a failed check");
        let seen = w.store.signing_keys(TENANT).await.unwrap();
        assert!(seen.iter().all(|k| !k.verified), "{name}: every tampered key recorded as unverified");
    }
}

/// A PENDING row as a replica that died right after recording the request leaves it.
async fn crashed_row(w: &World, request_id: &str) -> SigningKeyRotationRecord {
    let keys = emulator_keys(w).await;
    let mut before: Vec<String> =
        keys.iter().filter(|k| status(k) != "revoked").map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
    before.sort();
    let current = kid_with(w, "current").await;
    let now = w.engine.clock().now();
    let detail = json!({"before": before, "before_current": current, "keys": [], "current_kid": null,
        "next_kid": null, "verifiers": [], "auto_revoke": true, "revoked_at": null, "revoked_how": null, "error": null});
    let record = SigningKeyRotationRecord {
        id: format!("skrot_crashed_{request_id}"),
        tenant: TENANT.into(),
        request_id: Some(request_id.into()),
        request_hash: keyward_hash(),
        state: "pending".into(),
        detail: detail.to_string(),
        previous_kid: None,
        rotated_at: None,
        revoke_not_before: None,
        next_check_at: now,
        requested_by: "ops".into(),
        created_at: now,
        updated_at: now,
        lease: Lease { owner: Some("dead-replica".into()), token: 1, expires_at: now },
    };
    assert!(w.store.insert_signing_key_rotation(&record).await.unwrap());
    record
}

/// The request hash keyward records for tenant `dev`.
fn keyward_hash() -> String {
    use sha2::Digest;
    sha2::Sha256::digest(format!("signing_keys\0{TENANT}")).iter().map(|b| format!("{b:02x}")).collect()
}

/// Rotates at the emulator directly, as Auth0 would have for a request keyward never heard back.
async fn rotate_at_auth0(w: &World) {
    let token = w.management_token().await;
    let r = w
        .http
        .post(format!("{}/api/v2/keys/signing/rotate", w.emu.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn a_crash_after_auth0_rotated_resumes_without_rotating_again() {
    for (name, store, dir) in stores().await {
        let w = world_keys(name, store, dir, policy(Duration::from_secs(3600), true, Vec::new())).await;
        let old_next = kid_with(&w, "next").await.unwrap();

        // Crashed after Auth0 rotated: the retry reads the key list and records, rotating nothing.
        crashed_row(&w, "crash-1").await;
        rotate_at_auth0(&w).await;
        let mut c = w.client().await;
        let r = c.rotate_tenant_signing_keys(authed(rotate_req("crash-1"))).await.unwrap().into_inner();
        let r = r.rotation.unwrap();
        assert_eq!(r.rotation_id, "skrot_crashed_crash-1", "{name}");
        assert_eq!(r.state(), St::Waiting, "{name}");
        assert_eq!(r.current_kid, old_next, "{name}");
        assert_eq!(rotations_at_auth0(&w).await, 1, "{name}: only the rotation before the crash");
    }
    for (name, store, dir) in stores().await {
        // Crashed before Auth0 was asked: the background task finishes the request, once.
        let w = world_keys(name, store, dir, policy(Duration::from_secs(3600), true, Vec::new())).await;
        crashed_row(&w, "crash-2").await;
        w.engine.signing_keys_due(w.engine.clock().now()).await.unwrap();
        let row = w.store.signing_key_rotation("skrot_crashed_crash-2").await.unwrap().unwrap();
        assert_eq!(row.state, "waiting", "{name}");
        assert_eq!(rotations_at_auth0(&w).await, 1, "{name}");
        w.engine.signing_keys_due(w.engine.clock().now()).await.unwrap();
        let mut c = w.client().await;
        c.rotate_tenant_signing_keys(authed(rotate_req("crash-2"))).await.unwrap();
        assert_eq!(rotations_at_auth0(&w).await, 1, "{name}: resumed once, never again");
    }
}

#[tokio::test]
async fn an_unknown_outcome_is_resolved_by_reading_the_keys() {
    for (name, store, dir) in stores().await {
        let w = world_keys(name, store, dir, policy(Duration::from_secs(3600), true, Vec::new())).await;
        let old_next = kid_with(&w, "next").await.unwrap();
        // Auth0 rotates, then the connection drops before the answer.
        w.fault(json!({"method": "POST", "path_prefix": "/api/v2/keys/signing/rotate",
            "action": {"kind": "drop_after"}}))
            .await;
        let mut c = w.client().await;
        let r = c.rotate_tenant_signing_keys(authed(rotate_req("sk-u"))).await.unwrap().into_inner();
        let r = r.rotation.unwrap();
        assert_eq!(r.current_kid, old_next, "{name}");
        assert!(r.verified, "{name}");
        assert_eq!(
            w.requests().await.iter().filter(|r| r["path"] == "/api/v2/keys/signing/rotate").count(),
            1,
            "{name}: asked once"
        );
    }
}

#[test]
fn cli_rotates_and_refuses_an_early_revocation() {
    let (_tmp, tmp) = support::tempdir();
    let dir = tmp.join("state");
    let k = support::start(&["dev", "--dir", &dir.display().to_string(), "--listen", "127.0.0.1:0"], &[]);
    let endpoint = format!("http://{}", k.addr);
    let token_file = dir.join("token").display().to_string();
    let client = ["--endpoint", endpoint.as_str(), "--token-file", token_file.as_str()];
    let run = |args: &[&str]| support::keyward_output(&[args, &client[..]].concat(), &[]);

    let rotated =
        support::stdout_json(&run(&["rotate", "signing-keys", "--tenant", "dev", "--request-id", "cli-1", "--json"]));
    let r = &rotated["rotation"];
    assert_eq!(r["state"], "WAITING", "{rotated}");
    assert_eq!(r["verified"], true, "{rotated}");
    assert_eq!(r["keys"].as_array().unwrap().len(), 3, "{rotated}");
    assert_eq!(r["lagging_verifiers"], json!([]), "{rotated}");
    let previous = r["previous_kid"].as_str().unwrap().to_owned();

    // The same request_id in table form: the same rotation, nothing rotated again.
    let again = run(&["rotate", "signing-keys", "--tenant", "dev", "--request-id", "cli-1"]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(text.contains(r["rotation_id"].as_str().unwrap()) && text.contains("WAITING"), "{text}");
    assert!(text.contains(&previous), "{text}");

    // The dev tenant's tokens live up to 24h: revoking now is refused, naming the time left.
    let early = run(&["revoke", "signing-key", "--tenant", "dev", "--kid", &previous, "--json"]);
    assert!(!early.status.success());
    let err = String::from_utf8_lossy(&early.stderr);
    assert!(
        err.contains("FAILED_PRECONDITION") && err.contains("may not be revoked yet") && err.contains("left"),
        "{err}"
    );
    // A policy target for scheduled rotation of the signing keys, never more often than daily.
    let short = run(&["policy", "set", "--tenant", "dev", "--signing-keys", "--interval", "12h"]);
    assert!(!short.status.success());
    let err = String::from_utf8_lossy(&short.stderr);
    assert!(err.contains("--interval (interval): must be at least 1 day"), "{err}");
    let set = support::stdout_json(&run(&[
        "policy",
        "set",
        "--tenant",
        "dev",
        "--signing-keys",
        "--interval",
        "90d",
        "--json",
    ]));
    assert_eq!(set["signing_keys"], true, "{set}");
    assert_eq!(set["interval_seconds"], 90 * 86_400, "{set}");
    let listed = run(&["policy", "status", "--tenant", "dev"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("signing keys"),
        "{}",
        String::from_utf8_lossy(&listed.stdout)
    );
    let both =
        run(&["policy", "set", "--tenant", "dev", "--signing-keys", "--client", "demo-app", "--interval", "90d"]);
    assert_eq!(both.status.code(), Some(64), "{}", String::from_utf8_lossy(&both.stderr));
    // The credential form of `keyward revoke` still wants its flags.
    let missing = run(&["revoke", "--tenant", "dev"]);
    assert_eq!(missing.status.code(), Some(64), "{}", String::from_utf8_lossy(&missing.stderr));
}
