//! The client commands' exit codes and streams against a real `keyward dev`: a wrong token is 77
//! naming the endpoint, `KEYWARD_ENDPOINT` is honoured, and a reader that stops reading ends a
//! listing quietly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Output};

use support::*;

fn keyward(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.args(args).env_remove("KEYWARD_TOKEN").env_remove("KEYWARD_ENDPOINT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn client_exit_codes_and_streams_against_a_server() {
    let (_tmp, tmp) = tempdir();
    let dir = tmp.join("state");
    let k = start(&["dev", "--dir", &dir.display().to_string(), "--listen", "127.0.0.1:0"], &[]);
    let endpoint = format!("http://{}", k.addr);
    let token_file = dir.join("token").display().to_string();
    let list = ["credentials", "list", "--tenant", "dev", "--client", APP];

    // KEYWARD_ENDPOINT alone finds the server.
    let rotated = keyward(
        &["rotate", "client", "--tenant", "dev", "--client", APP, "--token-file", &token_file],
        &[("KEYWARD_ENDPOINT", &endpoint)],
    );
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let listed = keyward(&[&list[..], &["--token-file", &token_file]].concat(), &[("KEYWARD_ENDPOINT", &endpoint)]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(String::from_utf8_lossy(&listed.stdout).contains("managed by keyward"));

    // A wrong token: 77, one line naming the endpoint tried.
    let wrong = tmp.join("wrong-token");
    std::fs::write(&wrong, "kwdev_not-the-token\n").unwrap();
    let wrong = wrong.display().to_string();
    let out = keyward(&[&list[..], &["--endpoint", &endpoint, "--token-file", &wrong]].concat(), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.starts_with(&format!("keyward: UNAUTHENTICATED from {endpoint}: ")), "{err}");
    assert!(out.stdout.is_empty());

    // Nobody listening: 69, one line naming the endpoint tried.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let out = keyward(&["status", "--endpoint", &closed, "--token-file", &token_file], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.starts_with(&format!("keyward: cannot reach keyward at {closed}: ")), "{err}");

    // `keyward credentials list … | head -c 0`: the reader is gone before the table comes.
    let (code, err) = run_with_stdout_closed(
        Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args([&list[..], &["--endpoint", &endpoint, "--token-file", &token_file]].concat())
            .env_remove("KEYWARD_TOKEN"),
    );
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    assert_eq!(code, Some(0), "{err}");
}
