//! `keyward serve`: run the service with a configuration file.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::Error;
use crate::config::{Config, LimitOverrides, Overrides};
use crate::service::{Service, shutdown_signal};

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// The configuration file (see deploy/keyward.example.toml).
    #[arg(long)]
    config: PathBuf,
    /// Listen address, overriding the file and KEYWARD_LISTEN.
    #[arg(long)]
    listen: Option<String>,
    /// Admin HTTP address (/metrics, /healthz, /readyz), overriding the file and
    /// KEYWARD_ADMIN_LISTEN.
    #[arg(long)]
    admin_listen: Option<String>,
    // `[limits]`: each key as a flag, overriding the file and its KEYWARD_… variable.
    #[command(flatten)]
    limits: LimitOverrides,
}

/// The service's async runtime. Signatures run on their own pool (one thread per core), so the
/// async side (HTTP/2, the store, Auth0) gets half the cores: with as many async workers as
/// cores the two pools preempt each other (measured on 2 cores: 7% more RS256 calls per second
/// with one async worker; BENCHMARKS.md). `TOKIO_WORKER_THREADS` overrides.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        builder.worker_threads((cores / 2).max(1));
    }
    builder.enable_all().build().map_err(CliError::Runtime)
}

/// Validates the whole configuration, opens the store and tenants, and only then binds the port:
/// a bad configuration exits 64 with every problem listed and nothing bound.
pub(super) fn serve(args: ServeArgs) -> Result<(), CliError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let overrides = Overrides { listen: args.listen, admin_listen: args.admin_listen, limits: args.limits };
    let config = Config::load(&args.config, &env, &overrides)?;
    if let Some(tls) = &config.tls {
        let problems = super::config::tls_problems(&tls.cert_file, &tls.key_file);
        if !problems.is_empty() {
            return Err(Error::Config(problems).into());
        }
    }
    runtime()?.block_on(async {
        let _telemetry = crate::telemetry::init(&config.operations.telemetry)?;
        // Listening from here on: a signal while the store opens starts the drain at once.
        let shutdown = shutdown_signal();
        // A warning, not a refusal: deployments that chmod'ed a trial KEK 0644 keep starting;
        // `keyward config check` refuses them.
        for problem in super::config::mode_problems(&config) {
            tracing::warn!("{problem}");
        }
        if config.tls.is_none() && !config.listen.ip().to_canonical().is_loopback() {
            tracing::warn!(listen = %config.listen, "gRPC is served without TLS beyond loopback (allow_plaintext = true)");
        }
        let service = Service::open(&config).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::Config(vec![format!("listen: cannot bind {}: {e}", config.listen)]))?;
        let addr = listener.local_addr().map_err(Error::resource("gRPC listener"))?;
        let admin = match config.operations.admin_listen {
            Some(a) => Some(
                tokio::net::TcpListener::bind(a)
                    .await
                    .map_err(|e| Error::Config(vec![format!("admin_listen: cannot bind {a}: {e}")]))?,
            ),
            None => None,
        };
        let admin_note = match &admin {
            Some(l) => format!(", admin on {}", l.local_addr().map_err(Error::resource("admin listener"))?),
            None => String::new(),
        };
        tracing::info!(
            "serving keyward.v1 on {addr}{admin_note} ({} tenant(s), replica {})",
            config.tenants.len(),
            config.operations.replica_id
        );
        service.run_with_admin(listener, admin, shutdown).await
    })
    .map_err(CliError::from)
}
