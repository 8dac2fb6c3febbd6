//! The bounded CPU pool that does every RSA and ECDSA signature: a fixed number of worker
//! threads behind a bounded queue. A full queue is an immediate [`Error::Overloaded`] (gRPC
//! RESOURCE_EXHAUSTED) rather than an unbounded backlog, and a job whose caller has gone away
//! (deadline passed, connection closed) is skipped without signing.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::Error;
use crate::telemetry::metrics::metrics;

type Job = Box<dyn FnOnce() + Send>;

/// The signing pool.
#[derive(Debug, Clone)]
pub struct SignPool {
    tx: SyncSender<Job>,
    threads: usize,
}

impl SignPool {
    /// How many threads a pool configured with `threads` runs: that many, or one per core for 0.
    pub fn threads_for(threads: usize) -> usize {
        if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads }
    }

    /// `threads` workers (0 = one per core) and room for `queue` waiting jobs.
    pub fn new(threads: usize, queue: usize) -> Result<Self, Error> {
        let threads = Self::threads_for(threads);
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("keyward-sign-{i}"))
                .spawn(move || worker(&rx))
                .map_err(Error::resource("signing pool"))?;
        }
        Ok(Self { tx, threads })
    }

    /// How many workers sign.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on a worker and waits for its result; fails at once when the queue is full.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
        self.submit(f)?.await.map_err(|_| Error::Unavailable("a signing worker stopped".into()))
    }

    /// Queues `f` now (or refuses); the receiver yields its result.
    pub fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<oneshot::Receiver<T>, Error> {
        let (done, result) = oneshot::channel();
        let depth = &metrics().signer_queue_depth;
        let job: Job = Box::new(move || {
            depth.dec();
            if !done.is_closed() {
                let _ = done.send(f());
            }
        });
        // Counted before it is queued: a worker may take it (and decrement) at once.
        depth.inc();
        match self.tx.try_send(job) {
            Ok(()) => Ok(result),
            Err(TrySendError::Full(_)) => {
                depth.dec();
                metrics().signer_rejections.inc();
                Err(Error::Overloaded("the signing queue is full; retry with backoff".into()))
            }
            Err(TrySendError::Disconnected(_)) => {
                depth.dec();
                Err(Error::Unavailable("the signing pool has stopped".into()))
            }
        }
    }
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    loop {
        // Hold the lock only to take one job.
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_refuses_beyond_the_queue() {
        let pool = SignPool::new(1, 1).unwrap();
        assert_eq!(pool.run(|| 2 + 2).await.unwrap(), 4);
        // Block the only worker, fill the one queue slot, then the next job is refused at once.
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = oneshot::channel();
        let p = pool.clone();
        let blocker = tokio::spawn(async move {
            p.run(move || {
                let _ = started_tx.send(());
                let _ = wait.recv();
            })
            .await
        });
        started.await.unwrap();
        let queued = pool.submit(|| 7).unwrap();
        assert!(matches!(pool.submit(|| 0), Err(Error::Overloaded(_))));
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        assert_eq!(queued.await.unwrap(), 7);
        assert_eq!(pool.run(|| 1).await.unwrap(), 1, "recovers once drained");
    }
}
