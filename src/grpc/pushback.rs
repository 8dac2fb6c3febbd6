//! Holding a signing call that the full pool refused for a pushback interval before it hears
//! RESOURCE_EXHAUSTED. Refused at once, a caller that retries at once turns each refusal into
//! another HTTP/2 round trip, and thousands of such callers take the signers' CPU (measured in
//! BENCHMARKS.md, 2026-12-07: RS256 fell to 52-70% of peak at 4x the pool). Held, each of them
//! costs one refusal per interval. The hold is clipped to half of the caller's deadline
//! (`grpc-timeout`) and of the request timeout, so the caller hears RESOURCE_EXHAUSTED rather
//! than DEADLINE_EXCEEDED; a caller that goes away ends it (its handler is dropped). Held calls
//! still count against the connection's request limit, which bounds them.

use std::time::Duration;

use tonic::Status;
use tonic::metadata::MetadataMap;

use super::status::to_status;
use crate::Error;

/// How long refusals of the signing pool are held.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pushback {
    hold: Duration,
}

impl Pushback {
    /// `configured` (`[signer] overload_pushback`), at most half the request timeout.
    pub(super) fn new(configured: Duration, request_timeout: Duration) -> Self {
        Self { hold: configured.min(request_timeout / 2) }
    }

    /// The status for `e`, answered after the hold when the pool refused the call.
    pub(super) async fn status(self, metadata: &MetadataMap, e: &Error) -> Status {
        if matches!(e, Error::Overloaded(_)) {
            let hold = self.hold_for(deadline(metadata));
            if !hold.is_zero() {
                tokio::time::sleep(hold).await;
            }
        }
        to_status(e)
    }

    /// `result`, or its error's status answered as [`Pushback::status`] answers it.
    pub(super) async fn answer<T>(self, metadata: &MetadataMap, result: Result<T, Error>) -> Result<T, Status> {
        match result {
            Ok(value) => Ok(value),
            Err(e) => Err(self.status(metadata, &e).await),
        }
    }

    fn hold_for(self, deadline: Option<Duration>) -> Duration {
        deadline.map_or(self.hold, |d| self.hold.min(d / 2))
    }
}

/// The caller's deadline from `grpc-timeout` (1 to 8 digits and a unit, as gRPC over HTTP/2
/// writes it); `None` when absent or malformed: the request timeout bounds the call then.
/// tonic parses the same header for its own timeout but does not export the parser.
fn deadline(metadata: &MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_timeout(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("grpc-timeout", value.parse().unwrap());
        m
    }

    #[test]
    fn deadlines_parse_as_grpc_writes_them_and_nothing_else() {
        for (value, expected) in [
            ("1H", Duration::from_secs(3600)),
            ("2M", Duration::from_secs(120)),
            ("3S", Duration::from_secs(3)),
            ("250m", Duration::from_millis(250)),
            ("99999999u", Duration::from_micros(99_999_999)),
            ("7n", Duration::from_nanos(7)),
        ] {
            assert_eq!(deadline(&with_timeout(value)), Some(expected), "{value}");
        }
        for bad in ["", "m", "123456789m", "1.5S", "-1S", "10x", "10", "S10", "1 S"] {
            let mut m = MetadataMap::new();
            if let Ok(v) = bad.parse() {
                m.insert("grpc-timeout", v);
            }
            assert_eq!(deadline(&m), None, "{bad:?}");
        }
        assert_eq!(deadline(&MetadataMap::new()), None);
    }

    #[test]
    fn the_hold_is_clipped_to_half_the_deadline_and_the_request_timeout() {
        let p = Pushback::new(Duration::from_millis(500), Duration::from_secs(30));
        assert_eq!(p.hold_for(None), Duration::from_millis(500));
        assert_eq!(p.hold_for(Some(Duration::from_millis(200))), Duration::from_millis(100));
        assert_eq!(p.hold_for(Some(Duration::from_secs(5))), Duration::from_millis(500));
        let short = Pushback::new(Duration::from_secs(5), Duration::from_secs(2));
        assert_eq!(short.hold_for(None), Duration::from_secs(1));
        assert_eq!(Pushback::new(Duration::ZERO, Duration::from_secs(30)).hold_for(None), Duration::ZERO);
    }

    #[tokio::test]
    async fn only_a_refusal_of_the_pool_is_answered_after_the_hold() {
        let p = Pushback::new(Duration::from_millis(5), Duration::from_secs(30));
        let status = p.status(&MetadataMap::new(), &Error::NotFound("no such client".into())).await;
        assert_eq!(status.code(), tonic::Code::NotFound);
        let full = Error::Overloaded("the signing queue is full; retry with backoff".into());
        let status = p.status(&with_timeout("400m"), &full).await;
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("retry"), "{status:?}");
    }
}
