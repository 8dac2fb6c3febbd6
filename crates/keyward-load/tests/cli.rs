//! The binary's exit codes and output channels, without a server: bad usage is one line on
//! stderr and exit 64; an endpoint nobody listens on is one line and exit 69.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn load(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward-load")).args(args).env_remove("KEYWARD_TOKEN").output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn usage_errors_are_one_line_and_exit_64() {
    for args in [
        &["--rpc", "sign-everything", "--tenant", "dev", "--client", "c"][..],
        &["--rpc", "get-jwks", "--tenant", "dev", "--client", "c", "--duration", "1s", "--requests", "5"],
        &["--rpc", "get-jwks", "--tenant", "dev", "--client", "c", "--concurrency", "0"],
        &["--rpc", "get-jwks", "--tenant", "dev", "--client", "c", "--verify"],
        &["--rpc", "get-jwks", "--tenant", "dev", "--client", "c", "--token-file", "/nonexistent/token"],
        &["--rpc", "get-access-token", "--tenant", "dev", "--client", "c"],
    ] {
        let out = load(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
        assert!(err.starts_with("keyward-load: "), "{err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn help_goes_to_stdout() {
    let out = load(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in ["--endpoint", "--token-file", "--rpc", "--concurrency", "--rotate-every", "--verify", "--json"] {
        assert!(text.contains(flag), "{flag} missing from help");
    }
}

#[test]
fn nobody_listening_is_one_line_and_exit_69() {
    // A port that was just free: bind, note it, release.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "kwdev_whatever\n").unwrap();
    let endpoint = format!("http://{addr}");
    let out = load(&[
        "--endpoint",
        &endpoint,
        "--token-file",
        token.to_str().unwrap(),
        "--rpc",
        "get-jwks",
        "--tenant",
        "dev",
        "--client",
        "demo-app",
        "--requests",
        "1",
        "--json",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains("cannot reach keyward at"), "{err}");
    assert!(out.stdout.is_empty());
}
