//! Read-only KeyRotation calls that report on what keyward holds: `ListRotations`, `WhoAmI` and
//! `ListConnectionKeys`.

use tonic::{Request, Response, Status};

use super::auth::Authorize;
use super::proto;
use crate::rotation::Engine;

pub(super) async fn list_rotations(
    _engine: &Engine,
    _authorize: &Authorize,
    _request: Request<proto::ListRotationsRequest>,
) -> Result<Response<proto::ListRotationsResponse>, Status> {
    Err(Status::unimplemented("ListRotations"))
}

pub(super) async fn who_am_i(
    _engine: &Engine,
    _authorize: &Authorize,
    _request: Request<proto::WhoAmIRequest>,
) -> Result<Response<proto::WhoAmIResponse>, Status> {
    Err(Status::unimplemented("WhoAmI"))
}

pub(super) async fn list_connection_keys(
    _engine: &Engine,
    _authorize: &Authorize,
    _request: Request<proto::ListConnectionKeysRequest>,
) -> Result<Response<proto::ListConnectionKeysResponse>, Status> {
    Err(Status::unimplemented("ListConnectionKeys"))
}
