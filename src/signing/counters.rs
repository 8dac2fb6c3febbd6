//! Signing counters per (principal, tenant, client, RPC), flushed to the audit log periodically
//! rather than one audit row per signature.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::Error;
use crate::store::{AuditEvent, AuditKind, Store};

type Key = (String, String, String, &'static str);

/// The counters.
pub struct Counters {
    store: Arc<dyn Store>,
    counts: Mutex<HashMap<Key, u64>>,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters").finish_non_exhaustive()
    }
}

impl Counters {
    pub(super) fn new(store: Arc<dyn Store>) -> Self {
        Self { store, counts: Mutex::new(HashMap::new()) }
    }

    /// Counts one signature.
    pub fn add(&self, principal: &str, tenant: &str, client_id: &str, rpc: &'static str) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry((principal.to_owned(), tenant.to_owned(), client_id.to_owned(), rpc)).or_default() += 1;
        }
    }

    /// Writes one `signing.count` audit event per key with a non-zero count, and resets them.
    /// Counts that fail to write are put back for the next flush.
    pub async fn flush(&self) -> Result<usize, Error> {
        let taken: Vec<(Key, u64)> = match self.counts.lock() {
            Ok(mut counts) => counts.drain().collect(),
            Err(_) => return Ok(0),
        };
        let mut written = 0;
        let mut failed = None;
        for ((principal, tenant, client, rpc), n) in taken {
            let detail = serde_json::json!({"rpc": rpc, "count": n}).to_string();
            let event = AuditEvent::new(AuditKind::SigningCount, &principal, &tenant, &client, detail);
            match self.store.append_audit(&event).await {
                Ok(_) => written += 1,
                Err(e) => {
                    if let Ok(mut counts) = self.counts.lock() {
                        *counts.entry((principal, tenant, client, rpc)).or_default() += n;
                    }
                    failed = Some(e);
                }
            }
        }
        failed.map_or(Ok(written), Err)
    }
}
