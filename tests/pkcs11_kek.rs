//! The KEK inside a PKCS#11 token: a real SoftHSM2 token, the real keyward binary, the emulator,
//! and OpenSC's `pkcs11-tool` as the witness of what the token holds. A file KEK moves into the
//! token by rotation without downtime; a ring of one token key is created by `keyward kek init`,
//! checked by `keyward config check`, and a token that goes away makes the replica not ready and
//! pauses rotations until it returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/softhsm.rs"]
mod softhsm;
mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use keyward::grpc::proto::{self, tokens_client::TokensClient};
use keyward::store::{KeyState, KeyStore};
use keyward_auth0_emulator::{EmulatorConfig, Seed};
use softhsm::SoftHsm;
use support::*;
use tonic::transport::Channel;

fn keyward(args: &[&str], env: &[(&str, String)]) -> Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    keyward_output(args, &env)
}

async fn emulator() -> keyward_auth0_emulator::RunningEmulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let seed = Seed::from_json(include_str!("../crates/keyward-auth0-emulator/examples/seed.json")).unwrap();
    let config = EmulatorConfig { seed, domain: Some(DOMAIN.into()), control: true, ..Default::default() };
    keyward_auth0_emulator::start(listener, config).await.unwrap()
}

/// A configuration over SQLite in `dir` and the emulator, with `kek` as the `[kek]` section's body.
fn write_config(dir: &Path, emulator_url: &str, token: &str, kek: &str) -> PathBuf {
    let hash: String = keyward::grpc::token_hash(token).iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join("keyward.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nstore = \"sqlite://{db}\"\n[kek]\n{kek}\n[auth]\n\
         bearer_token_sha256 = [\"{hash}\"]\n[tenants.dev]\ndomain = \"{DOMAIN}\"\nbase_url = \"{emulator_url}\"\n\
         management_client_id = \"keyward-management\"\n\
         management_client_secret = \"dev-management-secret-change-me\"\nclients = [\"{APP}\"]\n",
        db = dir.join("k.db").display(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn rotate_request() -> proto::RotateClientCredentialRequest {
    proto::RotateClientCredentialRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() }
}

/// An access token for the app from Auth0 (the emulator), for which keyward must open the active
/// key and sign an assertion with it.
async fn access_token(k: &Keyward, token: &str) -> Result<String, tonic::Status> {
    let channel = Channel::from_shared(format!("http://{}", k.addr)).unwrap().connect().await.unwrap();
    let mut request = tonic::Request::new(proto::GetAccessTokenRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        audience: "https://api.demo.local/".into(),
        scope: String::new(),
    });
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    TokensClient::new(channel).get_access_token(request).await.map(|r| r.into_inner().access_token)
}

async fn readyz(admin: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{admin}/readyz")).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_kek_moves_into_the_token_without_downtime() {
    let (_tmp, dir) = tempdir();
    let hsm = SoftHsm::new(&dir, "kw-migrate");
    let env = hsm.env();
    let emu = emulator().await;
    let token = format!("t-{}", random_hex(12));
    let ring_file = dir.join("kek");
    std::fs::write(&ring_file, keyward::seal::Kek::generate(&mut rng()).to_text().as_str()).unwrap();
    let kek = format!("file = \"{}\"\n{}", ring_file.display(), hsm.kek_table(""));
    let c = write_config(&dir, &emu.base_url(), &token, &kek).display().to_string();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let k = start(&["serve", "--config", &c], &env_refs);
    let mut client = k.client(&token).await;
    client.rotate_client_credential(rotate_request()).await.unwrap();
    let file_kek = kek_ring(&ring_file).current.id().to_owned();

    // The new KEK is made inside the token; the ring file names it and keeps the file KEK behind.
    let out = keyward(&["kek", "rotate", "--config", &c, "--in-token", "keyward-kek-1", "--json"], &env);
    let report = stdout_json(&out);
    assert_eq!((report["current"].as_str(), report["rewrapped"].as_u64()), (Some("kek-pkcs11-keyward-kek-1"), Some(1)));
    let ring = std::fs::read_to_string(&ring_file).unwrap();
    assert!(ring.starts_with("pkcs11:keyward-kek-1\n") && ring.lines().count() == 2, "{ring}");
    let objects = hsm.objects();
    assert!(objects.contains("Secret Key Object; AES length 32") && objects.contains("keyward-kek-1"), "{objects}");
    assert!(objects.contains("never extractable") || !objects.contains("extractable"), "{objects}");
    // The same label again is refused: it is in the ring already.
    let again = keyward(&["kek", "rotate", "--config", &c, "--in-token", "keyward-kek-1"], &env);
    assert_eq!(again.status.code(), Some(64), "{}", String::from_utf8_lossy(&again.stderr));

    // The running server (still on the file ring) keeps rotating and signing: no downtime.
    client.rotate_client_credential(rotate_request()).await.unwrap();
    access_token(&k, &token).await.unwrap();
    // Rewrap puts what it sealed meanwhile under the token KEK; prune then drops the file KEK,
    // and the ring file holds no key material at all.
    let rewrapped = stdout_json(&keyward(&["kek", "rewrap", "--config", &c, "--json"], &env));
    assert!(rewrapped["rewrapped"].as_u64().unwrap() >= 1, "{rewrapped}");
    let pruned = stdout_json(&keyward(&["kek", "prune", "--config", &c, "--json"], &env));
    assert_eq!(pruned["pruned"][0].as_str(), Some(file_kek.as_str()), "{pruned}");
    assert_eq!(std::fs::read_to_string(&ring_file).unwrap(), "pkcs11:keyward-kek-1\n");

    let store = open_store(&format!("sqlite://{}", dir.join("k.db").display())).await;
    let live: Vec<_> =
        store.keys("dev", APP).await.unwrap().into_iter().filter(|k| k.state != KeyState::Retired).collect();
    assert!(!live.is_empty() && live.iter().all(|k| k.sealed.kek_id == "kek-pkcs11-keyward-kek-1"), "{live:?}");

    // A restarted server opens every key through the token alone, and Auth0 takes its assertions.
    k.kill();
    let k = start(&["serve", "--config", &c], &env_refs);
    access_token(&k, &token).await.unwrap();

    // Without the PIN the token does not open: one line naming the variable, never a PIN.
    let no_pin = keyward(&["config", "check", "--config", &c], &[("SOFTHSM2_CONF", hsm.conf.display().to_string())]);
    let stderr = String::from_utf8_lossy(&no_pin.stderr);
    assert_ne!(no_pin.status.code(), Some(0));
    assert!(stderr.contains(softhsm::PIN_ENV) && !stderr.contains(&hsm.pin), "{stderr}");
    let wrong = [("SOFTHSM2_CONF", hsm.conf.display().to_string()), (softhsm::PIN_ENV, "not-the-pin-0".into())];
    let wrong_pin = keyward(&["config", "check", "--config", &c], &wrong);
    let stderr = String::from_utf8_lossy(&wrong_pin.stderr);
    assert_ne!(wrong_pin.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("kek") && !stderr.contains("not-the-pin-0") && !stderr.contains(&hsm.pin), "{stderr}");
    k.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_key_alone_is_the_ring_and_the_token_going_away_pauses_rotations() {
    let (_tmp, dir) = tempdir();
    let hsm = SoftHsm::new(&dir, "kw-alone");
    let env = hsm.env();
    let emu = emulator().await;
    let token = format!("t-{}", random_hex(12));
    let c = write_config(&dir, &emu.base_url(), &token, &hsm.kek_table("key_label = \"kek-a\"")).display().to_string();

    // Until `kek init` makes it, the token lacks the key: config check says so, on one line.
    let check = keyward(&["config", "check", "--config", &c], &env);
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_ne!(check.status.code(), Some(0));
    assert!(stderr.contains("pkcs11:kek-a") && stderr.contains("holds no AES key"), "{stderr}");
    let init = stdout_json(&keyward(&["kek", "init", "--config", &c, "--json"], &env));
    assert_eq!((init["kek"].as_str(), init["created"].as_bool()), (Some("kek-pkcs11-kek-a"), Some(true)), "{init}");
    let init = stdout_json(&keyward(&["kek", "init", "--config", &c, "--json"], &env));
    assert_eq!(init["created"].as_bool(), Some(false), "{init}");
    let check = keyward(&["config", "check", "--config", &c], &env);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    // The key cannot be read out of the token.
    let read = hsm.tool(&["--read-object", "--type", "secrkey", "--label", "kek-a"]);
    assert!(!read.status.success() || read.stdout.is_empty(), "{}", String::from_utf8_lossy(&read.stdout));
    // With key_label fixing the current KEK there is no ring file to rotate.
    let rotate = keyward(&["kek", "rotate", "--config", &c, "--in-token", "kek-b"], &env);
    assert_eq!(rotate.status.code(), Some(64), "{}", String::from_utf8_lossy(&rotate.stderr));

    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let k = start(&["serve", "--config", &c], &env_refs);
    let admin = k.admin_addr().unwrap();
    let mut client = k.client(&token).await;
    client.rotate_client_credential(rotate_request()).await.unwrap();
    access_token(&k, &token).await.unwrap();
    assert_eq!(readyz(&admin).await.0, 200);

    // The token goes away: not ready, and a rotation pauses (UNAVAILABLE naming the backend)
    // instead of failing; keys already open keep signing.
    let was = hsm.take_away();
    let (code, body) = eventually("/readyz to notice the token is gone", || async {
        let (code, body) = readyz(&admin).await;
        (code == 503).then_some((code, body))
    })
    .await;
    assert!(body.contains("PKCS#11 token"), "{code} {body}");
    let mut paused = rotate_request();
    paused.request_id = "while-away".into();
    let err = client.rotate_client_credential(paused.clone()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(err.message().contains("custody backend pkcs11"), "{err:?}");
    access_token(&k, &token).await.unwrap();

    // It comes back: keyward reconnects by itself and the same request finishes the rotation.
    hsm.bring_back(&was);
    eventually("/readyz once the token is back", || async { (readyz(&admin).await.0 == 200).then_some(()) }).await;
    let done = client.rotate_client_credential(paused).await.unwrap().into_inner();
    assert_eq!(done.rotation.unwrap().state, proto::RotationState::Active as i32);
    access_token(&k, &token).await.unwrap();
    k.kill();
}
