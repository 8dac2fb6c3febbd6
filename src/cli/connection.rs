//! `keyward connection keys`: a connection's keys as Auth0 holds them, verified
//! (`KeyRotation.ListConnectionKeys`).

use clap::Subcommand;

use super::CliError;
use super::connect::ClientOptions;

#[derive(Debug, Subcommand)]
pub(super) enum ConnectionCommand {
    /// List a connection's signing keys and verify each (changes nothing).
    Keys {
        /// Tenant name as configured.
        #[arg(long)]
        tenant: String,
        /// Auth0 connection id (con_…).
        #[arg(long)]
        connection: String,
    },
}

/// `keyward connection keys`.
pub(super) fn run(opts: &ClientOptions, cmd: ConnectionCommand) -> Result<(), CliError> {
    let _ = (opts, cmd);
    Err(CliError::usage("connection", "not built yet"))
}
