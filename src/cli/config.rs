//! `keyward config check`: validate a configuration file the way `serve` would, without
//! opening the store or binding a port.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Subcommand;

use super::CliError;
use super::out::outln;
use super::print_json;
use crate::Error;
use crate::config::{Config, KekSource, Overrides};
use crate::kek::KekRing;

/// The widest mode a secret file may have: owner read and write, group read (Kubernetes mounts
/// the Secrets `0440` for the pod's `fsGroup`), nothing for others.
#[cfg(unix)]
const SECRET_FILE_MODE: u32 = 0o640;

#[derive(Debug, Subcommand)]
pub(super) enum ConfigCommand {
    /// Parse and validate a keyward.toml (with KEYWARD_* overrides from the environment);
    /// every problem is listed, one a line on stderr (and as `problems` with --json), and the
    /// exit code is 64 when there is one.
    Check {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

pub(super) fn run(cmd: ConfigCommand, as_json: bool) -> Result<(), CliError> {
    let ConfigCommand::Check { config } = cmd;
    let env: HashMap<String, String> = std::env::vars().collect();
    let loaded = Config::load(&config, &env, &Overrides::default());
    let problems = match &loaded {
        Ok(c) => offline_checks(c),
        Err(Error::Config(problems)) => problems.clone(),
        Err(_) => Vec::new(),
    };
    if !problems.is_empty() {
        if as_json {
            // The same problems on stderr too, one a line (with exit code 64).
            print_json(&serde_json::json!({ "ok": false, "problems": problems }))?;
        }
        return Err(Error::Config(problems).into());
    }
    let c = loaded?;
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

/// What `serve` would find on opening the KEK and the TLS files, without the network: the KEK
/// loads (its source named, never its content; a token opens and holds every KEK the ring names), secret files grant others nothing and the group
/// at most read, the TLS certificate and key parse as PEM, a PostgreSQL store URL parses as a
/// URL. Every problem, one string each.
fn offline_checks(c: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = KekRing::open(&c.kek, 1) {
        // As `Service::open` words it.
        problems.push(format!("kek: {e}"));
    }
    if let Some(tls) = &c.tls {
        problems.extend(tls_problems(&tls.cert_file, &tls.key_file));
    }
    problems.extend(mode_problems(c));
    // The URL may hold a password: the parser's reason only, never the URL.
    let postgres = c.store_url.starts_with("postgres://") || c.store_url.starts_with("postgresql://");
    if let Some(e) = postgres.then(|| url::Url::parse(&c.store_url).err()).flatten() {
        problems.push(format!("store: not a valid PostgreSQL URL ({e})"));
    }
    problems
}

/// The secret files (the KEK file, the TLS key) that others may access or the group may change,
/// each named with its mode. `serve` logs them as warnings; `config check` refuses them.
pub(super) fn mode_problems(c: &Config) -> Vec<String> {
    let kek = match &c.kek.ring {
        Some(KekSource::File(path)) => Some(path.as_path()),
        Some(KekSource::Env(_)) | None => None,
    };
    kek.into_iter().chain(c.tls.as_ref().map(|t| t.key_file.as_path())).filter_map(mode_problem).collect()
}

/// A secret file that others may access (or the group may change), named with its mode.
#[cfg(unix)]
fn mode_problem(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & !SECRET_FILE_MODE != 0).then(|| {
        format!(
            "{}: mode {mode:04o} gives others (or the group more than read) access to a secret; chmod 600 it",
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn mode_problem(_path: &std::path::Path) -> Option<String> {
    None
}

/// The TLS certificate chain and key as `serve` would read them: PEM holding at least one
/// certificate, and PEM holding a private key. Never quotes the files.
pub(super) fn tls_problems(cert: &std::path::Path, key: &std::path::Path) -> Vec<String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut problems = Vec::new();
    let certs = CertificateDer::pem_file_iter(cert).map(|it| it.collect::<Result<Vec<_>, _>>());
    if !matches!(certs, Ok(Ok(ref c)) if !c.is_empty()) {
        problems.push(format!("tls.cert_file {}: not a PEM certificate chain", cert.display()));
    }
    if PrivateKeyDer::from_pem_file(key).is_err() {
        problems.push(format!("tls.key_file {}: not a PEM private key", key.display()));
    }
    problems
}
