//! What the service's parts share, built once (by `service.rs`, or by a test): the store, the
//! tenants, the KEK ring, the notification that keys changed, this replica's name and the
//! clock. The rotation engine and the signer each take from it what they use; neither reaches
//! the other's state.

use std::collections::BTreeMap;
use std::sync::Arc;

use keyward_pkcs11::Token;

use crate::clock::{SharedClock, SystemClock};
use crate::ids::uuid_v4;
use crate::kek::KekRing;
use crate::store::Store;
use crate::tenant::{Tenant, Tenants};

/// The shared parts of one keyward process.
#[derive(Clone)]
pub struct Context {
    /// Where rotations, keys, policies and audit events are kept.
    pub store: Arc<dyn Store>,
    /// The configured tenants.
    pub tenants: Arc<Tenants>,
    /// Seals new keys with its current KEK; opens keys sealed with any of its KEKs.
    pub keks: KekRing,
    /// Notified whenever this process activates or retires a key (the signer reloads its keys).
    pub key_changed: Arc<tokio::sync::Notify>,
    /// This replica's name in leases and in `keyward status`.
    pub replica: String,
    /// Where every part reads the time (the store should be given the same one).
    pub clock: SharedClock,
    /// The PKCS#11 token, when `[kek] pkcs11` configures one.
    pub custody: Option<Token>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("store", &self.store.kind())
            .field("tenants", &self.tenants.names().collect::<Vec<_>>())
            .field("replica", &self.replica)
            .field("custody", &self.custody.as_ref().map(Token::label))
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Over `store` and `tenants` with the KEK ring `keks`, a generated replica name
    /// (`keyward-…`) and the system clock.
    pub fn new(store: Arc<dyn Store>, tenants: BTreeMap<String, Tenant>, keks: impl Into<KekRing>) -> Self {
        Self {
            store,
            tenants: Arc::new(Tenants::new(tenants)),
            keks: keks.into(),
            key_changed: Arc::default(),
            replica: format!("keyward-{}", &uuid_v4()[..12]),
            clock: SystemClock::shared(),
            custody: None,
        }
    }

    /// Uses `token` (the PKCS#11 token of `[kek] pkcs11`).
    pub fn with_custody(mut self, token: Option<Token>) -> Self {
        self.custody = token;
        self
    }

    /// Names this replica (in leases, audit events of background work and `keyward status`).
    pub fn with_replica(mut self, name: impl Into<String>) -> Self {
        self.replica = name.into();
        self
    }

    /// Reads the time from `clock`.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }
}
