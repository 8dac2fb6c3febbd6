//! Opening a token: load and initialise the module, find the slot by token label, log in; and
//! running operations on pooled sessions with reconnection when the token comes back.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::error::{Error, is_stale_handle, rv_of};
use crate::pool::{Lease, ObjectKind, Opener, Pool, PoolStats};

/// How long a caller waits for a free session by default.
pub const DEFAULT_SESSION_WAIT: Duration = Duration::from_secs(5);

/// Where the token is and how to log in. The PIN is zeroized on drop and never printed.
#[derive(Clone)]
pub struct TokenConfig {
    /// Path of the PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label (compared after trimming the padding).
    pub token_label: String,
    /// The user PIN.
    pub pin: Zeroizing<String>,
    /// The most sessions kept open (at least 1).
    pub sessions: usize,
    /// How long a caller waits for a free session before [`Error::Busy`].
    pub session_wait: Duration,
    /// Whether reconnecting may finalise and initialise the module again when the token is not
    /// found (default `true`). Some modules (SoftHSM2) rescan their tokens only then. It is done
    /// only while none of this token's sessions is out; it resets the module for the whole
    /// process, so turn it off when another user in the process shares the module.
    pub reinitialize_on_loss: bool,
}

impl TokenConfig {
    /// A configuration with 4 sessions and the default wait.
    pub fn new(module: impl Into<PathBuf>, token_label: impl Into<String>, pin: Zeroizing<String>) -> Self {
        Self {
            module: module.into(),
            token_label: token_label.into(),
            pin,
            sessions: 4,
            session_wait: DEFAULT_SESSION_WAIT,
            reinitialize_on_loss: true,
        }
    }
}

impl fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenConfig")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"<redacted>")
            .field("sessions", &self.sessions)
            .field("session_wait", &self.session_wait)
            .field("reinitialize_on_loss", &self.reinitialize_on_loss)
            .finish()
    }
}

/// A logged-in PKCS#11 token with a bounded pool of sessions. Cheap to clone; shareable
/// between threads; every call is synchronous (call it from blocking threads).
#[derive(Clone)]
pub struct Token {
    pub(crate) inner: Arc<Inner>,
}

/// What every clone of a [`Token`] shares.
pub(crate) struct Inner {
    ctx: Pkcs11,
    label: String,
    pin: AuthPin,
    reinitialize: bool,
    pub(crate) pool: Pool,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token").field("label", &self.inner.label).field("pool", &self.inner.pool.stats()).finish()
    }
}

impl Inner {
    /// Whether the token is still in `slot` (any failure to say so means it is not).
    fn probe(&self, op: &'static str) -> Result<(), Error> {
        let gone = |rv: String| Error::Unavailable { op, rv };
        let slot = self.pool.slot().ok_or_else(|| gone("not connected".into()))?;
        match self.ctx.get_token_info(slot) {
            Ok(info) if info.label().trim() == self.label => Ok(()),
            Ok(_) => Err(gone("another token in the slot".into())),
            Err(e) => Err(gone(rv_of(&e).map_or_else(|| "token info unreadable".into(), |rv| format!("{rv:?}")))),
        }
    }
}

impl Opener for Inner {
    fn reinitialize(&self) -> Result<bool, Error> {
        if !self.reinitialize {
            return Ok(false);
        }
        let unavailable = |e: CkError| Error::Unavailable { op: "reinitialize module", rv: format!("{e}") };
        match self.ctx.clone().finalize() {
            Ok(()) => {}
            Err(e) if rv_of(&e) == Some(RvError::CryptokiNotInitialized) => {}
            Err(e) => return Err(unavailable(e)),
        }
        match self.ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) => Ok(true),
            Err(e) if rv_of(&e) == Some(RvError::CryptokiAlreadyInitialized) => Ok(true),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn find_slot(&self) -> Result<Slot, Error> {
        let slots = self.ctx.get_slots_with_token().map_err(|e| Error::from_ck("list slots", e))?;
        for slot in slots {
            // A slot whose token vanished between the listing and now is just not this one.
            let Ok(info) = self.ctx.get_token_info(slot) else { continue };
            if info.label().trim() == self.label {
                return Ok(slot);
            }
        }
        Err(Error::TokenNotFound { label: self.label.clone() })
    }

    fn open(&self, slot: Slot) -> Result<Session, Error> {
        let session = self.ctx.open_rw_session(slot).map_err(|e| Error::from_ck("open session", e))?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) => Ok(session),
            Err(e) if rv_of(&e) == Some(RvError::UserAlreadyLoggedIn) => Ok(session),
            Err(e) => match rv_of(&e) {
                Some(
                    rv @ (RvError::PinIncorrect | RvError::PinLocked | RvError::PinInvalid | RvError::PinLenRange),
                ) => Err(Error::Login { label: self.label.clone(), reason: format!("{rv:?}") }),
                _ => Err(Error::from_ck("login", e)),
            },
        }
    }
}

impl Token {
    /// Loads the module, initialises it (another user in the process having done so already is
    /// fine), finds the token by label, opens the pool's sessions and logs in.
    pub fn open(config: TokenConfig) -> Result<Token, Error> {
        let module_err = |source| Error::Module { path: config.module.clone(), source };
        let ctx = Pkcs11::new(&config.module).map_err(module_err)?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) => {}
            Err(e) if rv_of(&e) == Some(RvError::CryptokiAlreadyInitialized) => {}
            Err(e) => return Err(module_err(e)),
        }
        let pin = AuthPin::from(config.pin.as_str());
        let inner = Inner {
            ctx,
            label: config.token_label.trim().to_owned(),
            pin,
            reinitialize: config.reinitialize_on_loss,
            pool: Pool::new(config.sessions, config.session_wait),
        };
        inner.pool.connect(&inner, true)?;
        Ok(Token { inner: Arc::new(inner) })
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// Drops every session, re-finds the token by label, reopens the sessions and logs in
    /// again. A missing token is [`Error::Unavailable`]. Checkouts do this by themselves after
    /// the token went away (at most every 500 ms); this is for an operator's "retry now".
    pub fn reconnect(&self) -> Result<(), Error> {
        self.inner.pool.connect(&*self.inner, false).map_err(|e| match e {
            Error::TokenNotFound { .. } => Error::Unavailable { op: "reconnect", rv: "token not present".into() },
            other => other,
        })
    }

    /// A cheap health probe for readiness: the token is still in its slot, and a pooled
    /// session still exists and is logged in. A failure is [`Error::Unavailable`] (or
    /// [`Error::Busy`]) and makes the next checkout reconnect.
    pub fn check(&self) -> Result<(), Error> {
        self.with_session("health check", |session| {
            let info = session.get_session_info().map_err(|e| Error::from_ck("get session info", e))?;
            match info.session_state() {
                SessionState::RwUser | SessionState::RoUser => self.inner.probe("health check"),
                _ => Err(Error::Unavailable { op: "health check", rv: "session not logged in".into() }),
            }
        })
    }

    /// After a lookup found nothing: an error if that is because the token went away.
    pub(crate) fn confirm_present(&self, op: &'static str) -> Result<(), Error> {
        self.inner.probe(op)
    }

    /// The session pool's statistics (for metrics and tests).
    pub fn pool_stats(&self) -> PoolStats {
        self.inner.pool.stats()
    }

    /// Sessions checked out right now.
    pub fn sessions_in_use(&self) -> usize {
        self.inner.pool.stats().in_use
    }

    /// Runs `f` on a pooled session; a session that found the token gone is discarded.
    pub(crate) fn with_session<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Session) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.leased(op, |lease| match lease.session() {
            Some(session) => f(session),
            None => Err(Error::Unavailable { op, rv: "no session".into() }),
        })
    }

    /// Checks a session out for `f`; a failure that means the token is gone (or a generic one
    /// once the token left its slot) discards the session.
    fn leased<T>(&self, op: &'static str, f: impl FnOnce(&Lease<'_>) -> Result<T, Error>) -> Result<T, Error> {
        let mut lease = self.inner.pool.checkout(&*self.inner)?;
        let result = self.explain(op, f(&lease));
        if let Err(e) = &result
            && e.is_unavailable()
        {
            lease.discard();
        }
        result
    }

    /// Runs `f` with the handle of the `kind` object labelled `label` (cached per pool
    /// generation; looked up again once if the cached handle went stale). `map` turns the
    /// library's errors into ours.
    pub(crate) fn with_object<T>(
        &self,
        op: &'static str,
        kind: ObjectKind,
        label: &str,
        f: impl Fn(&Session, ObjectHandle) -> Result<T, CkError>,
        map: impl Fn(CkError) -> Error,
    ) -> Result<T, Error> {
        self.leased(op, |lease| self.run_with_object(lease, op, kind, label, f, map))
    }

    /// A generic PKCS#11 failure (e.g. SoftHSM2's CKR_GENERAL_ERROR once a token vanished)
    /// becomes [`Error::Unavailable`] when the token is no longer in its slot.
    fn explain<T>(&self, op: &'static str, result: Result<T, Error>) -> Result<T, Error> {
        match result {
            Err(Error::Pkcs11 { op: failed, source }) => match self.inner.probe(op) {
                Ok(()) => Err(Error::Pkcs11 { op: failed, source }),
                Err(gone) => Err(gone),
            },
            other => other,
        }
    }

    fn run_with_object<T>(
        &self,
        lease: &Lease<'_>,
        op: &'static str,
        kind: ObjectKind,
        label: &str,
        f: impl Fn(&Session, ObjectHandle) -> Result<T, CkError>,
        map: impl Fn(CkError) -> Error,
    ) -> Result<T, Error> {
        let Some(session) = lease.session() else {
            return Err(Error::Unavailable { op, rv: "no session".into() });
        };
        let pool = &self.inner.pool;
        if let Some(handle) = pool.cached(kind, label) {
            match f(session, handle) {
                Err(e) if is_stale_handle(&e) => pool.evict(kind, label),
                other => return other.map_err(map),
            }
        }
        let Some(handle) = find_one(session, kind, label)? else {
            self.inner.probe(op)?;
            return Err(Error::KeyNotFound { label: label.to_owned() });
        };
        pool.cache(lease.generation(), kind, label, handle);
        f(session, handle).map_err(map)
    }

    /// Forgets the cached handle of an object (after destroying it).
    pub(crate) fn evict(&self, kind: ObjectKind, label: &str) {
        self.inner.pool.evict(kind, label);
    }
}

/// The search template for objects of `kind` labelled `label`.
pub(crate) fn template(kind: ObjectKind, label: &str) -> Vec<Attribute> {
    let class = match kind {
        ObjectKind::Secret => ObjectClass::SECRET_KEY,
        ObjectKind::Private => ObjectClass::PRIVATE_KEY,
        ObjectKind::Public => ObjectClass::PUBLIC_KEY,
    };
    vec![Attribute::Class(class), Attribute::Label(label.as_bytes().to_vec())]
}

/// Every object of `kind` labelled `label`.
pub(crate) fn find_all(session: &Session, kind: ObjectKind, label: &str) -> Result<Vec<ObjectHandle>, Error> {
    session.find_objects(&template(kind, label)).map_err(|e| Error::from_ck("find objects", e))
}

/// The first object of `kind` labelled `label`.
pub(crate) fn find_one(session: &Session, kind: ObjectKind, label: &str) -> Result<Option<ObjectHandle>, Error> {
    Ok(find_all(session, kind, label)?.into_iter().next())
}
