//! The state every handler shares: the tenant (persisted), the runtime (request log, faults,
//! used assertion ids, rate-limit buckets) and the per-connection facts. The handlers and the
//! router import it; it imports neither.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::StatusCode;
use serde_json::Value;
use tokio::sync::Notify;

use crate::auth::Issuer;
use crate::envelope::ApiError;
use crate::faults::Faults;
use crate::ratelimit::Bucket;
use crate::state::Tenant;

/// Everything the handlers share.
pub(crate) struct Shared {
    pub tenant: Mutex<Tenant>,
    pub runtime: Mutex<Runtime>,
    pub issuer: Issuer,
    pub state_file: Option<PathBuf>,
    pub control: bool,
}

/// What does not survive a restart.
pub(crate) struct Runtime {
    pub faults: Faults,
    pub requests: Vec<Value>,
    /// (client_id, jti) → exp: assertions already used.
    pub jtis: HashMap<(String, String), u64>,
    pub management: Bucket,
    pub authentication: Bucket,
    /// `POST /api/v2/keys/signing/rotate`: 5 a day, burst 5, on every plan (CONTRACT.md §7.2).
    pub signing_key_rotations: Bucket,
}

/// Signing key rotations allowed a day (and the burst).
const ROTATIONS_PER_DAY: u32 = 5;

impl Runtime {
    pub fn new(tenant: &Tenant) -> Self {
        let l = &tenant.limits;
        Self {
            faults: Faults::default(),
            requests: Vec::new(),
            jtis: HashMap::new(),
            management: Bucket::new(l.burst, l.per_second),
            authentication: Bucket::new(l.burst, l.per_second),
            signing_key_rotations: Bucket::new(ROTATIONS_PER_DAY, f64::from(ROTATIONS_PER_DAY) / 86_400.0),
        }
    }
}

impl Shared {
    /// Locks the tenant (a poisoned lock still holds consistent data: every change is applied
    /// to a copy and swapped in, see [`Shared::update`]).
    pub fn tenant(&self) -> MutexGuard<'_, Tenant> {
        self.tenant.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn runtime(&self) -> MutexGuard<'_, Runtime> {
        self.runtime.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `change` to a copy of the tenant; on success swaps it in and saves the state
    /// file, so a failed request changes nothing.
    pub fn update<T, E>(&self, change: impl FnOnce(&mut Tenant) -> Result<T, E>) -> Result<T, E>
    where
        E: From<ApiError>,
    {
        let mut guard = self.tenant();
        let mut copy = guard.clone();
        let out = change(&mut copy)?;
        if let Some(path) = &self.state_file
            && let Err(e) = copy.save(path)
        {
            tracing::error!("saving emulator state: {e}");
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", None).into());
        }
        *guard = copy;
        Ok(out)
    }
}

/// Per-connection facts the accept loop puts into each request.
#[derive(Clone)]
pub(crate) struct Conn {
    pub peer: SocketAddr,
    /// Notified to close the connection without an answer.
    pub kill: Arc<Notify>,
}
