//! `keyward status`: what the client talks to and who it is there (`KeyRotation.WhoAmI`).

use clap::Args;

use super::CliError;
use super::connect::{ClientOptions, connect, runtime};
use super::render;
use crate::grpc::proto;

/// `keyward status` takes no arguments beyond the client flags.
#[derive(Debug, Args)]
pub(super) struct StatusArgs {}

/// `keyward status`: exits 0 when the server answers, whether or not it is ready (the output
/// says), 69 when it cannot be reached, 77 when the token is refused.
pub(super) fn run(opts: &ClientOptions, StatusArgs {}: StatusArgs) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let mut client = connect(opts).await?;
        let resp = client.who_am_i(proto::WhoAmIRequest {}).await?.into_inner();
        render::status(&resp, &opts.endpoint, opts.style())
    })
}
