//! keyward-load against a real `keyward dev` (SQLite, in-process Auth0 emulator) on a free
//! port: the figures add up, sampled assertions are accepted by the emulator while the client
//! rotates, and a wrong token shows up as UNAUTHENTICATED. Asserts structure, never timings.
//!
//! The `keyward` binary is not built by this crate: it is expected next to `keyward-load` in the
//! same target directory, which `cargo test --workspace` (or `cargo build --workspace`) provides.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const TENANT: &str = "dev";
const CLIENT: &str = "demo-app";

/// The `keyward` binary beside `keyward-load`.
fn keyward_bin() -> PathBuf {
    let load = Path::new(env!("CARGO_BIN_EXE_keyward-load"));
    let bin = load.with_file_name(format!("keyward{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} does not exist: these tests drive the real server; build the workspace first \
         (`cargo build --workspace`, or run `cargo test --workspace`)",
        bin.display()
    );
    bin
}

/// A running `keyward dev`, killed on drop.
struct Dev {
    child: Child,
    dir: tempfile::TempDir,
    endpoint: String,
    output: mpsc::Receiver<String>,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dev {
    // The child is waited for when the returned `Dev` drops.
    #[allow(clippy::zombie_processes)]
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(keyward_bin())
            .args(["dev", "--dir", dir.path().to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .env_remove("KEYWARD_TOKEN")
            .env_remove("KEYWARD_FAULT_EXIT_AFTER")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, output) = mpsc::channel();
        for stream in
            [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())]
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = Vec::new();
        let addr = loop {
            let line = output
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("keyward dev did not start: {seen:#?}"));
            if let Some(rest) = line.split("serving keyward.v1 on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            seen.push(line);
        };
        Self { child, dir, endpoint: format!("http://{addr}"), output }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn emulator_url(&self) -> String {
        std::fs::read_to_string(self.file("emulator-url")).unwrap().trim().to_owned()
    }

    /// What the server printed so far, for failure messages.
    fn log(&self) -> Vec<String> {
        self.output.try_iter().collect()
    }

    /// One client rotation through the `keyward` CLI, so the client has an active key.
    fn rotate_client(&self) {
        let out = Command::new(keyward_bin())
            .args(["rotate", "client", "--tenant", TENANT, "--client", CLIENT, "--endpoint", &self.endpoint])
            .arg("--token-file")
            .arg(self.file("token"))
            .env_remove("KEYWARD_TOKEN")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "keyward rotate client: {}\n{}\nserver: {:#?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// Runs keyward-load against this server with `token_file` and `args`; returns its JSON.
    fn load(&self, token_file: &Path, args: &[&str]) -> Value {
        self.load_exiting(token_file, args, 0).0
    }

    /// [`Dev::load`] expecting exit status `code`; returns the JSON and stderr.
    fn load_exiting(&self, token_file: &Path, args: &[&str], code: i32) -> (Value, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_keyward-load"))
            .args(["--endpoint", &self.endpoint, "--tenant", TENANT, "--client", CLIENT, "--json"])
            .arg("--token-file")
            .arg(token_file)
            .args(args)
            .env_remove("KEYWARD_TOKEN")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(code),
            "keyward-load {args:?}: {stdout}\n{stderr}\nserver: {:#?}",
            self.log()
        );
        assert_eq!(stdout.trim().lines().count(), 1, "exactly one JSON object: {stdout}");
        let report: Value = serde_json::from_str(stdout.trim()).unwrap();
        eprintln!("keyward-load {args:?}: {report}\n{stderr}");
        (report, stderr.into_owned())
    }
}

fn num(report: &Value, field: &str) -> f64 {
    report[field].as_f64().unwrap_or_else(|| panic!("{field} missing from {report}"))
}

fn count(report: &Value, field: &str) -> u64 {
    report[field].as_u64().unwrap_or_else(|| panic!("{field} missing from {report}"))
}

fn assert_ordered_percentiles(report: &Value) {
    let (p50, p90, p99, max) =
        (num(report, "p50_ms"), num(report, "p90_ms"), num(report, "p99_ms"), num(report, "max_ms"));
    assert!(p50 <= p90 && p90 <= p99 && p99 <= max, "percentiles out of order: {report}");
}

#[test]
fn assertions_under_load_and_rotation_are_accepted() {
    let dev = Dev::start();
    dev.rotate_client();
    let emulator = dev.emulator_url();
    let report = dev.load(
        &dev.file("token"),
        &[
            "--rpc",
            "sign-client-assertion",
            "--requests",
            "300",
            "--concurrency",
            "8",
            "--verify",
            "--verify-url",
            &emulator,
            "--rotate-every",
            "1s",
        ],
    );
    assert_eq!(report["rpc"], "sign-client-assertion");
    assert_eq!(count(&report, "ok"), 300, "{report}");
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(report["by_status"]["OK"], 300, "{report}");
    assert_eq!(count(&report, "concurrency"), 8);
    assert_eq!(count(&report, "verify_failures"), 0, "{report}");
    assert!(count(&report, "verified") > 0, "{report}");
    count(&report, "rotations");
    count(&report, "rotations_refused");
    assert_eq!(count(&report, "rotation_errors"), 0, "{report}");
    assert_ordered_percentiles(&report);
    assert!(num(&report, "rps") > 0.0, "{report}");
    assert!(num(&report, "seconds") > 0.0, "{report}");
}

#[test]
fn jwks_under_load() {
    let dev = Dev::start();
    dev.rotate_client();
    let report = dev
        .load(&dev.file("token"), &["--rpc", "get-jwks", "--requests", "200", "--concurrency", "4", "--threads", "2"]);
    assert_eq!(report["rpc"], "get-jwks");
    assert_eq!(count(&report, "ok"), 200, "{report}");
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(report["by_status"]["OK"], 200, "{report}");
    assert!(report.get("rotations").is_none() && report.get("verified").is_none(), "{report}");
    assert_ordered_percentiles(&report);
    assert!(num(&report, "rps") > 0.0, "{report}");
}

#[test]
fn a_wrong_token_is_unauthenticated_on_every_call() {
    let dev = Dev::start();
    let wrong = dev.dir.path().join("wrong-token");
    std::fs::write(&wrong, "kwdev_not-the-token\n").unwrap();
    let args = ["--rpc", "sign-client-assertion", "--requests", "40", "--concurrency", "4"];
    // Every call failed: the report is still printed, then exit 1 with a last line saying why.
    let (report, stderr) = dev.load_exiting(&wrong, &args, 1);
    assert_eq!(
        stderr.lines().last(),
        Some("keyward-load: 40 of 40 calls failed, above --max-error-rate 0"),
        "{stderr}"
    );
    assert_eq!(count(&report, "ok"), 0, "{report}");
    assert_eq!(count(&report, "errors"), 40, "{report}");
    assert_eq!(report["by_status"]["UNAUTHENTICATED"], 40, "{report}");
    assert_eq!(report["by_status"].as_object().unwrap().len(), 1, "{report}");
    assert_eq!(num(&report, "rps"), 0.0, "only successful calls count: {report}");
    assert_ordered_percentiles(&report);
    // With every failure allowed, the same run passes.
    let tolerant = [&args[..], &["--max-error-rate", "1"]].concat();
    let (report, _) = dev.load_exiting(&wrong, &tolerant, 0);
    assert_eq!(count(&report, "errors"), 40, "{report}");
}
