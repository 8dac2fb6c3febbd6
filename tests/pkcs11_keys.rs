//! Signing keys that never leave a PKCS#11 token: a real SoftHSM2 token, the real keyward binary
//! (`keyward dev --pkcs11-*`), the emulated tenant, OpenSC's `pkcs11-tool` as the witness of what
//! the token holds and `openssl` as the judge of what it signs. Crashes at every saga state leave
//! the token holding exactly the objects the store references.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/softhsm.rs"]
mod softhsm;
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use keyward::grpc::proto::{self, RotationState as PbState, signer_client::SignerClient, tokens_client::TokensClient};
use keyward::store::{KeyState, KeyStore, RotationState, RotationStore};
use softhsm::SoftHsm;
use support::*;
use tonic::transport::Channel;

/// `keyward dev` on `dir` with its KEK and keys in `hsm`, and `extra` environment.
fn dev(dir: &Path, hsm: &SoftHsm, extra: &[(&str, &str)]) -> Keyward {
    let d = dir.display().to_string();
    let module = hsm.module.display().to_string();
    let args = [
        "dev",
        "--dir",
        &d,
        "--listen",
        "127.0.0.1:0",
        "--pkcs11-module",
        &module,
        "--pkcs11-token",
        &hsm.label,
        "--pkcs11-pin-env",
        softhsm::PIN_ENV,
    ];
    let env = hsm.env();
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    start(&args, &all)
}

fn token_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("token")).unwrap().trim().to_owned()
}

fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

async fn channel(k: &Keyward) -> Channel {
    Channel::from_shared(format!("http://{}", k.addr)).unwrap().connect().await.unwrap()
}

fn rotate(alg: &str, request_id: &str) -> proto::RotateClientCredentialRequest {
    proto::RotateClientCredentialRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        algorithm: alg.into(),
        request_id: request_id.into(),
        grace_period: Some(prost_types::Duration { seconds: 0, nanos: 0 }),
        ..Default::default()
    }
}

/// A JWT for the signing-only client, valid for a minute.
fn jwt_request() -> proto::SignJwtRequest {
    let exp = keyward::clock::wall_now().as_secs() + 60;
    proto::SignJwtRequest {
        tenant: "dev".into(),
        client_id: "demo-signer".into(),
        claims_json: format!(r#"{{"sub":"x","exp":{exp}}}"#),
        ..Default::default()
    }
}

/// The labels of the private-key objects keyward made in the token.
fn token_keys(hsm: &SoftHsm) -> BTreeSet<String> {
    let out = hsm.objects();
    let mut labels = BTreeSet::new();
    let mut private = false;
    for line in out.lines() {
        if line.starts_with("Private Key Object") {
            private = true;
        } else if !line.starts_with(' ') && !line.starts_with('\t') {
            private = false;
        }
        if let Some(label) = line.trim().strip_prefix("label:").map(str::trim)
            && private
            && label.starts_with("keyward:")
        {
            labels.insert(label.to_owned());
        }
    }
    labels
}

/// The token labels of the keys the store still holds material for.
async fn referenced(dir: &Path) -> BTreeSet<String> {
    let store = open_store(&format!("sqlite://{}", dir.join("keyward.db").display())).await;
    let mut labels = BTreeSet::new();
    for state in [KeyState::Pending, KeyState::Active, KeyState::Retiring, KeyState::Retired] {
        for k in store.keys_in_state(state).await.unwrap() {
            labels.extend(k.token_label().map(str::to_owned));
        }
    }
    labels
}

/// Verifies a compact JWS with `openssl dgst` against the SPKI public key `pem`.
fn openssl_verifies(jws: &str, alg: &str, pem: &str, dir: &Path) {
    let (signing_input, sig) = jws.rsplit_once('.').unwrap();
    let sig = Base64UrlUnpadded::decode_vec(sig).unwrap();
    let sig = if alg.starts_with("ES") { ecdsa_der(&sig) } else { sig };
    std::fs::write(dir.join("pub.pem"), pem).unwrap();
    std::fs::write(dir.join("msg"), signing_input).unwrap();
    std::fs::write(dir.join("sig"), &sig).unwrap();
    let digest = format!("-sha{}", &alg[2..]);
    let mut args = vec!["dgst", digest.as_str(), "-verify", "pub.pem", "-signature", "sig"];
    if alg.starts_with("PS") {
        args.extend(["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"]);
    }
    args.push("msg");
    let out = std::process::Command::new("openssl").args(&args).current_dir(dir).output().unwrap();
    assert!(
        out.status.success(),
        "{alg}: openssl: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// JWS R||S as the DER ECDSA-Sig-Value openssl reads.
fn ecdsa_der(rs: &[u8]) -> Vec<u8> {
    let int = |b: &[u8]| {
        let b = &b[b.iter().position(|x| *x != 0).unwrap_or(b.len() - 1)..];
        let mut v = if b[0] & 0x80 != 0 { vec![0] } else { vec![] };
        v.extend_from_slice(b);
        [vec![0x02, v.len() as u8], v].concat()
    };
    let (r, s) = rs.split_at(rs.len() / 2);
    let body = [int(r), int(s)].concat();
    let len = if body.len() < 0x80 { vec![body.len() as u8] } else { vec![0x81, body.len() as u8] };
    [vec![0x30], len, body].concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_made_in_the_token_sign_there_and_never_leave_it() {
    let (_tmp, tmp) = tempdir();
    let dir = tmp.join("state");
    let hsm = SoftHsm::new(&tmp, "kw-keys");
    let k = dev(&dir, &hsm, &[]);
    let token = token_of(&dir);
    let mut rotation = k.client(&token).await;

    // An Auth0 credential made in the token, registered, and signing there: openssl verifies its
    // assertion against the registered key and certificate, and Auth0 (the emulator) takes it.
    let out = rotation.rotate_client_credential(rotate("PS256", "token-app")).await.unwrap().into_inner();
    let cred = out.credential.unwrap();
    assert_eq!((cred.custody.as_str(), cred.algorithm.as_str()), ("pkcs11", "PS256"));
    let mut signer = SignerClient::new(channel(&k).await);
    let req = proto::SignClientAssertionRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() };
    let signed = signer.sign_client_assertion(authed(req, &token)).await.unwrap().into_inner();
    assert_eq!((signed.kid.as_str(), signed.algorithm.as_str()), (cred.kid.as_str(), "PS256"), "the first key");
    openssl_verifies(&signed.assertion, "PS256", &cred.public_key_pem, &tmp);
    std::fs::write(tmp.join("cert.pem"), &cred.cert).unwrap();
    let verify = std::process::Command::new("openssl")
        .args(["verify", "-CAfile", "cert.pem", "cert.pem"])
        .current_dir(&tmp)
        .output();
    let verify = verify.unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    let mut tokens = TokensClient::new(channel(&k).await);
    let req = proto::GetAccessTokenRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        audience: "https://api.demo.local/".into(),
        scope: String::new(),
    };
    tokens.get_access_token(authed(req, &token)).await.unwrap();

    // Every algorithm (the signing-only client takes them all, and needs no Auth0 slot): the
    // token signs, ECDSA's output becomes JWS R||S, openssl verifies with the key's public half.
    for alg in ["RS256", "RS384", "PS256", "ES256", "ES384"] {
        let mut req = rotate(alg, &format!("token-{alg}"));
        req.client_id = "demo-signer".into();
        let cred = rotation.rotate_client_credential(req).await.unwrap().into_inner().credential.unwrap();
        assert_eq!((cred.custody.as_str(), cred.algorithm.as_str()), ("pkcs11", alg));
        let req = jwt_request();
        // The signer picks the new key up within its cache's refresh (a moment after ACTIVE).
        let signed = eventually(&format!("{alg}: the new key to sign"), || async {
            let signed = SignerClient::new(channel(&k).await).sign_jwt(authed(req.clone(), &token)).await.ok()?;
            Some(signed.into_inner()).filter(|s| s.kid == cred.kid)
        })
        .await;
        openssl_verifies(&signed.jwt, alg, &cred.public_key_pem, &tmp);
    }

    // The store holds no private key: each key row names its token object, nothing more.
    let store = open_store(&format!("sqlite://{}", dir.join("keyward.db").display())).await;
    for k in store.keys("dev", APP).await.unwrap().into_iter().filter(|k| k.state != KeyState::Retired) {
        assert!(k.sealed.wrapped_dek.is_empty() && k.token_label().is_some(), "{:?}", k.key_id);
        assert_eq!(k.sealed.ciphertext, k.token_label().unwrap().as_bytes());
    }
    let db = std::fs::read(dir.join("keyward.db")).unwrap();
    assert!(!db.windows(11).any(|w| w == b"PRIVATE KEY"), "no PEM private key in the database file");
    // The token's objects are sensitive and never extractable; their values cannot be read.
    let objects = hsm.objects();
    assert!(objects.contains("Private Key Object") && objects.contains("never extractable"), "{objects}");
    let active = store.keys("dev", APP).await.unwrap().into_iter().find(|k| k.state == KeyState::Active).unwrap();
    let label = active.token_label().unwrap().to_owned();
    // Labelled by keyward, identified by the key's kid.
    let kid_hex: String = active.kid.bytes().map(|b| format!("{b:02x}")).collect();
    assert!(objects.contains(&label) && objects.contains(&kid_hex), "{objects}");
    let read = hsm.tool(&["--read-object", "--type", "privkey", "--label", &label, "--output-file", "out.der"]);
    assert!(!tmp.join("out.der").exists() || std::fs::read(tmp.join("out.der")).unwrap().is_empty(), "{read:?}");

    // The token goes away under signing: UNAVAILABLE naming the custody backend, never a wrong
    // or missing signature; it comes back, and keyward signs again without a restart.
    let sign = || {
        let req = jwt_request();
        let k = &k;
        let token = token.clone();
        async move { SignerClient::new(channel(k).await).sign_jwt(authed(req, &token)).await }
    };
    // Under load: callers sign without pause while the token leaves and returns; every answer is
    // a signature or UNAVAILABLE naming the backend.
    let stop = Arc::new(AtomicBool::new(false));
    let addr = k.addr.clone();
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, addr, token) = (stop.clone(), addr.clone(), token.clone());
            tokio::spawn(async move {
                let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
                let mut signer = SignerClient::new(channel);
                let (mut signed, mut refused) = (0, 0);
                while !stop.load(Ordering::SeqCst) {
                    match signer.sign_jwt(authed(jwt_request(), &token)).await {
                        Ok(_) => signed += 1,
                        Err(e)
                            if e.code() == tonic::Code::Unavailable
                                && e.message().contains("custody backend pkcs11") =>
                        {
                            refused += 1
                        }
                        Err(e) => panic!("under token loss: {e:?}"),
                    }
                }
                (signed, refused)
            })
        })
        .collect();
    let was = hsm.take_away();
    let refused = eventually("signing to notice the token is gone", || async { sign().await.err() }).await;
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("custody backend pkcs11"), "{refused:?}");
    hsm.bring_back(&was);
    eventually("signing once the token is back", || async { sign().await.ok() }).await;
    stop.store(true, Ordering::SeqCst);
    let (mut signed, mut refused) = (0, 0);
    for task in load {
        let (s, r) = task.await.unwrap();
        (signed, refused) = (signed + s, refused + r);
    }
    assert!(signed > 0 && refused > 0, "signed {signed}, refused {refused}");

    // Retired keys leave the token: what it holds is what the store references.
    eventually("retired keys' token objects to be destroyed", || async {
        let (held, wanted) = (token_keys(&hsm), referenced(&dir).await);
        (held == wanted).then_some(())
    })
    .await;
    assert!(token_keys(&hsm).contains(&label));

    // Revocation destroys the token object too (forced: it is the client's only active key).
    let revoke = proto::RevokeCredentialRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        credential_id: active.credential_id.clone().unwrap(),
        reason: "test".into(),
        force: true,
        request_id: "revoke-token-key".into(),
        plan: false,
    };
    rotation.revoke_credential(revoke).await.unwrap();
    eventually("the revoked key's token object to be destroyed", || async {
        let (held, wanted) = (token_keys(&hsm), referenced(&dir).await);
        (held == wanted && !held.contains(&label)).then_some(())
    })
    .await;
    k.kill();
}

/// ACTIVE, or (its old key retired at once, with no grace period) COMPLETED.
fn done(state: RotationState) -> bool {
    matches!(state, RotationState::Active | RotationState::Completed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_at_every_state_leave_no_orphan_in_the_token() {
    let (_tmp, tmp) = tempdir();
    let dir = tmp.join("state");
    let hsm = SoftHsm::new(&tmp, "kw-crash");
    let k = dev(&dir, &hsm, &[]);
    let token = token_of(&dir);
    k.client(&token).await.rotate_client_credential(rotate("", "first")).await.unwrap();
    k.kill();

    // Frozen right after the key was made in the token, before the store recorded it, then
    // killed: the object is an orphan of a PLANNED rotation.
    let k = dev(&dir, &hsm, &[("KEYWARD_FAULT_PAUSE_AT", "planned:60s")]);
    let mut client = k.client(&token).await;
    let call = tokio::spawn(async move { client.rotate_client_credential(rotate("", "frozen")).await });
    let before = referenced(&dir).await;
    eventually("the frozen attempt's key in the token", || async {
        (token_keys(&hsm).len() > before.len()).then_some(())
    })
    .await;
    k.kill();
    let _ = call.await;
    // Restarted, the replica resumes it: a new key in the token, and the frozen one an orphan.
    let k = dev(&dir, &hsm, &[]);
    let store = open_store(&format!("sqlite://{}", dir.join("keyward.db").display())).await;
    eventually("the frozen rotation to resume", || async {
        store.rotation_by_request("dev", "frozen").await.unwrap().filter(|r| done(r.state))
    })
    .await;
    k.kill();

    for state in ["KEY_GENERATED", "SLOT_FREED", "REGISTERED", "ATTACHED", "ACTIVE"] {
        let rid = format!("crash-after-{state}");
        let mut k = dev(&dir, &hsm, &[("KEYWARD_FAULT_EXIT_AFTER", state)]);
        let answer = k.client(&token).await.rotate_client_credential(rotate("", &rid)).await;
        assert!(answer.is_err(), "{state}: the process should have died mid-call");
        let (code, out) = k.wait_exit(state, Duration::from_secs(60));
        assert_eq!(code, Some(keyward::rotation::FAULT_EXIT_CODE), "{state}: {out:#?}");
        let k = dev(&dir, &hsm, &[]);
        let store = open_store(&format!("sqlite://{}", dir.join("keyward.db").display())).await;
        eventually(&format!("{state}: the rotation to resume"), || async {
            let r = store.rotation_by_request("dev", &rid).await.unwrap();
            assert!(r.as_ref().is_none_or(|r| r.state != RotationState::Failed), "{state}: {r:?}");
            r.filter(|r| done(r.state))
        })
        .await;
        k.kill();
    }

    // The frozen rotation resumed too; once every rotation moved on and the sweep ran, the token
    // holds exactly the keys the store references.
    let k = dev(&dir, &hsm, &[]);
    eventually("the token to hold exactly what the store references", || async {
        let (held, wanted) = (token_keys(&hsm), referenced(&dir).await);
        (held == wanted && !held.is_empty()).then_some(())
    })
    .await;
    let answer = k.client(&token).await.rotate_client_credential(rotate("", "after")).await.unwrap().into_inner();
    assert_eq!(answer.rotation.unwrap().state, PbState::Active as i32);
    k.kill();
}
