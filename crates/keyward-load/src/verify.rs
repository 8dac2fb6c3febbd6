//! Exchanges a sample of the assertions at Auth0's `/oauth/token`, off the measured path: callers
//! hand assertions over a bounded channel without waiting, and a side task exchanges a few at a
//! time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::args::Verify;
use crate::error::Error;

/// Assertions waiting for an exchange; beyond this the sample is skipped rather than wait. Auth0
/// (and the emulator) rate-limit `/oauth/token` (16/s sustained in the emulator's default), so a
/// longer queue would hold assertions past their 60 s lifetime and report false failures.
const QUEUE: usize = 256;
/// How often one exchange is retried after a 429 (waiting for the bucket's reset each time).
const RATE_LIMIT_RETRIES: u32 = 10;
/// Exchanges in flight at once.
const IN_FLIGHT: usize = 4;
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Exchanges Auth0 answered with 200.
    pub verified: u64,
    /// Exchanges that failed (non-200 or no answer).
    pub failures: u64,
    /// Sampled assertions dropped because the queue was full.
    pub skipped: u64,
    /// The first failure, for the log.
    pub first_failure: Option<String>,
}

/// The callers' side: picks every Nth assertion and queues it.
#[derive(Debug)]
pub struct Sampler {
    every: u64,
    seen: AtomicU64,
    skipped: Arc<AtomicU64>,
    tx: mpsc::Sender<String>,
}

impl Sampler {
    /// Offers one assertion; queued if it is the first or an Nth one and there is room.
    pub fn offer(&self, assertion: String) {
        if !self.seen.fetch_add(1, Ordering::Relaxed).is_multiple_of(self.every) {
            return;
        }
        if self.tx.try_send(assertion).is_err() {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The exchanging side; [`Verifier::finish`] waits for every queued exchange.
#[derive(Debug)]
pub struct Verifier {
    task: JoinHandle<Outcome>,
    skipped: Arc<AtomicU64>,
}

/// Starts the verifier for `settings` against the base URL `url`.
pub fn start(settings: &Verify, url: &str) -> Result<(Arc<Sampler>, Verifier), Error> {
    let http = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let skipped = Arc::new(AtomicU64::new(0));
    let sampler = Sampler { every: settings.sample.max(1), seen: AtomicU64::new(0), skipped: skipped.clone(), tx };
    let exchange = Exchange { http, token_url: format!("{url}/oauth/token"), audience: settings.audience.clone() };
    let task = tokio::spawn(drain(rx, Arc::new(exchange)));
    Ok((Arc::new(sampler), Verifier { task, skipped }))
}

impl Verifier {
    /// Waits until the queue is closed (every [`Sampler`] dropped) and exchanged.
    pub async fn finish(self) -> Result<Outcome, Error> {
        let mut outcome = self.task.await.map_err(|e| Error::Internal(format!("verifier: {e}")))?;
        outcome.skipped = self.skipped.load(Ordering::Relaxed);
        Ok(outcome)
    }
}

#[derive(Debug)]
struct Exchange {
    http: reqwest::Client,
    token_url: String,
    audience: String,
}

impl Exchange {
    /// `Ok` on 200; otherwise what went wrong. A 429 is Auth0 pacing us, not a verdict on the
    /// assertion: wait for the bucket's reset (`retry-after`, else `x-ratelimit-reset` as epoch
    /// seconds) and try again.
    async fn run(&self, assertion: String) -> Result<(), String> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
            ("audience", self.audience.as_str()),
        ];
        let mut attempt = 0;
        loop {
            let resp = self.http.post(&self.token_url).form(&form).send().await.map_err(|e| e.to_string())?;
            let status = resp.status();
            if status == reqwest::StatusCode::OK {
                return Ok(());
            }
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS && attempt < RATE_LIMIT_RETRIES {
                attempt += 1;
                tokio::time::sleep(reset_delay(resp.headers())).await;
                continue;
            }
            let body = resp.text().await.unwrap_or_default();
            return Err(format!("{status}: {}", body.chars().take(300).collect::<String>()));
        }
    }
}

/// How long a 429 asks us to wait: `retry-after` seconds, else until `x-ratelimit-reset` (epoch
/// seconds), else one second; at most ten.
fn reset_delay(headers: &reqwest::header::HeaderMap) -> Duration {
    let number =
        |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let wait = match (number("retry-after"), number("x-ratelimit-reset")) {
        (Some(secs), _) => Duration::from_secs(secs),
        (None, Some(reset)) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            Duration::from_secs(reset).saturating_sub(now)
        }
        (None, None) => Duration::from_secs(1),
    };
    wait.clamp(Duration::from_millis(100), Duration::from_secs(10))
}

async fn drain(mut rx: mpsc::Receiver<String>, exchange: Arc<Exchange>) -> Outcome {
    let mut outcome = Outcome::default();
    let mut running = JoinSet::new();
    while let Some(assertion) = rx.recv().await {
        while running.len() >= IN_FLIGHT {
            collect(&mut outcome, running.join_next().await);
        }
        let exchange = exchange.clone();
        running.spawn(async move { exchange.run(assertion).await });
    }
    while !running.is_empty() {
        collect(&mut outcome, running.join_next().await);
    }
    outcome
}

fn collect(outcome: &mut Outcome, joined: Option<Result<Result<(), String>, tokio::task::JoinError>>) {
    let failure = match joined {
        None => return,
        Some(Ok(Ok(()))) => {
            outcome.verified += 1;
            return;
        }
        Some(Ok(Err(why))) => why,
        Some(Err(e)) => format!("exchange task: {e}"),
    };
    outcome.failures += 1;
    outcome.first_failure.get_or_insert(failure);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn samples_the_first_and_every_nth_and_never_waits() {
        let (tx, mut rx) = mpsc::channel(2);
        let skipped = Arc::new(AtomicU64::new(0));
        let sampler = Sampler { every: 3, seen: AtomicU64::new(0), skipped: skipped.clone(), tx };
        for i in 0..7 {
            sampler.offer(format!("a{i}"));
        }
        assert_eq!(rx.try_recv().unwrap(), "a0");
        assert_eq!(rx.try_recv().unwrap(), "a3");
        assert!(rx.try_recv().is_err());
        assert_eq!(skipped.load(Ordering::Relaxed), 1, "a6 found the queue full");
    }
}
