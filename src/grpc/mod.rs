//! The gRPC surface: generated `keyward.v1` types, the KeyRotation, Signer, Tokens and Audit
//! services, authentication (bearer tokens, mTLS) and per-RPC authorization, health and
//! reflection, TLS, and the one mapping from errors to gRPC status.

mod auth;
mod auth_failures;
mod convert;
mod inventory;
mod plan;
mod policy;
mod pushback;
mod rotation;
mod signer;
mod signing_keys;
pub(crate) mod status;
mod tenant_inventory;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

pub use auth::{Authenticate, Authorize, Caller, subject_alt_names, token_hash};
pub use status::to_status;

use crate::Error;
use crate::access::Access;
use crate::config::{Limits, TlsConfig};
use crate::rotation::Engine;
use crate::signing::Signing;
pub use crate::telemetry::InFlight;

/// The generated `keyward.v1` messages, enums, clients and servers, and the descriptor set
/// (the `keyward-proto` crate).
pub use keyward_proto as proto;

/// What the gRPC server needs.
#[derive(Debug, Clone)]
pub struct Deps {
    /// The rotation engine.
    pub engine: Arc<Engine>,
    /// The signing core.
    pub signing: Arc<Signing>,
    /// Principals and grants.
    pub access: Arc<Access>,
    /// TLS for the port (and client certificates when it has a client CA).
    pub tls: Option<TlsConfig>,
    /// What one caller, or a flood of them, can hold.
    pub limits: Limits,
}

fn tls_config(tls: &TlsConfig) -> Result<ServerTlsConfig, Error> {
    let read = |p: &std::path::Path| crate::files::read_text(p).map_err(|e| Error::Config(vec![format!("tls: {e}")]));
    let mut config = ServerTlsConfig::new().identity(Identity::from_pem(read(&tls.cert_file)?, read(&tls.key_file)?));
    if let Some(ca) = &tls.client_ca_file {
        // Optional, so bearer-token callers still connect; certificate callers are verified.
        config = config.client_ca_root(Certificate::from_pem(read(ca)?)).client_auth_optional(true);
    }
    Ok(config)
}

/// Serves KeyRotation, Signer, Tokens and Audit (a principal required), grpc.health.v1 and
/// reflection (no principal) on `listener` until `shutdown` completes.
pub async fn run(listener: TcpListener, shutdown: impl Future<Output = ()> + Send, deps: Deps) -> Result<(), Error> {
    run_counting(listener, shutdown, deps, InFlight::default()).await
}

/// [`run`], counting the calls in flight into `in_flight` (the shutdown drain reports them).
pub async fn run_counting(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    deps: Deps,
    in_flight: InFlight,
) -> Result<(), Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<proto::key_rotation_server::KeyRotationServer<rotation::RotationService>>().await;
    health.set_serving::<proto::signer_server::SignerServer<signer::SigningService>>().await;
    health.set_serving::<proto::tokens_server::TokensServer<signer::SigningService>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(Error::Reflection)?;
    let engine = deps.engine.clone();
    let authenticate = Authenticate::new(deps.access.clone());
    let authorize = Authorize::new(engine.store().clone());
    // Failed authentication reaches the audit log aggregated, from a task of its own (aborted
    // with the server).
    let auditor = tokio::spawn(auth_failures::audit_failures(authenticate.failures(), engine.store().clone()));
    let _auditor = AbortOnDrop(auditor);
    let rotation = proto::key_rotation_server::KeyRotationServer::with_interceptor(
        rotation::RotationService { engine, signing: deps.signing.clone(), authorize: authorize.clone() },
        authenticate.clone(),
    );
    let limits = deps.limits;
    let pushback = pushback::Pushback::new(deps.signing.overload_pushback(), limits.request_timeout);
    let signing = signer::SigningService { signing: deps.signing.clone(), authorize, pushback };
    let rpc_layer = crate::telemetry::rpc::RpcLayer::new(served_methods()).counting(in_flight);
    let mut builder = Server::builder()
        .max_concurrent_streams(limits.max_concurrent_streams)
        .concurrency_limit_per_connection(limits.max_concurrent_requests_per_connection)
        .timeout(limits.request_timeout)
        .http2_keepalive_interval(Some(limits.http2_keepalive_interval))
        .http2_keepalive_timeout(Some(limits.http2_keepalive_timeout))
        .http2_max_header_list_size(limits.max_header_list_size)
        .http2_max_pending_accept_reset_streams(Some(limits.max_pending_accept_reset_streams))
        .http2_max_local_error_reset_streams(Some(limits.max_local_error_reset_streams))
        .layer(rpc_layer);
    if let Some(tls) = &deps.tls {
        builder = builder.tls_config(tls_config(tls)?).map_err(|e| Error::Config(vec![format!("tls: {e}")]))?;
    }
    builder
        .add_service(health_service)
        .add_service(reflection)
        .add_service(rotation)
        .add_service(proto::signer_server::SignerServer::with_interceptor(signing.clone(), authenticate.clone()))
        .add_service(proto::tokens_server::TokensServer::with_interceptor(signing.clone(), authenticate.clone()))
        .add_service(proto::audit_server::AuditServer::with_interceptor(signing, authenticate))
        .serve_with_incoming_shutdown(capped(listener, limits.max_connections, limits.handshake_timeout), shutdown)
        .await
        .map_err(Error::resource("gRPC server"))
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The port's connections, at most `max` open at once: past the cap the next accepted
/// connection waits for one to close (and the rest wait in the listen queue), while the open
/// ones go on being served.
fn capped(
    listener: TcpListener,
    max: usize,
    handshake_timeout: std::time::Duration,
) -> impl tokio_stream::Stream<Item = std::io::Result<crate::net::Coalescing>> + Send + 'static {
    let permits = Arc::new(tokio::sync::Semaphore::new(max));
    TcpIncoming::from(listener).with_nodelay(Some(true)).then(move |conn| {
        let permits = permits.clone();
        async move {
            let stream = conn?;
            // The semaphore is never closed, so acquiring only waits.
            let permit = permits.acquire_owned().await.ok();
            Ok(crate::net::Coalescing::new(stream, permit).with_handshake_deadline(handshake_timeout))
        }
    })
}

/// Every `package.Service/Method` the port serves (keyward.v1, health and reflection), read from
/// their file descriptor sets: the only method names the metrics and spans may carry.
pub fn served_methods() -> std::collections::BTreeSet<String> {
    use prost::Message as _;
    let sets = [
        proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    ];
    let mut served = std::collections::BTreeSet::new();
    for bytes in sets {
        // Compiled into the binary; an undecodable set would only leave its methods `unknown`.
        let Ok(set) = prost_types::FileDescriptorSet::decode(bytes) else { continue };
        for file in set.file {
            let package = file.package.unwrap_or_default();
            for service in file.service {
                let name = service.name.unwrap_or_default();
                for method in service.method {
                    served.insert(format!("{package}.{name}/{}", method.name.unwrap_or_default()));
                }
            }
        }
    }
    served
}

#[cfg(test)]
mod tests {
    #[test]
    fn served_methods_are_read_from_the_descriptors() {
        let served = super::served_methods();
        for m in [
            "keyward.v1.Signer/SignJwt",
            "keyward.v1.Signer/SignRequestObject",
            "keyward.v1.KeyRotation/RotateClientCredential",
            "grpc.health.v1.Health/Watch",
            "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        ] {
            assert!(served.contains(m), "{m}: {served:?}");
        }
        assert!(served.len() < 64, "{}", served.len());
    }
}
