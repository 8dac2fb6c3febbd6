//! SoftHSM2 for the tests: one configuration (its own token directory) per test process, fresh
//! tokens per test, `pkcs11-tool` (OpenSC) as the independent witness, `openssl` to verify.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` from the process environment when the module initialises, but
//! `std::env::set_var` is `unsafe` in edition 2024 and the workspace forbids unsafe code (a
//! `forbid` no test file can lift). So every test runs in a child process: the parent (what
//! `cargo test` starts) writes a configuration in a temporary directory and re-runs the test
//! binary for just that test (`--exact`) with `SOFTHSM2_CONF` set; the child sees
//! [`CHILD_ENV`] and runs the body. A process per test also gives each its own module state.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use keyward_pkcs11::TokenConfig;
use zeroize::Zeroizing;

/// Set in the child process that runs a test's body.
const CHILD_ENV: &str = "KEYWARD_PKCS11_TEST_CHILD";
/// The security officer PIN of every test token.
pub const SO_PIN: &str = "87654321";

/// Writes a fresh SoftHSM2 configuration (its own token directory) under `dir`.
fn write_conf(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("tokens")).expect("token dir");
    let conf = dir.join("softhsm2.conf");
    let text = format!(
        "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
        dir.join("tokens").display()
    );
    std::fs::write(&conf, text).expect("write softhsm2.conf");
    conf
}

/// Runs `body` in a child process with `SOFTHSM2_CONF` set; `name` must be the test's name.
pub fn run(name: &str, body: impl FnOnce()) {
    if std::env::var_os(CHILD_ENV).is_some() {
        body();
        return;
    }
    let dir = tempfile::Builder::new().prefix("softhsm-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let conf = write_conf(dir.path());
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", conf)
        .env(CHILD_ENV, "1")
        .output()
        .expect("run the test in a child process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child test {name} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}

/// The SoftHSM2 module's path.
pub fn module() -> PathBuf {
    let debian = PathBuf::from("/usr/lib/softhsm/libsofthsm2.so");
    if debian.exists() {
        return debian;
    }
    let out = Command::new("dpkg").args(["-L", "softhsm2"]).output().expect("dpkg -L softhsm2");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.ends_with("/libsofthsm2.so"))
        .map(PathBuf::from)
        .expect("libsofthsm2.so not found; install softhsm2")
}

/// A fresh token of this test.
pub struct Hsm {
    /// The module.
    pub module: PathBuf,
    /// The token's label.
    pub label: String,
    /// The user PIN.
    pub pin: String,
    /// The token's own directory under the token directory.
    pub token_dir: PathBuf,
}

fn token_dirs(tokens: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tokens).expect("read token dir").map(|e| e.expect("dir entry").path()).collect()
}

impl Hsm {
    /// Initialises a new token with a unique label.
    pub fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let label = format!("kw{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        let pin = format!("user-pin-{}", std::process::id());
        let conf = std::env::var("SOFTHSM2_CONF").expect("SOFTHSM2_CONF (tests run through support::run)");
        let tokens = Path::new(&conf).parent().expect("conf dir").join("tokens");
        let before = token_dirs(&tokens);
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", &label, "--so-pin", SO_PIN, "--pin", &pin])
            .output()
            .expect("softhsm2-util");
        assert!(out.status.success(), "softhsm2-util: {}", String::from_utf8_lossy(&out.stderr));
        let token_dir =
            token_dirs(&tokens).into_iter().find(|d| !before.contains(d)).expect("the new token's directory");
        Self { module: module(), label, pin, token_dir }
    }

    /// A configuration for this token with `sessions` sessions.
    pub fn config(&self, sessions: usize) -> TokenConfig {
        let mut config = TokenConfig::new(&self.module, &self.label, Zeroizing::new(self.pin.clone()));
        config.sessions = sessions;
        config
    }

    /// Runs `pkcs11-tool` on this token, logged in, with `args`.
    pub fn pkcs11_tool(&self, args: &[&str]) -> Output {
        let module = self.module.to_string_lossy();
        let mut all = vec!["--module", &module, "--token-label", &self.label, "--login", "--pin", &self.pin];
        all.extend_from_slice(args);
        Command::new("pkcs11-tool").args(all).output().expect("pkcs11-tool")
    }

    /// `pkcs11-tool --list-objects` output.
    pub fn list_objects(&self) -> String {
        let out = self.pkcs11_tool(&["--list-objects"]);
        assert!(out.status.success(), "pkcs11-tool --list-objects: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The OS RNG as the crypto core takes it.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// Runs `openssl` with `args`, returning the output.
pub fn openssl(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().expect("openssl")
}
