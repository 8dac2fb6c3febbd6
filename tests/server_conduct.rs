//! How a running `keyward` stops, against the real binary: the first SIGINT/SIGTERM drains and
//! says so once a second, a second one exits at once (130 after SIGINT), a rotation cut off by
//! the drain is answered UNAVAILABLE naming it and resumes at the next start; log lines carry a
//! timestamp and a level; `config check` lists one problem per line. No timing is asserted: the
//! tests wait for events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use keyward::grpc::proto;
use keyward::store::{RotationState, RotationStore};
use support::*;

/// Sends `signal` (`INT`, `TERM`) to the process.
fn signal(k: &Keyward, signal: &str) {
    let status = Command::new("kill").args([&format!("-{signal}"), &k.child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// Reads the process's output into `seen` until a line satisfies `wanted`; returns that line.
async fn wait_for_line(k: &Keyward, seen: &mut Vec<String>, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut checked = 0;
    loop {
        seen.extend(k.output_so_far());
        if let Some(line) = seen[checked..].iter().find(|l| wanted(l)) {
            return line.clone();
        }
        checked = seen.len();
        assert!(Instant::now() < deadline, "no line {what}: {seen:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `2026-12-07T11:37:48.123456Z  INFO message`: an RFC 3339 timestamp, then the level.
fn is_log_line(line: &str, level: &str) -> bool {
    let mut words = line.split_whitespace();
    let stamp = words.next().unwrap_or_default();
    let stamped = stamp.len() >= 20 && stamp.as_bytes()[4] == b'-' && stamp.contains('T') && stamp.ends_with('Z');
    stamped && words.next() == Some(level)
}

fn dev(dir: &Path, env: &[(&str, &str)]) -> Keyward {
    start(&["dev", "--dir", &dir.display().to_string(), "--listen", "127.0.0.1:0"], env)
}

fn rotate_request() -> tonic::Request<proto::RotateClientCredentialRequest> {
    let mut r = tonic::Request::new(proto::RotateClientCredentialRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        request_id: "cut-off-by-the-drain".into(),
        ..Default::default()
    });
    r.set_timeout(Duration::from_secs(120));
    r
}

/// Starts `keyward dev` stalled in the step from REGISTERED, starts a rotation and waits until
/// it stalls: a rotation in flight for as long as the test needs.
async fn dev_with_a_stalled_rotation(
    dir: &Path,
    seen: &mut Vec<String>,
) -> (Keyward, tokio::task::JoinHandle<Result<tonic::Response<proto::RotateClientCredentialResponse>, tonic::Status>>) {
    let k = dev(dir, &[("KEYWARD_FAULT_PAUSE_AT", "REGISTERED:120s")]);
    let token = std::fs::read_to_string(dir.join("token")).unwrap().trim().to_owned();
    let mut client = k.client(&token).await;
    let call = tokio::spawn(async move { client.rotate_client_credential(rotate_request()).await });
    wait_for_line(&k, seen, "saying the rotation stalls", |l| l.contains("fault injection: stalling")).await;
    (k, call)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_signal_drains_and_says_so_then_the_process_exits() {
    let (_tmp, tmp) = tempdir();
    let mut k = dev(&tmp.join("state"), &[]);
    // The banner's facts are log lines: a timestamp, then the level.
    assert!(is_log_line(&k.banner, "INFO"), "{}", k.banner);
    assert!(k.banner.contains("bearer token in "), "{}", k.banner);

    signal(&k, "INT");
    let (code, lines) = k.wait_exit("after SIGINT", Duration::from_secs(60));
    assert_eq!(code, Some(0), "{lines:#?}");
    let logged = |what: &str, level: &str| lines.iter().any(|l| l.contains(what) && is_log_line(l, level));
    assert!(logged("shutting down", "INFO"), "{lines:#?}");
    assert!(logged("draining rpcs_in_flight=0 rotations_running=0", "INFO"), "{lines:#?}");
    assert!(logged("drained", "INFO"), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.starts_with("keyward: ")), "everything through the log: {lines:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_leaving_the_rotation_resumable() {
    let (_tmp, tmp) = tempdir();
    let dir = tmp.join("state");
    let mut seen = Vec::new();
    let (mut k, call) = dev_with_a_stalled_rotation(&dir, &mut seen).await;

    signal(&k, "INT");
    // The drain reports the call and the rotation it waits for.
    let progress = wait_for_line(&k, &mut seen, "reporting the drain", |l| {
        l.contains("draining rpcs_in_flight=1 rotations_running=1")
    })
    .await;
    assert!(is_log_line(&progress, "INFO"), "{progress}");

    signal(&k, "INT");
    let (code, lines) = k.wait_exit("after a second SIGINT", Duration::from_secs(60));
    seen.extend(lines);
    assert_eq!(code, Some(keyward::service::EXIT_ON_SECOND_SIGINT), "{seen:#?}");
    assert!(
        seen.iter().any(|l| is_log_line(l, "WARN")
            && l.contains("second signal: exiting now; interrupted rotations resume on the next start")),
        "{seen:#?}"
    );
    // The caller lost its connection; the rotation stayed open in the store.
    assert!(call.await.unwrap().is_err());

    // Started again without the stall, it resumes the rotation by itself.
    let _k = dev(&dir, &[]);
    let store = open_store(&format!("sqlite://{}", dir.join("keyward.db").display())).await;
    eventually("the interrupted rotation to resume", || async {
        store.rotation_by_request("dev", "cut-off-by-the-drain").await.unwrap().filter(|r| finished(r.state))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_cut_off_by_the_drain_is_unavailable_naming_it_and_resumes_at_the_next_start() {
    let (_tmp, tmp) = tempdir();
    let dir = tmp.join("state");
    let mut seen = Vec::new();
    let (mut k, call) = dev_with_a_stalled_rotation(&dir, &mut seen).await;

    k.terminate();
    let status = call.await.unwrap().expect_err("the rotation cannot finish during the drain");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let message = status.message();
    let id = message.split_whitespace().find(|w| w.starts_with("rot_")).expect(message).to_owned();
    assert!(message.contains("interrupted by shutdown"), "{message}");
    assert!(message.contains(&format!("(keyward rotation get {id})")), "{message}");

    let (code, lines) = k.wait_exit("after SIGTERM", Duration::from_secs(60));
    seen.extend(lines);
    assert_eq!(code, Some(0), "{seen:#?}");
    // The rotation's own log line names it, with its tenant and client.
    assert!(
        seen.iter().any(|l| is_log_line(l, "WARN")
            && l.contains("rotation interrupted by shutdown")
            && l.contains(&format!("rotation={id}"))
            && l.contains("tenant=dev")
            && l.contains(&format!("client={APP}"))),
        "{seen:#?}"
    );

    // Started again, it resumes the rotation the caller was told about.
    let _k = dev(&dir, &[]);
    let store = open_store(&format!("sqlite://{}", dir.join("keyward.db").display())).await;
    eventually("the interrupted rotation to resume", || async {
        store.rotation(&id).await.unwrap().filter(|r| finished(r.state))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_rotation_cut_off_by_the_drain_is_unavailable_and_finishes_when_retried() {
    let (_tmp, tmp) = tempdir();
    let dir = tmp.join("state");
    let mut seen = Vec::new();
    let connection = "con_demooidc0000001";
    let request = || {
        let mut r = tonic::Request::new(proto::RotateConnectionKeysRequest {
            tenant: "dev".into(),
            connection_id: connection.into(),
            request_id: "connection-cut-off".into(),
            ..Default::default()
        });
        r.set_timeout(Duration::from_secs(120));
        r
    };
    let mut k = dev(&dir, &[("KEYWARD_FAULT_PAUSE_AT", "connection:120s")]);
    let token = std::fs::read_to_string(dir.join("token")).unwrap().trim().to_owned();
    let mut client = k.client(&token).await;
    let call = tokio::spawn(async move { client.rotate_connection_keys(request()).await });
    wait_for_line(&k, &mut seen, "saying the rotation stalls", |l| l.contains("fault injection: stalling")).await;

    k.terminate();
    let status = call.await.unwrap().expect_err("the rotation cannot finish during the drain");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains(&format!("connection {connection:?} interrupted by shutdown")), "{status:?}");
    assert!(status.message().contains("retry with request_id \"connection-cut-off\""), "{status:?}");
    let (code, lines) = k.wait_exit("after SIGTERM", Duration::from_secs(60));
    assert_eq!(code, Some(0), "{lines:#?}");

    // Retried as told, once keyward is back, it finishes.
    let k = dev(&dir, &[]);
    let rotated = k.client(&token).await.rotate_connection_keys(request()).await.unwrap().into_inner();
    assert!(rotated.verified, "{rotated:?}");
}

/// ACTIVE, or COMPLETED for a first rotation (no old key to retire).
fn finished(state: RotationState) -> bool {
    matches!(state, RotationState::Active | RotationState::Completed)
}

fn keyward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward")).args(args).env_remove("KEYWARD_STORE").output().unwrap()
}

#[test]
fn config_check_lists_one_problem_per_line() {
    let (_tmp, dir) = tempdir();
    let kek = dir.join("kek");
    let path = dir.join("keyward.toml");
    // An unknown key and an address that does not parse.
    let text = format!(
        "listen = \"nowhere\"\nlisten_port = 50051\nstore = \"sqlite://{db}\"\n[kek]\nfile = \"{kek}\"\n\
         [auth]\nbearer_token_sha256 = [\"{hash}\"]\n[tenants.dev]\ndomain = \"d.example\"\n\
         management_client_id = \"m\"\nmanagement_client_secret = \"s3cret-value\"\n",
        db = dir.join("k.db").display(),
        kek = kek.display(),
        hash = "c3".repeat(32),
    );
    std::fs::write(&path, text).unwrap();
    let path = path.display().to_string();

    for args in [&["config", "check", "--config", &path][..], &["serve", "--config", &path]] {
        let out = keyward(args);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert!(lines.len() >= 2, "{args:?}: one line per problem: {err}");
        assert!(lines.iter().all(|l| l.starts_with("keyward: configuration: ")), "{args:?}: {err}");
        assert!(lines.iter().any(|l| l.contains("unknown key listen_port")), "{args:?}: {err}");
        assert!(lines.iter().any(|l| l.contains("listen: ")), "{args:?}: {err}");
        assert!(!err.contains("s3cret-value") && !err.contains("; "), "{args:?}: {err}");
    }

    // --json: the problems as an array on stdout, the same lines on stderr, exit 64.
    let out = keyward(&["config", "check", "--config", &path, "--json"]);
    assert_eq!(out.status.code(), Some(64));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], false, "{json}");
    let problems = json["problems"].as_array().unwrap();
    assert_eq!(problems.len(), String::from_utf8(out.stderr).unwrap().lines().count(), "{json}");
}
