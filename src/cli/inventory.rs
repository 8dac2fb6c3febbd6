//! `keyward inventory --tenant T`: everything the tenant holds, flagged, and what changed
//! outside keyward since the last inventory (`KeyRotation.GetTenantInventory`).

use clap::Args;

use super::CliError;
use super::connect::{ClientOptions, connect, runtime};
use super::render;
use crate::grpc::proto;

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
        let mut client = connect(opts).await?;
        let resp = client.get_tenant_inventory(proto::GetTenantInventoryRequest { tenant }).await?.into_inner();
        render::inventory(&resp, opts.style())
    })
}
