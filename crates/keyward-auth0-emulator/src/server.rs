//! Starting the emulator on a listener: the accept loop (plain or TLS), with a per-connection
//! switch that closes a connection without an answer for the `drop_*` faults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::auth::Issuer;
use crate::error::Error;
use crate::seed::Seed;
use crate::shared::{Conn, Runtime, Shared};
use crate::state::Tenant;

/// How to run an emulated tenant.
#[derive(Debug, Clone, Default)]
pub struct EmulatorConfig {
    /// The tenant domain (`iss` is `https://{domain}/`); defaults to the listener's HOST:PORT.
    /// A state file's saved domain takes precedence.
    pub domain: Option<String>,
    /// The tenant to start from (ignored when the state file exists).
    pub seed: Seed,
    /// Where the tenant is kept across restarts; saved atomically after every change.
    pub state_file: Option<PathBuf>,
    /// Serve the control API under `/__emulator/` (loopback peers only).
    pub control: bool,
    /// Serve HTTPS with this identity.
    pub tls: Option<TlsIdentity>,
}

/// A TLS certificate chain and private key, PEM.
#[derive(Clone)]
pub struct TlsIdentity {
    /// Certificate chain PEM.
    pub cert_pem: String,
    /// Private key PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").field("key_pem", &"[secret key elided]").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// A self-signed certificate for `127.0.0.1` and `localhost`.
    pub fn self_signed() -> Result<Self, Error> {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .map_err(|e| Error::Tls(e.to_string()))?;
        Ok(Self { cert_pem: certified.cert.pem(), key_pem: certified.signing_key.serialize_pem() })
    }

    fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, Error> {
        let certs = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Tls(format!("certificate: {e}")))?;
        let key =
            PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|e| Error::Tls(format!("key: {e}")))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| Error::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

/// A running emulator.
pub struct RunningEmulator {
    addr: SocketAddr,
    base_url: String,
    restored: bool,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl RunningEmulator {
    /// `http://HOST:PORT` (or `https://`).
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The tenant domain.
    pub fn domain(&self) -> String {
        self.shared.tenant().domain.clone()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the tenant was loaded from the state file rather than made from the seed.
    pub fn restored(&self) -> bool {
        self.restored
    }

    /// The same document as `GET /__emulator/state`.
    pub fn state(&self) -> serde_json::Value {
        self.shared.snapshot()
    }

    /// The whole emulated tenant as the state file holds it (clients, credentials, attachments,
    /// connections and their keys, signing keys, limits, seed), serialized: equal bytes mean
    /// nothing at Auth0 changed. The request log and rate-limit buckets are not part of it.
    pub fn tenant_bytes(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(&*self.shared.tenant())
            .map_err(|e| Error::StateFile { path: "<memory>".into(), reason: e.to_string() })
    }

    /// Stops accepting and closes every connection.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Starts an emulated tenant on `listener`.
pub async fn start(listener: TcpListener, config: EmulatorConfig) -> Result<RunningEmulator, Error> {
    let addr = listener.local_addr()?;
    let (shared, restored) = tenant(&config, addr.to_string())?;
    let acceptor = config.tls.as_ref().map(TlsIdentity::acceptor).transpose()?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let base_url = format!("{scheme}://{addr}");
    let (shutdown, rx) = watch::channel(false);
    let app = crate::app::router(shared.clone());
    let task = tokio::spawn(accept_loop(listener, app, acceptor, rx));
    Ok(RunningEmulator { addr, base_url, restored, shared, shutdown, task })
}

/// The emulated tenant's HTTP application without a listener, for driving it in-process with
/// `tower::ServiceExt::oneshot` (the fuzz targets in `fuzz/` do). The tenant is made as [`start`]
/// makes it; `config.domain` defaults to `localhost` and `config.tls` is ignored. Requests
/// reaching it this way carry no peer address, so the control API under `/__emulator/` answers
/// 404 whatever `config.control` says (and with it the scripted faults are out of reach).
pub fn router(config: &EmulatorConfig) -> Result<axum::Router, Error> {
    let (shared, _) = tenant(config, "localhost".to_owned())?;
    Ok(crate::app::router(shared))
}

/// The tenant from the state file if it exists, else from the seed (saved when a state file is
/// named); whether it was restored.
fn tenant(config: &EmulatorConfig, default_domain: String) -> Result<(Arc<Shared>, bool), Error> {
    let (tenant, restored) = match &config.state_file {
        Some(path) if path.exists() => (Tenant::load(path)?, true),
        _ => {
            let domain = config.domain.clone().unwrap_or(default_domain);
            let tenant = Tenant::from_seed(&config.seed, &domain)?;
            if let Some(path) = &config.state_file {
                tenant.save(path)?;
            }
            (tenant, false)
        }
    };
    let issuer = Issuer::default();
    let runtime = Runtime::new(&tenant);
    let shared = Arc::new(Shared {
        tenant: Mutex::new(tenant),
        runtime: Mutex::new(runtime),
        issuer,
        state_file: config.state_file.clone(),
        control: config.control,
    });
    Ok((shared, restored))
}

async fn accept_loop(
    listener: TcpListener,
    app: axum::Router,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let Ok((stream, peer)) = accepted else { continue };
        while connections.try_join_next().is_some() {}
        let app = app.clone();
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            let conn = Conn { peer, kill: Arc::new(Notify::new()) };
            match acceptor {
                Some(a) => {
                    if let Ok(tls) = a.accept(stream).await {
                        serve(TokioIo::new(tls), app, conn).await;
                    }
                }
                None => serve(TokioIo::new(stream), app, conn).await,
            }
        });
    }
}

async fn serve<I>(io: I, app: axum::Router, conn: Conn)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let kill = conn.kill.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(conn.clone());
        app.clone().oneshot(req.map(axum::body::Body::new))
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(io, service);
    tokio::select! {
        _ = connection => {}
        _ = kill.notified() => {}
    }
}
