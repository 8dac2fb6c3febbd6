//! `--rate`: calls released evenly across each second by a pacing thread. tokio's timer ticks in
//! whole milliseconds, so callers pacing themselves with it all leave at the same instant of each
//! millisecond (~40 calls at a time at 40 000/s): the tail latency then measures those bursts,
//! not the server. The thread sleeps until the next call is due (at least [`MIN_SLEEP`]) and
//! hands out permits; callers wait for one before each call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// The shortest sleep between releases: below it the thread would spin for little gain.
const MIN_SLEEP: Duration = Duration::from_micros(20);

/// Permits to call, released at a steady rate.
#[derive(Debug)]
pub struct Pacer {
    permits: Arc<Semaphore>,
}

impl Pacer {
    /// Releases `rate` permits a second from now on, never letting more than `burst` wait unused
    /// (callers that fall behind catch up by at most that many calls, not by the whole backlog).
    pub fn start(rate: f64, burst: usize) -> std::io::Result<Self> {
        let permits = Arc::new(Semaphore::new(0));
        let released = permits.clone();
        std::thread::Builder::new().name("keyward-load-pacer".into()).spawn(move || release(&released, rate, burst))?;
        Ok(Self { permits })
    }

    /// Waits for the next permit; false once the pacer is closed.
    pub async fn wait(&self) -> bool {
        match self.permits.acquire().await {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        }
    }

    /// Stops releasing; callers waiting now and later get false.
    pub fn close(&self) {
        self.permits.close();
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.close();
    }
}

fn release(permits: &Semaphore, rate: f64, burst: usize) {
    let start = Instant::now();
    let mut released: u64 = 0;
    while !permits.is_closed() {
        // The first call is due at once, the n-th at (n - 1) / rate.
        let due = (start.elapsed().as_secs_f64() * rate) as u64 + 1;
        if due > released {
            let room = burst.saturating_sub(permits.available_permits());
            permits.add_permits(usize::try_from(due - released).unwrap_or(usize::MAX).min(room));
            released = due;
        }
        let next = Duration::from_secs_f64(released as f64 / rate);
        std::thread::sleep(next.saturating_sub(start.elapsed()).max(MIN_SLEEP));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn releases_at_the_rate_and_stops_when_closed() {
        let pacer = Pacer::start(2_000.0, 8).unwrap();
        let began = Instant::now();
        for _ in 0..200 {
            assert!(pacer.wait().await);
        }
        // 200 calls at 2 000/s cannot all be released sooner than ~100 ms (the first is at once).
        assert!(began.elapsed() >= Duration::from_millis(99), "{:?}", began.elapsed());
        pacer.close();
        assert!(!pacer.wait().await, "a closed pacer releases nothing");
    }

    #[tokio::test]
    async fn unused_permits_are_capped_at_the_burst() {
        let pacer = Pacer::start(100_000.0, 4).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        // 2 000 calls came due while nobody called; at most 4 wait.
        assert!(pacer.permits.available_permits() <= 4, "{}", pacer.permits.available_permits());
    }
}
