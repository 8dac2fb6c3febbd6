//! The bounded CPU pool that does every RSA and ECDSA signature: a fixed number of worker
//! threads behind a bounded queue. A full queue is an immediate [`Error::Overloaded`] (gRPC
//! RESOURCE_EXHAUSTED) rather than an unbounded backlog, and a job whose caller has gone away
//! (deadline passed, connection closed) is skipped without signing. Under load a worker hands
//! its finished results over a few at a time (see [`worker`]).

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::Error;
use crate::telemetry::metrics::metrics;

/// A queued signature: run it, and it gives back how to hand its result to the caller (nothing
/// when the caller has gone away).
type Job = Box<dyn FnOnce() -> Option<Delivery> + Send>;
/// A finished signature's result, handed to its waiting caller when run.
type Delivery = Box<dyn FnOnce() + Send>;

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
            if done.is_closed() {
                return None;
            }
            let value = f();
            Some(Box::new(move || {
                let _ = done.send(value);
            }))
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

/// At most this many finished results wait on one worker for their hand-over.
const HELD_RESULTS: usize = 8;
/// And none waits longer than this (plus the signature in progress when it is reached).
const HOLD_FOR: Duration = Duration::from_millis(1);

/// Takes jobs until the pool is dropped. Each hand-over of results wakes the async worker that
/// answers the calls, and when the signing threads fill every core that wake-up preempts a
/// signature; so while more jobs are queued a worker keeps up to [`HELD_RESULTS`] finished
/// results for up to [`HOLD_FOR`] and hands them over together, and with none queued it hands
/// them over at once (BENCHMARKS.md: RS256 +8% at 64 callers on 2 cores, an idle-ish pool's
/// latency unchanged).
fn worker(rx: &Mutex<Receiver<Job>>) {
    let mut held: Vec<Delivery> = Vec::with_capacity(HELD_RESULTS);
    let mut oldest = Instant::now();
    loop {
        let next = if held.is_empty() {
            // Nothing to hand over: wait for work, holding the lock only to take one job.
            match rx.lock() {
                Ok(guard) => guard.recv().ok(),
                Err(_) => None,
            }
        } else {
            // Results are waiting: take another job only if one is queued right now. A lock held
            // by another worker means that worker is waiting on an empty queue (or taking the
            // job), so this one hands over what it holds rather than wait for the lock.
            match rx.try_lock() {
                Ok(guard) => match guard.try_recv() {
                    Ok(job) => Some(job),
                    Err(TryRecvError::Empty) => {
                        drop(guard);
                        deliver(&mut held);
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => None,
                },
                Err(TryLockError::WouldBlock) => {
                    deliver(&mut held);
                    continue;
                }
                Err(TryLockError::Poisoned(_)) => None,
            }
        };
        let Some(job) = next else { break };
        if let Some(delivery) = job() {
            if held.is_empty() {
                oldest = Instant::now();
            }
            held.push(delivery);
        }
        if held.len() >= HELD_RESULTS || (!held.is_empty() && oldest.elapsed() >= HOLD_FOR) {
            deliver(&mut held);
        }
    }
    deliver(&mut held);
}

fn deliver(held: &mut Vec<Delivery>) {
    for delivery in held.drain(..) {
        delivery();
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

    /// Results held for a batched hand-over always reach their callers: when the queue runs dry,
    /// when the other worker holds the lock waiting for work, and when the pool is flooded.
    #[tokio::test]
    async fn held_results_are_always_handed_over() {
        let pool = SignPool::new(2, 256).unwrap();
        let patience = Duration::from_secs(30);
        // One job at a time: the other worker waits in `recv` holding the lock.
        for i in 0..200u32 {
            let got = tokio::time::timeout(patience, pool.run(move || i * 2)).await;
            assert_eq!(got.expect("a lone result was held back").unwrap(), i * 2);
        }
        // Many at once, each taking a little while, so the queue stays full and results batch.
        let waits: Vec<_> = (0..200u64)
            .map(|i| {
                pool.submit(move || {
                    std::thread::sleep(Duration::from_micros(50));
                    i
                })
                .unwrap()
            })
            .collect();
        for (i, wait) in waits.into_iter().enumerate() {
            let got = tokio::time::timeout(patience, wait).await.expect("a batched result was held back");
            assert_eq!(got.unwrap(), i as u64);
        }
    }
}
