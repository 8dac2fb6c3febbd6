//! The gRPC surface: generated `keyward.v1` types, the KeyRotation service, bearer-token auth,
//! health and reflection, and the one mapping from errors to gRPC status.

mod auth;
mod convert;
mod rotation;
mod status;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

pub use auth::{BearerAuth, token_hash};
pub use status::to_status;

use crate::Error;
use crate::rotation::Engine;

/// The generated `keyward.v1` messages, enums, clients and servers.
#[allow(missing_docs, unused_qualifications, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("keyward.v1");

    /// The encoded file descriptor set, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/keyward_descriptor.bin"));
}

/// What the gRPC server needs.
#[derive(Debug, Clone)]
pub struct Deps {
    /// The rotation engine.
    pub engine: Arc<Engine>,
    /// SHA-256 hashes of the accepted bearer tokens.
    pub token_hashes: Vec<[u8; 32]>,
}

/// Serves KeyRotation (bearer token required), grpc.health.v1 and reflection (no token) on
/// `listener` until `shutdown` completes.
pub async fn run(listener: TcpListener, shutdown: impl Future<Output = ()> + Send, deps: Deps) -> Result<(), Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<proto::key_rotation_server::KeyRotationServer<rotation::RotationService>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| Error::Output(format!("reflection: {e}")))?;
    let service = proto::key_rotation_server::KeyRotationServer::with_interceptor(
        rotation::RotationService { engine: deps.engine },
        BearerAuth::new(deps.token_hashes),
    );
    Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(service)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
        .map_err(|e| Error::Unavailable(format!("gRPC server: {e}")))
}
