//! The signer's key cache: every ACTIVE and RETIRING key, opened once and kept in memory (the
//! private key material lives inside the signer and is zeroized when the last reference drops),
//! keyed by (tenant, client), each client holding its private_key_jwt keys and its active JAR
//! (`signed_request_object`) key side by side. The signing path reads it without touching the database; it is
//! reloaded when this process activates or retires a key, and when the store's key version moves
//! (another replica did). It records when it last confirmed the store's key version; signing
//! refuses keys not confirmed within [`MAX_UNCONFIRMED_MS`] (a replica cut off from the store
//! stops signing rather than sign with a key revoked meanwhile).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use keyward_crypto::{Algorithm, Backend, Jwk, Jwks, KeyFamily, PrivateKey, Signer, signer_for};

use keyward_pkcs11::{Token, TokenSigner};
use prometheus_client::metrics::counter::Counter;

use crate::Error;
use crate::clock::{SharedClock, Timestamp};
use crate::custody::Custody;
use crate::seal::{self, Kek, KeyIdentity};
use crate::store::{CredentialMethod, KeyRecord, KeyState, Store};
use crate::telemetry::metrics::{AlgorithmLabel, metrics};

/// How long the cache may go without confirming the store's key version before signing must
/// confirm it first: a revocation on any replica stops signing everywhere within this bound.
pub const MAX_UNCONFIRMED_MS: i64 = 1_000;

/// A key ready to sign.
pub struct LoadedKey {
    /// keyward's key id.
    pub key_id: String,
    /// RFC 7638 thumbprint (the JWS `kid`).
    pub kid: String,
    /// The Auth0 credential id.
    pub credential_id: Option<String>,
    /// ACTIVE or RETIRING.
    pub state: KeyState,
    /// The public JWK (with `kid`, `alg` and `use`).
    pub jwk: Jwk,
    /// Signs; holds the private key, or a handle on it in the token.
    pub signer: Box<dyn Signer>,
    /// Where the private key lives.
    pub custody: Custody,
    /// Whether it signs on the calling thread: an in-memory elliptic-curve key, whose signature
    /// (tens of microseconds) costs less than a hop to the signing pool and back. RSA keys and
    /// keys in a token sign on the pool.
    pub inline: bool,
    /// The `exp` up to which the store already knows this key may have signed: a
    /// [`Timestamp`]'s milliseconds, atomic so the signing path reads it without a lock.
    pub horizon: AtomicI64,
    /// Serialises raising the horizon in the store.
    pub horizon_lock: tokio::sync::Mutex<()>,
    /// `keyward_signatures_total` for its algorithm.
    pub signatures: Counter,
}

impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedKey").field("key_id", &self.key_id).field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl LoadedKey {
    /// The algorithm it signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.signer.algorithm()
    }
}

/// A client's signing keys.
#[derive(Debug, Default)]
pub struct ClientKeys {
    /// The private_key_jwt key that signs (client assertions, SignJwt, access tokens).
    pub active: Option<Arc<LoadedKey>>,
    /// private_key_jwt keys still attached at Auth0 during their grace period (published in the
    /// JWKS).
    pub retiring: Vec<Arc<LoadedKey>>,
    /// The active JAR (`signed_request_object`) key: it signs request objects only. A field of
    /// its own rather than a second map, so a lookup stays one nested `&str` probe. Retiring JAR
    /// keys sign nothing and are not published (Auth0 reads JAR keys from the credentials), so
    /// they are not loaded.
    pub request_object: Option<Arc<LoadedKey>>,
    /// The public JWKS of the active and retiring private_key_jwt keys, serialized once when
    /// they load.
    pub jwks: String,
}

impl ClientKeys {
    /// The key that signs for `method`.
    pub fn signing(&self, method: CredentialMethod) -> Option<&Arc<LoadedKey>> {
        match method {
            CredentialMethod::PrivateKeyJwt => self.active.as_ref(),
            CredentialMethod::SignedRequestObject => self.request_object.as_ref(),
        }
    }

    fn with_jwks(mut self) -> Self {
        let keys = self.active.iter().chain(self.retiring.iter()).map(|k| k.jwk.clone()).collect();
        // A JWK of strings always serializes; an empty set is the fallback all the same.
        self.jwks = serde_json::to_string(&Jwks { keys }).unwrap_or_else(|_| r#"{"keys":[]}"#.to_owned());
        self
    }
}

/// Clients by tenant, then client id: looked up by `&str` on every call, without allocating.
type ClientMap = HashMap<String, HashMap<String, Arc<ClientKeys>>>;

/// The cache.
pub struct KeyCache {
    store: Arc<dyn Store>,
    keks: Vec<Arc<Kek>>,
    /// Signs for keys that live in the PKCS#11 token.
    custody: Option<Token>,
    inline_ec: bool,
    clock: SharedClock,
    clients: RwLock<Arc<ClientMap>>,
    version: tokio::sync::Mutex<Option<String>>,
    loaded: AtomicBool,
    /// When the store's key version was last read successfully (UNIX ms at the read's start).
    confirmed_at: AtomicI64,
    confirming: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache").finish_non_exhaustive()
    }
}

impl KeyCache {
    /// An empty cache over `store`, opening keys with `keks`, reading the time from `clock`.
    pub fn new(store: Arc<dyn Store>, keks: Vec<Arc<Kek>>, clock: SharedClock) -> Self {
        Self {
            store,
            keks,
            custody: None,
            inline_ec: false,
            clock,
            clients: RwLock::new(Arc::default()),
            version: tokio::sync::Mutex::new(None),
            loaded: AtomicBool::new(false),
            confirmed_at: AtomicI64::new(0),
            confirming: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether in-memory elliptic-curve keys sign on the calling thread
    /// ([`LoadedKey::inline`]).
    pub fn with_inline_ec(mut self, inline_ec: bool) -> Self {
        self.inline_ec = inline_ec;
        self
    }

    /// Signs for keys with `pkcs11` custody through `token`.
    pub fn with_custody(mut self, token: Option<Token>) -> Self {
        self.custody = token;
        self
    }

    /// The clock the cache confirms by (and its keys sign with).
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Makes sure the cache reflects the store as of at most `MAX_UNCONFIRMED_MS` (one second) ago,
    /// reading the key version (and reloading if it moved) when it does not; an error when the
    /// store cannot be reached.
    pub async fn confirm(&self) -> Result<(), Error> {
        let fresh = || self.clock.now().as_millis() - self.confirmed_at.load(Ordering::Acquire) <= MAX_UNCONFIRMED_MS;
        if fresh() {
            return Ok(());
        }
        // One caller reads the store; the others wait for its answer.
        let _one = self.confirming.lock().await;
        if fresh() {
            return Ok(());
        }
        self.refresh(false).await.map(drop).map_err(Error::resource("the store, to confirm the signing keys"))
    }

    /// A client's keys, from memory only.
    pub fn get(&self, tenant: &str, client_id: &str) -> Option<Arc<ClientKeys>> {
        let map = self.clients.read().ok()?;
        map.get(tenant)?.get(client_id).cloned()
    }

    /// Reloads everything if the store's key version moved (or always when `force`). Keys
    /// already open are reused; newly active ones are opened off the async threads.
    pub async fn refresh(&self, force: bool) -> Result<bool, Error> {
        let mut version = self.version.lock().await;
        let asked_at = self.clock.now().as_millis();
        let now = self.store.key_version().await?;
        if !force && version.as_deref() == Some(now.as_str()) {
            self.confirmed_at.fetch_max(asked_at, Ordering::AcqRel);
            return Ok(false);
        }
        let mut records = self.store.keys_in_state(KeyState::Active).await?;
        records.extend(self.store.keys_in_state(KeyState::Retiring).await?);
        let old = self.clients.read().map(|m| m.clone()).unwrap_or_default();
        let reusable: HashMap<String, Arc<LoadedKey>> = old
            .values()
            .flat_map(HashMap::values)
            .flat_map(|c| c.active.iter().chain(c.retiring.iter()).chain(c.request_object.iter()))
            .map(|k| (k.key_id.clone(), k.clone()))
            .collect();
        let keks = self.keks.clone();
        let token = self.custody.clone();
        let inline_ec = self.inline_ec;
        let built = tokio::task::spawn_blocking(move || build(records, &reusable, &keks, token.as_ref(), inline_ec))
            .await
            .map_err(Error::resource("the key cache's loader"))?;
        if let Ok(mut clients) = self.clients.write() {
            *clients = Arc::new(built);
        }
        *version = Some(now);
        self.confirmed_at.fetch_max(asked_at, Ordering::AcqRel);
        self.loaded.store(true, Ordering::SeqCst);
        Ok(true)
    }

    /// Whether the keys have been loaded from the store at least once.
    pub fn loaded(&self) -> bool {
        self.loaded.load(Ordering::SeqCst)
    }
}

impl LoadedKey {
    /// A failure to sign, as the caller sees it: for a key in the token a token that does not
    /// sign is taken as the custody backend being unavailable (the key itself was checked when
    /// it was loaded), which a retry may cure.
    pub fn signing_failed(&self, e: Error) -> Error {
        match (self.custody, e) {
            (Custody::Pkcs11, Error::Crypto(c)) => Error::Unavailable(format!(
                "custody backend pkcs11: the token did not sign with key {} ({c})",
                self.key_id
            )),
            (_, e) => e,
        }
    }
}

fn build(
    records: Vec<KeyRecord>,
    reusable: &HashMap<String, Arc<LoadedKey>>,
    keks: &[Arc<Kek>],
    token: Option<&Token>,
    inline_ec: bool,
) -> ClientMap {
    let mut map: HashMap<(String, String), ClientKeys> = HashMap::new();
    for r in records {
        if r.method == CredentialMethod::SignedRequestObject && r.state != KeyState::Active {
            continue;
        }
        let loaded = match reusable.get(&r.key_id) {
            Some(k) if k.state == r.state => {
                k.horizon.fetch_max(r.last_signed_exp.map_or(0, Timestamp::as_millis), Ordering::SeqCst);
                k.clone()
            }
            _ => match open(&r, keks, token, inline_ec) {
                Ok(k) => Arc::new(k),
                Err(e) => {
                    tracing::error!(key_id = %r.key_id, tenant = %r.tenant, client_id = %r.client_id, error = %e, "key cannot be loaded for signing");
                    continue;
                }
            },
        };
        let entry = map.entry((r.tenant.clone(), r.client_id.clone())).or_default();
        match (r.method, r.state) {
            (CredentialMethod::PrivateKeyJwt, KeyState::Active) => entry.active = Some(loaded),
            (CredentialMethod::PrivateKeyJwt, _) => entry.retiring.push(loaded),
            (CredentialMethod::SignedRequestObject, _) => entry.request_object = Some(loaded),
        }
    }
    let mut out = ClientMap::new();
    for ((tenant, client), keys) in map {
        out.entry(tenant).or_default().insert(client, Arc::new(keys.with_jwks()));
    }
    out
}

fn open(r: &KeyRecord, keks: &[Arc<Kek>], token: Option<&Token>, inline_ec: bool) -> Result<LoadedKey, Error> {
    let alg: Algorithm = r.algorithm;
    let signer: Box<dyn Signer> = match r.token_label() {
        // The key never leaves the token: it signs there, through the token's session pool.
        Some(label) => {
            let token = token.ok_or_else(|| {
                Error::FailedPrecondition(format!(
                    "key {} lives in a PKCS#11 token, and this server has none",
                    r.key_id
                ))
            })?;
            let key = token
                .find_key(label)
                .map_err(Error::Custody)?
                .ok_or_else(|| Error::Corrupt(format!("key {}: the token holds no object {label:?}", r.key_id)))?;
            Box::new(TokenSigner::new(token.clone(), key, alg).map_err(Error::Custody)?)
        }
        None => {
            let refs: Vec<&Kek> = keks.iter().map(|k| &**k).collect();
            let who = KeyIdentity { tenant: &r.tenant, client_id: &r.client_id, key_id: &r.key_id };
            let der = seal::open(&refs, who, &r.sealed)?;
            let private = PrivateKey::from_der(&der)?;
            signer_for(Backend::fastest(), &private, alg)?
        }
    };
    let inline = inline_ec && r.token_label().is_none() && matches!(alg.key_family(), KeyFamily::Ec(_));
    let mut jwk = signer.public_key().to_jwk(Some(alg))?;
    jwk.key_use = Some("sig".into());
    Ok(LoadedKey {
        key_id: r.key_id.clone(),
        kid: r.kid.clone(),
        credential_id: r.credential_id.clone(),
        state: r.state,
        jwk,
        signer,
        custody: r.custody(),
        inline,
        horizon: AtomicI64::new(r.last_signed_exp.map_or(0, Timestamp::as_millis)),
        horizon_lock: tokio::sync::Mutex::new(()),
        signatures: metrics().signatures.get_or_create(&AlgorithmLabel { algorithm: alg.to_string() }).clone(),
    })
}
