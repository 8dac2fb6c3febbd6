//! The bounded session pool: at most `size` sessions, callers wait (with a timeout) for a free
//! one, sessions that saw the token go away are discarded, and the next checkout reconnects
//! (re-finds the slot by label, opens a session, logs in), at most once per [`RETRY_INTERVAL`].

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki::slot::Slot;

use crate::error::Error;

/// How often a checkout may try to reconnect to a token that went away.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// Which kind of object a cached handle names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ObjectKind {
    /// An AES key (the KEK).
    Secret,
    /// A signing key's private half.
    Private,
    /// A signing key's public half.
    Public,
}

/// A snapshot of the pool for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// The most sessions the pool keeps open.
    pub size: usize,
    /// Sessions open now (idle and in use).
    pub open: usize,
    /// Sessions checked out now.
    pub in_use: usize,
    /// The most sessions ever checked out at once.
    pub peak_in_use: usize,
    /// How many times the pool (re)connected to the token.
    pub connects: u64,
}

/// The pool's mutable state, behind one mutex.
pub(crate) struct State {
    idle: Vec<Session>,
    in_use: usize,
    peak_in_use: usize,
    /// Bumped whenever the sessions are thrown away; sessions of older generations are closed
    /// when they come back.
    generation: u64,
    /// The token's slot while connected; `None` after the token went away.
    pub(crate) slot: Option<Slot>,
    last_attempt: Option<Instant>,
    connects: u64,
    /// Object handles by kind and label, valid for the current generation.
    handles: HashMap<(ObjectKind, String), ObjectHandle>,
}

/// Sessions on one token.
pub(crate) struct Pool {
    state: Mutex<State>,
    freed: Condvar,
    size: usize,
    wait: Duration,
}

/// What opens a session for the pool: the token's connect logic.
pub(crate) trait Opener {
    /// Finds the token's slot (by label) after it went away.
    fn find_slot(&self) -> Result<Slot, Error>;
    /// Opens a R/W session on `slot` and logs it in.
    fn open(&self, slot: Slot) -> Result<Session, Error>;
    /// Finalises and initialises the module again (some modules, SoftHSM2 among them, only
    /// rescan their tokens then); `false` if this token may not do that.
    fn reinitialize(&self) -> Result<bool, Error>;
}

/// Finds the slot after the token went away: by label, and if it is not there and no session
/// of this pool is out (so no stale session handle can outlive the module's state), again after
/// re-initialising the module.
fn refind(st: &State, opener: &dyn Opener) -> Result<Slot, Error> {
    let gone = |e: Error| match e {
        Error::TokenNotFound { .. } => Error::Unavailable { op: "reconnect", rv: "token not present".into() },
        other => other,
    };
    match opener.find_slot() {
        Ok(slot) => Ok(slot),
        Err(e) if st.in_use == 0 && st.idle.is_empty() => {
            if opener.reinitialize()? {
                opener.find_slot().map_err(gone)
            } else {
                Err(gone(e))
            }
        }
        Err(e) => Err(gone(e)),
    }
}

impl Pool {
    /// An empty, disconnected pool of at most `size` sessions.
    pub(crate) fn new(size: usize, wait: Duration) -> Self {
        let state = State {
            idle: Vec::new(),
            in_use: 0,
            peak_in_use: 0,
            generation: 0,
            slot: None,
            last_attempt: None,
            connects: 0,
            handles: HashMap::new(),
        };
        Self { state: Mutex::new(state), freed: Condvar::new(), size: size.max(1), wait }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent enough (counters only).
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The pool's statistics.
    pub(crate) fn stats(&self) -> PoolStats {
        let st = self.lock();
        PoolStats {
            size: self.size,
            open: st.idle.len() + st.in_use,
            in_use: st.in_use,
            peak_in_use: st.peak_in_use,
            connects: st.connects,
        }
    }

    /// Throws every idle session and cached handle away and forgets the slot.
    fn invalidate(st: &mut State) {
        st.generation += 1;
        st.idle.clear();
        st.handles.clear();
        st.slot = None;
    }

    /// Reconnects now (no rate limit): drops the sessions, re-finds the slot (the first time,
    /// `initial`, without re-initialising the module), opens every session the pool may have
    /// and logs in.
    pub(crate) fn connect(&self, opener: &dyn Opener, initial: bool) -> Result<(), Error> {
        let mut st = self.lock();
        Self::invalidate(&mut st);
        st.last_attempt = Some(Instant::now());
        let slot = if initial { opener.find_slot()? } else { refind(&st, opener)? };
        st.slot = Some(slot);
        st.connects += 1;
        while st.idle.len() + st.in_use < self.size {
            match opener.open(slot) {
                Ok(session) => st.idle.push(session),
                Err(e) => {
                    Self::invalidate(&mut st);
                    return Err(e);
                }
            }
        }
        self.freed.notify_all();
        Ok(())
    }

    /// Takes a free session, opening one (and reconnecting, rate-limited) if the pool has
    /// room, else waits up to the pool's wait for one.
    pub(crate) fn checkout(&self, opener: &dyn Opener) -> Result<Lease<'_>, Error> {
        let start = Instant::now();
        let deadline = start + self.wait;
        let mut st = self.lock();
        loop {
            if let Some(session) = st.idle.pop() {
                return Ok(self.lease(&mut st, session));
            }
            if st.idle.len() + st.in_use < self.size {
                let session = self.open_one(&mut st, opener)?;
                return Ok(self.lease(&mut st, session));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Busy { sessions: self.size, waited_ms: now.duration_since(start).as_millis() });
            }
            st = self.freed.wait_timeout(st, deadline - now).map(|(g, _)| g).unwrap_or_else(|p| p.into_inner().0);
        }
    }

    fn lease(&self, st: &mut State, session: Session) -> Lease<'_> {
        st.in_use += 1;
        st.peak_in_use = st.peak_in_use.max(st.in_use);
        Lease { pool: self, session: Some(session), generation: st.generation }
    }

    /// Opens one more session, reconnecting first if the token went away.
    fn open_one(&self, st: &mut State, opener: &dyn Opener) -> Result<Session, Error> {
        let slot = match st.slot {
            Some(slot) => slot,
            None => {
                if let Some(last) = st.last_attempt
                    && last.elapsed() < RETRY_INTERVAL
                {
                    return Err(Error::Unavailable { op: "reconnect", rv: "token not back (retrying)".into() });
                }
                st.last_attempt = Some(Instant::now());
                let slot = refind(st, opener)?;
                st.slot = Some(slot);
                st.connects += 1;
                slot
            }
        };
        opener.open(slot).inspect_err(|e| {
            if e.is_unavailable() {
                Self::invalidate(st);
            }
        })
    }

    /// The token's slot while connected.
    pub(crate) fn slot(&self) -> Option<Slot> {
        self.lock().slot
    }

    /// The cached handle of `(kind, label)`, if any.
    pub(crate) fn cached(&self, kind: ObjectKind, label: &str) -> Option<ObjectHandle> {
        self.lock().handles.get(&(kind, label.to_owned())).copied()
    }

    /// Caches a handle found in generation `generation`.
    pub(crate) fn cache(&self, generation: u64, kind: ObjectKind, label: &str, handle: ObjectHandle) {
        let mut st = self.lock();
        if st.generation == generation {
            st.handles.insert((kind, label.to_owned()), handle);
        }
    }

    /// Forgets a cached handle.
    pub(crate) fn evict(&self, kind: ObjectKind, label: &str) {
        self.lock().handles.remove(&(kind, label.to_owned()));
    }
}

/// A checked-out session; goes back to the pool on drop unless discarded.
pub(crate) struct Lease<'a> {
    pool: &'a Pool,
    session: Option<Session>,
    generation: u64,
}

impl Lease<'_> {
    /// The session.
    pub(crate) fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The pool generation this session belongs to.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Closes this session and every idle one: the token went away. The next checkout
    /// reconnects.
    pub(crate) fn discard(&mut self) {
        let mut st = self.pool.lock();
        self.session = None;
        if st.generation == self.generation {
            Pool::invalidate(&mut st);
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut st = self.pool.lock();
        st.in_use = st.in_use.saturating_sub(1);
        if let Some(session) = self.session.take()
            && st.generation == self.generation
        {
            st.idle.push(session);
        }
        drop(st);
        self.pool.freed.notify_one();
    }
}
