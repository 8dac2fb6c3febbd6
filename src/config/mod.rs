//! `keyward.toml`: a typed, validated configuration, one file per section. Unknown keys are
//! refused, listed with every other problem (`unknown_keys.rs`); environment variables
//! (`KEYWARD_…`) override the file and flags override both, decided in one place for every
//! setting (`source.rs`); every problem is reported at once ([`Config::resolve`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::Error;
use crate::access::Access;
use crate::telemetry::TelemetryConfig;

mod auth;
mod defaults;
mod kek;
mod limits;
mod plaintext;
mod policies;
mod scheduler;
mod server;
mod signer;
mod signing_keys;
mod source;
mod telemetry;
mod tenants;
mod tls;
mod token_hash;
mod toml_error;
mod unknown_keys;

pub use defaults::Defaults;
pub use kek::{DEFAULT_PIN_ENV, KekConfig, KekSource, MAX_TOKEN_LABEL, Pkcs11Config, label_problem};
pub use limits::{LimitOverrides, Limits};
pub use policies::{MIN_SIGNING_KEYS_INTERVAL, PolicyConfig, PolicyTarget, RotationWindow};
pub use scheduler::{LeaseTiming, SchedulerConfig};
pub use server::default_replica_id;
pub use signer::SignerConfig;
pub use signing_keys::{MAX_VERIFIERS, SigningKeysPolicy};
pub use tenants::{CustodyPolicy, InventoryPolicy, ManagementAuth, SigningPolicy, TenantConfig};
pub use tls::TlsConfig;

/// The file as written: the top-level keys, then one table (or array of tables) per section.
/// Unknown keys are not a parse error: [`unknown_keys::parse`] lists them as problems.
#[derive(Debug, Default, Deserialize)]
struct FileConfig {
    listen: Option<String>,
    #[serde(default)]
    allow_plaintext: bool,
    store: Option<String>,
    kek: Option<kek::KekFile>,
    auth: Option<auth::AuthFile>,
    defaults: Option<defaults::DefaultsFile>,
    #[serde(default)]
    tenants: BTreeMap<String, tenants::TenantFile>,
    #[serde(default)]
    principals: Vec<auth::PrincipalFile>,
    tls: Option<tls::TlsFile>,
    signer: Option<signer::SignerFile>,
    limits: Option<limits::LimitsFile>,
    admin_listen: Option<String>,
    replica_id: Option<String>,
    drain_timeout: Option<String>,
    telemetry: Option<telemetry::TelemetryFile>,
    scheduler: Option<scheduler::SchedulerFile>,
    #[serde(default)]
    policies: Vec<policies::PolicyFile>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// `sqlite://…` or `postgres://…`.
    pub store_url: String,
    /// The KEK's source.
    pub kek: KekConfig,
    /// Principals and their grants (bearer tokens and certificate SANs).
    pub access: Access,
    /// gRPC TLS (and mTLS), if configured.
    pub tls: Option<TlsConfig>,
    /// The signing pool.
    pub signer: SignerConfig,
    /// Transport limits of the gRPC and admin ports.
    pub limits: Limits,
    /// Rotation defaults.
    pub defaults: Defaults,
    /// Tenants by name.
    pub tenants: BTreeMap<String, TenantConfig>,
    /// The admin port, telemetry, scheduler and policies.
    pub operations: Operations,
}

/// Values given on the command line, which win over everything.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--admin-listen`.
    pub admin_listen: Option<String>,
    /// `--max-connections` and the other `[limits]` flags.
    pub limits: LimitOverrides,
}

/// The operational settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operations {
    /// The admin HTTP port (`/metrics`, `/healthz`, `/readyz`); none when unset.
    pub admin_listen: Option<SocketAddr>,
    /// This replica's name in leases (default: the host name).
    pub replica_id: String,
    /// How long shutdown waits for in-flight RPCs.
    pub drain_timeout: Duration,
    /// Logs and spans.
    pub telemetry: TelemetryConfig,
    /// The scheduler.
    pub scheduler: SchedulerConfig,
    /// Rotation policies from the file.
    pub policies: Vec<PolicyConfig>,
}

impl Default for Operations {
    fn default() -> Self {
        Self {
            admin_listen: None,
            replica_id: default_replica_id(),
            drain_timeout: server::DEFAULT_DRAIN,
            telemetry: telemetry::default(),
            scheduler: SchedulerConfig::default(),
            policies: Vec::new(),
        }
    }
}

impl Config {
    /// Reads and validates a config file with environment and flag overrides.
    pub fn load(path: &Path, env: &HashMap<String, String>, flags: &Overrides) -> Result<Self, Error> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Config(vec![format!("{}: {e}", path.display())]))?;
        if let Err(e) = unknown_keys::parse::<FileConfig>(&text) {
            return Err(Error::Config(vec![format!("{}: {e}", path.display())]));
        }
        Self::resolve(&text, env, flags)
    }

    /// Parses `text`, applies overrides (flag > env > file) and validates, reporting every
    /// problem at once.
    pub fn resolve(text: &str, env: &HashMap<String, String>, flags: &Overrides) -> Result<Self, Error> {
        let (file, mut errors) = unknown_keys::parse::<FileConfig>(text).map_err(|e| Error::Config(vec![e]))?;
        let top = server::ServerFile {
            listen: file.listen,
            allow_plaintext: file.allow_plaintext,
            admin_listen: file.admin_listen,
            store: file.store,
            replica_id: file.replica_id,
            drain_timeout: file.drain_timeout,
        };
        let server = server::resolve(top, flags.listen.as_deref(), flags.admin_listen.as_deref(), env, &mut errors);
        let kek = kek::resolve(file.kek, env, &mut errors);
        let access = auth::resolve(file.auth, &file.principals, env, &mut errors);
        let tls = tls::resolve(file.tls, access.has_certificate_principals(), &mut errors);
        errors.extend(plaintext::listen_problem(server.listen, tls.is_some(), server.allow_plaintext));
        let limits = limits::resolve(file.limits, &flags.limits, env, &mut errors);
        let signer = signer::resolve(file.signer, env, &mut errors);
        let operations = Operations {
            admin_listen: server.admin_listen,
            replica_id: server.replica_id,
            drain_timeout: server.drain_timeout,
            telemetry: telemetry::resolve(file.telemetry, env, &mut errors),
            scheduler: scheduler::resolve(file.scheduler, &mut errors),
            policies: policies::resolve(file.policies, &mut errors),
        };
        let defaults = defaults::resolve(file.defaults, env, &mut errors);
        let tenants = tenants::resolve(file.tenants, env, &mut errors);
        policies::check_targets(&operations.policies, &tenants, &mut errors);
        for (name, _) in tenants.iter().filter(|(_, t)| kek.pkcs11.is_none() && t.custody.uses_token()) {
            errors.push(format!("tenants.{name}.custody: pkcs11 keeps keys in a token: configure [kek] pkcs11"));
        }
        if errors.is_empty() {
            let (listen, store_url) = (server.listen, server.store_url);
            Ok(Config { listen, store_url, kek, access, tls, signer, limits, defaults, tenants, operations })
        } else {
            Err(Error::Config(errors))
        }
    }
}

#[cfg(test)]
mod tests;
