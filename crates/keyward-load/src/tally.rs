//! What one caller saw: a latency histogram (microseconds), counts by gRPC status, and the first
//! message of each error status. Callers keep their own and merge at the end, so the hot loop
//! shares nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use tonic::Code;

/// Latencies above this are recorded as this (one hour, in microseconds).
const HIGHEST_MICROS: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// Counts and latencies of calls.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Latency of every call, successful or not, in microseconds.
    pub latency: Histogram<u64>,
    /// Successful calls.
    pub ok: u64,
    /// Of `ok`, the calls answered after the run stopped starting calls (its duration ran out,
    /// or an interrupt): not part of the rate, which covers the run's window only.
    pub late_ok: u64,
    /// Failed calls.
    pub errors: u64,
    /// Calls by status name ("OK", "UNAVAILABLE", …).
    pub by_status: BTreeMap<&'static str, u64>,
    /// The first message seen for each error status.
    pub first_error: BTreeMap<&'static str, String>,
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Result<Self, hdrhistogram::CreationError> {
        Ok(Self {
            latency: Histogram::new_with_bounds(1, HIGHEST_MICROS, SIGNIFICANT_DIGITS)?,
            ok: 0,
            late_ok: 0,
            errors: 0,
            by_status: BTreeMap::new(),
            first_error: BTreeMap::new(),
        })
    }

    /// Records one call that took `took`.
    pub fn record(&mut self, took: Duration, outcome: Result<(), &tonic::Status>) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        self.latency.saturating_record(micros);
        match outcome {
            Ok(()) => {
                self.ok += 1;
                *self.by_status.entry(code_name(Code::Ok)).or_default() += 1;
            }
            Err(status) => {
                self.errors += 1;
                let name = code_name(status.code());
                *self.by_status.entry(name).or_default() += 1;
                self.first_error.entry(name).or_insert_with(|| status.message().to_owned());
            }
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: Self) {
        // Both histograms share bounds, so adding cannot fail; saturate value by value if it did.
        if self.latency.add(&other.latency).is_err() {
            for v in other.latency.iter_recorded() {
                self.latency.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        self.ok += other.ok;
        self.late_ok += other.late_ok;
        self.errors += other.errors;
        for (name, n) in other.by_status {
            *self.by_status.entry(name).or_default() += n;
        }
        for (name, msg) in other.first_error {
            self.first_error.entry(name).or_insert(msg);
        }
    }
}

/// The canonical name of a gRPC status code, as in the gRPC spec.
pub use keyward_proto::code_name;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn records_and_merges() {
        let mut a = Tally::new().unwrap();
        a.record(Duration::from_millis(2), Ok(()));
        a.record(Duration::from_millis(3), Err(&tonic::Status::unavailable("down")));
        let mut b = Tally::new().unwrap();
        b.record(Duration::from_micros(0), Ok(()));
        b.record(Duration::from_secs(7200), Err(&tonic::Status::unavailable("later")));
        b.record(Duration::from_millis(1), Err(&tonic::Status::resource_exhausted("full")));
        a.merge(b);
        assert_eq!((a.ok, a.errors), (2, 3));
        assert_eq!(a.latency.len(), 5);
        assert_eq!(a.latency.min(), 1);
        assert!(a.latency.max() >= HIGHEST_MICROS);
        assert_eq!(
            a.by_status.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
            [("OK", 2), ("RESOURCE_EXHAUSTED", 1), ("UNAVAILABLE", 2)]
        );
        assert_eq!(a.first_error["UNAVAILABLE"], "down");
    }

    #[test]
    fn code_names_follow_the_spec() {
        assert_eq!(code_name(Code::Unauthenticated), "UNAUTHENTICATED");
        assert_eq!(code_name(Code::FailedPrecondition), "FAILED_PRECONDITION");
        assert_eq!(code_name(Code::from_i32(99)), "UNKNOWN");
    }
}
