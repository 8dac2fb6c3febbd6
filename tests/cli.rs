//! The `keyward` binary's key and JWT tools, run as a user would, checked with openssl and
//! with each other; and how `serve` and `config check` refuse unsafe or wrong settings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn keyward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward")).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = keyward(args);
    assert!(out.status.success(), "keyward {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a failing command and returns its single stderr line.
fn fails(args: &[&str], code: i32) -> String {
    let out = keyward(args);
    assert_eq!(out.status.code(), Some(code), "keyward {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
    err
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn openssl(args: &[&str], dir: &Path) -> String {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl must be installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn keygen_writes_the_files_and_prints_auth0_fields() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested/key");
    let json: Value =
        serde_json::from_str(&ok(&["keygen", "--alg", "PS256", "--name", "Conn-1", "--out", p(&out)])).unwrap();
    for field in [
        "kid",
        "algorithm",
        "key_use",
        "subject_dn",
        "cert",
        "pkcs",
        "fingerprint",
        "thumbprint",
        "thumbprint_sha256",
        "jwk",
    ] {
        assert!(json.get(field).is_some(), "missing {field} in {json}");
    }
    assert_eq!(json["algorithm"], "PS256");
    assert_eq!(json["key_use"], "signing");
    assert_eq!(json["subject_dn"], "/CN=Conn-1");
    assert_eq!(json["jwk"]["kid"], json["kid"]);
    assert!(json["cert"].as_str().unwrap().ends_with("-----END CERTIFICATE-----\r\n"));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("private.pem")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let fp = openssl(&["x509", "-in", "cert.pem", "-noout", "-fingerprint", "-sha1"], &out);
    assert_eq!(fp.trim().split_once('=').unwrap().1, json["fingerprint"]);
    let p7 = openssl(&["pkcs7", "-in", "cert.p7b", "-print_certs"], &out);
    let cert = std::fs::read_to_string(out.join("cert.pem")).unwrap();
    assert!(p7.contains(cert.trim()), "{p7}");
    let spki = openssl(&["pkey", "-in", "private.pem", "-pubout"], &out);
    assert_eq!(spki, std::fs::read_to_string(out.join("public.pem")).unwrap());

    // cert inspect on the certificate and on the PKCS#7 agrees with keygen.
    for file in ["cert.pem", "cert.p7b"] {
        let inspected: Value =
            serde_json::from_str(&ok(&["cert", "inspect", "--alg", "PS256", p(&out.join(file))])).unwrap();
        for field in ["kid", "fingerprint", "thumbprint", "thumbprint_sha256", "subject_dn", "cert", "pkcs", "jwk"] {
            assert_eq!(inspected[field], json[field], "{file}: {field}");
        }
        assert!(inspected["not_before"].as_str().unwrap().ends_with('Z'));
    }

    // Never overwrite a private key without --force.
    let before = std::fs::read(out.join("private.pem")).unwrap();
    let err = fails(&["keygen", "--alg", "RS256", "--out", p(&out)], 1);
    assert!(err.contains("already exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(out.join("private.pem")).unwrap(), before);
    ok(&["keygen", "--alg", "ES256", "--out", p(&out), "--force"]);
    assert_ne!(std::fs::read(out.join("private.pem")).unwrap(), before);
}

#[test]
fn keygen_refuses_bad_choices_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k");
    assert!(fails(&["keygen", "--alg", "ES256", "--bits", "2048", "--out", p(&out)], 64).contains("--bits"));
    assert!(fails(&["keygen", "--alg", "RS256", "--bits", "1024", "--out", p(&out)], 64).contains("1024"));
    // clap's refusals are usage errors too: 64, one line.
    assert!(fails(&["keygen", "--alg", "HS256", "--out", p(&out)], 64).contains("HS256"));
    assert!(fails(&["keygen", "--alg", "RS256", "--out", p(&out), "--backend", "gpu"], 64).contains("gpu"));
    assert!(!out.join("private.pem").exists());
}

#[test]
fn jwt_sign_assertion_and_verify_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&["keygen", "--alg", "RS256", "--out", p(d)]);
    let key = d.join("private.pem");

    let token =
        ok(&["jwt", "sign", "--key", p(&key), "--alg", "RS384", "--kid", "k-1", "--claims", r#"{"sub":"x","n":1}"#]);
    for verifier in ["public.pem", "cert.pem", "private.pem"] {
        let v: Value =
            serde_json::from_str(&ok(&["jwt", "verify", "--key", p(&d.join(verifier)), token.trim()])).unwrap();
        assert_eq!(v["header"]["alg"], "RS384");
        assert_eq!(v["header"]["kid"], "k-1");
        assert_eq!(v["claims"]["n"], 1);
    }
    assert!(
        fails(&["jwt", "verify", "--key", p(&d.join("public.pem")), "--alg", "RS256", token.trim()], 1)
            .contains("RS256")
    );

    let assertion = ok(&[
        "jwt",
        "assertion",
        "--key",
        p(&key),
        "--alg",
        "PS256",
        "--client-id",
        "cid",
        "--audience",
        "https://t.example/",
        "--lifetime",
        "2m",
    ]);
    // A JWKS built from keygen's jwk verifies it; the kid selects the key.
    let jwk: Value = serde_json::from_str(&ok(&["cert", "inspect", p(&d.join("cert.pem"))])).unwrap();
    std::fs::write(d.join("jwks.json"), serde_json::json!({ "keys": [jwk["jwk"]] }).to_string()).unwrap();
    let v: Value =
        serde_json::from_str(&ok(&["jwt", "verify", "--key", p(&d.join("jwks.json")), assertion.trim()])).unwrap();
    let c = &v["claims"];
    assert_eq!(
        (c["iss"].as_str(), c["sub"].as_str(), c["aud"].as_str()),
        (Some("cid"), Some("cid"), Some("https://t.example/"))
    );
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 120);
    assert_eq!(c["jti"].as_str().unwrap().len(), 36);

    assert!(
        fails(
            &[
                "jwt",
                "assertion",
                "--key",
                p(&key),
                "--alg",
                "RS256",
                "--client-id",
                "c",
                "--audience",
                "a",
                "--lifetime",
                "301s"
            ],
            1
        )
        .contains("300")
    );
    assert!(fails(&["jwt", "sign", "--key", p(&key), "--alg", "ES256", "--claims", "{}"], 1).contains("does not fit"));
    assert!(fails(&["jwt", "sign", "--key", p(&key), "--alg", "RS256", "--claims", "[1]"], 64).contains("--claims"));
}

#[test]
fn jwt_verify_refuses_bad_tokens_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&["keygen", "--alg", "ES256", "--out", p(d)]);
    let key_path = d.join("private.pem");
    let key = p(&key_path);
    let public = d.join("public.pem");
    let expired = ok(&["jwt", "sign", "--key", key, "--alg", "ES256", "--claims", r#"{"exp":1000}"#]);
    let future = ok(&["jwt", "sign", "--key", key, "--alg", "ES256", "--claims", r#"{"nbf":99999999999}"#]);
    let good = ok(&["jwt", "sign", "--key", key, "--alg", "ES256", "--claims", r#"{"a":1}"#]);
    let (h, rest) = good.trim().split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let none_header = "eyJhbGciOiJub25lIn0"; // {"alg":"none"}
    let cases = [
        (expired.trim().to_owned(), "expired"),
        (future.trim().to_owned(), "not yet valid"),
        (format!("{none_header}.{}.", rest.split_once('.').unwrap().0), "alg none"),
        (format!("{h}.eyJhIjoyfQ.{sig}"), "verification failed"),
        ("a.b".to_owned(), "three"),
        ("!!.e30.AA".to_owned(), "base64"),
    ];
    for (token, why) in cases {
        let err = fails(&["jwt", "verify", "--key", p(&public), &token], 1);
        assert!(err.contains(why), "{why}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // A wide leeway accepts the expired token.
    ok(&["jwt", "verify", "--key", p(&public), "--leeway", "2000000000s", expired.trim()]);
    // Bad key files are one clean line too.
    std::fs::write(d.join("junk.pem"), "hello").unwrap();
    assert!(fails(&["jwt", "verify", "--key", p(&d.join("junk.pem")), good.trim()], 1).contains("PEM"));
    assert!(fails(&["jwt", "verify", "--key", p(&d.join("missing.pem")), good.trim()], 1).contains("missing.pem"));
    assert!(fails(&["cert", "inspect", p(&public)], 1).contains("CERTIFICATE"));
}

#[test]
fn bench_sign_reports_json() {
    for backend in ["rustcrypto", "aws-lc"] {
        let out = keyward(&[
            "bench",
            "sign",
            "--alg",
            "ES256",
            "--backend",
            backend,
            "--threads",
            "1",
            "--seconds",
            "0.2",
            "--json",
        ]);
        if backend == "aws-lc" && !out.status.success() {
            // Built without the aws-lc feature.
            assert!(String::from_utf8_lossy(&out.stderr).contains("not built"));
            continue;
        }
        assert!(out.status.success());
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["alg"], "ES256");
        assert_eq!(v["backend"], backend);
        assert_eq!(v["threads"], 1);
        assert!(v["ops"].as_u64().unwrap() > 0);
        assert!(v["ops_per_s"].as_f64().unwrap() > 0.0);
    }
    assert!(fails(&["bench", "sign", "--alg", "ES256", "--seconds", "0", "--json"], 64).contains("--seconds"));
}

/// `keyward ARGS` with `env` and none of the caller's own `KEYWARD_…` variables.
fn keyward_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    for (var, _) in std::env::vars().filter(|(var, _)| var.starts_with("KEYWARD_")) {
        cmd.env_remove(var);
    }
    cmd.args(args).envs(env.iter().copied()).output().unwrap()
}

/// A complete config listening on `listen`, with `extra` top-level keys.
fn config(dir: &Path, listen: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("keyward.toml");
    let text = format!(
        "listen = \"{listen}\"\n{extra}\nstore = \"sqlite://{db}\"\n[kek]\nfile = \"{kek}\"\n[auth]\n\
         bearer_token_sha256 = [\"{hash}\"]\n[tenants.dev]\ndomain = \"d.example\"\n\
         management_client_id = \"m\"\nmanagement_client_secret = \"s3cret-value\"\n",
        db = p(&dir.join("k.db")),
        kek = p(&dir.join("kek")),
        hash = "c3".repeat(32),
    );
    std::fs::write(&path, text).unwrap();
    let kek = dir.join("kek");
    if !kek.exists() {
        std::fs::write(&kek, format!("{}\n", "ab".repeat(32))).unwrap();
        set_mode(&kek, 0o600);
    }
    path
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Refused with 64: one `keyward: …` line on stderr per problem, no secret, no panic.
fn lines_64(out: &Output) -> String {
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.lines().count() >= 1, "{err}");
    assert!(err.lines().all(|l| l.starts_with("keyward: ")), "one problem per line: {err}");
    assert!(!err.contains("s3cret-value") && !err.contains("panicked"), "{err}");
    err
}

#[test]
fn plaintext_grpc_beyond_loopback_needs_tls_or_allow_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "0.0.0.0:0", "");
    for command in ["serve", "config check"] {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.extend(["--config", p(&path)]);
        let err = lines_64(&keyward_env(&args, &[]));
        assert!(err.contains("listen: 0.0.0.0:0") && err.contains("[tls]"), "{command}: {err}");
        assert!(err.contains("allow_plaintext = true"), "{command}: {err}");
    }
    let path = config(dir.path(), "0.0.0.0:0", "allow_plaintext = true");
    let out = keyward_env(&["config", "check", "--config", p(&path)], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = config(dir.path(), "127.0.0.1:0", "");
    assert!(keyward_env(&["config", "check", "--config", p(&path)], &[]).status.success());
}

#[test]
fn an_unknown_key_is_listed_with_a_bad_value_and_refused_by_serve_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "nowhere", "listen_port = 50051");
    for command in ["serve", "config check"] {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.extend(["--config", p(&path)]);
        let err = lines_64(&keyward_env(&args, &[]));
        assert!(err.contains("line 2: unknown key listen_port") && err.contains("listen: "), "{command}: {err}");
    }
}

#[test]
fn config_check_opens_the_kek_and_the_tls_files_and_parses_the_store_url() {
    let dir = tempfile::tempdir().unwrap();
    let clean = config(dir.path(), "127.0.0.1:0", "");
    let out = keyward_env(&["config", "check", "--config", p(&clean)], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok ("), "a confirmation on stdout");

    // A garbage KEK, then the same KEK readable by others: each a problem naming the file.
    let kek = dir.path().join("kek");
    std::fs::write(&kek, "not-a-kek-secret\n").unwrap();
    set_mode(&kek, 0o600);
    let err = lines_64(&keyward_env(&["config", "check", "--config", p(&clean)], &[]));
    assert!(err.contains("kek: ") && err.contains(p(&kek)) && !err.contains("not-a-kek-secret"), "{err}");
    std::fs::write(&kek, format!("{}\n", "ab".repeat(32))).unwrap();
    set_mode(&kek, 0o644);
    let err = lines_64(&keyward_env(&["config", "check", "--config", p(&clean)], &[]));
    assert!(err.contains(p(&kek)) && err.contains("mode 0644"), "{err}");
    set_mode(&kek, 0o600);

    // A TLS key that is not PEM, beside a certificate that is.
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            p(&key),
            "-out",
            p(&cert),
            "-subj",
            "/CN=keyward",
            "-days",
            "1",
        ],
        dir.path(),
    );
    set_mode(&key, 0o600);
    let tls = format!("[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n", p(&cert), p(&key));
    std::fs::write(dir.path().join("with-tls.toml"), format!("{}{tls}", std::fs::read_to_string(&clean).unwrap()))
        .unwrap();
    let with_tls = dir.path().join("with-tls.toml");
    let out = keyward_env(&["config", "check", "--config", p(&with_tls)], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&key, "private key material, not PEM").unwrap();
    for command in ["serve", "config check"] {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.extend(["--config", p(&with_tls)]);
        let err = lines_64(&keyward_env(&args, &[]));
        assert!(err.contains("tls.key_file") && !err.contains("private key material"), "{command}: {err}");
    }

    // A PostgreSQL URL that does not parse.
    let out = keyward_env(
        &["config", "check", "--config", p(&clean)],
        &[("KEYWARD_STORE", "postgres://keyward@[not-a-host/keyward")],
    );
    let err = lines_64(&out);
    assert!(err.contains("store: not a valid PostgreSQL URL"), "{err}");
}

#[test]
fn serve_takes_every_limit_as_a_flag_over_the_environment() {
    let help = ok(&["serve", "--help"]);
    for flag in [
        "--max-concurrent-streams",
        "--max-connections",
        "--max-concurrent-requests-per-connection",
        "--request-timeout",
        "--http2-keepalive-interval",
        "--http2-keepalive-timeout",
        "--max-header-list-size",
    ] {
        assert!(help.contains(flag), "{flag} missing from serve --help:\n{help}");
    }
    // A bad flag is reported as the flag before anything is bound; a good flag hides the bad
    // environment value it overrides.
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "127.0.0.1:0", "");
    let args = ["serve", "--config", p(&path), "--max-connections", "0", "--request-timeout", "5s"];
    let env = [("KEYWARD_MAX_CONNECTIONS", "64"), ("KEYWARD_REQUEST_TIMEOUT", "soon")];
    let err = lines_64(&keyward_env(&args, &env));
    assert!(err.contains("--max-connections (limits.max_connections): 0 is not between"), "{err}");
    assert!(!err.contains("KEYWARD_") && !err.contains("request_timeout"), "{err}");
    assert!(!dir.path().join("k.db").exists(), "nothing opened before the config is valid");
}

#[test]
fn the_example_config_is_refused_until_its_token_hashes_are_filled_in() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/keyward.example.toml");
    let out = keyward_env(&["config", "check", "--config", example], &[("AUTH0_DEV_MANAGEMENT_SECRET", "x")]);
    let err = lines_64(&out);
    for expected in [
        "auth.bearer_token_sha256[0]: still the example's placeholder",
        "principals[0].bearer_token_sha256[0]: still the example's placeholder",
        "openssl rand -hex 32 > token",
        "sha256sum",
    ] {
        assert!(err.contains(expected), "{expected} missing from {err}");
    }
}

/// Exit `code` with exactly one `keyward: …` line on stderr and nothing on stdout; returns it.
fn one_line(out: &Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("keyward: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    err
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("key");
    // The reader goes away before keygen prints (RSA generation takes a while): `| head -c 0`.
    let (code, err) = support::run_with_stdout_closed(Command::new(env!("CARGO_BIN_EXE_keyward")).args([
        "keygen",
        "--alg",
        "RS256",
        "--name",
        "pipe",
        "--out",
        p(&out),
    ]));
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.is_empty(), "nothing said: {err}");
    assert!(out.join("private.pem").exists(), "the work is done all the same");
}

#[test]
fn usage_errors_are_one_line_exit_64_with_a_help_hint() {
    for args in [
        &["credentials", "list", "--tenant", "dev", "--clinet", "app"][..],
        &["rotate", "client", "--tenant", "dev", "--client", "app", "--grace", "-1"],
        &["rotate", "client", "--tenant", "dev", "--client", "app", "--grace", "soon"],
        &["keygen", "--alg", "RS256", "--out", "k", "--endpoint", "http://127.0.0.1:1"],
    ] {
        let err = one_line(&keyward_env(args, &[]), 64);
        assert!(err.contains("--help"), "{args:?}: {err}");
    }
    let err = one_line(&keyward_env(&["credentials", "list", "--tenant", "dev", "--clinet", "app"], &[]), 64);
    assert!(err.contains("'--clinet'") && err.contains("keyward credentials list --help"), "{err}");
    // Help and version themselves are not errors, and keep their full output.
    let help = keyward_env(&["credentials", "list", "--help"], &[]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8(help.stdout).unwrap();
    assert!(text.lines().count() > 5 && text.contains("KEYWARD_ENDPOINT"), "{text}");
}

#[test]
fn client_flags_are_on_client_commands_only() {
    for cmd in [&["keygen"][..], &["serve"], &["dev"], &["config", "check"], &["kek", "rotate"], &["jwt", "sign"]] {
        let help = ok(&[cmd, &["--help"]].concat());
        for flag in ["--endpoint", "--token-file"] {
            assert!(!help.contains(flag), "{cmd:?} lists {flag}: {help}");
        }
    }
    for cmd in [&["config", "check"][..], &["kek", "rotate"]] {
        assert!(ok(&[cmd, &["--help"]].concat()).contains("--json"), "{cmd:?} keeps --json");
    }
    for cmd in
        [&["credentials", "list"][..], &["rotate", "client"], &["rotation", "get"], &["revoke"], &["audit", "tail"]]
    {
        let help = ok(&[cmd, &["--help"]].concat());
        for flag in ["--endpoint", "--token-file", "--json"] {
            assert!(help.contains(flag), "{cmd:?} lacks {flag}: {help}");
        }
    }
    assert!(!ok(&["--help"]).contains("--endpoint"), "not a top-level option");
    // Before an offline command a client flag is refused, not ignored.
    let err = one_line(
        &keyward_env(&["--endpoint", "http://127.0.0.1:1", "keygen", "--alg", "RS256", "--out", "k"], &[]),
        64,
    );
    assert!(err.contains("--endpoint"), "{err}");
}

#[test]
fn a_missing_or_empty_token_file_is_64_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-token");
    let list = |token: &Path| {
        let args = ["credentials", "list", "--tenant", "dev", "--client", "app", "--endpoint", "http://127.0.0.1:1"];
        keyward_env(&[&args[..], &["--token-file", p(token)]].concat(), &[])
    };
    let err = one_line(&list(&missing), 64);
    assert!(err.contains("--token-file") && err.contains(p(&missing)), "{err}");
    let empty = dir.path().join("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    let err = one_line(&list(&empty), 64);
    assert!(err.contains(p(&empty)) && err.contains("empty"), "{err}");
}

#[test]
fn an_endpoint_without_a_scheme_is_64_saying_to_add_one() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "kwdev_whatever\n").unwrap();
    let args = ["credentials", "list", "--tenant", "dev", "--client", "app", "--token-file", p(&token)];
    let err = one_line(&keyward_env(&[&args[..], &["--endpoint", "127.0.0.1:50051"]].concat(), &[]), 64);
    assert!(err.contains("--endpoint") && err.contains("http://") && err.contains("https://"), "{err}");
    // The same from the environment names the variable.
    let err = one_line(&keyward_env(&args, &[("KEYWARD_ENDPOINT", "127.0.0.1:50051")]), 64);
    assert!(err.contains("KEYWARD_ENDPOINT") && err.contains("http://"), "{err}");
}

#[test]
fn an_unreachable_endpoint_is_69_naming_it_flag_over_env() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "kwdev_whatever\n").unwrap();
    // Ports that were just free: bind, note, release.
    let free = || format!("http://{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap());
    let (from_env, from_flag) = (free(), free());
    let args = ["credentials", "list", "--tenant", "dev", "--client", "app", "--token-file", p(&token)];
    let err = one_line(&keyward_env(&args, &[("KEYWARD_ENDPOINT", &from_env)]), 69);
    assert!(err.contains(&format!("cannot reach keyward at {from_env}")), "KEYWARD_ENDPOINT honoured: {err}");
    let flagged = [&args[..], &["--endpoint", &from_flag]].concat();
    let err = one_line(&keyward_env(&flagged, &[("KEYWARD_ENDPOINT", &from_env)]), 69);
    assert!(err.contains(&from_flag), "the flag wins: {err}");
    // Before the subcommand too.
    let before = [&["--endpoint", &from_flag][..], &args].concat();
    let err = one_line(&keyward_env(&before, &[("KEYWARD_ENDPOINT", &from_env)]), 69);
    assert!(err.contains(&from_flag), "{err}");
}

#[test]
fn completions_are_valid_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&["completions", shell]);
        assert!(script.contains("keyward") && script.contains("credentials"), "{shell}");
        if shell == "bash" {
            let file = dir.path().join("keyward.bash");
            std::fs::write(&file, &script).unwrap();
            let out = Command::new("bash").arg("-n").arg(&file).output().unwrap();
            assert!(out.status.success(), "bash -n: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    one_line(&keyward_env(&["completions", "tcsh"], &[]), 64);
}

#[test]
fn man_writes_a_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("man/man1");
    ok(&["man", "--dir", p(&man)]);
    let page = std::fs::read_to_string(man.join("keyward.1")).unwrap();
    assert!(page.starts_with(".ie") || page.contains(".TH keyward"), "{}", &page[..page.len().min(200)]);
    for sub in ["keyward-credentials.1", "keyward-rotate.1", "keyward-keygen.1", "keyward-completions.1"] {
        assert!(man.join(sub).exists(), "{sub}");
    }
}

#[test]
fn version_names_the_commit() {
    let version = ok(&["--version"]);
    let commit = version.split("(commit ").nth(1).and_then(|r| r.split(')').next()).unwrap_or_default();
    assert!(commit == "unknown" || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())), "{version}");
    assert!(version.starts_with("keyward "), "{version}");
}
