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
    use crate::config::{DEFAULT_PIN_ENV, MAX_TOKEN_LABEL, Pkcs11Config, label_problem};
    use crate::dev::{self, DevCustody, DevOptions, DevPkcs11};
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
        /// Keep the dev tenant's KEK (and keys) in the PKCS#11 token of this module
        /// (scripts/softhsm-dev.sh makes a throw-away SoftHSM2 token).
        #[arg(long, value_name = "PATH", requires = "pkcs11_token")]
        pkcs11_module: Option<PathBuf>,
        /// The token's label.
        #[arg(long, value_name = "LABEL", requires = "pkcs11_module")]
        pkcs11_token: Option<String>,
        /// The environment variable holding the token's user PIN.
        #[arg(long, value_name = "VAR", default_value = DEFAULT_PIN_ENV, requires = "pkcs11_module")]
        pkcs11_pin_env: String,
        /// What the token keeps: the KEK, the signing keys, or both.
        #[arg(long, value_enum, default_value = "both", requires = "pkcs11_module")]
        pkcs11_custody: DevCustody,
    }

    pub(in crate::cli) fn run(args: DevArgs) -> Result<(), CliError> {
        let pkcs11 = match (args.pkcs11_module, args.pkcs11_token) {
            (Some(module), Some(token_label)) => {
                if let Some(problem) = label_problem(&token_label, MAX_TOKEN_LABEL) {
                    return Err(CliError::usage("--pkcs11-token", problem));
                }
                let token = Pkcs11Config { module, token_label, pin_env: args.pkcs11_pin_env, key_label: None };
                Some(DevPkcs11 { token, custody: args.pkcs11_custody })
            }
            _ => None,
        };
        let opts = DevOptions { dir: args.dir, listen: args.listen, admin_listen: args.admin_listen, pkcs11 };
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
