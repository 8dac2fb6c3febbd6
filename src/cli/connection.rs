//! `keyward connection keys`: a connection's keys as Auth0 holds them, verified
//! (`KeyRotation.ListConnectionKeys`).

use clap::Subcommand;

use super::CliError;
use super::connect::{ClientOptions, connect, runtime};
use super::render;
use crate::grpc::proto;

#[derive(Debug, Subcommand)]
pub(super) enum ConnectionCommand {
    /// List a connection's signing keys and verify each as a rotation would (changes nothing).
    /// Exits 1 when a key fails verification.
    ///
    /// --json: {keys: [...], verified}.
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
    let ConnectionCommand::Keys { tenant, connection } = cmd;
    runtime()?.block_on(async {
        let mut client = connect(opts).await?;
        let req = proto::ListConnectionKeysRequest { tenant, connection_id: connection.clone() };
        let resp = client.list_connection_keys(req).await?.into_inner();
        render::connection_keys(&resp, opts.style())?;
        if resp.verified { Ok(()) } else { Err(CliError::Unverified { what: format!("connection {connection}") }) }
    })
}
