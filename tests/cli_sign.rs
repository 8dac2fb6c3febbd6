//! `keyward sign assertion|jwt`, `keyward jwks` and `keyward token get` against a real
//! `keyward dev`: the signed thing alone on stdout, `--json` in its documented shape, signatures
//! checked by openssl against the JWKS keyward publishes, and the refusals in one stderr line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::Value;
use support::*;

/// The dev signing-only client (`local_clients`), the one SignJwt signs for.
const SIGNER: &str = "demo-signer";
/// The API the seeded client grant of demo-app names.
const API: &str = "https://api.demo.local/";

/// A `keyward dev` in a temporary directory and the flags that reach it.
struct Dev {
    _server: Keyward,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    endpoint: String,
    token_file: String,
}

impl Dev {
    fn start() -> Dev {
        let (tmp, path) = tempdir();
        let dir = path.join("state");
        let server = start(&["dev", "--dir", &dir.display().to_string(), "--listen", "127.0.0.1:0"], &[]);
        let endpoint = format!("http://{}", server.addr);
        let token_file = dir.join("token").display().to_string();
        Dev { _server: server, _tmp: tmp, dir: path, endpoint, token_file }
    }

    /// `keyward ARGS --endpoint … --token-file …` with `stdin` on standard input.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let all = [args, &["--endpoint", &self.endpoint, "--token-file", &self.token_file]].concat();
        keyward(&all, stdin)
    }

    /// Like [`Dev::run`], and it must succeed with nothing on stderr.
    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(out.status.success(), "keyward {args:?}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "keyward {args:?} said something on success: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Gives `client` an active key.
    fn rotate(&self, client: &str) {
        self.ok(&["rotate", "client", "--tenant", "dev", "--client", client], None);
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(&[args, &["--json"]].concat(), None);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("keyward {args:?} --json: {e}: {out}"))
    }

    fn jwks(&self, client: &str) -> Value {
        self.json(&["jwks", "--tenant", "dev", "--client", client])
    }

    /// The kid of the client's ACTIVE credential, as `credentials list` says.
    fn active_kid(&self, client: &str) -> String {
        let listed = self.json(&["credentials", "list", "--tenant", "dev", "--client", client]);
        let active: Vec<&Value> =
            listed["credentials"].as_array().unwrap().iter().filter(|c| c["state"] == "ACTIVE").collect();
        assert_eq!(active.len(), 1, "{listed}");
        active[0]["kid"].as_str().unwrap().to_owned()
    }
}

/// The `keyward` binary with `args`, no token or endpoint from the environment, and `stdin`
/// (none: standard input is empty).
fn keyward(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.args(args).env_remove("KEYWARD_TOKEN").env_remove("KEYWARD_ENDPOINT");
    let Some(input) = stdin else { return cmd.output().unwrap() };
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // The child may refuse before reading it all; a broken pipe here is its business.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A refusal: `code`, nothing on stdout, one line on stderr; returns that line.
fn refused(out: &Output, code: i32) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.starts_with("keyward: "), "{err}");
    err
}

/// stdout that is one line: the line.
fn one_line(stdout: &str) -> &str {
    assert!(stdout.ends_with('\n') && stdout.lines().count() == 1, "{stdout:?}");
    stdout.trim_end()
}

fn b64url(s: &str) -> Vec<u8> {
    Base64UrlUnpadded::decode_vec(s).unwrap_or_else(|e| panic!("not base64url ({e}): {s}"))
}

/// A compact JWS: its header, its claims, and its three parts.
fn decode(jws: &str) -> (Value, Value, Vec<String>) {
    let parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
    assert_eq!(parts.len(), 3, "{jws}");
    let header = serde_json::from_slice(&b64url(&parts[0])).unwrap();
    let claims = serde_json::from_slice(&b64url(&parts[1])).unwrap();
    (header, claims, parts)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().expect("openssl must be installed")
}

/// Whether openssl verifies the RS256 JWS `jws` with the JWKS key of its `kid`: the RSA public
/// key is built from the JWK's `n` and `e` by openssl itself (an ASN.1 RSAPublicKey), never by
/// keyward's code.
fn openssl_verifies(dir: &Path, jws: &str, jwks: &Value) -> bool {
    let (header, _, parts) = decode(jws);
    assert_eq!(header["alg"], "RS256", "{header}");
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).unwrap_or_else(|| {
        panic!("no key {} in {jwks}", header["kid"]);
    });
    assert_eq!(jwk["kty"], "RSA");
    let (n, e) = (b64url(jwk["n"].as_str().unwrap()), b64url(jwk["e"].as_str().unwrap()));
    let conf = dir.join("jwk.cnf");
    std::fs::write(&conf, format!("asn1=SEQUENCE:key\n[key]\nn=INTEGER:0x{}\ne=INTEGER:0x{}\n", hex(&n), hex(&e)))
        .unwrap();
    let (der, pem) = (dir.join("jwk.der"), dir.join("jwk.pem"));
    let (sig, input) = (dir.join("jws.sig"), dir.join("jws.input"));
    let p = |p: &Path| p.display().to_string();
    let built = openssl(&["asn1parse", "-genconf", &p(&conf), "-out", &p(&der), "-noout"]);
    assert!(built.status.success(), "{}", stderr(&built));
    let converted =
        openssl(&["rsa", "-RSAPublicKey_in", "-inform", "DER", "-in", &p(&der), "-pubout", "-out", &p(&pem)]);
    assert!(converted.status.success(), "{}", stderr(&converted));
    std::fs::write(&sig, b64url(&parts[2])).unwrap();
    std::fs::write(&input, format!("{}.{}", parts[0], parts[1])).unwrap();
    let verified = openssl(&["dgst", "-sha256", "-verify", &p(&pem), "-signature", &p(&sig), &p(&input)]);
    verified.status.success() && String::from_utf8_lossy(&verified.stdout).contains("Verified OK")
}

fn now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().map(|k| &**k).collect();
    k.sort_unstable();
    k
}

/// An RFC 3339 UTC time string (`…Z`), as a Unix time.
fn rfc3339(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time string: {v}"));
    assert!(s.ends_with('Z'), "{s}");
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
    t.unix_timestamp()
}

#[test]
fn sign_assertion_prints_a_jws_that_openssl_verifies_against_the_jwks() {
    let dev = Dev::start();
    let sign = ["sign", "assertion", "--tenant", "dev", "--client", APP];
    // No key before the first rotation (unless dev ever provisions one): a refusal, not a token.
    let before = dev.run(&sign, None);
    if !before.status.success() {
        let err = refused(&before, 1);
        assert!(err.contains("FAILED_PRECONDITION") && err.contains("rotate"), "{err}");
    }
    dev.rotate(APP);
    let kid = dev.active_kid(APP);
    let jwks = dev.jwks(APP);

    let out = dev.ok(&sign, None);
    let jws = one_line(&out);
    let (header, claims, _) = decode(jws);
    assert_eq!(header["kid"], kid.as_str(), "{header}");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], APP);
    assert_eq!(claims["sub"], APP);
    assert_eq!(claims["aud"], format!("https://{DOMAIN}/"));
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()), "{claims}");
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 60, "the default lifetime: {claims}");
    assert!((iat - now()).abs() < 120, "{claims}");
    assert!(openssl_verifies(&dev.dir, jws, &jwks), "openssl refused {jws}");
    // The check is real: another payload under the same signature fails.
    let (_, _, parts) = decode(jws);
    let forged = format!("{}.{}.{}", parts[0], Base64UrlUnpadded::encode_string(br#"{"iss":"evil"}"#), parts[2]);
    assert!(!openssl_verifies(&dev.dir, &forged, &jwks));

    // --audience and --lifetime reach the server: the issuer spelled out is the default, and
    // anything else (dev allows no legacy audiences) is its INVALID_ARGUMENT, 64 in one line.
    let issuer = format!("https://{DOMAIN}/");
    let out = dev.ok(&[&sign[..], &["--audience", &issuer, "--lifetime", "2m"]].concat(), None);
    let (_, claims, _) = decode(one_line(&out));
    assert_eq!(claims["aud"], issuer.as_str());
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120);
    assert!(openssl_verifies(&dev.dir, one_line(&out), &jwks));
    let err = refused(&dev.run(&[&sign[..], &["--audience", "https://api.example.test/"]].concat(), None), 64);
    assert!(err.contains("INVALID_ARGUMENT: --audience (audience): "), "{err}");

    // --json: the documented object.
    let j = dev.json(&sign);
    assert_eq!(keys(&j), ["algorithm", "assertion", "credential_id", "expires_at", "kid"]);
    assert_eq!(j["kid"], kid.as_str());
    assert_eq!(j["algorithm"], "RS256");
    assert!(j["credential_id"].as_str().is_some_and(|c| c.starts_with("cred_")), "{j}");
    let (_, claims, _) = decode(j["assertion"].as_str().unwrap());
    assert_eq!(rfc3339(&j["expires_at"]), claims["exp"].as_i64().unwrap(), "{j}");
    assert!(openssl_verifies(&dev.dir, j["assertion"].as_str().unwrap(), &jwks));

    // A lifetime past Auth0's limit is the server's INVALID_ARGUMENT: 64, one line.
    let err = refused(&dev.run(&[&sign[..], &["--lifetime", "10m"]].concat(), None), 64);
    assert!(err.contains("lifetime"), "{err}");
}

#[test]
fn sign_jwt_signs_claims_from_stdin_or_a_file() {
    let dev = Dev::start();
    dev.rotate(SIGNER);
    let jwks = dev.jwks(SIGNER);
    let kid = dev.active_kid(SIGNER);
    let exp = now() + 600;
    let claims = format!(r#"{{"iss": "{SIGNER}", "sub": "user-1", "exp": {exp}}}"#);
    let sign = ["sign", "jwt", "--tenant", "dev", "--client", SIGNER, "--claims"];

    let out = dev.ok(&[&sign[..], &["-"]].concat(), Some(&claims));
    let jwt = one_line(&out);
    let (header, got, _) = decode(jwt);
    assert_eq!(header["kid"], kid.as_str());
    assert_eq!(header["typ"], "JWT");
    assert_eq!(got, serde_json::from_str::<Value>(&claims).unwrap());
    assert!(openssl_verifies(&dev.dir, jwt, &jwks), "openssl refused {jwt}");

    // From a file, with --typ.
    let file = dev.dir.join("claims.json");
    std::fs::write(&file, &claims).unwrap();
    let file = file.display().to_string();
    let out = dev.ok(&[&sign[..], &[&file, "--typ", "oauth-authz-req+jwt"]].concat(), None);
    let (header, got, _) = decode(one_line(&out));
    assert_eq!(header["typ"], "oauth-authz-req+jwt");
    assert_eq!(got["sub"], "user-1");
    assert!(openssl_verifies(&dev.dir, one_line(&out), &jwks));

    // --json: the documented object.
    let out = dev.ok(&[&sign[..], &["-", "--json"]].concat(), Some(&claims));
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(keys(&j), ["algorithm", "jwt", "kid"]);
    assert_eq!(j["kid"], kid.as_str());
    assert_eq!(j["algorithm"], "RS256");
    assert!(openssl_verifies(&dev.dir, j["jwt"].as_str().unwrap(), &jwks));

    // What only the server knows stays the server's to say: no exp is INVALID_ARGUMENT (64), an
    // Auth0 client PERMISSION_DENIED (77), each in one line that never echoes a token.
    let err = refused(&dev.run(&[&sign[..], &["-"]].concat(), Some(r#"{"sub": "x"}"#)), 64);
    assert!(err.contains("exp"), "{err}");
    let app = ["sign", "jwt", "--tenant", "dev", "--client", APP, "--claims", "-"];
    let err = refused(&dev.run(&app, Some(&claims)), 77);
    assert!(err.contains("SignClientAssertion") && !err.contains("eyJ"), "{err}");
}

#[test]
fn sign_jwt_refuses_bad_claims_before_connecting() {
    // Nothing listens there and no token is given: the claims are refused first.
    let (_tmp, dir) = tempdir();
    let base = ["sign", "jwt", "--endpoint", "http://127.0.0.1:1", "--tenant", "dev", "--client", SIGNER, "--claims"];
    let run = |claims: &str, stdin: Option<&str>| keyward(&[&base[..], &[claims]].concat(), stdin);
    let usage = |out: Output, says: &str| {
        let err = refused(&out, 64);
        assert!(err.starts_with("keyward: --claims: ") && err.contains(says), "{err}");
    };
    usage(run("-", Some("[1]\n")), "holds an array; the claims must be a JSON object");
    usage(run("-", Some("")), "standard input is empty");
    usage(run("-", Some("{\"exp\": ")), "is not valid JSON");
    let missing = dir.join("missing.json").display().to_string();
    usage(run(&missing, None), &format!("cannot read {missing}"));
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(65 * 1024));
    usage(run("-", Some(&big)), "more than 64 KiB");
    let file = dir.join("claims.json");
    std::fs::write(&file, "\"just a string\"").unwrap();
    usage(run(&file.display().to_string(), None), "holds a string");
}

#[test]
fn token_get_prints_the_access_token_alone() {
    let dev = Dev::start();
    dev.rotate(APP);
    let get = ["token", "get", "--tenant", "dev", "--client", APP, "--audience", API];

    let out = dev.ok(&get, None);
    let token = one_line(&out);
    let (_, claims, _) = decode(token);
    assert_eq!(claims["aud"], API, "{claims}");
    assert_eq!(claims["azp"], APP, "{claims}");

    let j = dev.json(&[&get[..], &["--scope", "read:demo"]].concat());
    assert_eq!(keys(&j), ["access_token", "expires_at", "scope", "token_type"]);
    assert_eq!(j["token_type"], "Bearer");
    assert!(rfc3339(&j["expires_at"]) > now(), "{j}");
    assert!(j["scope"].is_string() || j["scope"].is_null(), "{j}");
    assert_eq!(decode(j["access_token"].as_str().unwrap()).2.len(), 3);

    // An API the client has no grant for: Auth0's refusal in one line, no token anywhere.
    let out = dev.run(&["token", "get", "--tenant", "dev", "--client", APP, "--audience", "https://nope.test/"], None);
    let err = stderr(&out);
    assert!(!out.status.success() && out.stdout.is_empty(), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(!err.contains("eyJ"), "{err}");
}

#[test]
fn jwks_and_refusals_end_in_one_line_or_quietly() {
    let dev = Dev::start();
    dev.rotate(APP);
    let jwks_args = ["jwks", "--tenant", "dev", "--client", APP];

    // JSON by nature: the same object with or without --json.
    let plain: Value = serde_json::from_str(&dev.ok(&jwks_args, None)).unwrap();
    let json = dev.jwks(APP);
    assert_eq!(plain, json);
    assert_eq!(keys(&json), ["keys"]);
    let listed = json["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{json}");
    assert_eq!(listed[0]["kid"], dev.active_kid(APP).as_str());

    // `keyward jwks … | head -c 0`: the reader is gone before the JWKS comes.
    let (code, err) = run_with_stdout_closed(
        Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args([&jwks_args[..], &["--endpoint", &dev.endpoint, "--token-file", &dev.token_file]].concat())
            .env_remove("KEYWARD_TOKEN"),
    );
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    assert_eq!(code, Some(0), "{err}");

    // A tenant that is not configured: every command refuses in one line naming it.
    let exp = (now() + 600).to_string();
    let claims = format!(r#"{{"exp": {exp}}}"#);
    for (args, stdin) in [
        (vec!["sign", "assertion", "--tenant", "nope", "--client", APP], None),
        (vec!["sign", "jwt", "--tenant", "nope", "--client", SIGNER, "--claims", "-"], Some(claims.as_str())),
        (vec!["jwks", "--tenant", "nope", "--client", APP], None),
        (vec!["token", "get", "--tenant", "nope", "--client", APP, "--audience", API], None),
    ] {
        for json in [&[][..], &["--json"]] {
            let out = dev.run(&[&args[..], json].concat(), stdin);
            assert!(!out.status.success(), "{args:?}");
            let err = stderr(&out);
            assert!(out.stdout.is_empty() && err.lines().count() == 1, "{args:?}: {err:?}");
            assert!(err.contains("\"nope\""), "{args:?}: {err}");
        }
    }

    // A client without a key yet: the server's precondition, one line.
    let no_key = ["sign", "jwt", "--tenant", "dev", "--client", SIGNER, "--claims", "-"];
    let err = refused(&dev.run(&no_key, Some(&claims)), 1);
    assert!(err.contains("FAILED_PRECONDITION") && err.contains(SIGNER), "{err}");
}

#[test]
fn sign_request_object_prints_a_jar_that_openssl_verifies_with_the_jar_key() {
    let dev = Dev::start();
    // No JAR key yet: refused in one line, naming how to get one.
    let claims = r#"{"response_type":"code","state":"cli-1"}"#;
    let args = ["sign", "request-object", "--tenant", "dev", "--client", "demo-app", "--claims", claims];
    let refused = dev.run(&args, None);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("method signed_request_object"), "{}", stderr(&refused));

    dev.ok(&["rotate", "client", "--tenant", "dev", "--client", "demo-app", "--method", "signed_request_object"], None);
    let listed = dev.json(&["credentials", "list", "--tenant", "dev", "--client", "demo-app"]);
    let jar: Vec<&Value> =
        listed["credentials"].as_array().unwrap().iter().filter(|c| c["method"] == "signed_request_object").collect();
    assert_eq!(jar.len(), 1, "{listed}");
    let pem = jar[0]["public_key_pem"].as_str().unwrap();

    let jws = dev.ok(&args, None);
    let jws = jws.trim();
    let (header, body, parts) = decode(jws);
    assert_eq!(header["typ"], "oauth-authz-req+jwt", "{header}");
    assert_eq!(header["kid"], jar[0]["kid"], "{header}");
    assert_eq!((body["iss"].as_str(), body["client_id"].as_str()), (Some("demo-app"), Some("demo-app")), "{body}");
    assert_eq!(body["state"], "cli-1", "{body}");
    let (tmp, dir) = tempdir();
    let p = |name: &str| dir.join(name).display().to_string();
    std::fs::write(dir.join("pub.pem"), pem).unwrap();
    std::fs::write(dir.join("sig"), b64url(&parts[2])).unwrap();
    std::fs::write(dir.join("in"), format!("{}.{}", parts[0], parts[1])).unwrap();
    let verified = openssl(&["dgst", "-sha256", "-verify", &p("pub.pem"), "-signature", &p("sig"), &p("in")]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    drop(tmp);

    let json = dev.json(&args);
    assert_eq!(keys(&json), ["algorithm", "credential_id", "expires_at", "jti", "kid", "request_object"], "{json}");
    assert_eq!(json["credential_id"], jar[0]["credential_id"], "{json}");
    // Claims keyward owns are refused, naming the field.
    let owned = dev.run(
        &["sign", "request-object", "--tenant", "dev", "--client", "demo-app", "--claims", r#"{"iss":"x"}"#],
        None,
    );
    assert!(!owned.status.success());
    assert!(stderr(&owned).contains("claims_json") && stderr(&owned).contains("\"iss\""), "{}", stderr(&owned));
}
