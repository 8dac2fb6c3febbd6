//! `keyward dev` and the client commands, as a user runs them: the real binary, the in-process
//! emulator, and the private_key_jwt exchange that proves the rotated key works. Also
//! `keyward serve --config` refusing a bad file, and `keyward kek rotate` under a running server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Output;

use keyward::store::{AuditStore, KeyState, KeyStore, RotationStore};
use serde_json::Value;
use support::*;

fn keyward(args: &[&str], env: &[(&str, &str)]) -> Output {
    keyward_output(args, env)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_then_rotate_client_gives_a_working_key_and_survives_restart() {
    let (_tmp, tmp) = tempdir();
    let dir = tmp.join("state");
    let d = dir.display().to_string();
    let k = start(&["dev", "--dir", &d, "--listen", "127.0.0.1:0"], &[]);
    let grpc_addr = std::fs::read_to_string(dir.join("grpc-addr")).unwrap();
    assert_eq!(grpc_addr.trim(), k.addr, "grpc-addr holds HOST:PORT");
    // A second `keyward dev` on the same directory is refused (exit 64), naming the first.
    let second = keyward(&["dev", "--dir", &d, "--listen", "127.0.0.1:0"], &[]);
    assert_eq!(second.status.code(), Some(64), "{}", stderr(&second));
    let pid = k.child.id().to_string();
    assert!(stderr(&second).contains(&format!("another keyward dev (pid {pid}) is using")), "{}", stderr(&second));
    assert_eq!(std::fs::read_to_string(dir.join("grpc-addr")).unwrap().trim(), k.addr, "nothing overwritten");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for secret in ["token", "kek"] {
            let mode = std::fs::metadata(dir.join(secret)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{secret}");
        }
    }
    let token = std::fs::read_to_string(dir.join("token")).unwrap();
    let endpoint = format!("http://{}", k.addr);
    let token_file = dir.join("token").display().to_string();

    // The README's flow: rotate, global flags after the subcommand.
    let out = keyward(
        &[
            "rotate",
            "client",
            "--tenant",
            "dev",
            "--client",
            APP,
            "--endpoint",
            &endpoint,
            "--token-file",
            &token_file,
            "--json",
        ],
        &[],
    );
    let rotated = stdout_json(&out);
    assert_eq!(rotated["rotation"]["state"], "COMPLETED", "{rotated}");
    let kid = rotated["credential"]["kid"].as_str().unwrap().to_owned();
    let rotation_id = rotated["rotation"]["rotation_id"].as_str().unwrap().to_owned();

    // The new key works for a private_key_jwt exchange at the emulated Auth0.
    let emulator_url = std::fs::read_to_string(dir.join("emulator-url")).unwrap().trim().to_owned();
    let store = open_store(&format!("sqlite://{}", dir.join("keyward.db").display())).await;
    let keys = store.keys("dev", APP).await.unwrap();
    let active = keys.iter().find(|k| k.state == KeyState::Active).unwrap();
    assert_eq!(active.kid, kid);
    let (status, body) = exchange(&emulator_url, &kek_ring(&dir.join("kek")).all(), active).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");

    // Global flags before the subcommand, token from the environment; tables by default.
    let out = keyward(
        &["--endpoint", &endpoint, "--wide", "credentials", "list", "--tenant", "dev", "--client", APP],
        &[("KEYWARD_TOKEN", token.trim())],
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && table.contains(&kid) && table.contains("ACTIVE"), "{table}{}", stderr(&out));
    let got = stdout_json(&keyward(
        &["rotation", "get", &rotation_id, "--json", "--endpoint", &endpoint],
        &[("KEYWARD_TOKEN", token.trim())],
    ));
    assert_eq!(got["rotation_id"], rotation_id.as_str());

    // Connection keys through the CLI: verified.
    let out = keyward(
        &[
            "rotate",
            "connection",
            "--tenant",
            "dev",
            "--connection",
            "con_demooidc0000001",
            "--endpoint",
            "http://127.0.0.1:1",
        ],
        &[("KEYWARD_TOKEN", token.trim())],
    );
    assert_eq!(out.status.code(), Some(69), "unreachable server is EX_UNAVAILABLE: {}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    let out = keyward(
        &[
            "rotate",
            "connection",
            "--tenant",
            "dev",
            "--connection",
            "con_demooidc0000001",
            "--json",
            "--endpoint",
            &endpoint,
        ],
        &[("KEYWARD_TOKEN", token.trim())],
    );
    let conn = stdout_json(&out);
    assert_eq!(conn["verified"], true, "{conn}");
    assert_eq!(conn["keys"].as_array().unwrap().len(), 3, "current, next and previous: {conn}");

    // The tenant's inventory: the dev seed's management application may read all of it.
    let inv = stdout_json(&keyward(
        &["inventory", "--tenant", "dev", "--json", "--endpoint", &endpoint],
        &[("KEYWARD_TOKEN", token.trim())],
    ));
    assert_eq!((inv["baseline"].clone(), inv["gaps"].clone()), (Value::Bool(true), serde_json::json!([])), "{inv}");
    let demo = inv["clients"].as_array().unwrap().iter().find(|c| c["client_id"] == APP).unwrap();
    assert!(demo["credentials"].as_array().unwrap().iter().any(|r| r["kid"] == kid.as_str()), "{demo}");
    assert!(
        !inv["signing_keys"].as_array().unwrap().is_empty() && !inv["connection_keys"].as_array().unwrap().is_empty()
    );

    // --grace 0s retires the old key at once: the background task detaches and deletes it.
    let out = keyward(
        &["rotate", "client", "--tenant", "dev", "--client", APP, "--grace", "0s", "--json", "--endpoint", &endpoint],
        &[("KEYWARD_TOKEN", token.trim())],
    );
    let second = stdout_json(&out);
    assert_eq!(second["rotation"]["state"], "ACTIVE", "{second}");
    let old_credential = second["previous_credential_id"].as_str().unwrap().to_owned();
    assert!(second["previous_retire_at"].as_str().unwrap() <= second["rotation"]["updated_at"].as_str().unwrap());
    // The key is retired and gone from Auth0 a moment before its rotation is marked COMPLETED:
    // wait for all three.
    let second_id = second["rotation"]["rotation_id"].as_str().unwrap().to_owned();
    eventually("the old key to retire in the background", || async {
        let app = app(&emulator_url).await;
        let gone = app["credentials"].as_array().unwrap().iter().all(|c| c["id"] != old_credential.as_str());
        let retired =
            store.keys("dev", APP).await.unwrap().iter().any(|k| k.kid == kid && k.state == KeyState::Retired);
        let completed = store.rotation(&second_id).await.unwrap().is_some_and(|r| r.state.as_str() == "completed");
        (gone && retired && completed).then_some(())
    })
    .await;
    let got = stdout_json(&keyward(
        &["rotation", "get", second["rotation"]["rotation_id"].as_str().unwrap(), "--json", "--endpoint", &endpoint],
        &[("KEYWARD_TOKEN", token.trim())],
    ));
    assert_eq!(got["state"], "COMPLETED", "{got}");

    // Bad input: the server's INVALID_ARGUMENT names the field, exit 64; a wrong token exits 77.
    let out = keyward(
        &["rotate", "client", "--tenant", "dev", "--client", APP, "--bits", "1024", "--endpoint", &endpoint],
        &[("KEYWARD_TOKEN", token.trim())],
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(stderr(&out).contains("key_bits"), "{}", stderr(&out));
    let out = keyward(&["rotation", "get", &rotation_id, "--endpoint", &endpoint], &[("KEYWARD_TOKEN", "wrong")]);
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
    assert!(stderr(&out).contains("UNAUTHENTICATED"));

    // The audit log through the CLI: JSON lines, oldest first, the rotations' steps among them.
    let out = keyward(&["audit", "tail", "--json", "--endpoint", &endpoint], &[("KEYWARD_TOKEN", token.trim())]);
    assert!(out.status.success(), "{}", stderr(&out));
    let events: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!events.is_empty() && events.len() <= 20, "{events:?}");
    assert!(events.windows(2).all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()));
    assert!(events.iter().any(|e| e["kind"] == "rotation.completed"), "{events:?}");

    // Restart on the same dir: same token, same tenant (issuer), same credential, same rotation.
    k.kill();
    let k = start(&["dev", "--dir", &d, "--listen", "127.0.0.1:0"], &[]);
    assert_eq!(std::fs::read_to_string(dir.join("token")).unwrap(), token);
    let emulator_url = std::fs::read_to_string(dir.join("emulator-url")).unwrap().trim().to_owned();
    let state = emulator_state(&emulator_url).await;
    assert_eq!(state["domain"], DOMAIN);
    let app = app(&emulator_url).await;
    let second_kid = second["credential"]["kid"].as_str().unwrap();
    assert!(app["credentials"].as_array().unwrap().iter().any(|c| c["kid"] == second_kid), "{app}");
    let got = stdout_json(&keyward(
        &["rotation", "get", &rotation_id, "--json", "--endpoint", &format!("http://{}", k.addr)],
        &[("KEYWARD_TOKEN", token.trim())],
    ));
    assert_eq!(got["state"], "COMPLETED");
    let active = store.keys("dev", APP).await.unwrap().into_iter().find(|k| k.state == KeyState::Active).unwrap();
    let (status, body) = exchange(&emulator_url, &kek_ring(&dir.join("kek")).all(), &active).await;
    assert_eq!(status, 200, "the key still works after restart: {body}");

    // `keyward revoke`: the active key only with --force (one stderr line naming it); a
    // retiring one at once, gone from Auth0.
    let endpoint = format!("http://{}", k.addr);
    let env = [("KEYWARD_TOKEN", token.trim())];
    let third = stdout_json(&keyward(
        &["rotate", "client", "--tenant", "dev", "--client", APP, "--json", "--endpoint", &endpoint],
        &env,
    ));
    let retiring = third["previous_credential_id"].as_str().unwrap().to_owned();
    let current = third["credential"]["credential_id"].as_str().unwrap().to_owned();
    let revoke = |credential: &str, extra: &[&str]| {
        let mut args = vec!["revoke", "--tenant", "dev", "--client", APP, "--credential", credential];
        args.extend_from_slice(&["--reason", "laptop stolen", "--endpoint", &endpoint]);
        args.extend_from_slice(extra);
        keyward(&args, &env)
    };
    let out = revoke(&current, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("force"), "{}", stderr(&out));
    let revoked = stdout_json(&revoke(&retiring, &["--json"]));
    assert_eq!(revoked["revocation"]["state"], "COMPLETED", "{revoked}");
    assert_eq!(revoked["revocation"]["reason"], "laptop stolen", "{revoked}");
    assert_eq!(revoked["active_credential_id"], current.as_str(), "{revoked}");
    let held = support::app(&emulator_url).await;
    assert!(held["credentials"].as_array().unwrap().iter().all(|c| c["id"] != retiring.as_str()), "{held}");
    let table = String::from_utf8(revoke(&retiring, &[]).stdout).unwrap();
    assert!(table.contains("COMPLETED") && table.contains("active credential"), "{table}");
}

fn write_sqlite_config(dir: &Path, emulator_url: &str, token: &str) -> std::path::PathBuf {
    let kek = dir.join("kek");
    std::fs::write(&kek, keyward::seal::Kek::generate(&mut rng()).to_text().as_str()).unwrap();
    let hash: String = keyward::grpc::token_hash(token).iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join("keyward.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\nstore = \"sqlite://{db}\"\n[kek]\nfile = \"{kek}\"\n[auth]\n\
             bearer_token_sha256 = [\"{hash}\"]\n[tenants.dev]\ndomain = \"{DOMAIN}\"\nbase_url = \"{emulator_url}\"\n\
             management_client_id = \"keyward-management\"\n\
             management_client_secret = \"dev-management-secret-change-me\"\nclients = [\"{APP}\"]\n",
            db = dir.join("k.db").display(),
            kek = kek.display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kek_rotation_under_a_running_server_keeps_every_key_openable() {
    let (_tmp, dir) = tempdir();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let seed =
        keyward_auth0_emulator::Seed::from_json(include_str!("../crates/keyward-auth0-emulator/examples/seed.json"))
            .unwrap();
    let emu = keyward_auth0_emulator::start(
        listener,
        keyward_auth0_emulator::EmulatorConfig {
            seed,
            domain: Some(DOMAIN.into()),
            control: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let token = format!("t-{}", random_hex(12));
    let config = write_sqlite_config(&dir, &emu.base_url(), &token);
    let c = config.display().to_string();
    let k = start(&["serve", "--config", &c], &[]);
    let mut client = k.client(&token).await;
    let req = || keyward::grpc::proto::RotateClientCredentialRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        ..Default::default()
    };
    client.rotate_client_credential(req()).await.unwrap();
    let old_ring = kek_ring(&dir.join("kek"));

    let report = stdout_json(&keyward(&["kek", "rotate", "--config", &c, "--json"], &[]));
    assert_eq!(report["rewrapped"], 1, "{report}");
    let ring = kek_ring(&dir.join("kek"));
    assert_eq!(ring.previous.len(), 1);
    assert_eq!(ring.previous[0].id(), old_ring.current.id(), "the old KEK stays behind the new one");
    assert_ne!(ring.current.id(), old_ring.current.id());

    // The running server (still on the old ring) keeps rotating: no downtime.
    client.rotate_client_credential(req()).await.unwrap();
    let store = open_store(&format!("sqlite://{}", dir.join("k.db").display())).await;
    let live: Vec<_> =
        store.keys("dev", APP).await.unwrap().into_iter().filter(|k| k.state != KeyState::Retired).collect();
    assert!(live.iter().any(|k| k.sealed.kek_id == old_ring.current.id()), "sealed by the old server");
    // Prune refuses to drop a KEK still in use; rewrap then prune drops it.
    let pruned = stdout_json(&keyward(&["kek", "prune", "--config", &c, "--json"], &[]));
    assert_eq!(pruned["pruned"].as_array().unwrap().len(), 0, "{pruned}");
    let rewrapped = stdout_json(&keyward(&["kek", "rewrap", "--config", &c, "--json"], &[]));
    assert!(rewrapped["rewrapped"].as_u64().unwrap() >= 1, "{rewrapped}");
    let pruned = stdout_json(&keyward(&["kek", "prune", "--config", &c, "--json"], &[]));
    assert_eq!(pruned["pruned"][0], old_ring.current.id(), "{pruned}");
    let ring = kek_ring(&dir.join("kek"));
    assert!(ring.previous.is_empty());

    // Every live key opens under the new KEK alone and still works at Auth0.
    k.kill();
    let k = start(&["serve", "--config", &c], &[]);
    check_invariants("after KEK rotation", &emu.base_url(), &store, &kek_ring(&dir.join("kek")).all()).await;
    let active = store.keys("dev", APP).await.unwrap().into_iter().find(|k| k.state == KeyState::Active).unwrap();
    assert_eq!(active.sealed.kek_id, ring.current.id());
    k.kill();

    // The audit log holds each KEK operation (ids and counts, no key material) and the grants,
    // recorded once for two starts with the same configuration.
    let events = store.audit_after(0, 10_000).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    for kind in ["kek.rotated", "kek.rewrapped", "kek.pruned"] {
        assert!(kinds.contains(&kind), "{kind}: {kinds:?}");
    }
    let rotated = events.iter().find(|e| e.kind == "kek.rotated").unwrap();
    assert!(rotated.detail.contains(ring.current.id()) && !rotated.detail.contains(ring.current.to_text().as_str()));
    let grants: Vec<_> = events.iter().filter(|e| e.kind == "access.grants").collect();
    assert_eq!(grants.len(), 1, "{grants:#?}");
    assert!(!grants[0].detail.contains(&token), "{}", grants[0].detail);
    assert!(grants[0].detail.contains("\"permissions\":[\"admin\"]"), "{}", grants[0].detail);

    // A changed token (a grant change) is recorded at the next start.
    let text = std::fs::read_to_string(&config).unwrap();
    let other: String = keyward::grpc::token_hash("another-token").iter().map(|b| format!("{b:02x}")).collect();
    let old: String = keyward::grpc::token_hash(&token).iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&config, text.replace(&old, &other)).unwrap();
    start(&["serve", "--config", &c], &[]).kill();
    let events = store.audit_after(0, 10_000).await.unwrap();
    let grants: Vec<_> = events.iter().filter(|e| e.kind == "access.grants").collect();
    assert_eq!(grants.len(), 2, "{grants:#?}");
    assert_ne!(grants[0].detail, grants[1].detail);
}

#[test]
fn serve_refuses_a_bad_config_with_every_problem_and_exit_64() {
    let (_tmp, dir) = tempdir();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "listen = \"nowhere\"\nstore = \"mysql://x\"\n[auth]\nbearer_token_sha256 = [\"abc\"]\n")
        .unwrap();
    let out = keyward(&["serve", "--config", &path.display().to_string()], &[]);
    assert_eq!(out.status.code(), Some(64));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 5, "one line per problem: {err}");
    for (line, field) in lines.iter().zip(["listen", "store", "kek", "bearer_token_sha256[0]", "tenants"]) {
        assert!(line.starts_with("keyward: configuration: ") && line.contains(field), "{field}: {err}");
    }
    let out = keyward(&["serve", "--config", &dir.join("missing.toml").display().to_string()], &[]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    std::fs::write(&path, "bogus = 1\n").unwrap();
    let out = keyward(&["serve", "--config", &path.display().to_string()], &[]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("bogus"), "{}", stderr(&out));
}
