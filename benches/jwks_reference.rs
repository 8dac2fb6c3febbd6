//! The floor of keyward's stack for one unary call: a bare tonic server that answers
//! `keyward.v1.Signer/GetJwks` with a fixed JWKS and nothing else (no authentication, no
//! metrics, no limits, no key cache). `benches/bench-sign.sh` and BENCHMARKS.md drive it with
//! `keyward-load --rpc get-jwks` exactly as they drive keyward, so the CPU each spends per call
//! compares keyward's own work with tonic's, hyper's and the kernel's.
//!
//!   cargo run --release --example jwks-reference -- [--listen ADDR] [--addr-file FILE]
//!       [--jwks-file FILE] [--workers N]
//!
//! It runs the same runtime layout as `keyward serve` (async workers on half the cores, at least
//! one; `--workers` or `TOKIO_WORKER_THREADS` overrides), the same allocator, and TCP_NODELAY,
//! and serves until killed. By default it answers with a JWKS of the size keyward publishes for
//! one RSA-2048 key; `--jwks-file` answers with a given one (e.g. keyward's own, fetched with
//! `keyward jwks`).

use std::net::SocketAddr;

use keyward_proto as proto;
use tonic::{Request, Response, Status};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One RSA-2048 public JWK as keyward publishes it (a 342-character modulus).
fn default_jwks() -> String {
    let n = "u1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0_IzW7yWR7QkrmBL7jTKEn5u-qKhbwKfBstIs-bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW_VDL5AaWTg0nLVkjRo9z-40RQzuVaE8AkAFmxZzow3x-VJYKdjykkJ0iT9wCS0DRTXu269V264Vf_3jvredZiKRkgwlL9xNAwxXFg0x_XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC-9aGVd-Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmw";
    format!(
        r#"{{"keys":[{{"kty":"RSA","n":"{n}","e":"AQAB","kid":"fO0i8nJ5kRj1dVPcV0Gqk8Q5bLxO3yUVd2mI9rTnZtE","alg":"RS256","use":"sig"}}]}}"#
    )
}

struct Reference {
    jwks: String,
}

#[tonic::async_trait]
impl proto::signer_server::Signer for Reference {
    async fn sign_client_assertion(
        &self,
        _: Request<proto::SignClientAssertionRequest>,
    ) -> Result<Response<proto::SignClientAssertionResponse>, Status> {
        Err(Status::unimplemented("the reference server answers GetJwks only"))
    }

    async fn sign_jwt(&self, _: Request<proto::SignJwtRequest>) -> Result<Response<proto::SignJwtResponse>, Status> {
        Err(Status::unimplemented("the reference server answers GetJwks only"))
    }

    async fn sign_request_object(
        &self,
        _: Request<proto::SignRequestObjectRequest>,
    ) -> Result<Response<proto::SignRequestObjectResponse>, Status> {
        Err(Status::unimplemented("the reference server answers GetJwks only"))
    }

    async fn get_jwks(&self, _: Request<proto::GetJwksRequest>) -> Result<Response<proto::GetJwksResponse>, Status> {
        Ok(Response::new(proto::GetJwksResponse { jwks_json: self.jwks.clone() }))
    }
}

struct Args {
    listen: SocketAddr,
    addr_file: Option<String>,
    jwks_file: Option<String>,
    workers: Option<usize>,
}

fn args() -> Result<Args, String> {
    let mut out =
        Args { listen: SocketAddr::from(([127, 0, 0, 1], 0)), addr_file: None, jwks_file: None, workers: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        // `cargo bench` passes `--bench`; nothing else is expected.
        if flag == "--bench" {
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag}: needs a value"))?;
        match flag.as_str() {
            "--listen" => out.listen = value.parse().map_err(|e| format!("--listen: {e}"))?,
            "--addr-file" => out.addr_file = Some(value),
            "--jwks-file" => out.jwks_file = Some(value),
            "--workers" => out.workers = Some(value.parse().map_err(|e| format!("--workers: {e}"))?),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(out)
}

fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("jwks-reference: {e}");
            std::process::exit(64);
        }
    };
    let jwks = match &args.jwks_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(j) => j.trim().to_owned(),
            Err(e) => {
                eprintln!("jwks-reference: --jwks-file {path}: {e}");
                std::process::exit(66);
            }
        },
        None => default_jwks(),
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    match args.workers {
        Some(n) => {
            builder.worker_threads(n.max(1));
        }
        None if std::env::var_os("TOKIO_WORKER_THREADS").is_none() => {
            builder.worker_threads((cores / 2).max(1));
        }
        None => {}
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("jwks-reference: runtime: {e}");
            std::process::exit(71);
        }
    };
    if let Err(e) = runtime.block_on(serve(args, jwks)) {
        eprintln!("jwks-reference: {e}");
        std::process::exit(1);
    }
}

async fn serve(args: Args, jwks: String) -> Result<(), String> {
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.map_err(|e| format!("bind {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    match &args.addr_file {
        Some(path) => std::fs::write(path, addr.to_string()).map_err(|e| format!("--addr-file {path}: {e}"))?,
        None => println!("{addr}"),
    }
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(proto::signer_server::SignerServer::new(Reference { jwks }))
        .serve_with_incoming(incoming)
        .await
        .map_err(|e| e.to_string())
}
