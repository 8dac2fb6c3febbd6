//! The `keyward` client commands run against one server, as an operator runs them: with
//! `--endpoint` and `--token-file`, and neither `KEYWARD_TOKEN` nor `KEYWARD_ENDPOINT` from the
//! test's environment.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::Keyward;

/// The client commands against one server.
pub struct Cli {
    endpoint: String,
    token_file: String,
}

impl Cli {
    /// Against `keyward dev` started with `--dir dir`.
    pub fn for_dev(k: &Keyward, dir: &Path) -> Self {
        Self { endpoint: format!("http://{}", k.addr), token_file: dir.join("token").display().to_string() }
    }

    /// `keyward ARGS`, whatever it answers.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(args)
            .args(["--endpoint", &self.endpoint, "--token-file", &self.token_file])
            .env_remove("KEYWARD_TOKEN")
            .env_remove("KEYWARD_ENDPOINT")
            .output()
            .unwrap()
    }

    /// Table mode: succeeds, every line fits 100 columns (unless `--wide`); the output as it is.
    pub fn text(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        for line in text.lines().filter(|_| !args.contains(&"--wide")) {
            assert!(line.chars().count() <= 100, "{args:?}: a line wider than 100 columns:\n{line}\n\n{text}");
        }
        text
    }

    /// `--json`: succeeds and prints one JSON document.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.run(&[args, &["--json"]].concat());
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {:?}", out.stdout))
    }
}
