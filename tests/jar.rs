//! JAR keys (`signed_request_object`, RFC 9101) over real HTTP/2 against a real server, the real
//! emulator and both stores: private_key_jwt and JAR rotations alternate on one client within
//! Auth0's shared pool of 4 records, each only ever touching its own list (read back over the
//! Management API after every step) while client assertions keep working at the emulator's
//! /oauth/token; a pool full of the other method's records is refused, never emptied; revoking a
//! JAR key leaves private_key_jwt alone; each rotation's dry run plans in its own list only; and
//! SignRequestObject's output is checked by
//! implementations keyward did not write (openssl and PyJWT).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "support/grpc_world.rs"]
mod world;

use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use keyward::clock::wall_now;
use keyward::grpc::proto::{self, signer_client::SignerClient};
use keyward::store::{CredentialMethod, KeyState};
use serde_json::{Value, json};
use tonic::Code;
use world::*;

const PKJWT: &str = "private_key_jwt";
const JAR: &str = "signed_request_object";

fn rotate_req(method: &str) -> proto::RotateClientCredentialRequest {
    proto::RotateClientCredentialRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        method: method.into(),
        ..Default::default()
    }
}

async fn rotate(w: &World, method: &str) -> Result<proto::RotateClientCredentialResponse, tonic::Status> {
    w.client().await.rotate_client_credential(authed(rotate_req(method))).await.map(tonic::Response::into_inner)
}

/// What Auth0 holds for the client, read over the Management API: every record, the
/// private_key_jwt list, the JAR list and JAR's `required` flag.
#[derive(Debug, Clone, PartialEq)]
struct AtAuth0 {
    records: Vec<String>,
    pkjwt: Vec<String>,
    jar: Vec<String>,
    required: Option<bool>,
}

async fn at_auth0(w: &World, token: &str) -> AtAuth0 {
    let base = format!("{}/api/v2/clients/{APP}", w.emu.base_url());
    // The emulator enforces Auth0's rate limits, and keyward's own reads (dry runs included)
    // share them: wait out a 429 as any Management API client must.
    let get = |url: String| async move {
        for _ in 0..60 {
            let r = w.http.get(&url).bearer_auth(token).send().await.unwrap();
            if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            assert!(r.status().is_success(), "{}: {}", r.status(), r.text().await.unwrap_or_default());
            return r.json::<Value>().await.unwrap();
        }
        panic!("{url}: still rate limited after 15 s");
    };
    let client = get(base.clone()).await;
    let creds = get(format!("{base}/credentials")).await;
    let ids = |v: &Value| -> Vec<String> {
        v.as_array().map(|a| a.iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()).unwrap_or_default()
    };
    AtAuth0 {
        records: ids(&creds),
        pkjwt: ids(&client["client_authentication_methods"]["private_key_jwt"]["credentials"]),
        jar: ids(&client["signed_request_object"]["credentials"]),
        required: client["signed_request_object"]["required"].as_bool(),
    }
}

/// Each list holds only its own method's keys (by the store's record of them), and the pool at
/// most 4.
async fn check_lists(w: &World, step: &str, s: &AtAuth0) {
    assert!(s.records.len() <= 4, "{}: {step}: more than 4 records: {s:?}", w.name);
    assert!(s.pkjwt.len() <= 2 && s.jar.len() <= 2, "{}: {step}: {s:?}", w.name);
    for (list, method) in [(&s.pkjwt, CredentialMethod::PrivateKeyJwt), (&s.jar, CredentialMethod::SignedRequestObject)]
    {
        for id in list {
            assert_eq!(w.key_for(id).await.method, method, "{}: {step}: {id} in the wrong list: {s:?}", w.name);
        }
    }
}

async fn assertion_accepted(w: &World) {
    let req = proto::SignClientAssertionRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() };
    let signed = SignerClient::new(w.channel().await).sign_client_assertion(authed(req)).await.unwrap().into_inner();
    let (status, body) = support::exchange_assertion(&w.emu.base_url(), &signed.assertion).await;
    assert_eq!(status, 200, "{}: {body}", w.name);
}

fn request_object_req(claims: &str) -> proto::SignRequestObjectRequest {
    proto::SignRequestObjectRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        claims_json: claims.into(),
        ..Default::default()
    }
}

async fn sign_request_object(w: &World, claims: &str) -> Result<proto::SignRequestObjectResponse, tonic::Status> {
    SignerClient::new(w.channel().await)
        .sign_request_object(authed(request_object_req(claims)))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_and_jar_rotate_side_by_side_in_one_pool() {
    for (name, store, dir) in stores().await {
        let w = world(name, store, dir).await;
        let token = w.management_token().await;
        // JAR is switched on by hand before keyward holds any key for it: keyward keeps `required`.
        let r = w
            .http
            .patch(format!("{}/api/v2/clients/{APP}", w.emu.base_url()))
            .bearer_auth(&token)
            .json(&json!({"signed_request_object": {"required": true}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{name}: {}", r.text().await.unwrap());

        let mut before = at_auth0(&w, &token).await;
        let mut refused_full = false;
        for (step, method) in [PKJWT, JAR, PKJWT, JAR, PKJWT, JAR, PKJWT, JAR].into_iter().enumerate() {
            let step = format!("step {step} ({method})");
            // The dry run first: it plans in the rotation's own list only, names nothing on the
            // other list, foresees the refusal, and leaves the emulated tenant byte for byte.
            let bytes = w.emu.tenant_bytes().unwrap();
            let dry = proto::RotateClientCredentialRequest { plan: true, ..rotate_req(method) };
            let planned = w.client().await.rotate_client_credential(authed(dry)).await.unwrap().into_inner();
            let planned = planned.plan.expect("a dry run answers with a plan");
            assert_eq!(w.emu.tenant_bytes().unwrap(), bytes, "{name}: {step}: the dry run changed Auth0");
            let other = if method == PKJWT { &before.jar } else { &before.pkjwt };
            for s in &planned.steps {
                assert!(s.method.is_empty() || s.method == method, "{name}: {step}: {s:?}");
                assert!(!other.contains(&s.target), "{name}: {step}: plans to touch the other list: {s:?}");
            }
            let out = match rotate(&w, method).await {
                Ok(out) => {
                    assert!(!planned.would_refuse, "{name}: {step}: planned a refusal: {planned:?}");
                    out
                }
                // Four records, each list full with a retiring key whose assertions are live: the
                // rotation waits rather than take anything; the other method's keys are never
                // candidates. Retirement then frees the lists, each from its own.
                Err(e) => {
                    assert_eq!(e.code(), Code::FailedPrecondition, "{name}: {step}: {e:?}");
                    assert!(planned.would_refuse && planned.refusal.contains(method), "{name}: {step}: {planned:?}");
                    assert!(e.message().contains(method), "{name}: {step}: {e:?}");
                    assert_eq!(at_auth0(&w, &token).await, before, "{name}: {step}: a refusal changed Auth0");
                    refused_full = true;
                    w.engine.retire_due(wall_now() + Duration::from_secs(2 * 3600)).await.unwrap();
                    let retired = at_auth0(&w, &token).await;
                    assert_eq!((retired.pkjwt.len(), retired.jar.len()), (1, 1), "{name}: {step}: {retired:?}");
                    check_lists(&w, &step, &retired).await;
                    before = retired;
                    rotate(&w, method).await.unwrap()
                }
            };
            let cred = out.credential.unwrap();
            assert_eq!(cred.method, method, "{name}: {step}");
            assert_eq!(out.rotation.unwrap().method, method, "{name}: {step}");
            let after = at_auth0(&w, &token).await;
            check_lists(&w, &step, &after).await;
            // The rotated list gained the new credential; the other list was not touched at all.
            if method == PKJWT {
                assert!(after.pkjwt.contains(&cred.credential_id), "{name}: {step}: {after:?}");
                assert_eq!(after.jar, before.jar, "{name}: {step}: the JAR list changed");
            } else {
                assert!(after.jar.contains(&cred.credential_id), "{name}: {step}: {after:?}");
                assert_eq!(after.pkjwt, before.pkjwt, "{name}: {step}: the private_key_jwt list changed");
                // Signed by a key on the JAR list: the new one, or (until this replica's cache
                // reloads) the previous one, still attached for its grace period.
                let signed = sign_request_object(&w, r#"{"response_type":"code"}"#).await.unwrap();
                assert!(after.jar.contains(&signed.credential_id), "{name}: {step}: {signed:?} {after:?}");
            }
            assert_eq!(after.required, Some(true), "{name}: {step}: JAR's required flag was lost");
            // Client assertions keep working whatever was rotated (from the first key on).
            assertion_accepted(&w).await;
            before = after;
        }
        assert!(refused_full, "{name}: the pool never filled up");

        // ListClientCredentials tells the lists apart.
        let listed = w
            .client()
            .await
            .list_client_credentials(authed(proto::ListClientCredentialsRequest {
                tenant: "dev".into(),
                client_id: APP.into(),
            }))
            .await
            .unwrap()
            .into_inner();
        for c in &listed.auth0_credentials {
            let expected = if before.pkjwt.contains(&c.id) {
                PKJWT
            } else if before.jar.contains(&c.id) {
                JAR
            } else {
                ""
            };
            assert_eq!((c.method.as_str(), c.attached), (expected, !expected.is_empty()), "{name}: {c:?}");
        }
        assert!(listed.credentials.iter().any(|c| c.method == JAR && c.state == proto::CredentialState::Active as i32));

        // Revoking the retiring JAR key takes it off the JAR list only.
        let mut jar_retiring = None;
        for id in &before.jar {
            if is_retiring(&w, id).await {
                jar_retiring = Some(id.clone());
            }
        }
        let jar_retiring = jar_retiring.expect("a retiring JAR key");
        let revoked = w
            .client()
            .await
            .revoke_credential(authed(proto::RevokeCredentialRequest {
                tenant: "dev".into(),
                client_id: APP.into(),
                credential_id: jar_retiring.clone(),
                reason: "JAR key leaked".into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(revoked.client_has_active_key, "{name}");
        let after = at_auth0(&w, &token).await;
        assert!(!after.records.contains(&jar_retiring) && !after.jar.contains(&jar_retiring), "{name}: {after:?}");
        assert_eq!(after.pkjwt, before.pkjwt, "{name}: revoking a JAR key touched private_key_jwt");
        assert_eq!(after.jar.len(), 1, "{name}: {after:?}");
        assertion_accepted(&w).await;
        sign_request_object(&w, "{}").await.unwrap();
        // The active JAR key needs force like any other; without it nothing changes.
        let active_jar = after.jar[0].clone();
        let refused = w
            .client()
            .await
            .revoke_credential(authed(proto::RevokeCredentialRequest {
                tenant: "dev".into(),
                client_id: APP.into(),
                credential_id: active_jar.clone(),
                reason: "x".into(),
                ..Default::default()
            }))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{name}: {refused:?}");
        assert!(refused.message().contains(JAR), "{name}: {refused:?}");
        assert_eq!(at_auth0(&w, &token).await, after, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_full_of_the_other_methods_records_is_refused_not_emptied() {
    for (name, store, dir) in stores().await {
        let w = world(name, store, dir).await;
        let token = w.management_token().await;
        // Two JAR keys: the old one retiring and never used (so a JAR rotation could let it go
        // early), then one private_key_jwt key and a record made by hand, attached nowhere.
        rotate(&w, JAR).await.unwrap();
        rotate(&w, JAR).await.unwrap();
        rotate(&w, PKJWT).await.unwrap();
        let pem = keyward_crypto::aws_lc_generate(keyward_crypto::KeySpec::Rsa(2048))
            .unwrap()
            .public_key()
            .to_spki_pem()
            .unwrap();
        let r = w
            .http
            .post(format!("{}/api/v2/clients/{APP}/credentials", w.emu.base_url()))
            .bearer_auth(&token)
            .json(&json!({"credential_type": "public_key", "pem": pem, "name": "made by hand"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{name}");
        let full = at_auth0(&w, &token).await;
        assert_eq!((full.records.len(), full.jar.len(), full.pkjwt.len()), (4, 2, 1), "{name}: {full:?}");
        let mut jar_retiring = None;
        for id in &full.jar {
            if is_retiring(&w, id).await {
                jar_retiring = Some(id.clone());
            }
        }
        let jar_retiring = jar_retiring.expect("a retiring JAR key");

        // private_key_jwt needs room: the only records it could take are JAR's (never) and the
        // one made by hand (only with evict_unmanaged).
        let refused = rotate(&w, PKJWT).await.unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{name}: {refused:?}");
        assert!(
            refused.message().contains(&format!("{jar_retiring} (attached to another method)")),
            "{name}: {refused:?}"
        );
        assert_eq!(at_auth0(&w, &token).await, full, "{name}: a refusal changed Auth0");
        assert_eq!(w.key_for(&jar_retiring).await.state, KeyState::Retiring, "{name}");

        // With evict_unmanaged it deletes the hand-made record, and still nothing of JAR's.
        let out = w
            .client()
            .await
            .rotate_client_credential(authed(proto::RotateClientCredentialRequest {
                evict_unmanaged: true,
                ..rotate_req(PKJWT)
            }))
            .await
            .unwrap()
            .into_inner();
        let removed: Vec<&str> = out.removed_credentials.iter().map(|c| c.credential_id.as_str()).collect();
        assert_eq!(removed.len(), 1, "{name}: {removed:?}");
        assert!(!full.jar.contains(&removed[0].to_owned()), "{name}: {removed:?}");
        let after = at_auth0(&w, &token).await;
        assert_eq!(after.jar, full.jar, "{name}");
        check_lists(&w, "after evict_unmanaged", &after).await;
        assertion_accepted(&w).await;
    }
}

/// Whether the store holds `credential_id`'s key as RETIRING.
async fn is_retiring(w: &World, credential_id: &str) -> bool {
    let keys = w.store.keys("dev", APP).await.unwrap();
    keys.iter().any(|k| k.credential_id.as_deref() == Some(credential_id) && k.state == KeyState::Retiring)
}

/// Verifies `jws` with openssl (RS256 only, the default algorithm) against the SPKI `pem`.
fn openssl_verifies(jws: &str, pem: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let (input, sig) = jws.rsplit_once('.').unwrap();
    std::fs::write(dir.path().join("in"), input).unwrap();
    std::fs::write(dir.path().join("sig"), Base64UrlUnpadded::decode_vec(sig).unwrap()).unwrap();
    std::fs::write(dir.path().join("pub.pem"), pem).unwrap();
    std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "in"])
        .current_dir(dir.path())
        .output()
        .unwrap()
        .status
        .success()
}

/// The claims PyJWT reads from `jws` after verifying its signature, audience, issuer and the
/// presence of `exp`, `iat` and `jti` with `pem` (`.ci/run` installs PyJWT with its crypto extra).
fn pyjwt_decode(jws: &str, pem: &str, alg: &str, aud: &str, iss: &str) -> Value {
    let script = "import json, sys, jwt\n\
                  tok, pem, alg, aud, iss = sys.argv[1:6]\n\
                  print(json.dumps(jwt.decode(tok, pem, algorithms=[alg], audience=aud, issuer=iss, \
                  options={'require': ['exp', 'iat', 'jti']})))";
    let out = std::process::Command::new("python3").args(["-c", script, jws, pem, alg, aud, iss]).output().unwrap();
    assert!(out.status.success(), "PyJWT refused the request object: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn part(jws: &str, i: usize) -> Value {
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(jws.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_objects_verify_independently_and_refusals_name_the_field() {
    for (name, store, dir) in stores().await {
        let w = world(name, store, dir).await;
        // A private_key_jwt key alone signs no request object.
        rotate(&w, PKJWT).await.unwrap();
        let none = sign_request_object(&w, r#"{"response_type":"code"}"#).await.unwrap_err();
        assert_eq!(none.code(), Code::FailedPrecondition, "{name}: {none:?}");
        assert!(none.message().contains("method signed_request_object"), "{name}: {none:?}");
        // Nor does a JAR key sign client assertions: those stay with private_key_jwt's key.
        let jar = rotate(&w, JAR).await.unwrap().credential.unwrap();
        let issuer = format!("https://{}/", support::DOMAIN);

        let claims = r#"{"response_type":"code","redirect_uri":"https://app.example/cb","scope":"openid","state":"s-1","client_id":"demo-app"}"#;
        let first = sign_request_object(&w, claims).await.unwrap();
        let second = sign_request_object(&w, claims).await.unwrap();
        assert_eq!((first.kid.as_str(), first.credential_id.as_str()), (jar.kid.as_str(), jar.credential_id.as_str()));
        assert_eq!(first.algorithm, "RS256", "{name}");
        assert_ne!(first.jti, second.jti, "{name}");
        let jws = &first.request_object;
        assert!(openssl_verifies(jws, &jar.public_key_pem), "{name}: openssl refused the request object");
        let header = part(jws, 0);
        assert_eq!(header, json!({"alg": "RS256", "kid": jar.kid, "typ": "oauth-authz-req+jwt"}), "{name}");
        let body = pyjwt_decode(jws, &jar.public_key_pem, "RS256", &issuer, APP);
        assert_eq!(body["iss"], APP, "{name}");
        assert_eq!(body["client_id"], APP, "{name}");
        assert_eq!(body["aud"], issuer.as_str(), "{name}");
        assert_eq!(body["response_type"], "code", "{name}");
        assert_eq!(body["state"], "s-1", "{name}");
        assert_eq!(body["jti"], first.jti.as_str(), "{name}");
        let (iat, exp) = (body["iat"].as_i64().unwrap(), body["exp"].as_i64().unwrap());
        assert!(exp > iat && exp - iat <= 300, "{name}: {body}");
        assert_eq!(body["nbf"].as_i64(), Some(iat), "{name}");
        assert_eq!(first.expires_at.unwrap().seconds, exp, "{name}");
        assert_eq!(Base64UrlUnpadded::decode_vec(&first.jti).unwrap().len(), 16, "{name}");
        // The JAR key is not the assertion key, and not in the JWKS.
        let jwks = SignerClient::new(w.channel().await)
            .get_jwks(authed(proto::GetJwksRequest { tenant: "dev".into(), client_id: APP.into() }))
            .await
            .unwrap()
            .into_inner();
        assert!(!jwks.jwks_json.contains(&jar.kid), "{name}: {}", jwks.jwks_json);
        assertion_accepted(&w).await;

        // Lifetime and audience as asked.
        let asked = SignerClient::new(w.channel().await)
            .sign_request_object(authed(proto::SignRequestObjectRequest {
                lifetime: Some(prost_types::Duration { seconds: 300, nanos: 0 }),
                audience: "https://par.example/".into(),
                ..request_object_req("{}")
            }))
            .await
            .unwrap()
            .into_inner();
        let body = part(&asked.request_object, 1);
        assert_eq!(
            (body["aud"].as_str(), body["exp"].as_i64().unwrap() - body["iat"].as_i64().unwrap()),
            (Some("https://par.example/"), 300)
        );

        // Refusals name the field and sign nothing.
        let signed_before = w.key_for(&jar.credential_id).await.last_signed_exp;
        for (claims, lifetime, field, says) in [
            (r#"{"scope":"a","scope":"b"}"#, None, "claims_json", "appears twice"),
            (r#"{"x":{"y":1,"y":2}}"#, None, "claims_json", "appears twice"),
            ("[1,2]", None, "claims_json", "JSON object"),
            ("\"code\"", None, "claims_json", "JSON object"),
            (r#"{"iss":"demo-app"}"#, None, "claims_json", "\"iss\""),
            (r#"{"aud":"https://x/"}"#, None, "claims_json", "\"aud\""),
            (r#"{"exp":1}"#, None, "claims_json", "\"exp\""),
            (r#"{"jti":"mine"}"#, None, "claims_json", "\"jti\""),
            (r#"{"client_id":"someone-else"}"#, None, "claims_json", "client_id"),
            ("", None, "claims_json", "required"),
            ("{}", Some(301), "lifetime", "300"),
        ] {
            let req = proto::SignRequestObjectRequest {
                lifetime: lifetime.map(|s| prost_types::Duration { seconds: s, nanos: 0 }),
                ..request_object_req(claims)
            };
            let err = SignerClient::new(w.channel().await).sign_request_object(authed(req)).await.unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{name}: {claims}: {err:?}");
            assert!(err.message().starts_with(field) && err.message().contains(says), "{name}: {claims}: {err:?}");
        }
        assert_eq!(w.key_for(&jar.credential_id).await.last_signed_exp, signed_before, "{name}");

        // An unknown method is refused naming the field.
        let bad = rotate(&w, "tls_client_auth").await.unwrap_err();
        assert_eq!(bad.code(), Code::InvalidArgument, "{name}: {bad:?}");
        assert!(bad.message().starts_with("method"), "{name}: {bad:?}");
    }
}
