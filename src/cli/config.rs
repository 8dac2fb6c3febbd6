//! `keyward config check`: validate a configuration file the way `serve` would, without
//! opening the store or binding a port.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Subcommand;

use super::CliError;
use super::out::outln;
use super::print_json;
use crate::config::{Config, Overrides};

#[derive(Debug, Subcommand)]
pub(super) enum ConfigCommand {
    /// Parse and validate a keyward.toml (with KEYWARD_* overrides from the environment);
    /// every problem is listed and the exit code is 64 when there is one.
    Check {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

pub(super) fn run(cmd: ConfigCommand, as_json: bool) -> Result<(), CliError> {
    let ConfigCommand::Check { config } = cmd;
    let env: HashMap<String, String> = std::env::vars().collect();
    let c = Config::load(&config, &env, &Overrides::default())?;
    let summary = serde_json::json!({
        "ok": true,
        "listen": c.listen.to_string(),
        "admin_listen": c.operations.admin_listen.map(|a| a.to_string()),
        "tenants": c.tenants.keys().collect::<Vec<_>>(),
        "policies": c.operations.policies.len(),
        "replica_id": c.operations.replica_id,
        "otlp": c.operations.telemetry.otlp_endpoint.is_some(),
    });
    if as_json {
        print_json(&summary)
    } else {
        outln!(
            "{}: ok ({} tenant(s), {} rotation polic{}, gRPC on {}{})",
            config.display(),
            c.tenants.len(),
            c.operations.policies.len(),
            if c.operations.policies.len() == 1 { "y" } else { "ies" },
            c.listen,
            c.operations.admin_listen.map(|a| format!(", admin on {a}")).unwrap_or_default()
        )?;
        Ok(())
    }
}
