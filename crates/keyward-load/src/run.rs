//! One load run: connect, start the callers (and the rotation and verification side tasks),
//! stop by duration, request count or Ctrl-C, and gather the figures.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use keyward_proto::key_rotation_client::KeyRotationClient;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::args::{Settings, Stop};
use crate::call::Caller;
use crate::connect::{self, Token};
use crate::error::Error;
use crate::pace::Pacer;
use crate::report::{Extras, Report};
use crate::tally::Tally;
use crate::verify::{self, Sampler};

/// When the callers stop: a flag raised by the timer or Ctrl-C, and an optional call budget.
#[derive(Debug)]
struct Limit {
    stopped: AtomicBool,
    /// `--rate`'s permits, closed when the run stops so that no caller waits for one.
    pacer: Option<Pacer>,
    /// When calls stopped being started (the duration ran out, or an interrupt).
    stopped_at: OnceLock<Instant>,
    budget: Option<u64>,
    issued: AtomicU64,
}

impl Limit {
    /// Whether one more call may start (taking it from the budget).
    fn take(&self) -> bool {
        if self.stopped.load(Ordering::Relaxed) {
            return false;
        }
        match self.budget {
            None => true,
            Some(n) => self.issued.fetch_add(1, Ordering::Relaxed) < n,
        }
    }
}

/// Runs the load `settings` describe, authenticated with `token`; `verify_url` is the resolved
/// Auth0 base URL when verifying.
pub async fn run(settings: &Settings, token: &Token, verify_url: Option<&str>) -> Result<Report, Error> {
    let authorization = token.header()?;
    let connections = connect::connections(&settings.endpoint, settings.connections).await?;
    let empty = Tally::new().map_err(|e| Error::Internal(format!("histogram: {e}")))?;

    let (sampler, verifier) = match (&settings.verify, verify_url) {
        (Some(v), Some(url)) => {
            let (s, v) = verify::start(v, url)?;
            (Some(s), Some(v))
        }
        (Some(_), None) => return Err(Error::usage("--verify-url", "no Auth0 URL to verify against")),
        (None, _) => (None, None),
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let rotator = match settings.rotation {
        Some(rotation) => {
            let channel = connect::channel(&settings.endpoint).await?;
            let client = KeyRotationClient::with_interceptor(channel, token.bearer()?);
            Some(tokio::spawn(crate::rotate::run(client, settings.target.clone(), rotation, stop_rx)))
        }
        None => None,
    };

    let limit = Arc::new(Limit {
        stopped: AtomicBool::new(false),
        pacer: settings
            .rate
            .map(|rate| Pacer::start(rate, settings.concurrency))
            .transpose()
            .map_err(|e| Error::Internal(format!("pacing thread: {e}")))?,
        stopped_at: OnceLock::new(),
        budget: match settings.stop {
            Stop::Requests(n) => Some(n),
            Stop::After(_) => None,
        },
        issued: AtomicU64::new(0),
    });
    let start = Instant::now();
    let timer = tokio::spawn(stop_on_time_or_interrupt(settings.stop, limit.clone()));
    let mut callers = JoinSet::new();
    for (i, connection) in connections.iter().cycle().take(settings.concurrency).enumerate() {
        let caller =
            Caller::new(settings.rpc, settings.target.clone(), settings.timeout, connection.clone(), &authorization)?;
        let backoff = settings.backoff.then(|| Backoff::new(i));
        callers.spawn(call_loop(caller, backoff, limit.clone(), sampler.clone(), empty.clone()));
    }
    drop(sampler);

    let mut tally = empty;
    let mut failed = None;
    while let Some(joined) = callers.join_next().await {
        match joined {
            Ok(t) => tally.merge(t),
            Err(e) => failed = Some(Error::Internal(format!("caller task: {e}"))),
        }
    }
    let elapsed = start.elapsed();
    timer.abort();
    if let Some(p) = &limit.pacer {
        p.close();
    }
    let _ = stop_tx.send(true);

    let mut extras = Extras { window: limit.stopped_at.get().map(|at| at.duration_since(start)), ..Extras::default() };
    if let Some(task) = rotator {
        extras.rotation = Some(task.await.map_err(|e| Error::Internal(format!("rotation task: {e}")))?);
    }
    if let Some(v) = verifier {
        extras.verify = Some(v.finish().await?);
    }
    if let Some(e) = failed {
        return Err(e);
    }
    log_first_errors(&tally, &extras);
    Ok(Report::new(settings.rpc.name(), &tally, elapsed, settings.concurrency, connections.len(), &extras))
}

/// A refused caller's wait before its next call: 10 ms doubling to 1 s, each drawn from the
/// upper half of its step so the callers refused together do not come back together.
struct Backoff {
    refused: u32,
    seed: u64,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MOST: Duration = Duration::from_secs(1);

    fn new(index: usize) -> Self {
        Self { refused: 0, seed: 0x9E37_79B9_7F4A_7C15 ^ (index as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1 }
    }

    /// The wait after one more refusal.
    fn next(&mut self) -> Duration {
        let step = Self::FIRST.saturating_mul(1 << self.refused.min(7)).min(Self::MOST);
        self.refused += 1;
        // xorshift64: enough to spread the callers.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        step / 2 + step.mul_f64((self.seed % 1024) as f64 / 2048.0)
    }
}

async fn call_loop(
    mut caller: Caller,
    mut backoff: Option<Backoff>,
    limit: Arc<Limit>,
    sampler: Option<Arc<Sampler>>,
    mut tally: Tally,
) -> Tally {
    loop {
        if let Some(p) = &limit.pacer
            && !p.wait().await
        {
            break;
        }
        if !limit.take() {
            break;
        }
        let began = Instant::now();
        let result = caller.call().await;
        tally.record(began.elapsed(), result.as_ref().map(drop));
        if result.is_ok() && limit.stopped.load(Ordering::Relaxed) {
            tally.late_ok += 1;
        }
        if let Some(b) = &mut backoff {
            match &result {
                Err(s) if s.code() == tonic::Code::ResourceExhausted => tokio::time::sleep(b.next()).await,
                Ok(_) => b.refused = 0,
                Err(_) => {}
            }
        }
        if let (Ok(Some(assertion)), Some(sampler)) = (result, &sampler) {
            sampler.offer(assertion);
        }
    }
    tally
}

async fn stop_on_time_or_interrupt(stop: Stop, limit: Arc<Limit>) {
    let timer = async {
        match stop {
            Stop::After(d) => tokio::time::sleep(d).await,
            Stop::Requests(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = timer => {}
        _ = tokio::signal::ctrl_c() => eprintln!("keyward-load: interrupted; finishing calls in flight"),
    }
    let _ = limit.stopped_at.set(Instant::now());
    limit.stopped.store(true, Ordering::Relaxed);
    if let Some(p) = &limit.pacer {
        p.close();
    }
}

/// One line on stderr per kind of failure, so a run full of errors says why.
fn log_first_errors(tally: &Tally, extras: &Extras) {
    for (code, message) in &tally.first_error {
        eprintln!("keyward-load: {code} (e.g. {message:?})");
    }
    if let Some(r) = &extras.rotation {
        for (code, message) in &r.first {
            eprintln!("keyward-load: rotation {code} (e.g. {message:?})");
        }
    }
    if let Some(why) = extras.verify.as_ref().and_then(|v| v.first_failure.as_ref()) {
        eprintln!("keyward-load: verification failed (e.g. {why})");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_step_up_to_a_second() {
        let mut b = Backoff::new(3);
        let mut step = Backoff::FIRST;
        for _ in 0..12 {
            let wait = b.next();
            assert!(wait >= step / 2 && wait <= step, "{wait:?} outside {step:?}");
            step = (step * 2).min(Backoff::MOST);
        }
        assert_eq!(step, Backoff::MOST);
        b.refused = 0;
        assert!(b.next() <= Backoff::FIRST, "a success starts it over");
        let (mut x, mut y) = (Backoff::new(1), Backoff::new(2));
        assert!((0..8).any(|_| x.next() != y.next()), "callers are spread apart");
    }
}
