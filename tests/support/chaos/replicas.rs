//! The `keyward serve` replicas of a scenario, one per slot: started (armed with a saga-point
//! exit or not), SIGKILLed, SIGSTOPped and resumed, restarted in place, their output kept in a
//! log per slot; and the view of where each serves, which the load and the drivers follow.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::rng::Rng;
use super::world::World;
use crate::rig::{Replica, serve};

/// Where a replica serves, for the load and the drivers (None while it is down).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub addr: String,
    pub admin: String,
    pub id: String,
    pub generation: u64,
    pub armed: bool,
}

pub type View = Arc<Mutex<Vec<Option<Endpoint>>>>;

struct Slot {
    proc: Option<Replica>,
    id: String,
    armed: Option<&'static str>,
    log: std::fs::File,
    /// While SIGSTOPped: when to SIGCONT it, and where it serves meanwhile (hidden from the load).
    paused: Option<(Instant, Endpoint)>,
}

/// The `keyward serve` processes of a scenario, one per slot, restarted in place.
pub struct Fleet {
    config: PathBuf,
    work: PathBuf,
    slots: Vec<Slot>,
    pub view: View,
    generation: u64,
}

impl Fleet {
    pub fn new(world: &World, n: usize) -> Self {
        let slots = (0..n)
            .map(|i| Slot {
                proc: None,
                id: String::new(),
                armed: None,
                paused: None,
                log: std::fs::File::create(world.work.path.join(format!("replica-{i}.log"))).unwrap(),
            })
            .collect();
        let view = Arc::new(Mutex::new(vec![None; n]));
        Self { config: world.config.clone(), work: world.work.path.clone(), slots, view, generation: 0 }
    }

    /// Starts slot `i` as replica `id`, exiting after `fault` when set.
    pub async fn start(&mut self, i: usize, id: &str, fault: Option<&'static str>) {
        assert!(self.slots[i].proc.is_none());
        let config = self.config.clone();
        let env_id = id.to_owned();
        let replica = tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> = fault.map(|f| ("KEYWARD_FAULT_EXIT_AFTER", f)).into_iter().collect();
            serve(&config, &env_id, &env)
        })
        .await
        .unwrap();
        self.generation += 1;
        let slot = &mut self.slots[i];
        writeln!(slot.log, "=== start {id} fault={fault:?}: {}", replica.k.banner).unwrap();
        let admin = replica.k.admin_addr().unwrap();
        self.view.lock().unwrap()[i] = Some(Endpoint {
            addr: replica.k.addr.clone(),
            admin,
            id: id.to_owned(),
            generation: self.generation,
            armed: fault.is_some(),
        });
        slot.proc = Some(replica);
        slot.id = id.to_owned();
        slot.armed = fault;
    }

    pub fn alive(&self, i: usize) -> bool {
        self.slots[i].proc.is_some()
    }

    /// Whether slot `i` runs a replica armed with a saga-point exit.
    pub fn armed(&self, i: usize) -> bool {
        self.slots[i].armed.is_some()
    }

    pub fn endpoint(&self, i: usize) -> Endpoint {
        self.view.lock().unwrap()[i].clone().unwrap()
    }

    /// Copies what the replicas printed into their logs.
    fn drain(&mut self) {
        for s in &mut self.slots {
            if let Some(p) = &s.proc {
                for line in p.k.output_so_far() {
                    writeln!(s.log, "{}: {line}", s.id).unwrap();
                }
            }
        }
    }

    /// Replicas that exited by themselves since the last call: (slot, exit code, fault state).
    pub fn watch(&mut self) -> Vec<(usize, Option<i32>, Option<&'static str>)> {
        self.drain();
        let mut out = Vec::new();
        for (i, s) in self.slots.iter_mut().enumerate() {
            let Some(p) = &mut s.proc else { continue };
            if let Some(status) = p.k.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                for line in p.k.output_so_far() {
                    writeln!(s.log, "{}: {line}", s.id).unwrap();
                }
                writeln!(s.log, "=== {} exited: {status}", s.id).unwrap();
                s.proc = None;
                self.view.lock().unwrap()[i] = None;
                out.push((i, status.code(), s.armed.take()));
            }
        }
        out
    }

    /// SIGKILL, at whatever point the replica is.
    pub fn sigkill(&mut self, i: usize) {
        self.drain();
        self.view.lock().unwrap()[i] = None;
        let s = &mut self.slots[i];
        if let Some(p) = s.proc.take() {
            p.k.kill();
        }
        s.armed = None;
        writeln!(s.log, "=== {} SIGKILLed by the test", s.id).unwrap();
    }

    /// SIGSTOP for `how_long`: the replica freezes at whatever line it is, its leases lapse
    /// and other replicas take its work over; [`Fleet::wake_due`] resumes it.
    pub fn sigstop(&mut self, i: usize, how_long: Duration) {
        self.drain();
        let endpoint = self.view.lock().unwrap()[i].take().unwrap();
        let s = &mut self.slots[i];
        s.proc.as_ref().unwrap().signal("-STOP");
        writeln!(s.log, "=== {} SIGSTOPped by the test for {how_long:?}", s.id).unwrap();
        s.paused = Some((Instant::now() + how_long, endpoint));
    }

    pub fn paused(&self, i: usize) -> bool {
        self.slots[i].paused.is_some()
    }

    /// SIGCONT to every paused replica whose pause is over (all of them with `all`); how many.
    pub fn wake_due(&mut self, all: bool) -> usize {
        let mut woken = 0;
        for i in 0..self.slots.len() {
            let s = &mut self.slots[i];
            let Some((until, _)) = &s.paused else { continue };
            if !all && Instant::now() < *until {
                continue;
            }
            let (_, endpoint) = s.paused.take().unwrap();
            s.proc.as_ref().unwrap().signal("-CONT");
            writeln!(s.log, "=== {} SIGCONTinued by the test", s.id).unwrap();
            self.view.lock().unwrap()[i] = Some(endpoint);
            woken += 1;
        }
        woken
    }

    /// The tail of every replica's log, for a failure message.
    pub fn tails(&mut self) -> String {
        self.drain();
        let mut out = String::new();
        for i in 0..self.slots.len() {
            let text = std::fs::read_to_string(self.work.join(format!("replica-{i}.log"))).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- replica slot {i} (last 40 lines)\n"));
            for l in &lines[lines.len().saturating_sub(40)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// Panics (with the replicas' logs) if a background task of the test failed.
    pub async fn check_tasks(&mut self, tasks: &mut Vec<tokio::task::JoinHandle<()>>, what: &str) {
        while let Some(i) = tasks.iter().position(tokio::task::JoinHandle::is_finished) {
            if let Err(e) = tasks.remove(i).await {
                panic!("{what} failed: {e}\n{}", self.tails());
            }
        }
    }

    /// Asserts that no replica exited by itself since the last look.
    pub fn assert_none_exited(&mut self, when: &str) {
        let exits = self.watch();
        assert!(exits.is_empty(), "replicas exited{when}: {exits:?}\n{}", self.tails());
    }
}

/// A live replica, preferably (70%) an armed one with `prefer_armed`.
pub fn random_endpoint(view: &View, rng: &mut Rng, prefer_armed: bool) -> Option<Endpoint> {
    let up: Vec<Endpoint> = view.lock().unwrap().iter().flatten().cloned().collect();
    if up.is_empty() {
        return None;
    }
    let armed: Vec<&Endpoint> = up.iter().filter(|e| e.armed).collect();
    if prefer_armed && !armed.is_empty() && rng.chance(70) {
        return Some(armed[rng.below(armed.len())].clone());
    }
    Some(up[rng.below(up.len())].clone())
}
