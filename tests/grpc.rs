//! The `keyward.v1.KeyRotation` service over real HTTP/2: a server started with
//! `keyward::grpc::run` on 127.0.0.1:0, the generated tonic client, the real emulator and both
//! stores. Covers bearer auth (and health and reflection without it), both rotation RPCs end to
//! end, connection key verification with tampered answers, the status mapping (NOT_FOUND,
//! ABORTED, INVALID_ARGUMENT, FAILED_PRECONDITION, UNAVAILABLE then resume) and a bad-input
//! matrix over every field that must change nothing at Auth0 or in the store. The emulator's
//! state and request log are the independent witness.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "support/grpc_world.rs"]
mod world;

use std::collections::BTreeSet;
use std::sync::Arc;

use keyward::grpc::proto::{
    self, GetRotationPolicyRequest, GetRotationRequest, ListClientCredentialsRequest, ListRotationPoliciesRequest,
    RotateClientCredentialRequest, RotateConnectionKeysRequest, RotationPolicy, SetRotationPolicyRequest,
    key_rotation_client::KeyRotationClient,
};
use keyward::store::{KeyState, RotationState};
use serde_json::{Value, json};
use tonic::transport::Channel;
use tonic::{Code, Status};
use world::*;

fn rotate_request() -> RotateClientCredentialRequest {
    RotateClientCredentialRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() }
}

fn connection_request() -> RotateConnectionKeysRequest {
    RotateConnectionKeysRequest { tenant: "dev".into(), connection_id: CONN.into(), ..Default::default() }
}

fn list_request() -> ListClientCredentialsRequest {
    ListClientCredentialsRequest { tenant: "dev".into(), client_id: APP.into() }
}

fn secs(seconds: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration { seconds, nanos: 0 })
}

fn now_ms() -> i64 {
    keyward::clock::wall_now().as_millis()
}

/// Every KeyRotation RPC with a valid body, sent with `authorization` as given.
async fn every_rpc(c: &mut KeyRotationClient<Channel>, auth: Option<&[u8]>) -> Vec<(&'static str, Status)> {
    let expect_err = |name: &'static str, r: Result<(), Status>| match r {
        Ok(()) => panic!("{name} succeeded with authorization {:?}", auth.map(String::from_utf8_lossy)),
        Err(s) => (name, s),
    };
    vec![
        expect_err(
            "RotateClientCredential",
            c.rotate_client_credential(with_auth(rotate_request(), auth)).await.map(drop),
        ),
        expect_err(
            "RotateConnectionKeys",
            c.rotate_connection_keys(with_auth(connection_request(), auth)).await.map(drop),
        ),
        expect_err(
            "GetRotation",
            c.get_rotation(with_auth(GetRotationRequest { rotation_id: "rot_x".into() }, auth)).await.map(drop),
        ),
        expect_err("ListClientCredentials", c.list_client_credentials(with_auth(list_request(), auth)).await.map(drop)),
        expect_err("SetRotationPolicy", c.set_rotation_policy(with_auth(policy_request(), auth)).await.map(drop)),
        expect_err("GetRotationPolicy", c.get_rotation_policy(with_auth(policy_target(), auth)).await.map(drop)),
        expect_err(
            "ListRotationPolicies",
            c.list_rotation_policies(with_auth(ListRotationPoliciesRequest { tenant: "dev".into() }, auth))
                .await
                .map(drop),
        ),
        expect_err("DeleteRotationPolicy", c.delete_rotation_policy(with_auth(policy_target(), auth)).await.map(drop)),
        expect_err("RevokeCredential", c.revoke_credential(with_auth(revoke_request(), auth)).await.map(drop)),
        expect_err(
            "ListRotations",
            c.list_rotations(with_auth(proto::ListRotationsRequest::default(), auth)).await.map(drop),
        ),
        expect_err("WhoAmI", c.who_am_i(with_auth(proto::WhoAmIRequest {}, auth)).await.map(drop)),
        expect_err(
            "ListConnectionKeys",
            c.list_connection_keys(with_auth(
                proto::ListConnectionKeysRequest { tenant: "dev".into(), connection_id: CONN.into() },
                auth,
            ))
            .await
            .map(drop),
        ),
        expect_err(
            "RotateTenantSigningKeys",
            c.rotate_tenant_signing_keys(with_auth(
                proto::RotateTenantSigningKeysRequest { tenant: "dev".into(), ..Default::default() },
                auth,
            ))
            .await
            .map(drop),
        ),
        expect_err(
            "RevokeTenantSigningKey",
            c.revoke_tenant_signing_key(with_auth(
                proto::RevokeTenantSigningKeyRequest {
                    tenant: "dev".into(),
                    kid: "kid_x".into(),
                    ..Default::default()
                },
                auth,
            ))
            .await
            .map(drop),
        ),
        expect_err(
            "GetTenantInventory",
            c.get_tenant_inventory(with_auth(proto::GetTenantInventoryRequest { tenant: "dev".into() }, auth))
                .await
                .map(drop),
        ),
    ]
}

fn revoke_request() -> proto::RevokeCredentialRequest {
    proto::RevokeCredentialRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        credential_id: "cred_x".into(),
        reason: "test".into(),
        ..Default::default()
    }
}

fn policy_target() -> GetRotationPolicyRequest {
    GetRotationPolicyRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() }
}

fn policy_request() -> SetRotationPolicyRequest {
    SetRotationPolicyRequest {
        policy: Some(RotationPolicy {
            tenant: "dev".into(),
            client_id: APP.into(),
            max_key_age: Some(prost_types::Duration { seconds: 90 * 86_400, nanos: 0 }),
            ..RotationPolicy::default()
        }),
    }
}

#[tokio::test]
async fn bearer_token_guards_every_rotation_rpc_but_not_health_or_reflection() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

    for (name, store, dir) in stores().await {
        let mut w = world(name, store, dir).await;
        let mut c = w.client().await;
        let log_before = w.requests().await.len();

        let wrong = format!("Bearer {TOKEN}x");
        let no_scheme = TOKEN.to_owned();
        let basic = "Basic a2V5d2FyZDpzZWNyZXQ=".to_owned();
        let other_scheme = format!("Token {TOKEN}");
        let glued = format!("Bearer{TOKEN}");
        let cases: Vec<(&str, Option<&[u8]>, &str)> = vec![
            ("missing", None, "authorization"),
            ("wrong token", Some(wrong.as_bytes()), "not valid"),
            ("empty bearer", Some(b"Bearer "), "not valid"),
            ("bare scheme", Some(b"Bearer"), "authorization"),
            ("no scheme", Some(no_scheme.as_bytes()), "authorization"),
            ("basic", Some(basic.as_bytes()), "authorization"),
            ("other scheme", Some(other_scheme.as_bytes()), "authorization"),
            ("no space", Some(glued.as_bytes()), "authorization"),
            ("not utf-8", Some(b"Bearer \xff\xfe\xfd"), "authorization"),
        ];
        for (case, auth, needle) in cases {
            for (rpc, status) in every_rpc(&mut c, auth).await {
                assert_eq!(status.code(), Code::Unauthenticated, "{name}: {case}: {rpc}: {status:?}");
                assert!(status.message().contains(needle), "{name}: {case}: {rpc}: {status:?}");
                assert!(!status.message().contains(TOKEN), "{name}: {case}: the token is echoed: {status:?}");
            }
        }
        // Nothing reached Auth0 or the store.
        assert_eq!(w.management_requests_since(log_before).await, Vec::<Value>::new(), "{name}");
        assert!(w.store.keys("dev", APP).await.unwrap().is_empty(), "{name}");
        assert!(w.store.open_rotations().await.unwrap().is_empty(), "{name}");
        assert_eq!(w.app_credentials().await, Vec::<Value>::new(), "{name}");

        // Either configured token works.
        for token in [TOKEN, SECOND_TOKEN] {
            let auth = format!("Bearer {token}");
            let out = c
                .list_client_credentials(with_auth(list_request(), Some(auth.as_bytes())))
                .await
                .unwrap_or_else(|s| panic!("{name}: {s:?}"))
                .into_inner();
            assert!(out.credentials.is_empty() && out.auth0_credentials.is_empty(), "{name}: {out:?}");
        }
        let missing =
            c.get_rotation(authed(GetRotationRequest { rotation_id: "rot_missing".into() })).await.unwrap_err();
        assert_eq!(missing.code(), Code::NotFound, "{name}: a valid token gets past auth: {missing:?}");

        // Health, without a token: the server and the KeyRotation service are SERVING.
        let mut health = HealthClient::new(w.channel().await);
        for service in ["", "keyward.v1.KeyRotation"] {
            let r = health.check(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner();
            assert_eq!(r.status(), ServingStatus::Serving, "{name}: {service:?}");
        }
        let unknown = health.check(HealthCheckRequest { service: "keyward.v1.Nope".into() }).await.unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound, "{name}: {unknown:?}");

        // Reflection, without a token: lists the services and describes KeyRotation.
        let mut reflection = ServerReflectionClient::new(w.channel().await);
        let ask = |m: MessageRequest| ServerReflectionRequest { host: String::new(), message_request: Some(m) };
        let requests = vec![
            ask(MessageRequest::ListServices(String::new())),
            ask(MessageRequest::FileContainingSymbol("keyward.v1.KeyRotation".into())),
        ];
        let mut stream = reflection.server_reflection_info(tokio_stream::iter(requests)).await.unwrap().into_inner();
        let mut answers: Vec<ServerReflectionResponse> = Vec::new();
        while let Some(a) = stream.message().await.unwrap() {
            answers.push(a);
        }
        assert_eq!(answers.len(), 2, "{name}");
        let Some(MessageResponse::ListServicesResponse(list)) = &answers[0].message_response else {
            panic!("{name}: {:?}", answers[0]);
        };
        let services: BTreeSet<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
        assert!(services.contains("keyward.v1.KeyRotation"), "{name}: {services:?}");
        assert!(services.contains("grpc.health.v1.Health"), "{name}: {services:?}");
        let Some(MessageResponse::FileDescriptorResponse(files)) = &answers[1].message_response else {
            panic!("{name}: {:?}", answers[1]);
        };
        let file = files
            .file_descriptor_proto
            .iter()
            .map(|b| <prost_types::FileDescriptorProto as prost::Message>::decode(b.as_slice()).unwrap())
            .find(|f| f.package() == "keyward.v1")
            .unwrap();
        let service = file.service.iter().find(|s| s.name() == "KeyRotation").unwrap();
        let methods: Vec<&str> = service.method.iter().map(|m| m.name()).collect();
        assert_eq!(
            methods,
            [
                "RotateClientCredential",
                "RotateConnectionKeys",
                "GetRotation",
                "ListClientCredentials",
                "SetRotationPolicy",
                "GetRotationPolicy",
                "ListRotationPolicies",
                "DeleteRotationPolicy",
                "RevokeCredential",
                "ListRotations",
                "WhoAmI",
                "ListConnectionKeys",
                "RotateTenantSigningKeys",
                "RevokeTenantSigningKey",
                "GetTenantInventory"
            ],
            "{name}"
        );

        // Shutdown: run returns Ok and the port stops answering.
        drop((c, health, reflection));
        w.stop().await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let refused = Channel::from_shared(w.endpoint()).unwrap().connect().await;
        assert!(refused.is_err(), "{name}: the server still accepts connections");
    }
}

#[tokio::test]
async fn client_credential_rotation_end_to_end() {
    for (name, store, dir) in stores().await {
        let w = world(name, store, dir).await;
        let mut c = w.client().await;

        // First rotation: defaults (RS256, 2048 bits, no expiry), nothing to retire.
        let before = now_ms();
        let first = c
            .rotate_client_credential(authed(RotateClientCredentialRequest {
                request_id: "happy-1".into(),
                ..rotate_request()
            }))
            .await
            .unwrap_or_else(|s| panic!("{name}: {s:?}"))
            .into_inner();
        let rot = first.rotation.clone().unwrap();
        let cred = first.credential.clone().unwrap();
        assert!(rot.rotation_id.starts_with("rot_"), "{name}: {rot:?}");
        assert_eq!(rot.state(), proto::RotationState::Completed, "{name}: nothing to retire on the first rotation");
        assert_eq!((rot.tenant.as_str(), rot.client_id.as_str(), rot.request_id.as_str()), ("dev", APP, "happy-1"));
        assert_eq!(rot.new_credential_id, cred.credential_id, "{name}");
        assert!(rot.old_credential_id.is_empty() && rot.retire_at.is_none() && rot.error.is_empty(), "{name}: {rot:?}");
        assert!(first.previous_credential_id.is_empty() && first.previous_retire_at.is_none(), "{name}");
        assert!(ms(rot.created_at.as_ref().unwrap()) >= before - 1000, "{name}");
        assert!(ms(rot.updated_at.as_ref().unwrap()) >= ms(rot.created_at.as_ref().unwrap()), "{name}");
        check_credential(&w, &cred, "RS256", 2048).await;
        assert_eq!(cred.state(), proto::CredentialState::Active, "{name}");
        assert!(cred.expires_at.is_none(), "{name}: no lifetime asked");

        // GetRotation returns the same rotation.
        let got = c.get_rotation(authed(GetRotationRequest { rotation_id: rot.rotation_id.clone() })).await.unwrap();
        assert_eq!(got.into_inner(), rot, "{name}");

        // The new key works for a private_key_jwt token exchange.
        let first_key = w.key_for(&cred.credential_id).await;
        let (status, body) = w.exchange_with(&first_key).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert!(body["access_token"].is_string(), "{name}: {body}");

        // Second rotation: PS256, 3072 bits, two-day lifetime, one-hour grace, and a request_id
        // of exactly 128 (multi-byte) characters.
        let long_id = "é".repeat(128);
        let second = c
            .rotate_client_credential(authed(RotateClientCredentialRequest {
                algorithm: "PS256".into(),
                key_bits: 3072,
                grace_period: secs(3600),
                credential_lifetime: secs(2 * 24 * 3600),
                request_id: long_id.clone(),
                ..rotate_request()
            }))
            .await
            .unwrap_or_else(|s| panic!("{name}: {s:?}"))
            .into_inner();
        let after = now_ms();
        let rot2 = second.rotation.clone().unwrap();
        let cred2 = second.credential.clone().unwrap();
        assert_eq!(rot2.state(), proto::RotationState::Active, "{name}: the old key waits for retirement");
        assert_eq!(rot2.request_id, long_id, "{name}");
        assert_ne!(rot2.rotation_id, rot.rotation_id, "{name}");
        assert_eq!(second.previous_credential_id, cred.credential_id, "{name}");
        assert_eq!(rot2.old_credential_id, cred.credential_id, "{name}");
        let retire_at = ms(second.previous_retire_at.as_ref().unwrap());
        assert_eq!(rot2.retire_at.as_ref().map(ms), Some(retire_at), "{name}");
        assert!(retire_at >= ms(rot2.created_at.as_ref().unwrap()) + 3_600_000, "{name}: grace period honoured");
        assert!(retire_at <= after + 3_600_000, "{name}: retire_at = now + grace, not later");
        check_credential(&w, &cred2, "PS256", 3072).await;
        let expires = ms(cred2.expires_at.as_ref().unwrap());
        let lifetime = expires - ms(cred2.created_at.as_ref().unwrap());
        assert!((2 * 86_400_000 - 1000..=2 * 86_400_000).contains(&lifetime), "{name}: lifetime {lifetime} ms");
        let not_after = keyward_crypto::Certificate::from_pem(&cred2.cert).unwrap().not_after();
        let not_after_ms = i64::try_from(not_after.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap();
        assert!((not_after_ms - expires).abs() <= 1000, "{name}: certificate notAfter {not_after_ms} vs {expires}");
        let at_auth0 = w.app_credentials().await;
        let c2 = at_auth0.iter().find(|x| x["id"] == cred2.credential_id).unwrap();
        assert_eq!(c2["alg"], "PS256", "{name}: {c2}");
        assert!(c2["expires_at"].is_string(), "{name}: Auth0 holds the expiry: {c2}");

        let got = c.get_rotation(authed(GetRotationRequest { rotation_id: rot2.rotation_id.clone() })).await.unwrap();
        assert_eq!(got.into_inner(), rot2, "{name}");

        // ListClientCredentials: the managed keys and what Auth0 holds, which the emulator confirms.
        let list = c.list_client_credentials(authed(list_request())).await.unwrap().into_inner();
        let states: Vec<(String, proto::CredentialState)> =
            list.credentials.iter().map(|k| (k.credential_id.clone(), k.state())).collect();
        assert!(states.contains(&(cred2.credential_id.clone(), proto::CredentialState::Active)), "{name}: {states:?}");
        assert!(states.contains(&(cred.credential_id.clone(), proto::CredentialState::Retiring)), "{name}: {states:?}");
        assert_eq!(states.len(), 2, "{name}: {states:?}");
        let listed = list.credentials.iter().find(|k| k.credential_id == cred2.credential_id).unwrap();
        assert_eq!(listed, &cred2, "{name}");
        let emulated: BTreeSet<(String, String, bool)> = at_auth0
            .iter()
            .map(|x| (x["id"].as_str().unwrap().into(), x["kid"].as_str().unwrap().into(), x["attached"] == true))
            .collect();
        let reported: BTreeSet<(String, String, bool)> =
            list.auth0_credentials.iter().map(|x| (x.id.clone(), x.kid.clone(), x.attached)).collect();
        assert_eq!(reported, emulated, "{name}");
        assert_eq!(reported.len(), 2, "{name}: old and new both attached during the grace period");
        assert!(list.auth0_credentials.iter().all(|x| x.managed && x.attached), "{name}: {list:?}");
        let new_at_auth0 = list.auth0_credentials.iter().find(|x| x.id == cred2.credential_id).unwrap();
        assert_eq!((new_at_auth0.kid.as_str(), new_at_auth0.alg.as_str()), (cred2.kid.as_str(), "PS256"), "{name}");

        // Both keys work during the grace period.
        for id in [&cred.credential_id, &cred2.credential_id] {
            let key = w.key_for(id).await;
            let (status, body) = w.exchange_with(&key).await;
            assert_eq!(status, 200, "{name}: {id}: {body}");
        }
        w.check_invariants().await;
    }
}

/// A credential as the RPC returned it, checked against openssl, the emulator and the store.
async fn check_credential(w: &World, cred: &proto::Credential, alg: &str, bits: u32) {
    let name = w.name;
    assert!(cred.credential_id.starts_with("cred_"), "{name}: {cred:?}");
    assert_eq!((cred.algorithm.as_str(), cred.key_bits), (alg, bits), "{name}");
    assert!(cred.cert.starts_with("-----BEGIN CERTIFICATE-----"), "{name}");
    assert!(cred.public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{name}");
    assert_eq!(cred.subject_dn, format!("/CN={APP}"), "{name}");
    assert!(cred.created_at.is_some(), "{name}");
    // openssl agrees on the fingerprint, the subject, the PKCS#7 content and the public key.
    assert_eq!(openssl_fingerprint(&cred.cert), cred.fingerprint, "{name}");
    assert_eq!(cred.thumbprint, cred.fingerprint.replace(':', ""), "{name}");
    let subject = openssl(&["x509", "-noout", "-subject", "-nameopt", "RFC2253"], &cred.cert);
    assert_eq!(subject.trim(), format!("subject=CN={APP}"), "{name}");
    assert!(openssl_pkcs7_certs(&cred.pkcs).contains(&lf(&cred.cert)), "{name}: PKCS#7 holds the certificate");
    let cert_key = openssl(&["x509", "-noout", "-pubkey"], &cred.cert);
    assert_eq!(lf(&cert_key), lf(&cred.public_key_pem), "{name}");
    let text = openssl(&["x509", "-noout", "-text"], &cred.cert);
    assert!(text.contains(&format!("({bits} bit)")), "{name}: {text}");
    // kid is the RFC 7638 thumbprint of the key; Auth0 holds the credential with that kid and key.
    let cert = keyward_crypto::Certificate::from_pem(&cred.cert).unwrap();
    assert_eq!(cert.public_key().unwrap().thumbprint().unwrap(), cred.kid, "{name}");
    assert_eq!(keyward_crypto::thumbprint_sha256(cert.der()), cred.thumbprint_sha256, "{name}");
    let at_auth0 = w.app_credentials().await;
    let emulated = at_auth0.iter().find(|c| c["id"] == cred.credential_id).unwrap();
    assert_eq!(emulated["kid"], cred.kid.as_str(), "{name}");
    assert_eq!(emulated["attached"], true, "{name}");
    assert_eq!(lf(emulated["public_key_pem"].as_str().unwrap()), lf(&cred.public_key_pem), "{name}");
    // The store holds the sealed private key of exactly this public key.
    let key = w.key_for(&cred.credential_id).await;
    assert_eq!(key.kid, cred.kid, "{name}");
    assert_eq!(key.state, KeyState::Active, "{name}");
}

#[tokio::test]
async fn connection_key_rotation_end_to_end() {
    for (name, store, dir) in stores().await {
        let w = world(name, store, dir).await;
        let mut c = w.client().await;
        let before = w.connection_keys().await;
        let kid_of = |keys: &[Value], flag: &str| {
            keys.iter().find(|k| k[flag] == true).map(|k| k["kid"].as_str().unwrap().to_owned())
        };
        let (old_current, old_next) = (kid_of(&before, "current").unwrap(), kid_of(&before, "next").unwrap());

        let out = c
            .rotate_connection_keys(authed(connection_request()))
            .await
            .unwrap_or_else(|s| panic!("{name}: {s:?}"))
            .into_inner();
        assert!(out.verified, "{name}: {out:?}");
        let key = out.key.clone().unwrap();
        assert!(key.next && !key.current && !key.previous, "{name}: {key:?}");
        let after = w.connection_keys().await;
        assert_eq!(kid_of(&after, "next").as_deref(), Some(key.kid.as_str()), "{name}: the new next key");
        assert_ne!(key.kid, old_next, "{name}");
        check_connection_keys(name, &out.keys, &after);
        let flagged = |f: fn(&proto::ConnectionKey) -> bool| out.keys.iter().filter(|k| f(k)).collect::<Vec<_>>();
        let (current, next, previous) = (flagged(|k| k.current), flagged(|k| k.next), flagged(|k| k.previous));
        assert_eq!((current.len(), next.len(), previous.len()), (1, 1, 1), "{name}: {:?}", out.keys);
        assert_eq!(current[0].kid, old_next, "{name}: next became current");
        assert_eq!(previous[0].kid, old_current, "{name}: current became previous");
        assert!(current[0].current_since.is_some(), "{name}");
        assert_eq!(next[0], &key, "{name}");

        // An ECDSA signing algorithm: the new key fits it and verifies.
        let es = c
            .rotate_connection_keys(authed(RotateConnectionKeysRequest {
                signing_alg: "ES384".into(),
                ..connection_request()
            }))
            .await
            .unwrap_or_else(|s| panic!("{name}: {s:?}"))
            .into_inner();
        assert!(es.verified, "{name}: {es:?}");
        let es_key = es.key.unwrap();
        assert_eq!(es_key.algorithm, "ES384", "{name}");
        let text = openssl(&["x509", "-noout", "-text"], &es_key.cert);
        assert!(text.contains("secp384r1") || text.contains("P-384"), "{name}: {text}");
        check_connection_keys(name, &es.keys, &w.connection_keys().await);

        // Idempotency: the same request_id returns the recorded result and never rotates twice.
        let req = RotateConnectionKeysRequest { request_id: "conn-req-1".into(), ..connection_request() };
        let a = c.rotate_connection_keys(authed(req.clone())).await.unwrap().into_inner();
        let set = w.connection_keys().await;
        let log = w.requests().await.len();
        let b = c.rotate_connection_keys(authed(req.clone())).await.unwrap().into_inner();
        assert_eq!(a, b, "{name}");
        assert_eq!(w.connection_keys().await, set, "{name}: rotated once");
        let mutating: Vec<Value> =
            w.management_requests_since(log).await.into_iter().filter(|r| r["method"] != "GET").collect();
        assert!(mutating.is_empty(), "{name}: {mutating:?}");
        // The same request_id with another body: INVALID_ARGUMENT naming request_id.
        let other = RotateConnectionKeysRequest { signing_alg: "RS384".into(), ..req };
        let err = c.rotate_connection_keys(authed(other)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{name}: {err:?}");
        assert!(err.message().contains("request_id"), "{name}: {err:?}");
        assert_eq!(w.connection_keys().await, set, "{name}");

        let events = w.store.audit_after(0, 1000).await.unwrap();
        let rotated: Vec<_> = events.iter().filter(|e| e.kind == "connection.rotated" && e.subject == CONN).collect();
        assert_eq!(rotated.len(), 3, "{name}: one audit event per rotation: {rotated:?}");
        assert!(rotated[0].detail.contains(&key.kid), "{name}: {:?}", rotated[0]);
    }
}

/// Each returned key is the emulator's key, and openssl agrees with its artifacts.
fn check_connection_keys(name: &str, keys: &[proto::ConnectionKey], emulated: &[Value]) {
    assert_eq!(keys.len(), emulated.len(), "{name}");
    for k in keys {
        let e = emulated.iter().find(|e| e["kid"] == k.kid.as_str()).unwrap_or_else(|| panic!("{name}: {k:?}"));
        assert_eq!(lf(e["cert"].as_str().unwrap()), lf(&k.cert), "{name}");
        assert_eq!(e["fingerprint"], k.fingerprint.as_str(), "{name}");
        assert_eq!((e["next"] == true, e["current"] == true), (k.next, k.current), "{name}: {e}");
        assert_eq!(openssl_fingerprint(&k.cert), k.fingerprint, "{name}");
        assert!(openssl_pkcs7_certs(&k.pkcs).contains(&lf(&k.cert)), "{name}");
        assert!(!k.algorithm.is_empty() && k.subject_dn.starts_with("/CN="), "{name}: {k:?}");
    }
}

#[tokio::test]
async fn tampered_connection_keys_are_reported_unverified() {
    for (name, store, dir) in stores().await {
        let w = world(name, store, dir).await;
        let mut c = w.client().await;
        let audit = |kind: &'static str| {
            let store = w.store.clone();
            async move {
                store.audit_after(0, 1000).await.unwrap().into_iter().filter(|e| e.kind == kind).collect::<Vec<_>>()
            }
        };

        // Auth0's key set comes back with corrupted fingerprints: every key fails verification.
        w.fault(json!({"method": "GET", "path_prefix": format!("/api/v2/connections/{CONN}/keys"), "times": 100,
            "action": {"kind": "tamper", "field": "fingerprint"}}))
            .await;
        let out = c.rotate_connection_keys(authed(connection_request())).await.unwrap().into_inner();
        w.clear_faults().await;
        assert!(!out.verified, "{name}: {out:?}");
        let genuine = w.connection_keys().await;
        for k in &out.keys {
            let e = genuine.iter().find(|e| e["kid"] == k.kid.as_str()).unwrap();
            assert_ne!(e["fingerprint"], k.fingerprint.as_str(), "{name}: returned as Auth0 sent it");
        }
        let unverified = audit("connection.unverified").await;
        assert_eq!(unverified.len(), 1, "{name}: {unverified:?}");
        let detail: Value = serde_json::from_str(&unverified[0].detail).unwrap();
        let problems: Vec<&str> = detail["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        assert_eq!(problems.len(), out.keys.len(), "{name}: one problem per key: {problems:?}");
        for k in &out.keys {
            assert!(
                problems.iter().any(|p| p.starts_with(&k.kid) && p.contains("fingerprint")),
                "{name}: {} not named: {problems:?}",
                k.kid
            );
        }

        // Not sticky: an honest answer verifies again.
        let honest = c.rotate_connection_keys(authed(connection_request())).await.unwrap().into_inner();
        assert!(honest.verified, "{name}: {honest:?}");

        // The rotate answer itself is corrupted (its kid): reported, not retried into a second rotation.
        w.fault(json!({"method": "POST", "path_prefix": format!("/api/v2/connections/{CONN}/keys/rotate"),
            "action": {"kind": "tamper", "field": "kid"}}))
            .await;
        let set_before = w.connection_keys().await;
        let out = c
            .rotate_connection_keys(authed(connection_request()))
            .await
            .unwrap_or_else(|s| panic!("{name}: {s:?}"))
            .into_inner();
        let set_after = w.connection_keys().await;
        assert!(!out.verified, "{name}: {out:?}");
        let next = set_after.iter().find(|k| k["next"] == true).unwrap();
        assert!(set_before.iter().all(|k| k["kid"] != next["kid"]), "{name}: Auth0 rotated once");
        assert_eq!(out.key.unwrap().kid, next["kid"].as_str().unwrap(), "{name}: the listed next key is reported");
        check_connection_keys(name, &out.keys, &set_after);
        let unverified = audit("connection.unverified").await;
        assert_eq!(unverified.len(), 2, "{name}: {unverified:?}");
        let detail: Value = serde_json::from_str(&unverified[1].detail).unwrap();
        assert!(detail.to_string().contains("rotate response"), "{name}: {detail}");

        // The rotate answer's fingerprint is corrupted while the key set is honest: still reported.
        w.fault(json!({"method": "POST", "path_prefix": format!("/api/v2/connections/{CONN}/keys/rotate"),
            "action": {"kind": "tamper", "field": "fingerprint"}}))
            .await;
        let out = c.rotate_connection_keys(authed(connection_request())).await.unwrap().into_inner();
        assert!(!out.verified, "{name}: {out:?}");
        check_connection_keys(name, &out.keys, &w.connection_keys().await);
        let unverified = audit("connection.unverified").await;
        assert_eq!(unverified.len(), 3, "{name}: {unverified:?}");
        let detail: Value = serde_json::from_str(&unverified[2].detail).unwrap();
        let problems = detail["problems"].as_array().unwrap();
        assert_eq!(problems.len(), 1, "{name}: {detail}");
        let problem = problems[0].as_str().unwrap();
        assert!(problem.starts_with(&out.key.unwrap().kid), "{name}: {problem}");
        assert!(problem.contains("rotate response") && problem.contains("fingerprint"), "{name}: {problem}");
    }
}

#[tokio::test]
async fn idempotent_and_concurrent_rotations() {
    for (name, store, dir) in stores().await {
        let w = Arc::new(world(name, store, dir).await);
        let mut c = w.client().await;

        // The same request_id twice: the same rotation, one credential at Auth0.
        let req = RotateClientCredentialRequest { request_id: "req-42".into(), ..rotate_request() };
        let a = c.rotate_client_credential(authed(req.clone())).await.unwrap().into_inner();
        let log = w.requests().await.len();
        let b = c.rotate_client_credential(authed(req.clone())).await.unwrap().into_inner();
        assert_eq!(a.rotation.as_ref().unwrap().rotation_id, b.rotation.as_ref().unwrap().rotation_id, "{name}");
        assert_eq!(a.credential, b.credential, "{name}");
        assert_eq!(w.app_credentials().await.len(), 1, "{name}");
        assert_eq!(w.management_requests_since(log).await, Vec::<Value>::new(), "{name}: a replay calls no Auth0");
        // The same request_id with a different body: INVALID_ARGUMENT naming request_id.
        for other in [
            RotateClientCredentialRequest { key_bits: 3072, ..req.clone() },
            RotateClientCredentialRequest { grace_period: secs(60), ..req.clone() },
            RotateClientCredentialRequest { algorithm: "RS384".into(), ..req.clone() },
        ] {
            let err = c.rotate_client_credential(authed(other)).await.unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{name}: {err:?}");
            assert!(err.message().contains("request_id"), "{name}: {err:?}");
        }
        // Explicit defaults are the same request as implicit ones.
        let explicit = RotateClientCredentialRequest { algorithm: "RS256".into(), key_bits: 2048, ..req.clone() };
        let e = c.rotate_client_credential(authed(explicit)).await.unwrap().into_inner();
        assert_eq!(e.rotation, b.rotation, "{name}");

        // Ten concurrent rotations of one client while Auth0 refuses the credential upload: the
        // first holds the client's one open rotation, so the other nine are ABORTED whatever the
        // interleaving, and the winner resumes once Auth0 is back.
        w.fault(json!({"method": "POST", "path_prefix": format!("/api/v2/clients/{APP}/credentials"), "times": 1000,
            "action": {"kind": "status", "status": 503}}))
            .await;
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let mut c = c.clone();
                let req = RotateClientCredentialRequest { request_id: format!("race-{i}"), ..rotate_request() };
                tokio::spawn(async move { (req.request_id.clone(), c.rotate_client_credential(authed(req)).await) })
            })
            .collect();
        let mut winner = None;
        let mut aborted = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (id, Err(s)) if s.code() == Code::Unavailable => {
                    assert!(winner.replace(id).is_none(), "{name}: two rotations ran: {s:?}");
                }
                (_, Err(s)) if s.code() == Code::Aborted => aborted.push(s),
                (id, other) => panic!("{name}: {id}: {other:?}"),
            }
        }
        let winner = winner.unwrap_or_else(|| panic!("{name}: no rotation ran"));
        assert_eq!(aborted.len(), 9, "{name}");
        let open = w.store.open_rotations().await.unwrap();
        assert_eq!(open.len(), 1, "{name}: {open:?}");
        assert_eq!(open[0].request_id.as_deref(), Some(winner.as_str()), "{name}");
        for s in &aborted {
            assert!(s.message().contains(&open[0].rotation_id) && s.message().contains("in progress"), "{name}: {s:?}");
            assert!(!s.message().contains("internal"), "{name}: {s:?}");
        }
        w.clear_faults().await;
        let resumed = c
            .rotate_client_credential(authed(RotateClientCredentialRequest {
                request_id: winner.clone(),
                ..rotate_request()
            }))
            .await
            .unwrap_or_else(|s| panic!("{name}: {s:?}"))
            .into_inner();
        assert_eq!(resumed.rotation.as_ref().unwrap().rotation_id, open[0].rotation_id, "{name}");
        assert_eq!(resumed.rotation.as_ref().unwrap().state(), proto::RotationState::Active, "{name}");
        assert_eq!(w.app_credentials().await.len(), 2, "{name}: exactly one new credential");
        assert_eq!(w.store.keys("dev", APP).await.unwrap().len(), 2, "{name}: exactly one new key");

        // Ten concurrent rotations with nothing in the way: each succeeds or is ABORTED cleanly,
        // and every success is exactly one new key.
        let keys_before = w.store.keys("dev", APP).await.unwrap().len();
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let mut c = c.clone();
                tokio::spawn(async move { c.rotate_client_credential(authed(rotate_request())).await })
            })
            .collect();
        let mut ids = BTreeSet::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(r) => assert!(ids.insert(r.into_inner().rotation.unwrap().rotation_id), "{name}"),
                Err(s) => {
                    assert_eq!(s.code(), Code::Aborted, "{name}: {s:?}");
                    assert!(s.message().contains("in progress"), "{name}: {s:?}");
                }
            }
        }
        assert!(!ids.is_empty(), "{name}");
        assert_eq!(w.store.keys("dev", APP).await.unwrap().len(), keys_before + ids.len(), "{name}");
        assert!(w.store.open_rotations().await.unwrap().is_empty(), "{name}");
        w.check_invariants().await;
    }
}

#[tokio::test]
async fn auth0_outage_is_unavailable_and_the_rotation_resumes() {
    for (name, store, dir) in stores().await {
        let w = world(name, store, dir).await;
        let mut c = w.client().await;
        let down = json!({"path_prefix": "/api/v2/", "times": 100_000, "action": {"kind": "status", "status": 503}});

        w.fault(down.clone()).await;
        let req = RotateClientCredentialRequest { request_id: "outage-1".into(), ..rotate_request() };
        let err = c.rotate_client_credential(authed(req.clone())).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{name}: {err:?}");
        assert!(err.message().contains("resumes when retried"), "{name}: {err:?}");
        let open = w.store.open_rotations().await.unwrap();
        assert_eq!(open.len(), 1, "{name}: the rotation stays open");
        let paused = c
            .get_rotation(authed(GetRotationRequest { rotation_id: open[0].rotation_id.clone() }))
            .await
            .unwrap()
            .into_inner();
        assert!(err.message().contains(&paused.rotation_id), "{name}: {err:?}");
        assert_eq!(paused.request_id, "outage-1", "{name}");
        assert!(
            !matches!(paused.state(), proto::RotationState::Failed | proto::RotationState::Active),
            "{name}: {paused:?}"
        );
        // While it is open, another rotation of the client is ABORTED; reads that need Auth0 are
        // UNAVAILABLE, not INTERNAL.
        let busy = c.rotate_client_credential(authed(rotate_request())).await.unwrap_err();
        assert_eq!(busy.code(), Code::Aborted, "{name}: {busy:?}");
        assert!(busy.message().contains(&paused.rotation_id), "{name}: {busy:?}");
        let list = c.list_client_credentials(authed(list_request())).await.unwrap_err();
        assert_eq!(list.code(), Code::Unavailable, "{name}: {list:?}");
        let conn = c.rotate_connection_keys(authed(connection_request())).await.unwrap_err();
        assert_eq!(conn.code(), Code::Unavailable, "{name}: {conn:?}");
        assert_eq!(w.app_credentials().await, Vec::<Value>::new(), "{name}");

        // Auth0 is back: the same request_id resumes the same rotation to a working key.
        w.clear_faults().await;
        let done = c.rotate_client_credential(authed(req)).await.unwrap_or_else(|s| panic!("{name}: {s:?}"));
        let done = done.into_inner();
        let rot = done.rotation.unwrap();
        assert_eq!(rot.rotation_id, paused.rotation_id, "{name}");
        assert_eq!(rot.state(), proto::RotationState::Completed, "{name}");
        assert_eq!(w.app_credentials().await.len(), 1, "{name}");
        w.check_invariants().await;

        // Without a request_id the caller cannot retry; the engine's resume_open (run at start-up)
        // finishes the paused rotation, and GetRotation shows it.
        w.fault(down).await;
        let err = c.rotate_client_credential(authed(rotate_request())).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{name}: {err:?}");
        let open = w.store.open_rotations().await.unwrap();
        assert_eq!(open.len(), 1, "{name}");
        w.clear_faults().await;
        let resumed = w.engine.resume_open(true).await;
        assert_eq!(resumed.len(), 1, "{name}");
        assert!(matches!(resumed[0].1, Ok(RotationState::Active)), "{name}: {resumed:?}");
        let got = c
            .get_rotation(authed(GetRotationRequest { rotation_id: open[0].rotation_id.clone() }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.state(), proto::RotationState::Active, "{name}");
        assert_eq!(got.old_credential_id, done.credential.unwrap().credential_id, "{name}");
        let list = c.list_client_credentials(authed(list_request())).await.unwrap().into_inner();
        let active: Vec<_> = list.credentials.iter().filter(|k| k.state() == proto::CredentialState::Active).collect();
        assert_eq!(active.len(), 1, "{name}");
        assert_eq!(active[0].credential_id, got.new_credential_id, "{name}");
        w.check_invariants().await;
    }
}

#[tokio::test]
async fn failed_rotation_is_failed_precondition_and_replays_for_its_request_id() {
    for (name, store, dir) in stores().await {
        let w = world(name, store, dir).await;
        let mut c = w.client().await;
        // Both Auth0 slots hold credentials keyward does not manage.
        let token = w.management_token().await;
        let ids = support::hand_made_credentials(&w.http, &w.emu.base_url(), &token, &["by hand 1", "by hand 2"]).await;
        let before = w.tenant_state().await;

        let req = RotateClientCredentialRequest { request_id: "full-1".into(), ..rotate_request() };
        let err = c.rotate_client_credential(authed(req.clone())).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{name}: {err:?}");
        for needle in [ids[0].as_str(), ids[1].as_str(), "unmanaged", "evict_unmanaged"] {
            assert!(err.message().contains(needle), "{name}: {needle}: {err:?}");
        }
        assert_eq!(w.tenant_state().await, before, "{name}: nothing changed at Auth0");
        // The same request replays the recorded failure without calling Auth0.
        let log = w.requests().await.len();
        let again = c.rotate_client_credential(authed(req)).await.unwrap_err();
        assert_eq!((again.code(), again.message()), (err.code(), err.message()), "{name}");
        assert_eq!(w.management_requests_since(log).await, Vec::<Value>::new(), "{name}");
        // The compensated key's private key is destroyed; nothing is open.
        let keys = w.store.keys("dev", APP).await.unwrap();
        assert_eq!(keys.len(), 1, "{name}");
        assert_eq!(keys[0].state, KeyState::Retired, "{name}");
        assert!(keys[0].sealed.ciphertext.is_empty(), "{name}");
        assert!(w.store.open_rotations().await.unwrap().is_empty(), "{name}");

        // With permission, an unmanaged credential makes room.
        let ok = c
            .rotate_client_credential(authed(RotateClientCredentialRequest {
                evict_unmanaged: true,
                ..rotate_request()
            }))
            .await
            .unwrap_or_else(|s| panic!("{name}: {s:?}"))
            .into_inner();
        let new_id = ok.credential.unwrap().credential_id;
        let list = c.list_client_credentials(authed(list_request())).await.unwrap().into_inner();
        let managed: Vec<(&str, bool)> = list.auth0_credentials.iter().map(|x| (x.id.as_str(), x.managed)).collect();
        assert!(managed.contains(&(new_id.as_str(), true)), "{name}: {managed:?}");
        assert_eq!(managed.iter().filter(|(_, m)| !m).count(), 1, "{name}: one unmanaged left: {managed:?}");
        w.check_invariants().await;
    }
}

/// One RPC call of the bad-input matrix.
enum Call {
    Rotate(RotateClientCredentialRequest),
    Connection(RotateConnectionKeysRequest),
    Get(GetRotationRequest),
    List(ListClientCredentialsRequest),
}

impl Call {
    async fn send(self, c: &mut KeyRotationClient<Channel>) -> Result<(), Status> {
        match self {
            Call::Rotate(m) => c.rotate_client_credential(authed(m)).await.map(drop),
            Call::Connection(m) => c.rotate_connection_keys(authed(m)).await.map(drop),
            Call::Get(m) => c.get_rotation(authed(m)).await.map(drop),
            Call::List(m) => c.list_client_credentials(authed(m)).await.map(drop),
        }
    }
}

fn bad_input_matrix() -> Vec<(&'static str, Call, Code, &'static str)> {
    use Call::*;
    use Code::{InvalidArgument as Invalid, NotFound};
    let long = "x".repeat(10_000);
    let dur = |seconds: i64, nanos: i32| Some(prost_types::Duration { seconds, nanos });
    let rot = rotate_request;
    let conn = connection_request;
    let list = list_request;
    vec![
        // RotateClientCredential
        (
            "rotate: empty tenant",
            Rotate(RotateClientCredentialRequest { tenant: String::new(), ..rot() }),
            Invalid,
            "tenant",
        ),
        (
            "rotate: long tenant",
            Rotate(RotateClientCredentialRequest { tenant: long.clone(), ..rot() }),
            Invalid,
            "tenant",
        ),
        (
            "rotate: control tenant",
            Rotate(RotateClientCredentialRequest { tenant: "de\nv".into(), ..rot() }),
            Invalid,
            "tenant",
        ),
        (
            "rotate: unknown tenant",
            Rotate(RotateClientCredentialRequest { tenant: "nope".into(), ..rot() }),
            NotFound,
            "tenant",
        ),
        (
            "rotate: empty client",
            Rotate(RotateClientCredentialRequest { client_id: String::new(), ..rot() }),
            Invalid,
            "client_id",
        ),
        (
            "rotate: long client",
            Rotate(RotateClientCredentialRequest { client_id: long.clone(), ..rot() }),
            Invalid,
            "client_id",
        ),
        (
            "rotate: unknown client",
            Rotate(RotateClientCredentialRequest { client_id: "stranger".into(), ..rot() }),
            NotFound,
            "client",
        ),
        (
            "rotate: HS256",
            Rotate(RotateClientCredentialRequest { algorithm: "HS256".into(), ..rot() }),
            Invalid,
            "algorithm",
        ),
        (
            "rotate: ES256",
            Rotate(RotateClientCredentialRequest { algorithm: "ES256".into(), ..rot() }),
            Invalid,
            "algorithm",
        ),
        (
            "rotate: RS512",
            Rotate(RotateClientCredentialRequest { algorithm: "RS512".into(), ..rot() }),
            Invalid,
            "algorithm",
        ),
        (
            "rotate: lowercase alg",
            Rotate(RotateClientCredentialRequest { algorithm: "rs256".into(), ..rot() }),
            Invalid,
            "algorithm",
        ),
        (
            "rotate: long alg",
            Rotate(RotateClientCredentialRequest { algorithm: long.clone(), ..rot() }),
            Invalid,
            "algorithm",
        ),
        ("rotate: 1024 bits", Rotate(RotateClientCredentialRequest { key_bits: 1024, ..rot() }), Invalid, "key_bits"),
        ("rotate: 5000 bits", Rotate(RotateClientCredentialRequest { key_bits: 5000, ..rot() }), Invalid, "key_bits"),
        (
            "rotate: max bits",
            Rotate(RotateClientCredentialRequest { key_bits: u32::MAX, ..rot() }),
            Invalid,
            "key_bits",
        ),
        (
            "rotate: negative grace",
            Rotate(RotateClientCredentialRequest { grace_period: dur(-1, 0), ..rot() }),
            Invalid,
            "grace_period",
        ),
        (
            "rotate: negative grace nanos",
            Rotate(RotateClientCredentialRequest { grace_period: dur(0, -5), ..rot() }),
            Invalid,
            "grace_period",
        ),
        (
            "rotate: grace nanos overflow",
            Rotate(RotateClientCredentialRequest { grace_period: dur(1, 1_000_000_000), ..rot() }),
            Invalid,
            "grace_period",
        ),
        (
            "rotate: ten-year grace",
            Rotate(RotateClientCredentialRequest { grace_period: secs(10 * 366 * 86_400), ..rot() }),
            Invalid,
            "grace_period",
        ),
        (
            "rotate: max grace",
            Rotate(RotateClientCredentialRequest { grace_period: secs(i64::MAX), ..rot() }),
            Invalid,
            "grace_period",
        ),
        (
            "rotate: negative lifetime",
            Rotate(RotateClientCredentialRequest { credential_lifetime: dur(-3600, 0), ..rot() }),
            Invalid,
            "credential_lifetime",
        ),
        (
            "rotate: short lifetime",
            Rotate(RotateClientCredentialRequest { credential_lifetime: secs(5), ..rot() }),
            Invalid,
            "credential_lifetime",
        ),
        (
            "rotate: 59-minute lifetime",
            Rotate(RotateClientCredentialRequest { credential_lifetime: secs(3599), ..rot() }),
            Invalid,
            "credential_lifetime",
        ),
        (
            "rotate: 11-year lifetime",
            Rotate(RotateClientCredentialRequest { credential_lifetime: secs(11 * 366 * 86_400), ..rot() }),
            Invalid,
            "credential_lifetime",
        ),
        (
            "rotate: max lifetime",
            Rotate(RotateClientCredentialRequest { credential_lifetime: secs(i64::MAX), ..rot() }),
            Invalid,
            "credential_lifetime",
        ),
        (
            "rotate: 129-char request_id",
            Rotate(RotateClientCredentialRequest { request_id: "r".repeat(129), ..rot() }),
            Invalid,
            "request_id",
        ),
        (
            "rotate: long request_id",
            Rotate(RotateClientCredentialRequest { request_id: long.clone(), ..rot() }),
            Invalid,
            "request_id",
        ),
        // RotateConnectionKeys
        (
            "connection: empty tenant",
            Connection(RotateConnectionKeysRequest { tenant: String::new(), ..conn() }),
            Invalid,
            "tenant",
        ),
        (
            "connection: long tenant",
            Connection(RotateConnectionKeysRequest { tenant: long.clone(), ..conn() }),
            Invalid,
            "tenant",
        ),
        (
            "connection: unknown tenant",
            Connection(RotateConnectionKeysRequest { tenant: "nope".into(), ..conn() }),
            NotFound,
            "tenant",
        ),
        (
            "connection: empty id",
            Connection(RotateConnectionKeysRequest { connection_id: String::new(), ..conn() }),
            Invalid,
            "connection_id",
        ),
        (
            "connection: long id",
            Connection(RotateConnectionKeysRequest { connection_id: long.clone(), ..conn() }),
            Invalid,
            "connection_id",
        ),
        (
            "connection: unknown id",
            Connection(RotateConnectionKeysRequest { connection_id: "con_unknown00000".into(), ..conn() }),
            NotFound,
            "connection",
        ),
        (
            "connection: HS256",
            Connection(RotateConnectionKeysRequest { signing_alg: "HS256".into(), ..conn() }),
            Invalid,
            "signing_alg",
        ),
        (
            "connection: lowercase alg",
            Connection(RotateConnectionKeysRequest { signing_alg: "rs256".into(), ..conn() }),
            Invalid,
            "signing_alg",
        ),
        (
            "connection: long alg",
            Connection(RotateConnectionKeysRequest { signing_alg: long.clone(), ..conn() }),
            Invalid,
            "signing_alg",
        ),
        (
            "connection: 129-char request_id",
            Connection(RotateConnectionKeysRequest { request_id: "r".repeat(129), ..conn() }),
            Invalid,
            "request_id",
        ),
        (
            "connection: long request_id",
            Connection(RotateConnectionKeysRequest { request_id: long.clone(), ..conn() }),
            Invalid,
            "request_id",
        ),
        // GetRotation
        ("get: empty id", Get(GetRotationRequest { rotation_id: String::new() }), Invalid, "rotation_id"),
        ("get: long id", Get(GetRotationRequest { rotation_id: long.clone() }), Invalid, "rotation_id"),
        ("get: unknown id", Get(GetRotationRequest { rotation_id: "rot_0000".into() }), NotFound, "rotation"),
        // ListClientCredentials
        (
            "list: empty tenant",
            List(ListClientCredentialsRequest { tenant: String::new(), ..list() }),
            Invalid,
            "tenant",
        ),
        ("list: long tenant", List(ListClientCredentialsRequest { tenant: long.clone(), ..list() }), Invalid, "tenant"),
        (
            "list: unknown tenant",
            List(ListClientCredentialsRequest { tenant: "nope".into(), ..list() }),
            NotFound,
            "tenant",
        ),
        (
            "list: empty client",
            List(ListClientCredentialsRequest { client_id: String::new(), ..list() }),
            Invalid,
            "client_id",
        ),
        ("list: long client", List(ListClientCredentialsRequest { client_id: long, ..list() }), Invalid, "client_id"),
        (
            "list: unknown client",
            List(ListClientCredentialsRequest { client_id: "stranger".into(), ..list() }),
            NotFound,
            "client",
        ),
    ]
}

#[tokio::test]
async fn bad_input_matrix_names_the_field_and_changes_nothing() {
    for (name, store, dir) in stores().await {
        let w = world(name, store, dir).await;
        let mut c = w.client().await;
        // Something to protect: one managed credential and one rotated connection.
        let first = c.rotate_client_credential(authed(rotate_request())).await.unwrap().into_inner();
        c.rotate_connection_keys(authed(connection_request())).await.unwrap();

        let tenant_before = w.tenant_state().await;
        let keys_before = w.store.keys("dev", APP).await.unwrap();
        let audit_before = w.store.audit_after(0, 10_000).await.unwrap();
        let log = w.requests().await.len();

        for (case, call, code, field) in bad_input_matrix() {
            let status = call.send(&mut c).await.expect_err(case);
            assert_eq!(status.code(), code, "{name}: {case}: {status:?}");
            assert!(status.message().contains(field), "{name}: {case}: the message does not name {field}: {status:?}");
            assert!(status.message().len() <= 512, "{name}: {case}: the message echoes the input: {status:?}");
        }

        // Nothing reached Auth0, nothing changed there or in the store.
        assert_eq!(w.management_requests_since(log).await, Vec::<Value>::new(), "{name}");
        assert_eq!(w.tenant_state().await, tenant_before, "{name}");
        assert_eq!(w.store.keys("dev", APP).await.unwrap(), keys_before, "{name}");
        assert_eq!(w.store.audit_after(0, 10_000).await.unwrap(), audit_before, "{name}");
        assert!(w.store.open_rotations().await.unwrap().is_empty(), "{name}");
        let rot = first.rotation.unwrap();
        let got = c.get_rotation(authed(GetRotationRequest { rotation_id: rot.rotation_id.clone() })).await.unwrap();
        assert_eq!(got.into_inner(), rot, "{name}");
        w.check_invariants().await;
    }
}

#[tokio::test]
async fn clients_and_connections_missing_at_auth0() {
    for (name, store, dir) in stores().await {
        let w = world(name, store, dir).await;
        let mut c = w.client().await;
        let tenant_before = w.tenant_state().await;

        // Configured for keyward but unknown to Auth0: reads are NOT_FOUND naming the client.
        let err = c
            .list_client_credentials(authed(ListClientCredentialsRequest {
                client_id: GHOST_APP.into(),
                ..list_request()
            }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{name}: {err:?}");
        assert!(err.message().contains(GHOST_APP), "{name}: {err:?}");
        let err = c
            .rotate_connection_keys(authed(RotateConnectionKeysRequest {
                connection_id: "con_notatauth0000".into(),
                ..connection_request()
            }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{name}: {err:?}");
        assert!(err.message().contains("con_notatauth0000"), "{name}: {err:?}");

        // A rotation of it fails, names the client, and leaves nothing behind.
        let err = c
            .rotate_client_credential(authed(RotateClientCredentialRequest {
                client_id: GHOST_APP.into(),
                ..rotate_request()
            }))
            .await
            .unwrap_err();
        // The saga records the rotation as FAILED (replayable for a request_id), so the status is
        // FAILED_PRECONDITION, naming the client, the cause and the rotation to look up.
        assert_eq!(err.code(), Code::FailedPrecondition, "{name}: {err:?}");
        assert!(err.message().contains(GHOST_APP) && err.message().contains("not found"), "{name}: {err:?}");
        let rotation_id = err.message().split_whitespace().find(|w| w.starts_with("rot_")).unwrap();
        let failed =
            c.get_rotation(authed(GetRotationRequest { rotation_id: rotation_id.into() })).await.unwrap().into_inner();
        assert_eq!(failed.state(), proto::RotationState::Failed, "{name}: {failed:?}");
        assert_eq!(failed.client_id, GHOST_APP, "{name}");
        assert!(!failed.error.is_empty(), "{name}: {failed:?}");
        assert!(w.store.open_rotations().await.unwrap().is_empty(), "{name}");
        let ghost_keys = w.store.keys("dev", GHOST_APP).await.unwrap();
        assert!(ghost_keys.iter().all(|k| k.state == KeyState::Retired && k.sealed.ciphertext.is_empty()), "{name}");
        assert_eq!(w.tenant_state().await, tenant_before, "{name}");
    }
}
