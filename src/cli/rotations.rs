//! `keyward rotation get|list`: client-credential rotations, one by id or a filtered page at a
//! time (`KeyRotation.GetRotation`, `KeyRotation.ListRotations`).

use clap::Subcommand;

use super::CliError;
use super::connect::{ClientOptions, connect, runtime};
use super::render;
use crate::grpc::proto;

#[derive(Debug, Subcommand)]
pub(super) enum RotationCommand {
    /// Show one rotation.
    Get {
        /// The rotation id (rot_…).
        id: String,
    },
    /// List rotations, newest first (those on clients you may read).
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this client's (needs --tenant).
        #[arg(long, requires = "tenant")]
        client: Option<String>,
        /// Only rotations in this state (e.g. FAILED, ACTIVE, COMPLETED).
        #[arg(long)]
        state: Option<String>,
        /// At most this many (default 20, at most 500).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

/// `keyward rotation get|list`.
pub(super) fn run(opts: &ClientOptions, cmd: RotationCommand) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let mut client = connect(opts).await?;
        match cmd {
            RotationCommand::Get { id } => {
                let r = client.get_rotation(proto::GetRotationRequest { rotation_id: id }).await?;
                render::rotation(&r.into_inner(), opts.json)
            }
            RotationCommand::List { .. } => Err(CliError::usage("rotation list", "not built yet")),
        }
    })
}
