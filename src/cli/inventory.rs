//! `keyward inventory --tenant T`: everything the tenant holds, flagged, and what changed
//! outside keyward since the last inventory (`KeyRotation.GetTenantInventory`).

use clap::Args;

use super::CliError;
use super::connect::{ClientOptions, connect, runtime};
use super::render;
use crate::grpc::proto;

/// The largest answer the command reads: a tenant at the inventory's bound (10 000 clients with
/// their records) stays under it; gRPC's default of 4 MiB would not.
const MAX_ANSWER: usize = 32 << 20;

/// `keyward inventory` arguments.
#[derive(Debug, Args)]
pub(super) struct InventoryArgs {
    /// Tenant name as configured.
    #[arg(long)]
    tenant: String,
}

/// `keyward inventory`: exits 0 whatever it finds (flags and drift are in the output).
pub(super) fn run(opts: &ClientOptions, InventoryArgs { tenant }: InventoryArgs) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let mut client = connect(opts).await?.max_decoding_message_size(MAX_ANSWER);
        let resp = client.get_tenant_inventory(proto::GetTenantInventoryRequest { tenant }).await?.into_inner();
        render::inventory(&resp, opts.style())
    })
}
