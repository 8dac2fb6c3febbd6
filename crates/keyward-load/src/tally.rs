//! What one caller saw: its latencies (microseconds), counts by gRPC status, and the first
//! message of each error status. Callers keep their own counts and merge them at the end; their
//! latencies go into one histogram shared by the run, a few hundred at a time, so the hot loop
//! takes a lock once per [`BATCH`] calls and a caller costs ~2 KiB, not a histogram (~190 KiB:
//! with 4 000 callers their zeroed pages were most of the load generator's CPU).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use tonic::Code;

/// Latencies above this are recorded as this (one hour, in microseconds).
const HIGHEST_MICROS: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;
/// Latencies a caller keeps before adding them to the shared histogram.
const BATCH: usize = 256;

/// Counts and latencies of calls.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Latency of every call, successful or not, in microseconds: shared by every clone of the
    /// tally it was made from.
    latency: Arc<Mutex<Histogram<u64>>>,
    /// This tally's latencies not yet in `latency`.
    pending: Vec<u64>,
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
            latency: Arc::new(Mutex::new(Histogram::new_with_bounds(1, HIGHEST_MICROS, SIGNIFICANT_DIGITS)?)),
            pending: Vec::new(),
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
        if self.pending.capacity() == 0 {
            self.pending.reserve_exact(BATCH);
        }
        self.pending.push(micros);
        if self.pending.len() >= BATCH {
            let mut latency = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
            record_all(&mut latency, &mut self.pending);
        }
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

    /// Every latency recorded in this tally and the tallies it shares a histogram with.
    pub fn latency(&self) -> Histogram<u64> {
        let mut all = self.latency.lock().unwrap_or_else(PoisonError::into_inner).clone();
        for &micros in &self.pending {
            all.saturating_record(micros);
        }
        all
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, mut other: Self) {
        let mut latency = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        if Arc::ptr_eq(&self.latency, &other.latency) {
            record_all(&mut latency, &mut other.pending);
        } else {
            let theirs = other.latency();
            // Both histograms share bounds, so adding cannot fail; saturate value by value if it did.
            if latency.add(&theirs).is_err() {
                for v in theirs.iter_recorded() {
                    latency.saturating_record_n(v.value_iterated_to(), v.count_at_value());
                }
            }
        }
        drop(latency);
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

/// Moves `pending` into `latency`.
fn record_all(latency: &mut Histogram<u64>, pending: &mut Vec<u64>) {
    for micros in pending.drain(..) {
        latency.saturating_record(micros);
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
        let latency = a.latency();
        assert_eq!(latency.len(), 5);
        assert_eq!(latency.min(), 1);
        assert!(latency.max() >= HIGHEST_MICROS);
        assert_eq!(
            a.by_status.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
            [("OK", 2), ("RESOURCE_EXHAUSTED", 1), ("UNAVAILABLE", 2)]
        );
        assert_eq!(a.first_error["UNAVAILABLE"], "down");
    }

    #[test]
    fn clones_share_one_histogram_and_lose_nothing() {
        let run = Tally::new().unwrap();
        let mut callers: Vec<Tally> = (0..3).map(|_| run.clone()).collect();
        // Past one batch on the first caller, less than one on the others.
        for i in 0..(BATCH as u64 + 10) {
            callers[0].record(Duration::from_micros(i + 1), Ok(()));
        }
        callers[1].record(Duration::from_millis(5), Ok(()));
        callers[2].record(Duration::from_millis(9), Err(&tonic::Status::unavailable("down")));
        assert_eq!(run.latency().len(), BATCH as u64, "a full batch reaches the shared histogram");
        let mut total = run;
        for caller in callers {
            total.merge(caller);
        }
        let latency = total.latency();
        assert_eq!((total.ok, total.errors, latency.len()), (BATCH as u64 + 11, 1, BATCH as u64 + 12));
        assert_eq!(latency.max(), latency.highest_equivalent(9_000));
    }

    #[test]
    fn code_names_follow_the_spec() {
        assert_eq!(code_name(Code::Unauthenticated), "UNAUTHENTICATED");
        assert_eq!(code_name(Code::FailedPrecondition), "FAILED_PRECONDITION");
        assert_eq!(code_name(Code::from_i32(99)), "UNKNOWN");
    }
}
