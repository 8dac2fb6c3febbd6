//! `keyward serve` and `keyward dev`: run the service.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::Error;
use crate::config::{Config, Overrides};
use crate::dev::{self, DevOptions};
use crate::service::{Service, shutdown_signal};

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// The configuration file (see deploy/keyward.example.toml).
    #[arg(long)]
    config: PathBuf,
    /// Listen address, overriding the file and KEYWARD_LISTEN.
    #[arg(long)]
    listen: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct DevArgs {
    /// Where the store, KEK, token and emulated tenant live across restarts.
    #[arg(long, default_value = dev::DEFAULT_DIR)]
    dir: PathBuf,
    /// gRPC listen address; 127.0.0.1:0 picks a free port (written to DIR/grpc-addr).
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Unavailable(format!("async runtime: {e}")))
}

/// Validates the whole configuration, opens the store and tenants, and only then binds the port:
/// a bad configuration exits 64 with every problem listed and nothing bound.
pub(super) fn serve(args: ServeArgs) -> Result<(), Error> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let config = Config::load(&args.config, &env, &Overrides { listen: args.listen })?;
    runtime()?.block_on(async {
        let service = Service::open(&config).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::Config(vec![format!("listen: cannot bind {}: {e}", config.listen)]))?;
        let addr = listener.local_addr().map_err(|e| Error::Unavailable(e.to_string()))?;
        eprintln!("keyward: serving keyward.v1 on {addr} ({} tenant(s))", config.tenants.len());
        service.run(listener, shutdown_signal()).await
    })
}

pub(super) fn dev(args: DevArgs) -> Result<(), Error> {
    runtime()?.block_on(dev::run(DevOptions { dir: args.dir, listen: args.listen }, shutdown_signal()))
}
