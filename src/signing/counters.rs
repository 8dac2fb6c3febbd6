//! Signing counters per (principal, tenant, client, RPC), flushed to the audit log periodically
//! rather than one audit row per signature.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::Error;
use crate::store::{AuditEvent, AuditKind, Store};

type Key = (String, String, String, &'static str);

/// Counts by principal, tenant and client (each looked up by `&str`, so counting an existing
/// key allocates nothing), then by RPC.
type Counts = HashMap<String, HashMap<String, HashMap<String, Vec<(&'static str, u64)>>>>;

/// The counters.
pub struct Counters {
    store: Arc<dyn Store>,
    counts: Mutex<Counts>,
}

fn bump(counts: &mut Counts, principal: &str, tenant: &str, client_id: &str, rpc: &'static str, n: u64) {
    fn level<'m, V: Default>(map: &'m mut HashMap<String, V>, key: &str) -> Option<&'m mut V> {
        if !map.contains_key(key) {
            map.insert(key.to_owned(), V::default());
        }
        map.get_mut(key)
    }
    let Some(rpcs) = level(counts, principal)
        .and_then(|tenants| level(tenants, tenant))
        .and_then(|clients| level(clients, client_id))
    else {
        return;
    };
    match rpcs.iter_mut().find(|(r, _)| *r == rpc) {
        Some((_, count)) => *count += n,
        None => rpcs.push((rpc, n)),
    }
}

fn drain(counts: &mut Counts) -> Vec<(Key, u64)> {
    let mut out = Vec::new();
    for (principal, tenants) in counts.drain() {
        for (tenant, clients) in tenants {
            for (client, rpcs) in clients {
                for (rpc, n) in rpcs {
                    out.push(((principal.clone(), tenant.clone(), client.clone(), rpc), n));
                }
            }
        }
    }
    out
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
            bump(&mut counts, principal, tenant, client_id, rpc, 1);
        }
    }

    /// Writes one `signing.count` audit event per key with a non-zero count, and resets them.
    /// Counts that fail to write are put back for the next flush.
    pub async fn flush(&self) -> Result<usize, Error> {
        let taken: Vec<(Key, u64)> = match self.counts.lock() {
            Ok(mut counts) => drain(&mut counts),
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
                        bump(&mut counts, &principal, &tenant, &client, rpc, n);
                    }
                    failed = Some(e);
                }
            }
        }
        failed.map_or(Ok(written), Err)
    }
}
