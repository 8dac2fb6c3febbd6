//! Counting what is in flight (RPCs, rotations): a shared counter and the guard that holds one
//! unit of it until dropped, so a drain can say what it waits for.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many things are in flight now. Clones count together.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// How many are in flight now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Counts one more until the guard drops.
    pub(crate) fn enter(&self) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(self.0.clone())
    }
}

/// One unit in flight; dropping it ends its count.
#[derive(Debug)]
pub(crate) struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
