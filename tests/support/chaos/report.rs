//! The one `CHAOS_REPORT {json}` line each scenario prints; scripts/reliability.sh collects them
//! into docs/reliability.md and reads the fields by name, so their names and order stay put.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use keyward::store::RotationRecord;
use serde_json::{Value, json};

use super::drivers::Driven;
use super::kills::Killer;
use super::load::Load;
use super::postgres::PgKills;
use super::probes::Probes;

/// One line for scripts/reliability.sh (shown with `--nocapture`).
pub fn report(value: &Value) {
    println!("CHAOS_REPORT {value}");
}

/// How many rotations are in each state.
pub fn states_count(rotations: &[RotationRecord]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in rotations {
        *m.entry(r.state.as_str().to_owned()).or_default() += 1;
    }
    m
}

/// What every report starts with: the scenario, the seed that replays it, its size, and the
/// rotations the drivers saw succeed and the store holds.
pub struct Run<'a> {
    pub scenario: &'static str,
    pub seed: u64,
    pub replicas: usize,
    pub clients: usize,
    pub started: Instant,
    pub rotations: &'a [RotationRecord],
}

impl Run<'_> {
    /// Prints the report: the run's facts, then `fields`, then how long it took.
    fn report(&self, driven: &Driven, fields: Value) {
        let mut out = json!({
            "scenario": self.scenario,
            "seed": self.seed,
            "replicas": self.replicas,
            "clients": self.clients,
            "rotations": driven.ok.load(SeqCst),
            "rotations_in_store": states_count(self.rotations),
        });
        let map = out.as_object_mut().unwrap();
        map.extend(fields.as_object().unwrap().clone());
        map.insert("seconds".into(), json!(self.started.elapsed().as_secs()));
        report(&out);
    }
}

/// Scenario 1's report.
pub fn replicas_killed(run: &Run, driven: &Driven, load: &Load, killer: &Killer) {
    let fields = json!({
        "kills": killer.report(),
        "rotate_rpcs": *driven.codes.lock().unwrap(),
        "refusals": driven.refusals.load(SeqCst),
        "failed_rotations_other": driven.failed.lock().unwrap().len(),
        "assertions": {
            "signed": load.signed.load(SeqCst),
            "exchanged": load.exchanged.load(SeqCst),
            "failures": load.failures.lock().unwrap().len(),
            "stable_replica_signed": load.stable_ok.lock().unwrap().len(),
        },
        "sign_rpcs": *load.sign_codes.lock().unwrap(),
    });
    run.report(driven, fields);
}

/// Scenario 2's report.
pub fn postgres_killed(run: &Run, driven: &Driven, load: &Load, probes: &Probes, kills: &PgKills, recovered: Duration) {
    let rotate_codes = driven.codes.lock().unwrap().clone();
    let probe_codes = probes.codes.lock().unwrap().clone();
    let sign_codes = load.sign_codes.lock().unwrap().clone();
    let unavailable =
        |m: &BTreeMap<String, u64>| m.iter().filter(|(k, _)| k.ends_with("UNAVAILABLE")).map(|(_, v)| v).sum::<u64>();
    let fields = json!({
        "kills": kills.report(),
        "rotate_rpcs": rotate_codes,
        "probe_rpcs": probe_codes,
        "sign_rpcs": sign_codes,
        "unavailable": unavailable(&rotate_codes) + unavailable(&probe_codes) + unavailable(&sign_codes),
        "deadline_exceeded": 0,
        "slowest_failure_ms": {
            "rotate": driven.slowest_failure_ms.load(SeqCst),
            "read": probes.slowest_failure_ms.load(SeqCst),
            "sign": load.slowest_failure_ms.load(SeqCst),
        },
        "recovered_after_kills_ms": u64::try_from(recovered.as_millis()).unwrap(),
        "assertions": {
            "signed": load.signed.load(SeqCst),
            "exchanged": load.exchanged.load(SeqCst),
            "failures": load.failures.lock().unwrap().len(),
        },
        "failed_rotations": driven.failed.lock().unwrap().len(),
    });
    run.report(driven, fields);
}
