//! `keyward dev`: the service on its embedded default (`crate::dev`). A build without the `dev`
//! feature keeps the command, which then only says how to get it (exit 64).

#[cfg(feature = "dev")]
pub(super) use enabled::{DevArgs, run};
#[cfg(not(feature = "dev"))]
pub(super) use missing::{DevArgs, run};

#[cfg(feature = "dev")]
mod enabled {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    use clap::Args;

    use crate::cli::CliError;
    use crate::dev::{self, DevOptions};
    use crate::service::shutdown_signal;

    #[derive(Debug, Args)]
    pub(in crate::cli) struct DevArgs {
        /// Where the store, KEK, token and emulated tenant live across restarts.
        #[arg(long, default_value = dev::DEFAULT_DIR)]
        dir: PathBuf,
        /// gRPC listen address; 127.0.0.1:0 picks a free port (written to DIR/grpc-addr).
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: SocketAddr,
        /// Admin HTTP address; the default picks a free loopback port (written to DIR/admin-addr).
        #[arg(long, default_value = "127.0.0.1:0")]
        admin_listen: SocketAddr,
    }

    pub(in crate::cli) fn run(args: DevArgs) -> Result<(), CliError> {
        let opts = DevOptions { dir: args.dir, listen: args.listen, admin_listen: args.admin_listen };
        crate::cli::serve::runtime()?
            .block_on(async {
                let _telemetry = crate::telemetry::init(&dev::telemetry())?;
                dev::run(opts, shutdown_signal()).await
            })
            .map_err(CliError::from)
    }
}

#[cfg(not(feature = "dev"))]
mod missing {
    use std::ffi::OsString;

    use clap::Args;

    use crate::cli::CliError;

    /// Whatever follows `dev`: refused the same way, with or without flags.
    #[derive(Debug, Args)]
    pub(in crate::cli) struct DevArgs {
        #[arg(hide = true, trailing_var_arg = true, allow_hyphen_values = true)]
        _ignored: Vec<OsString>,
    }

    pub(in crate::cli) fn run(_args: DevArgs) -> Result<(), CliError> {
        Err(CliError::usage(
            "dev",
            "needs the `dev` feature, which this build leaves out: cargo install keyward (default features) \
             or build with --features dev",
        ))
    }
}
