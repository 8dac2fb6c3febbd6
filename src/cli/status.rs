//! `keyward status`: what the client talks to and who it is there (`KeyRotation.WhoAmI`).

use clap::Args;

use super::CliError;
use super::connect::ClientOptions;

/// `keyward status` takes no arguments beyond the client flags.
#[derive(Debug, Args)]
pub(super) struct StatusArgs {}

/// `keyward status`.
pub(super) fn run(opts: &ClientOptions, args: StatusArgs) -> Result<(), CliError> {
    let _ = (opts, args);
    Err(CliError::usage("status", "not built yet"))
}
