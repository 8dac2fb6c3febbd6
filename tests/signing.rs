//! The Signer, Tokens and Audit services over real HTTP/2, against the real emulator, on both
//! stores: every RPC's happy path and refusals, assertions accepted by the emulator's
//! `/oauth/token` and verified by openssl against the JWKS keyward publishes, access-token single
//! flight, overload (RESOURCE_EXHAUSTED, then recovery), rotation under signing load without a
//! failed exchange, principals and grants (bearer and mTLS), and the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "support/grpc_world.rs"]
mod world;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use keyward::access::{Access, Grant, Permission, Principal};
use keyward::grpc::proto::{self, audit_client::AuditClient, signer_client::SignerClient, tokens_client::TokensClient};
use keyward::grpc::token_hash;
use serde_json::Value;
use tonic::transport::Channel;
use tonic::{Code, Request};
use world::*;

const SIGNER_TOKEN: &str = "kw-signer-only-4c1d";

fn authed_as<T>(token: &str, m: T) -> Request<T> {
    let mut r = Request::new(m);
    r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

fn assertion_request(client: &str) -> proto::SignClientAssertionRequest {
    proto::SignClientAssertionRequest { tenant: "dev".into(), client_id: client.into(), ..Default::default() }
}

/// Admin tokens plus a principal that may only sign (not rotate, not get tokens) for demo-*.
fn access() -> Access {
    let mut a = Access::all_access(&[token_hash(TOKEN)]);
    let grant =
        Grant { permissions: vec![Permission::Sign], tenants: vec!["dev".into()], clients: vec!["demo-*".into()] };
    a.add(Principal { name: "signer-svc".into(), grants: vec![grant] }, &[token_hash(SIGNER_TOKEN)], &[]);
    let read = Grant { permissions: vec![Permission::Read], tenants: vec!["*".into()], clients: vec!["demo-*".into()] };
    a.add(Principal { name: "reader-svc".into(), grants: vec![read] }, &[token_hash(READER_TOKEN)], &[]);
    a
}

/// A principal that may read every tenant's events for `demo-*` clients.
const READER_TOKEN: &str = "kw-test-reader-5a1e";

async fn rotate(w: &World) -> proto::RotateClientCredentialResponse {
    let req =
        proto::RotateClientCredentialRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() };
    w.client().await.rotate_client_credential(authed(req)).await.unwrap().into_inner()
}

/// Exchanges an assertion at the emulator's token endpoint.
async fn exchange(w: &World, assertion: &str) -> (u16, Value) {
    let r = w
        .http
        .post(format!("{}/oauth/token", w.emu.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion),
            ("audience", "https://api.demo.local/"),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Verifies a compact JWS with openssl against a PEM public key.
fn openssl_verifies(jws: &str, public_pem: &str) -> bool {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let dir = tempfile::tempdir().unwrap();
    let (signing_input, sig) = jws.rsplit_once('.').unwrap();
    std::fs::write(dir.path().join("in"), signing_input).unwrap();
    std::fs::write(dir.path().join("sig"), Base64UrlUnpadded::decode_vec(sig).unwrap()).unwrap();
    std::fs::write(dir.path().join("pub.pem"), public_pem).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "in"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    out.status.success()
}

#[tokio::test]
async fn signer_happy_paths_and_refusals() {
    for (name, store, dir) in stores().await {
        // SignJwt on an Auth0-registered client (JAR request objects) is allowed explicitly.
        let signing = keyward::config::SigningPolicy { allow_sign_jwt_for_auth0_clients: true, ..Default::default() };
        let w = world_with(name, store, dir, Setup { access: access(), signing, ..Default::default() }).await;
        let mut signer = SignerClient::new(w.channel().await);

        // No active key yet: FAILED_PRECONDITION, for every signing RPC.
        let err = signer.sign_client_assertion(authed(assertion_request(APP))).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{name}: {err:?}");
        assert!(err.message().contains("no active key"), "{name}: {err:?}");

        let rotated = rotate(&w).await;
        let credential = rotated.credential.unwrap();
        let out = signer.sign_client_assertion(authed(assertion_request(APP))).await.unwrap().into_inner();
        assert_eq!(out.kid, credential.kid, "{name}");
        assert_eq!(out.credential_id, credential.credential_id, "{name}");
        assert_eq!(out.algorithm, "RS256");
        // The emulator (Auth0's rules) accepts it, and openssl verifies it with the published key.
        let (status, body) = exchange(&w, &out.assertion).await;
        assert_eq!(status, 200, "{name}: {body}");
        let jwks = signer
            .get_jwks(authed(proto::GetJwksRequest { tenant: "dev".into(), client_id: APP.into() }))
            .await
            .unwrap()
            .into_inner()
            .jwks_json;
        let jwks = keyward_crypto::Jwks::from_json(&jwks).unwrap();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(jwks.keys[0].kid.as_deref(), Some(credential.kid.as_str()));
        let published = jwks.keys[0].to_public_key().unwrap().to_spki_pem().unwrap();
        assert!(openssl_verifies(&out.assertion, &published), "{name}: openssl rejects the assertion");
        assert!(openssl_verifies(&out.assertion, &credential.public_key_pem));
        let claims = jws_claims(&out.assertion);
        assert_eq!(claims["iss"], APP);
        assert_eq!(claims["sub"], APP);
        assert_eq!(claims["aud"], "https://dev-tenant.keyward.local/");
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 60);
        // The store knows the key may be live until at least that exp.
        let key = w.key_for(&credential.credential_id).await;
        assert!(key.last_signed_exp.unwrap().as_secs() >= claims["exp"].as_i64().unwrap(), "{name}");

        // SignJwt: the caller's claims, signed and verifiable; exp is required and bounded.
        let exp = keyward::clock::wall_now().as_secs() + 120;
        let claims_json = format!(r#"{{"sub":"order-42","aud":"https://api.demo.local/","exp":{exp}}}"#);
        let jwt = signer
            .sign_jwt(authed(proto::SignJwtRequest {
                tenant: "dev".into(),
                client_id: APP.into(),
                claims_json: claims_json.clone(),
                typ: "oauth-authz-req+jwt".into(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(openssl_verifies(&jwt.jwt, &credential.public_key_pem), "{name}");
        assert_eq!(jws_claims(&jwt.jwt)["sub"], "order-42");
        assert_eq!(jws_header(&jwt.jwt)["typ"], "oauth-authz-req+jwt");

        // Refusals, each naming the field; nothing is signed.
        let life = |s: i64| Some(prost_types::Duration { seconds: s, nanos: 0 });
        let bad: Vec<(proto::SignClientAssertionRequest, Code, &str)> = vec![
            (
                proto::SignClientAssertionRequest { lifetime: life(301), ..assertion_request(APP) },
                Code::InvalidArgument,
                "lifetime",
            ),
            (
                proto::SignClientAssertionRequest { lifetime: life(-1), ..assertion_request(APP) },
                Code::InvalidArgument,
                "lifetime",
            ),
            (
                proto::SignClientAssertionRequest {
                    audience: r#"["https://dev-tenant.keyward.local/"]"#.into(),
                    ..assertion_request(APP)
                },
                Code::InvalidArgument,
                "audience",
            ),
            (
                proto::SignClientAssertionRequest {
                    audience: "https://dev-tenant.keyward.local/oauth/token".into(),
                    ..assertion_request(APP)
                },
                Code::InvalidArgument,
                "audience",
            ),
            (
                proto::SignClientAssertionRequest {
                    audience: "https://evil.example/".into(),
                    ..assertion_request(APP)
                },
                Code::InvalidArgument,
                "audience",
            ),
            (assertion_request("unknown-app"), Code::NotFound, "unknown-app"),
            (assertion_request(""), Code::InvalidArgument, "client_id"),
            (
                proto::SignClientAssertionRequest { tenant: "nope".into(), ..assertion_request(APP) },
                Code::NotFound,
                "nope",
            ),
        ];
        for (req, code, needle) in bad {
            let err = signer.sign_client_assertion(authed(req.clone())).await.unwrap_err();
            assert_eq!(err.code(), code, "{name}: {req:?}: {err:?}");
            assert!(err.message().contains(needle), "{name}: {req:?}: {err:?}");
        }
        for (claims, needle) in [
            (r#"{"sub":"x"}"#.to_owned(), "exp"),
            ("[1,2]".to_owned(), "JSON object"),
            ("not json".to_owned(), "JSON object"),
            (format!(r#"{{"exp":{}}}"#, exp + 10 * 3600), "exp"),
            (r#"{"exp":1000}"#.to_owned(), "exp"),
            // A key twice, at any depth: the verifier might read either.
            (format!(r#"{{"exp":{},"exp":{exp}}}"#, exp + 10 * 365 * 86_400), r#"the key "exp" appears twice"#),
            (format!(r#"{{"exp":{exp},"cnf":{{"jkt":"a","jkt":"b"}}}}"#), r#"the key "jkt" appears twice"#),
        ] {
            let err = signer
                .sign_jwt(authed(proto::SignJwtRequest {
                    tenant: "dev".into(),
                    client_id: APP.into(),
                    claims_json: claims.clone(),
                    typ: String::new(),
                }))
                .await
                .unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{name}: {claims}: {err:?}");
            assert!(err.message().starts_with("claims_json") && err.message().contains(needle), "{err:?}");
        }

        // Even allowed, SignJwt never mints a client assertion for the tenant.
        for claims in [
            format!(r#"{{"iss":"{APP}","sub":"{APP}","aud":"https://api.demo.local/","exp":{exp}}}"#),
            format!(r#"{{"sub":"x","aud":"https://dev-tenant.keyward.local/","jti":"fixed-jti","exp":{exp}}}"#),
            format!(r#"{{"sub":"x","aud":["https://dev-tenant.keyward.local/oauth/token"],"exp":{exp}}}"#),
        ] {
            let err = signer
                .sign_jwt(authed(proto::SignJwtRequest {
                    tenant: "dev".into(),
                    client_id: APP.into(),
                    claims_json: claims.clone(),
                    typ: String::new(),
                }))
                .await
                .unwrap_err();
            assert_eq!(err.code(), Code::PermissionDenied, "{name}: {claims}: {err:?}");
            assert!(err.message().contains("SignClientAssertion"), "{err:?}");
        }

        // Principals: no token, a principal without the permission, a client outside the grant.
        let err = signer.sign_client_assertion(Request::new(assertion_request(APP))).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
        let ok = signer.sign_client_assertion(authed_as(SIGNER_TOKEN, assertion_request(APP))).await;
        assert!(ok.is_ok(), "{name}: the signer principal may sign for demo-*: {ok:?}");
        let err =
            signer.sign_client_assertion(authed_as(SIGNER_TOKEN, assertion_request(GHOST_APP))).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{name}: outside the grant: {err:?}");
        let err = signer
            .sign_client_assertion(authed_as(
                SIGNER_TOKEN,
                proto::SignClientAssertionRequest { tenant: "prod".into(), ..assertion_request(APP) },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{name}: other tenant: {err:?}");
        let err = KeyRotationClientExt::rotate_as(&w, SIGNER_TOKEN).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{name}: signer may not rotate: {err:?}");
        let err = TokensClient::new(w.channel().await)
            .get_access_token(authed_as(
                SIGNER_TOKEN,
                proto::GetAccessTokenRequest {
                    tenant: "dev".into(),
                    client_id: APP.into(),
                    audience: "https://api.demo.local/".into(),
                    scope: String::new(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{name}: signer may not get tokens: {err:?}");

        // The audit log: denials as they happen, signatures as counters once flushed.
        w.signing.counters().flush().await.unwrap();
        let events = AuditClient::new(w.channel().await)
            .list_audit_events(authed(proto::ListAuditEventsRequest { after_id: 0, limit: 1000 }))
            .await
            .unwrap()
            .into_inner()
            .events;
        let denied: Vec<_> = events.iter().filter(|e| e.kind == "access.denied" && e.actor == "signer-svc").collect();
        assert_eq!(denied.len(), 4, "{name}: {denied:?}");
        let counted: u64 = events
            .iter()
            .filter(|e| e.kind == "signing.count" && e.actor == "signer-svc")
            .map(|e| serde_json::from_str::<Value>(&e.detail).unwrap()["count"].as_u64().unwrap())
            .sum();
        assert_eq!(counted, 1, "{name}: one signature by signer-svc");
        // The signer principal may not read the audit log of a tenant it cannot read.
        let theirs = AuditClient::new(w.channel().await)
            .list_audit_events(authed_as(SIGNER_TOKEN, proto::ListAuditEventsRequest { after_id: 0, limit: 0 }))
            .await
            .unwrap()
            .into_inner()
            .events;
        assert!(theirs.is_empty(), "{name}: {theirs:?}");
        // A patterned reader sees its clients' events, but not another principal's denials.
        let read = AuditClient::new(w.channel().await)
            .list_audit_events(authed_as(READER_TOKEN, proto::ListAuditEventsRequest { after_id: 0, limit: 1000 }))
            .await
            .unwrap()
            .into_inner()
            .events;
        assert!(read.iter().any(|e| e.subject == APP && e.kind.starts_with("rotation.")), "{name}: {read:?}");
        assert!(read.iter().all(|e| e.kind != "access.denied" && !e.tenant.is_empty()), "{name}: {read:?}");
    }
}

/// RotateClientCredential as another principal.
struct KeyRotationClientExt;

impl KeyRotationClientExt {
    async fn rotate_as(w: &World, token: &str) -> Result<proto::RotateClientCredentialResponse, tonic::Status> {
        let req =
            proto::RotateClientCredentialRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() };
        w.client().await.rotate_client_credential(authed_as(token, req)).await.map(tonic::Response::into_inner)
    }
}

fn jws_part(jws: &str, i: usize) -> Value {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let part = jws.split('.').nth(i).unwrap();
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(part).unwrap()).unwrap()
}

fn jws_claims(jws: &str) -> Value {
    jws_part(jws, 1)
}

fn jws_header(jws: &str) -> Value {
    jws_part(jws, 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_single_flight_and_overload_recovers() {
    for (name, store, dir) in stores().await {
        let setup = Setup {
            signer: keyward::config::SignerConfig { threads: 1, queue: 2, ..Default::default() },
            ..Default::default()
        };
        let w = world_with(name, store, dir, setup).await;
        rotate(&w).await;
        let channel = w.channel().await;
        let before = w.requests().await.len();
        let calls = (0..50).map(|_| {
            let mut tokens = TokensClient::new(channel.clone());
            async move {
                tokens
                    .get_access_token(authed(proto::GetAccessTokenRequest {
                        tenant: "dev".into(),
                        client_id: APP.into(),
                        audience: "https://api.demo.local/".into(),
                        scope: "read:demo".into(),
                    }))
                    .await
                    .map(tonic::Response::into_inner)
            }
        });
        let answers = futures_join_all(calls).await;
        let first = answers[0].as_ref().unwrap().clone();
        assert!(answers.iter().all(|a| a.as_ref().unwrap().access_token == first.access_token), "{name}");
        assert_eq!(first.token_type, "Bearer");
        assert_eq!(first.scope, "read:demo");
        let exchanges = w.requests().await[before..].iter().filter(|r| r["path"] == "/oauth/token").count();
        assert_eq!(exchanges, 1, "{name}: 50 concurrent callers, one exchange");
        // A grant the client does not have: PERMISSION_DENIED from Auth0's answer.
        let err = TokensClient::new(channel.clone())
            .get_access_token(authed(proto::GetAccessTokenRequest {
                tenant: "dev".into(),
                client_id: APP.into(),
                audience: "https://no-grant.example/".into(),
                scope: String::new(),
            }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{name}: {err:?}");

        // Overload: one worker, two queue slots, 200 concurrent RSA signatures. Some are refused
        // with RESOURCE_EXHAUSTED (held for the pushback, clipped to half of the callers' 2 s
        // deadline, so never DEADLINE_EXCEEDED); none hang; the rest succeed.
        let calls = (0..200).map(|_| {
            let mut signer = SignerClient::new(channel.clone());
            let mut request = authed(assertion_request(APP));
            request.set_timeout(Duration::from_secs(2));
            async move { signer.sign_client_assertion(request).await }
        });
        let answers =
            tokio::time::timeout(Duration::from_secs(120), futures_join_all(calls)).await.expect("a call hung");
        let exhausted =
            answers.iter().filter(|a| a.as_ref().is_err_and(|e| e.code() == Code::ResourceExhausted)).count();
        let ok = answers.iter().filter(|a| a.is_ok()).count();
        assert!(exhausted > 0, "{name}: nothing was refused");
        assert!(ok > 0, "{name}: nothing succeeded");
        assert_eq!(ok + exhausted, 200, "{name}: only success or RESOURCE_EXHAUSTED");
        // Recovered.
        let again = SignerClient::new(channel.clone()).sign_client_assertion(authed(assertion_request(APP))).await;
        assert!(again.is_ok(), "{name}: {again:?}");
    }
}

async fn futures_join_all<F: Future + Send + 'static>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_signing_load_never_breaks_an_assertion() {
    for (name, store, dir) in stores().await {
        let w = Arc::new(world(name, store, dir).await);
        rotate(&w).await;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut workers = Vec::new();
        for _ in 0..4 {
            let (w, stop) = (w.clone(), stop.clone());
            workers.push(tokio::spawn(async move {
                let mut signer = SignerClient::new(w.channel().await);
                let (mut ok, mut failed) = (0, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let a = signer.sign_client_assertion(authed(assertion_request(APP))).await.unwrap().into_inner();
                    let (status, body) = exchange(&w, &a.assertion).await;
                    if status == 200 {
                        ok += 1
                    } else {
                        failed.push(body)
                    }
                    // Stay inside the emulated tenant's /oauth/token rate limit (16/s).
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                (ok, failed)
            }));
        }
        // Three rotations back to back with no grace; the signer keeps signing throughout.
        let mut rotations = 0;
        for _ in 0..3 {
            let req = proto::RotateClientCredentialRequest {
                tenant: "dev".into(),
                client_id: APP.into(),
                grace_period: Some(prost_types::Duration { seconds: 0, nanos: 0 }),
                ..Default::default()
            };
            match w.client().await.rotate_client_credential(authed(req)).await {
                Ok(_) => rotations += 1,
                // The early-retirement rule: the old key's assertions are still live.
                Err(e) if e.code() == Code::FailedPrecondition && e.message().contains("can proceed at") => {}
                Err(e) => panic!("{name}: {e:?}"),
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // Retirement as the background task would run it, while signing continues.
        w.engine.retire_due(keyward::clock::wall_now()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut total = 0;
        for h in workers {
            let (ok, failed) = h.await.unwrap();
            assert!(failed.is_empty(), "{name}: failed exchanges during rotation: {failed:?}");
            total += ok;
        }
        assert!(total > 0 && rotations >= 1, "{name}: {total} exchanges, {rotations} rotations");
        w.check_invariants().await;
    }
}

#[tokio::test]
async fn mtls_principals_are_named_by_their_certificate() {
    let Some(pki) = Pki::generate() else { return };
    let (name, store, dir) = stores().await.remove(0);
    let mut access = Access::default();
    let grant = Grant { permissions: vec![Permission::Read], tenants: vec!["dev".into()], clients: vec!["*".into()] };
    access.add(Principal { name: "reader".into(), grants: vec![grant] }, &[], &["spiffe://keyward.test/reader".into()]);
    access.add(Principal { name: "admin".into(), grants: vec![Grant::everything()] }, &[token_hash(TOKEN)], &[]);
    let tls = keyward::config::TlsConfig {
        cert_file: pki.dir.path().join("server.pem"),
        key_file: pki.dir.path().join("server.key"),
        client_ca_file: Some(pki.dir.path().join("ca.pem")),
    };
    let w = world_with(name, store, dir, Setup { access, tls: Some(tls), ..Default::default() }).await;
    let channel = |identity: Option<tonic::transport::Identity>| {
        let mut tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(pki.read("ca.pem")))
            .domain_name("localhost");
        if let Some(id) = identity {
            tls = tls.identity(id);
        }
        let endpoint =
            Channel::from_shared(format!("https://localhost:{}", w.addr.port())).unwrap().tls_config(tls).unwrap();
        async move { endpoint.connect().await.unwrap() }
    };
    let reader = tonic::transport::Identity::from_pem(pki.read("client.pem"), pki.read("client.key"));
    let jwks_req = || proto::GetJwksRequest { tenant: "dev".into(), client_id: APP.into() };
    // The certificate's principal may read, not sign; without a certificate or token, nothing.
    let mut with_cert = SignerClient::new(channel(Some(reader)).await);
    let err = with_cert.get_jwks(Request::new(jwks_req())).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "authorized, but no key yet: {err:?}");
    let err = with_cert.sign_client_assertion(Request::new(assertion_request(APP))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("reader"), "{err:?}");
    let mut anonymous = SignerClient::new(channel(None).await);
    assert_eq!(anonymous.get_jwks(Request::new(jwks_req())).await.unwrap_err().code(), Code::Unauthenticated);
    // Bearer tokens still work over TLS.
    let mut admin = SignerClient::new(channel(None).await);
    assert_eq!(admin.get_jwks(authed(jwks_req())).await.unwrap_err().code(), Code::FailedPrecondition);
}

/// A CA, a server certificate for localhost and a client certificate with a SPIFFE URI SAN, made
/// by openssl (an implementation we did not write).
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn generate() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl").args(args).current_dir(dir.path()).output().unwrap();
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        std::fs::write(dir.path().join("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
        std::fs::write(dir.path().join("client.ext"), "subjectAltName=URI:spiffe://keyward.test/reader\n").unwrap();
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=keyward test CA",
        ]);
        for who in ["server", "client"] {
            let (key, csr, pem, ext) =
                (format!("{who}.key"), format!("{who}.csr"), format!("{who}.pem"), format!("{who}.ext"));
            run(&[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={who}"),
            ]);
            run(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ]);
        }
        Some(Self { dir })
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap()
    }
}

#[tokio::test]
async fn signing_only_clients_rotate_ec_keys_locally_and_sign_jwts() {
    for (name, store, dir) in stores().await {
        let signing =
            keyward::config::SigningPolicy { local_clients: ["demo-signer".to_owned()].into(), ..Default::default() };
        // The EC key signs on the serving thread over SQLite and on the pool over PostgreSQL:
        // both paths make the same verifiable JWT.
        let signer = keyward::config::SignerConfig { inline_ec: name == "sqlite", ..Default::default() };
        let w = world_with(name, store, dir, Setup { signing, signer, ..Default::default() }).await;
        let before = w.tenant_state().await;
        let req = proto::RotateClientCredentialRequest {
            tenant: "dev".into(),
            client_id: "demo-signer".into(),
            algorithm: "ES256".into(),
            ..Default::default()
        };
        let out = w.client().await.rotate_client_credential(authed(req.clone())).await.unwrap().into_inner();
        let credential = out.credential.unwrap();
        assert_eq!((credential.algorithm.as_str(), credential.key_bits), ("ES256", 256), "{name}");
        assert!(credential.credential_id.is_empty(), "{name}: never registered at Auth0");
        assert_eq!(w.tenant_state().await, before, "{name}: nothing changed at Auth0");
        // key_bits makes no sense for EC keys.
        let err = w
            .client()
            .await
            .rotate_client_credential(authed(proto::RotateClientCredentialRequest { key_bits: 2048, ..req }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with("key_bits"), "{err:?}");

        let mut signer = SignerClient::new(w.channel().await);
        let exp = keyward::clock::wall_now().as_secs() + 60;
        // By default SignJwt stays in its lane: an Auth0-registered client is refused, naming the
        // RPC to use, before anything is looked up or signed.
        let err = signer
            .sign_jwt(authed(proto::SignJwtRequest {
                tenant: "dev".into(),
                client_id: APP.into(),
                claims_json: format!(r#"{{"sub":"x","aud":"https://api.demo.local/","exp":{exp}}}"#),
                typ: String::new(),
            }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{name}: {err:?}");
        assert!(err.message().contains("SignClientAssertion"), "{name}: {err:?}");
        let jwt = signer
            .sign_jwt(authed(proto::SignJwtRequest {
                tenant: "dev".into(),
                client_id: "demo-signer".into(),
                claims_json: format!(r#"{{"iss":"demo-signer","exp":{exp}}}"#),
                typ: String::new(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(jwt.algorithm, "ES256");
        let jwks = signer
            .get_jwks(authed(proto::GetJwksRequest { tenant: "dev".into(), client_id: "demo-signer".into() }))
            .await
            .unwrap()
            .into_inner()
            .jwks_json;
        let jwks = keyward_crypto::Jwks::from_json(&jwks).unwrap();
        assert_eq!(jwks.keys[0].crv.as_deref(), Some("P-256"));
        // openssl verifies the ES256 signature (converted from JOSE r||s to DER) with the JWKS key.
        let public = jwks.keys[0].to_public_key().unwrap().to_spki_pem().unwrap();
        assert!(openssl_verifies_es256(&jwt.jwt, &public), "{name}");
        // It is not an Auth0 client: no assertions, no tokens.
        let err = signer.sign_client_assertion(authed(assertion_request("demo-signer"))).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{name}: {err:?}");
        let listed = w
            .client()
            .await
            .list_client_credentials(authed(proto::ListClientCredentialsRequest {
                tenant: "dev".into(),
                client_id: "demo-signer".into(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.credentials.len(), 1);
        assert!(listed.auth0_credentials.is_empty());
    }
}

/// Verifies an ES256 compact JWS with openssl: the JOSE signature is r||s, openssl wants DER.
fn openssl_verifies_es256(jws: &str, public_pem: &str) -> bool {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let (input, sig) = jws.rsplit_once('.').unwrap();
    let raw = Base64UrlUnpadded::decode_vec(sig).unwrap();
    assert_eq!(raw.len(), 64);
    let int = |b: &[u8]| {
        let b: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
        let mut v = if b.first().is_some_and(|x| x & 0x80 != 0) { vec![0] } else { vec![] };
        v.extend(b);
        let mut out = vec![0x02, u8::try_from(v.len()).unwrap()];
        out.extend(v);
        out
    };
    let body = [int(&raw[..32]), int(&raw[32..])].concat();
    let der = [vec![0x30, u8::try_from(body.len()).unwrap()], body].concat();
    let signature = Base64UrlUnpadded::encode_string(&der);
    openssl_verifies(&format!("{input}.{signature}"), public_pem)
}
