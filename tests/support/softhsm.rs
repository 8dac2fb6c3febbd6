//! A throw-away SoftHSM2 token for tests that run the keyward binary: its own `softhsm2.conf`
//! and token directory under a test's temporary directory, one token initialised in it, and
//! OpenSC's `pkcs11-tool` as the independent witness of what the token holds. The keyward
//! processes get `SOFTHSM2_CONF` and the PIN through their environment ([`SoftHsm::env`]).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The environment variable keyward reads the PIN from in these tests.
pub const PIN_ENV: &str = "KEYWARD_TEST_PKCS11_PIN";

/// One SoftHSM2 token in its own configuration.
pub struct SoftHsm {
    /// `softhsm2.conf`.
    pub conf: PathBuf,
    /// The directory holding every token of this configuration.
    pub tokens: PathBuf,
    /// The module.
    pub module: PathBuf,
    /// The token's label.
    pub label: String,
    /// The user PIN.
    pub pin: String,
}

/// The SoftHSM2 module's path (Debian's, else where the package put it).
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

impl SoftHsm {
    /// A configuration under `dir` with one fresh token labelled `label`.
    pub fn new(dir: &Path, label: &str) -> Self {
        let tokens = dir.join("softhsm-tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()),
        )
        .unwrap();
        let pin = format!("pin-{}", super::random_hex(6));
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label, "--so-pin", "87654321", "--pin", &pin])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("softhsm2-util (install softhsm2)");
        assert!(out.status.success(), "softhsm2-util: {}", String::from_utf8_lossy(&out.stderr));
        Self { conf, tokens, module: module(), label: label.to_owned(), pin }
    }

    /// What a keyward process needs in its environment to open the token.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("SOFTHSM2_CONF", self.conf.display().to_string()), (PIN_ENV, self.pin.clone())]
    }

    /// `[kek] pkcs11 = { … }` for this token, with `extra` fields (`key_label = "…"`).
    pub fn kek_table(&self, extra: &str) -> String {
        let sep = if extra.is_empty() { "" } else { ", " };
        format!(
            "pkcs11 = {{ module = \"{}\", token_label = \"{}\", pin_env = \"{PIN_ENV}\"{sep}{extra} }}",
            self.module.display(),
            self.label
        )
    }

    /// Runs `pkcs11-tool` on the token, logged in, with `args`.
    pub fn tool(&self, args: &[&str]) -> Output {
        let module = self.module.display().to_string();
        Command::new("pkcs11-tool")
            .args(["--module", &module, "--token-label", &self.label, "--login", "--pin", &self.pin])
            .args(args)
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("pkcs11-tool (install opensc)")
    }

    /// Every object's listing, as `pkcs11-tool --list-objects` prints it.
    pub fn objects(&self) -> String {
        let out = self.tool(&["--list-objects"]);
        assert!(out.status.success(), "pkcs11-tool: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Takes the token away (its directory leaves the token directory); returns it with
    /// [`SoftHsm::bring_back`].
    pub fn take_away(&self) -> PathBuf {
        let dirs: Vec<PathBuf> = std::fs::read_dir(&self.tokens).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(dirs.len(), 1, "one token: {dirs:?}");
        let away = self.tokens.with_file_name("softhsm-away");
        std::fs::rename(&dirs[0], &away).unwrap();
        dirs[0].clone()
    }

    /// Puts back what [`SoftHsm::take_away`] took.
    pub fn bring_back(&self, was: &Path) {
        std::fs::rename(self.tokens.with_file_name("softhsm-away"), was).unwrap();
    }
}
