//! The figures a run prints: one JSON object, or a short summary for people.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use serde::Serialize;

use crate::{rotate, tally::Tally, verify};

/// A finished run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The RPC driven.
    pub rpc: &'static str,
    /// Successful calls.
    pub ok: u64,
    /// Failed calls (rotations are not counted here).
    pub errors: u64,
    /// Calls by gRPC status name.
    pub by_status: BTreeMap<&'static str, u64>,
    /// Wall-clock seconds from the first call to the last answer.
    pub seconds: f64,
    /// Successful calls per second while calls were being started: for a run of `--duration`,
    /// the calls answered within it over its length (calls still in flight when it ends are
    /// waited for and counted in `ok` and the latencies, not here: a held refusal or a backoff
    /// sleep ending after it must not stretch the window); for `--requests`, `ok` over `seconds`.
    pub rps: f64,
    /// Latency percentiles of all calls, in milliseconds.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest call.
    pub max_ms: f64,
    /// Concurrent callers.
    pub concurrency: usize,
    /// HTTP/2 connections.
    pub connections: usize,
    /// Completed rotations (with --rotate-every).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotations: Option<u64>,
    /// Rotations keyward refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotations_refused: Option<u64>,
    /// Rotations that failed otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_errors: Option<u64>,
    /// Sampled assertions Auth0 accepted (with --verify).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<u64>,
    /// Sampled assertions Auth0 refused, or exchanges that got no answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_failures: Option<u64>,
    /// Sampled assertions not exchanged because the verifier fell behind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_skipped: Option<u64>,
}

/// What went into a report besides the calls.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// Rotations, if any ran.
    pub rotation: Option<rotate::Outcome>,
    /// Verification, if any ran.
    pub verify: Option<verify::Outcome>,
    /// How long calls were being started, when the run was stopped (by its duration or an
    /// interrupt) rather than by running out of requests.
    pub window: Option<Duration>,
}

impl Report {
    /// The report of `tally` over `elapsed`.
    pub fn new(
        rpc: &'static str,
        tally: &Tally,
        elapsed: Duration,
        concurrency: usize,
        connections: usize,
        extras: &Extras,
    ) -> Self {
        let seconds = elapsed.as_secs_f64();
        let (counted, over) = match extras.window {
            Some(window) => (tally.ok.saturating_sub(tally.late_ok), window.as_secs_f64()),
            None => (tally.ok, seconds),
        };
        let rps = if over > 0.0 { counted as f64 / over } else { 0.0 };
        let [p50, p90, p99, max] = percentiles_ms(tally);
        let rotation = extras.rotation.as_ref();
        let verify = extras.verify.as_ref();
        Self {
            rpc,
            ok: tally.ok,
            errors: tally.errors,
            by_status: tally.by_status.clone(),
            seconds: round(seconds, 3),
            rps: round(rps, 1),
            p50_ms: p50,
            p90_ms: p90,
            p99_ms: p99,
            max_ms: max,
            concurrency,
            connections,
            rotations: rotation.map(|r| r.done),
            rotations_refused: rotation.map(|r| r.refused),
            rotation_errors: rotation.map(|r| r.errors),
            verified: verify.map(|v| v.verified),
            verify_failures: verify.map(|v| v.failures),
            verify_skipped: verify.map(|v| v.skipped),
        }
    }

    /// The JSON object, on one line.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// p50, p90, p99 and max in milliseconds (3 decimals), never decreasing; zeros when empty.
fn percentiles_ms(tally: &Tally) -> [f64; 4] {
    let h = tally.latency();
    if h.is_empty() {
        return [0.0; 4];
    }
    let mut out = [h.value_at_quantile(0.50), h.value_at_quantile(0.90), h.value_at_quantile(0.99), h.max()];
    for i in 1..out.len() {
        out[i] = out[i].max(out[i - 1]);
    }
    out.map(|micros| round(micros as f64 / 1000.0, 3))
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

impl fmt::Display for Report {
    /// The summary for people.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} ok, {} errors in {:.3} s: {:.1} ok/s ({} callers on {} connections)",
            self.rpc, self.ok, self.errors, self.seconds, self.rps, self.concurrency, self.connections
        )?;
        writeln!(
            f,
            "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
            self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms
        )?;
        let mut statuses = String::new();
        for (name, n) in &self.by_status {
            let sep = if statuses.is_empty() { "" } else { ", " };
            write!(statuses, "{sep}{name} {n}")?;
        }
        write!(f, "status: {}", if statuses.is_empty() { "none" } else { &statuses })?;
        if let (Some(done), Some(refused), Some(errors)) =
            (self.rotations, self.rotations_refused, self.rotation_errors)
        {
            write!(f, "\nrotations: {done} done, {refused} refused, {errors} failed")?;
        }
        if let (Some(ok), Some(failed), Some(skipped)) = (self.verified, self.verify_failures, self.verify_skipped) {
            write!(f, "\nverified assertions: {ok} accepted, {failed} failed, {skipped} skipped")?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn tally(millis: &[u64]) -> Tally {
        let mut t = Tally::new().unwrap();
        for &ms in millis {
            t.record(Duration::from_millis(ms), Ok(()));
        }
        t
    }

    #[test]
    fn percentiles_in_milliseconds() {
        let millis: Vec<u64> = (1..=100).collect();
        let r = Report::new("get-jwks", &tally(&millis), Duration::from_secs(2), 8, 4, &Extras::default());
        // hdrhistogram with 3 significant digits: values within 0.1 %.
        assert!((r.p50_ms - 50.0).abs() <= 0.05, "{}", r.p50_ms);
        assert!((r.p90_ms - 90.0).abs() <= 0.1, "{}", r.p90_ms);
        assert!((r.p99_ms - 99.0).abs() <= 0.1, "{}", r.p99_ms);
        assert!((r.max_ms - 100.0).abs() <= 0.1, "{}", r.max_ms);
        assert!(r.p50_ms <= r.p90_ms && r.p90_ms <= r.p99_ms && r.p99_ms <= r.max_ms);
        assert_eq!(r.rps, 50.0);
        assert_eq!(r.seconds, 2.0);
    }

    #[test]
    fn empty_run_reports_zeros() {
        let r = Report::new("sign-jwt", &tally(&[]), Duration::ZERO, 1, 1, &Extras::default());
        assert_eq!([r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms, r.rps], [0.0; 5]);
    }

    #[test]
    fn rps_counts_successes_only() {
        let mut t = tally(&[1, 1]);
        t.record(Duration::from_millis(1), Err(&tonic::Status::unauthenticated("no")));
        let r = Report::new("get-jwks", &t, Duration::from_millis(500), 2, 1, &Extras::default());
        assert_eq!((r.ok, r.errors, r.rps), (2, 1, 4.0));
    }

    #[test]
    fn rps_covers_the_window_only() {
        // 30 answered within a 10 s window, 6 more while the last calls drained for 2 s.
        let mut t = tally(&[1; 36]);
        t.late_ok = 6;
        let extras = Extras { window: Some(Duration::from_secs(10)), ..Extras::default() };
        let r = Report::new("sign-client-assertion", &t, Duration::from_secs(12), 36, 4, &extras);
        assert_eq!((r.ok, r.seconds, r.rps), (36, 12.0, 3.0));
    }

    #[test]
    fn json_has_the_contract_fields_and_only_applicable_extras() {
        let r =
            Report::new("sign-client-assertion", &tally(&[3, 4]), Duration::from_secs(1), 64, 4, &Extras::default());
        let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "rpc",
                "ok",
                "errors",
                "by_status",
                "seconds",
                "rps",
                "p50_ms",
                "p90_ms",
                "p99_ms",
                "max_ms",
                "concurrency",
                "connections"
            ]
        );
        assert_eq!(v["by_status"]["OK"], 2);
        assert_eq!(v["rpc"], "sign-client-assertion");

        let extras = Extras {
            rotation: Some(rotate::Outcome { done: 2, refused: 3, errors: 0, first: BTreeMap::new() }),
            verify: Some(verify::Outcome { verified: 6, failures: 0, skipped: 0, first_failure: None }),
            window: None,
        };
        let r = Report::new("sign-client-assertion", &tally(&[3]), Duration::from_secs(1), 64, 4, &extras);
        let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        assert_eq!(
            (&v["rotations"], &v["rotations_refused"], &v["rotation_errors"]),
            (&2.into(), &3.into(), &0.into())
        );
        assert_eq!((&v["verified"], &v["verify_failures"], &v["verify_skipped"]), (&6.into(), &0.into(), &0.into()));
    }

    #[test]
    fn summary_for_people() {
        let mut t = tally(&[2, 2, 2]);
        t.record(Duration::from_millis(9), Err(&tonic::Status::resource_exhausted("full")));
        let extras = Extras {
            rotation: Some(rotate::Outcome { done: 1, refused: 4, errors: 0, first: BTreeMap::new() }),
            verify: None,
            window: None,
        };
        let text = Report::new("sign-jwt", &t, Duration::from_secs(3), 16, 4, &extras).to_string();
        assert!(
            text.starts_with("sign-jwt: 3 ok, 1 errors in 3.000 s: 1.0 ok/s (16 callers on 4 connections)"),
            "{text}"
        );
        assert!(text.contains("status: OK 3, RESOURCE_EXHAUSTED 1"), "{text}");
        assert!(text.contains("rotations: 1 done, 4 refused, 0 failed"), "{text}");
        assert!(!text.contains("verified"), "{text}");
        assert!(text.contains("p50 2.0"), "{text}");
    }
}
