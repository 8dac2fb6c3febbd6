//! Scenario 1's violence: replicas 1 and 2 (never 0) exit at saga points, are SIGKILLed at
//! random moments or while they drive a rotation, or freeze past their lease (SIGSTOP for
//! 4-9 s, then SIGCONT) and wake up as if nothing happened.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use keyward::clock::wall_now;
use keyward::store::RotationStore;
use serde_json::{Value, json};

use super::STATES;
use super::replicas::Fleet;
use super::rng::Rng;
use super::world::World;

/// The exit code of a replica that stopped itself at a saga point (`KEYWARD_FAULT_EXIT_AFTER`).
const FAULT_EXIT: i32 = 86;

/// What was done to the replicas, and when.
pub struct Killer {
    /// Each slot's restarts under a new name (`r{slot}-g{generation}`).
    generation: [u32; 3],
    /// Exits after a saga state, by state.
    fault_exits: BTreeMap<&'static str, u64>,
    sigkills: u64,
    sigkills_holding_lease: u64,
    sigstops: u64,
    sigstops_holding_lease: u64,
    /// When each exit, SIGKILL and SIGSTOP happened.
    pub kill_times: Vec<Instant>,
    last_kill: Instant,
    quiet_kill: Duration,
}

impl Killer {
    /// Nothing done yet; the first random kill comes after a quiet spell of 5-15 s.
    pub fn new(rng: &mut Rng) -> Self {
        Self {
            generation: [0; 3],
            fault_exits: BTreeMap::new(),
            sigkills: 0,
            sigkills_holding_lease: 0,
            sigstops: 0,
            sigstops_holding_lease: 0,
            kill_times: Vec::new(),
            last_kill: Instant::now(),
            quiet_kill: rng.ms(5000, 15000),
        }
    }

    /// One round: resumes replicas whose pause is over, restarts those that exited at their
    /// saga point (any other exit fails the test), and maybe kills or pauses one.
    pub async fn round(&mut self, world: &World, fleet: &mut Fleet, rng: &mut Rng) {
        fleet.wake_due(false);
        for (i, code, fault) in fleet.watch() {
            assert_eq!(
                code,
                Some(FAULT_EXIT),
                "replica slot {i} exited by itself, not by fault injection\n{}",
                fleet.tails()
            );
            *self.fault_exits.entry(fault.unwrap()).or_default() += 1;
            self.kill_times.push(Instant::now());
            self.generation[i] += 1;
            // A new name: the dead replica's leases must lapse before anyone resumes its rotations.
            fleet.start(i, &format!("r{i}-g{}", self.generation[i]), None).await;
            self.last_kill = Instant::now();
        }
        if self.last_kill.elapsed() < Duration::from_millis(2500) {
            return;
        }
        // SIGKILL: preferably the replica driving an open rotation (a random saga point), else,
        // after a quiet spell, either killable replica at a random moment.
        let holders = lease_holders(world).await;
        let drivers_of_open: Vec<usize> = (1..3)
            .filter(|i| fleet.alive(*i) && !fleet.paused(*i))
            .filter(|i| holders.contains(&fleet.endpoint(*i).id))
            .collect();
        let victim = if !drivers_of_open.is_empty() && rng.chance(30) {
            tokio::time::sleep(rng.ms(0, 400)).await;
            Some(rng.pick(&drivers_of_open))
        } else if self.last_kill.elapsed() >= self.quiet_kill {
            Some(1 + rng.below(2)).filter(|i| fleet.alive(*i) && !fleet.paused(*i))
        } else {
            None
        };
        let Some(i) = victim else { return };
        let holding = u64::from(lease_holders(world).await.contains(&fleet.endpoint(i).id));
        // A pause instead of a kill, the first time and 40% of the others: frozen past its 3 s
        // lease (its work is taken over), then resumed as if nothing happened.
        let pause = self.sigstops == 0 || rng.chance(40);
        if pause {
            fleet.sigstop(i, rng.ms(4000, 9000));
            self.sigstops += 1;
            self.sigstops_holding_lease += holding;
        } else {
            self.sigkills_holding_lease += holding;
            fleet.sigkill(i);
            self.sigkills += 1;
        }
        self.kill_times.push(Instant::now());
        self.last_kill = Instant::now();
        self.quiet_kill = rng.ms(5000, 15000);
        if pause {
            return;
        }
        // Back under the same name half of the time (it resumes its own rotations at start),
        // else under a new one; armed with a fault more often than not.
        if rng.chance(50) {
            self.generation[i] += 1;
        }
        let fault = rng.chance(60).then(|| rng.pick(&STATES));
        fleet.start(i, &format!("r{i}-g{}", self.generation[i]), fault).await;
    }

    /// No more kills or pauses: resumes the paused and disarms what is still armed (a last
    /// SIGKILL, restarted unarmed under a new name). Returns when that was.
    pub async fn stop(&mut self, fleet: &mut Fleet) -> Instant {
        fleet.wake_due(true);
        for i in 1..3 {
            if fleet.armed(i) {
                fleet.sigkill(i);
                self.sigkills += 1;
                self.kill_times.push(Instant::now());
                self.generation[i] += 1;
                fleet.start(i, &format!("r{i}-g{}", self.generation[i]), None).await;
            }
        }
        Instant::now()
    }

    pub fn sigkills(&self) -> u64 {
        self.sigkills
    }

    pub fn sigstops(&self) -> u64 {
        self.sigstops
    }

    /// The report's `kills`.
    pub fn report(&self) -> Value {
        json!({
            "fault_exit": self.fault_exits,
            "fault_exit_total": self.fault_exits.values().sum::<u64>(),
            "sigkill": self.sigkills,
            "sigkill_holding_a_lease": self.sigkills_holding_lease,
            "sigstop": self.sigstops,
            "sigstop_holding_a_lease": self.sigstops_holding_lease,
        })
    }
}

/// The replicas holding a live lease on an open rotation.
async fn lease_holders(world: &World) -> Vec<String> {
    let now = wall_now();
    let open = world.store.open_rotations().await.unwrap();
    open.into_iter().filter(|r| r.lease.expires_at > now).filter_map(|r| r.lease.owner).collect()
}
