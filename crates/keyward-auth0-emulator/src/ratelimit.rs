//! Token buckets with Auth0's `x-ratelimit-*` headers (reset in epoch seconds).

use std::time::Instant;

use crate::util::now_secs;

/// One bucket: `limit` tokens, refilled at `per_second`.
#[derive(Debug)]
pub(crate) struct Bucket {
    limit: u32,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

/// The headers of one response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateHeaders {
    pub limit: u32,
    pub remaining: u32,
    /// When the next token is added, as UNIX seconds.
    pub reset: u64,
}

impl RateHeaders {
    /// Sets the three `x-ratelimit-*` headers on `resp`.
    pub fn apply(self, resp: &mut axum::response::Response) {
        let headers = resp.headers_mut();
        headers.insert("x-ratelimit-limit", axum::http::HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", axum::http::HeaderValue::from(self.remaining));
        headers.insert("x-ratelimit-reset", axum::http::HeaderValue::from(self.reset));
    }
}

impl Bucket {
    pub fn new(limit: u32, per_second: f64) -> Self {
        Self { limit, per_second, tokens: f64::from(limit), last: Instant::now() }
    }

    /// Takes one token if there is one. Returns whether it was taken and the headers to send.
    pub fn take(&mut self) -> (bool, RateHeaders) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(f64::from(self.limit));
        let allowed = self.tokens >= 1.0;
        if allowed {
            self.tokens -= 1.0;
        }
        let missing = if self.tokens >= f64::from(self.limit) { 0.0 } else { 1.0 - self.tokens.fract() };
        let reset = now_secs() + (missing / self.per_second).ceil() as u64;
        // Truncation intended: whole tokens remaining, never negative.
        let remaining = self.tokens.max(0.0).floor() as u32;
        (allowed, RateHeaders { limit: self.limit, remaining, reset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empties_then_refuses_with_a_future_reset() {
        let mut b = Bucket::new(3, 0.001);
        for expected in [2, 1, 0] {
            let (ok, h) = b.take();
            assert!(ok);
            assert_eq!(h.remaining, expected);
            assert_eq!(h.limit, 3);
        }
        let (ok, h) = b.take();
        assert!(!ok);
        assert!(h.reset > now_secs());
    }
}
