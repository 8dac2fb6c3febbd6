//! The token cache: tokens by audience and scope, bounded, with single flight (N concurrent
//! callers cause one token request) and a short memory of Auth0's refusals.

use hashlink::LruCache;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::time::Instant;

use super::AccessToken;
use crate::error::Error;

/// Cache key: one client on one domain (the cache belongs to one [`Auth0Client`](crate::Auth0Client),
/// so both are fixed), then audience and requested scope.
type Key = (String, Option<String>);

/// What one slot holds: nothing yet, a token, or Auth0's refusal to issue one (remembered for
/// [`REFUSAL_MEMORY`], so a caller cannot spend the tenant's rate limit asking again and again).
#[derive(Default)]
enum Held {
    #[default]
    Nothing,
    Token(AccessToken),
    Refused {
        error: Refusal,
        until: Instant,
    },
}

/// A refusal as remembered: enough to answer with the same error.
#[derive(Clone)]
enum Refusal {
    AccessDenied { error_code: String, message: String },
    InvalidRequest { status: u16, message: String, error_code: Option<String> },
}

impl Refusal {
    fn of(e: &Error) -> Option<Self> {
        match e {
            Error::AccessDenied { error_code, message } => {
                Some(Refusal::AccessDenied { error_code: error_code.clone(), message: message.clone() })
            }
            Error::InvalidRequest { status, message, error_code } => Some(Refusal::InvalidRequest {
                status: *status,
                message: message.clone(),
                error_code: error_code.clone(),
            }),
            _ => None,
        }
    }

    fn error(&self) -> Error {
        match self.clone() {
            Refusal::AccessDenied { error_code, message } => Error::AccessDenied { error_code, message },
            Refusal::InvalidRequest { status, message, error_code } => {
                Error::InvalidRequest { status, message, error_code }
            }
        }
    }
}

/// How long Auth0's refusal of an audience and scope is remembered.
pub(crate) const REFUSAL_MEMORY: Duration = Duration::from_secs(30);
/// How many audience and scope pairs a cache keeps by default.
pub const DEFAULT_CACHE_ENTRIES: usize = 1024;

/// One cache slot; its async lock is the single flight.
type Slot = Arc<tokio::sync::Mutex<Held>>;

/// Tokens by audience and scope, each reused until `expires_in − leeway`; at most `capacity`
/// pairs, the least recently used going first (a caller choosing audiences cannot grow it).
pub(crate) struct TokenCache {
    slots: Mutex<LruCache<Key, Slot>>,
    refusal_memory: Duration,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CACHE_ENTRIES)
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.slots.lock().map(|s| s.len()).unwrap_or(0);
        f.debug_struct("TokenCache").field("slots", &n).finish()
    }
}

impl TokenCache {
    /// A cache of at most `capacity` (at least 1) audience and scope pairs.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { slots: Mutex::new(LruCache::new(capacity.max(1))), refusal_memory: REFUSAL_MEMORY }
    }

    fn slot(&self, key: Key) -> Slot {
        match self.slots.lock() {
            Ok(mut slots) => {
                if let Some(slot) = slots.get(&key) {
                    return slot.clone();
                }
                let slot = Slot::default();
                // Past capacity the least recently used pair goes; a caller still holding its
                // slot finishes with it undisturbed.
                slots.insert(key, slot.clone());
                slot
            }
            // A poisoned map only means another thread panicked while inserting; a fresh slot is
            // still correct (at worst one extra token request).
            Err(_) => Arc::default(),
        }
    }

    /// How many pairs are cached.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// A cached token that is still fresh, or one obtained by `fetch`. Concurrent callers for the
    /// same key wait for the one fetch in flight. Auth0's refusal (403, or a 4xx naming the
    /// request) is remembered for [`REFUSAL_MEMORY`] and answered without asking again.
    pub async fn get<F, Fut>(
        &self,
        audience: &str,
        scope: Option<&str>,
        leeway: Duration,
        fetch: F,
    ) -> Result<AccessToken, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, Error>>,
    {
        let slot = self.slot((audience.to_owned(), scope.map(str::to_owned)));
        let mut guard = slot.lock().await;
        match &*guard {
            Held::Token(token) if Instant::now() + leeway < token.expires_at() => return Ok(token.clone()),
            Held::Refused { error, until } if Instant::now() < *until => return Err(error.error()),
            _ => {}
        }
        match fetch().await {
            Ok(token) => {
                *guard = Held::Token(token.clone());
                Ok(token)
            }
            Err(e) => {
                if let Some(error) = Refusal::of(&e) {
                    *guard = Held::Refused { error, until: Instant::now() + self.refusal_memory };
                }
                Err(e)
            }
        }
    }

    /// Forgets the cached token for (audience, scope) if it is still `stale` (e.g. after Auth0
    /// rejected it), so the next call fetches a new one.
    pub async fn invalidate(&self, audience: &str, scope: Option<&str>, stale: &AccessToken) {
        let slot = self.slot((audience.to_owned(), scope.map(str::to_owned)));
        let mut guard = slot.lock().await;
        if let Held::Token(t) = &*guard
            && t.token.expose_secret() == stale.token.expose_secret()
        {
            *guard = Held::Nothing;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::token::tests::token;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn single_flight_and_reuse() {
        let cache = Arc::new(TokenCache::default());
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let cache = cache.clone();
            let fetches = fetches.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get("aud", None, Duration::from_secs(10), || async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(token("t1", 3600))
                    })
                    .await
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // Another scope is another slot.
        let t = cache.get("aud", Some("read:x"), Duration::from_secs(10), || async { Ok(token("t2", 3600)) }).await;
        assert_eq!(t.unwrap().secret().expose_secret(), "t2");
    }

    #[tokio::test]
    async fn leeway_and_invalidate() {
        let cache = TokenCache::default();
        let leeway = Duration::from_secs(10);
        // expires_in ≤ leeway: never reused.
        let a = cache.get("aud", None, leeway, || async { Ok(token("short", 10)) }).await.unwrap();
        let b = cache.get("aud", None, leeway, || async { Ok(token("next", 3600)) }).await.unwrap();
        assert_eq!(a.secret().expose_secret(), "short");
        assert_eq!(b.secret().expose_secret(), "next");
        let c = cache.get("aud", None, leeway, || async { Ok(token("unused", 3600)) }).await.unwrap();
        assert_eq!(c.secret().expose_secret(), "next");
        cache.invalidate("aud", None, &c).await;
        let d = cache.get("aud", None, leeway, || async { Ok(token("fresh", 3600)) }).await.unwrap();
        assert_eq!(d.secret().expose_secret(), "fresh");
        // Invalidating with an older token leaves the newer one.
        cache.invalidate("aud", None, &c).await;
        let e = cache.get("aud", None, leeway, || async { Ok(token("unused", 3600)) }).await.unwrap();
        assert_eq!(e.secret().expose_secret(), "fresh");
        // A failed fetch is not cached.
        let cache = TokenCache::default();
        let err = cache.get("x", None, leeway, || async { Err(Error::Config("boom".into())) }).await;
        assert!(err.is_err());
        let ok = cache.get("x", None, leeway, || async { Ok(token("ok", 3600)) }).await;
        assert!(ok.is_ok());
    }

    #[tokio::test]
    async fn the_cache_is_bounded_least_recently_used_first() {
        let cache = TokenCache::with_capacity(3);
        let leeway = Duration::from_secs(10);
        for aud in ["a", "b", "c"] {
            cache.get(aud, None, leeway, || async { Ok(token(aud, 3600)) }).await.unwrap();
        }
        // "a" is used again, so "b" is the least recently used when "d" arrives.
        cache.get("a", None, leeway, || async { Ok(token("unused", 3600)) }).await.unwrap();
        cache.get("d", None, leeway, || async { Ok(token("d", 3600)) }).await.unwrap();
        assert_eq!(cache.len(), 3);
        let a = cache.get("a", None, leeway, || async { Ok(token("refetched", 3600)) }).await.unwrap();
        assert_eq!(a.secret().expose_secret(), "a", "kept");
        let b = cache.get("b", None, leeway, || async { Ok(token("refetched", 3600)) }).await.unwrap();
        assert_eq!(b.secret().expose_secret(), "refetched", "evicted");
        // A flood of caller-chosen audiences never grows it.
        for i in 0..500 {
            let aud = format!("https://made-up-{i}/");
            cache.get(&aud, None, leeway, || async { Ok(token("x", 3600)) }).await.unwrap();
        }
        assert_eq!(cache.len(), 3);
    }

    #[tokio::test]
    async fn refusals_are_remembered_for_a_while() {
        let cache = TokenCache { refusal_memory: Duration::from_millis(200), ..TokenCache::default() };
        let leeway = Duration::from_secs(10);
        let asked = AtomicUsize::new(0);
        let refuse = || async {
            asked.fetch_add(1, Ordering::SeqCst);
            Err(Error::AccessDenied { error_code: "access_denied".into(), message: "no grant".into() })
        };
        for _ in 0..5 {
            let err = cache.get("https://api/", None, leeway, refuse).await.unwrap_err();
            assert!(matches!(err, Error::AccessDenied { .. }), "{err}");
        }
        assert_eq!(asked.load(Ordering::SeqCst), 1, "Auth0 was asked once");
        // Other failures (an outage) are not remembered.
        let down = || async { Err(Error::Unavailable { status: Some(503), message: "down".into() }) };
        cache.get("https://other/", None, leeway, down).await.unwrap_err();
        let ok = cache.get("https://other/", None, leeway, || async { Ok(token("ok", 3600)) }).await;
        assert!(ok.is_ok());
        // After the memory, Auth0 is asked again.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let t = cache.get("https://api/", None, leeway, || async { Ok(token("granted", 3600)) }).await.unwrap();
        assert_eq!(t.secret().expose_secret(), "granted");
    }
}
