//! Bearer-token authentication: tokens are configured as SHA-256 hashes and compared in
//! constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// The SHA-256 of a token, as configured.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Checks `authorization: Bearer <token>` against the configured hashes.
#[derive(Clone)]
pub struct BearerAuth {
    hashes: std::sync::Arc<Vec<[u8; 32]>>,
}

impl std::fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BearerAuth({} token hashes)", self.hashes.len())
    }
}

impl BearerAuth {
    /// Accepts tokens whose SHA-256 is one of `hashes`.
    pub fn new(hashes: Vec<[u8; 32]>) -> Self {
        Self { hashes: std::sync::Arc::new(hashes) }
    }

    fn accepts(&self, token: &str) -> bool {
        let h = token_hash(token);
        // Check every hash, so the time does not say which one matched.
        self.hashes.iter().fold(subtle::Choice::from(0), |acc, known| acc | known.ct_eq(&h)).into()
    }
}

impl Interceptor for BearerAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let header = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        let token = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")));
        match token {
            Some(t) if self.accepts(t.trim()) => Ok(request),
            Some(_) => Err(Status::unauthenticated("the bearer token is not valid")),
            None => Err(Status::unauthenticated("authorization: Bearer <token> is required")),
        }
    }
}
