//! `keyward rotation get|list`: client-credential rotations, one by id or a filtered page at a
//! time (`KeyRotation.GetRotation`, `KeyRotation.ListRotations`).

use clap::Subcommand;

use super::CliError;
use super::connect::{Client, ClientOptions, connect, runtime};
use super::render;
use crate::grpc::proto;

#[derive(Debug, Subcommand)]
pub(super) enum RotationCommand {
    /// Show one rotation, with what it removed at Auth0 and when its old credential left.
    ///
    /// --json: {rotation_id, state, …, removed_credentials: [...], old_removed_at, old_removed_how}.
    Get {
        /// The rotation id (rot_…), or a unique prefix of it (as tables print it).
        id: String,
    },
    /// List rotations, newest first (those on clients you may read).
    ///
    /// --json: {rotations: [...], next_page_token}.
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this client's (needs --tenant).
        #[arg(long, requires = "tenant")]
        client: Option<String>,
        /// Only rotations in this state: PLANNED, KEY_GENERATED, SLOT_FREED, REGISTERED, ATTACHED,
        /// ACTIVE, RETIRED, COMPLETED or FAILED.
        #[arg(long, value_parser = parse_state)]
        state: Option<proto::RotationState>,
        /// At most this many, newest first.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
    },
}

/// `keyward rotation get|list`.
pub(super) fn run(opts: &ClientOptions, cmd: RotationCommand) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let mut rpc = connect(opts).await?;
        match cmd {
            RotationCommand::Get { id } => {
                let r = rpc.get_rotation(proto::GetRotationRequest { rotation_id: id }).await?;
                render::rotation(&r.into_inner(), opts.style())
            }
            RotationCommand::List { tenant, client, state, limit } => {
                let mut req = proto::ListRotationsRequest {
                    tenant: tenant.unwrap_or_default(),
                    client_id: client.unwrap_or_default(),
                    state: state.unwrap_or_default().into(),
                    ..Default::default()
                };
                let mut all = proto::ListRotationsResponse::default();
                loop {
                    let want = limit.saturating_sub(u32::try_from(all.rotations.len()).unwrap_or(u32::MAX));
                    req.page_size = want.min(500);
                    let page = list_page(&mut rpc, req.clone()).await?;
                    all.rotations.extend(page.rotations);
                    all.next_page_token = page.next_page_token;
                    if all.next_page_token.is_empty() || all.rotations.len() >= limit as usize {
                        break;
                    }
                    req.page_token = all.next_page_token.clone();
                }
                all.rotations.truncate(limit as usize);
                render::rotations(&all, opts.style())
            }
        }
    })
}

async fn list_page(
    rpc: &mut Client,
    req: proto::ListRotationsRequest,
) -> Result<proto::ListRotationsResponse, CliError> {
    Ok(rpc.list_rotations(req).await?.into_inner())
}

/// `--state`: a RotationState by its short name, in any case.
fn parse_state(s: &str) -> Result<proto::RotationState, String> {
    let name = format!("ROTATION_STATE_{}", s.trim().to_ascii_uppercase().replace('-', "_"));
    match proto::RotationState::from_str_name(&name) {
        Some(proto::RotationState::Unspecified) | None => Err(format!(
            "{s:?} is not one of PLANNED, KEY_GENERATED, SLOT_FREED, REGISTERED, ATTACHED, ACTIVE, RETIRED, \
             COMPLETED, FAILED"
        )),
        Some(state) => Ok(state),
    }
}
