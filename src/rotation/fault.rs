//! Fault injection for tests (`fault-injection` feature): exit with code 86 right after the
//! rotation state named in `KEYWARD_FAULT_EXIT_AFTER` is persisted, or stall for a while in the
//! step from the state named in `KEYWARD_FAULT_PAUSE_AT=STATE:DURATION` (after the step's reads,
//! before its first side effect, with lease renewal suspended), once per process: a replica
//! frozen mid-step, as by a VM migration or SIGSTOP.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::store::{RevocationState, RotationState};

/// Where to crash or stall, if anywhere.
#[derive(Debug, Default)]
pub(crate) struct FaultPoint {
    /// A saga state's name, or `revocation:STATE`.
    exit_after: Option<String>,
    pause_at: Option<(String, Duration)>,
    /// Set once the stall began (it happens once per process).
    paused: AtomicBool,
    /// Set while stalled: lease renewal is suspended too.
    stalled: AtomicBool,
}

/// The points of a signing-key rotation: after the request is recorded, after Auth0 answered
/// the rotation (before it is read back and recorded), after REVOKING is persisted, after Auth0
/// revoked (before it is recorded).
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
const SIGNING_KEYS_POINTS: [&str; 4] =
    ["signing_keys:recorded", "signing_keys:rotated", "signing_keys:revoking", "signing_keys:revoked"];

/// The exit code of an injected crash.
pub const FAULT_EXIT_CODE: i32 = 86;

/// A fault point's canonical name: a rotation saga state (`registered`) or a revocation's
/// (`revocation:signing_stopped`), case-insensitive.
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
fn state(name: &str) -> Option<String> {
    let wanted = name.trim().to_ascii_lowercase();
    if SIGNING_KEYS_POINTS.contains(&wanted.as_str()) {
        return Some(wanted);
    }
    if let Some(rest) = wanted.strip_prefix("revocation:") {
        return RevocationState::ALL.iter().find(|s| s.as_str() == rest).map(|s| format!("revocation:{s}"));
    }
    RotationState::ALL.iter().find(|s| s.as_str() == wanted).map(|s| s.as_str().to_owned())
}

/// Parses `POINT:DURATION` (e.g. `registered:7s`, `revocation:detached:2s`); POINT is a saga
/// state, `revocation:STATE` or `connection`.
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
fn parse_pause(text: &str) -> Option<(String, Duration)> {
    let (s, d) = text.rsplit_once(':')?;
    let point = match state(s) {
        Some(st) => st,
        None if s.trim().eq_ignore_ascii_case("connection") => "connection".to_owned(),
        None if s.trim().eq_ignore_ascii_case("signing_keys") => "signing_keys".to_owned(),
        None => return None,
    };
    Some((point, humantime::parse_duration(d.trim()).ok()?))
}

impl FaultPoint {
    /// Reads `KEYWARD_FAULT_EXIT_AFTER` (e.g. `REGISTERED`) and `KEYWARD_FAULT_PAUSE_AT` (e.g.
    /// `SLOT_FREED:7s`) when built with `fault-injection`; a value that does not parse is
    /// reported on stderr and ignored.
    pub fn from_env() -> Self {
        #[cfg(feature = "fault-injection")]
        {
            let exit_after = std::env::var("KEYWARD_FAULT_EXIT_AFTER").ok().and_then(|s| state(&s));
            let pause_at = std::env::var("KEYWARD_FAULT_PAUSE_AT").ok().and_then(|p| {
                let parsed = parse_pause(&p);
                if parsed.is_none() {
                    eprintln!("keyward: KEYWARD_FAULT_PAUSE_AT={p:?} is not STATE:DURATION; ignored");
                }
                parsed
            });
            return Self { exit_after, pause_at, ..Self::default() };
        }
        #[allow(unreachable_code)]
        Self::default()
    }

    /// Called right after `state` is persisted.
    pub fn after(&self, state: RotationState) {
        self.after_point(state.as_str());
    }

    /// Called right after the state named `point` (see [`FaultPoint::stall_at`]) is persisted.
    pub fn after_point(&self, point: &str) {
        if self.exit_after.as_deref() == Some(point) {
            eprintln!("keyward: fault injection: exiting after persisting {point}");
            std::process::exit(FAULT_EXIT_CODE);
        }
    }

    /// Called in the step from `state` after its reads, before each side effect: stalls there the
    /// first time, with lease renewal suspended.
    pub async fn stall(&self, state: RotationState) {
        self.stall_at(state.as_str()).await;
    }

    /// [`FaultPoint::stall`] by the point's name: a saga state, `revocation:STATE` (in the
    /// revocation step from STATE), or `connection` (a connection rotation, right before Auth0 is
    /// asked to rotate).
    pub async fn stall_at(&self, state: &str) {
        let Some((at, how_long)) = &self.pause_at else { return };
        let how_long = *how_long;
        if at != state || self.paused.swap(true, Ordering::SeqCst) {
            return;
        }
        eprintln!("keyward: fault injection: stalling {how_long:?} in the step from {state}");
        self.stalled.store(true, Ordering::SeqCst);
        tokio::time::sleep(how_long).await;
        self.stalled.store(false, Ordering::SeqCst);
        eprintln!("keyward: fault injection: woke up in the step from {state}");
    }

    /// Whether a stall is in progress (the lease heartbeat stays silent meanwhile).
    pub fn stalled(&self) -> bool {
        self.stalled.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_specs() {
        assert_eq!(parse_pause("SLOT_FREED:7s"), Some(("slot_freed".to_owned(), Duration::from_secs(7))));
        assert_eq!(parse_pause("active: 1500ms"), Some(("active".to_owned(), Duration::from_millis(1500))));
        assert_eq!(parse_pause("connection:2s"), Some(("connection".to_owned(), Duration::from_secs(2))));
        assert_eq!(parse_pause("slot_freed"), None);
        assert_eq!(parse_pause("nowhere:1s"), None);
        assert_eq!(parse_pause("planned:soon"), None);
        assert_eq!(
            parse_pause("revocation:SIGNING_STOPPED:2s"),
            Some(("revocation:signing_stopped".to_owned(), Duration::from_secs(2)))
        );
        assert_eq!(parse_pause("revocation:nowhere:2s"), None);
        assert_eq!(state("Revocation:Deleted").as_deref(), Some("revocation:deleted"));
        assert_eq!(state("SIGNING_KEYS:rotated").as_deref(), Some("signing_keys:rotated"));
        assert_eq!(parse_pause("signing_keys:1s"), Some(("signing_keys".to_owned(), Duration::from_secs(1))));
        assert_eq!(
            parse_pause("signing_keys:revoking:1s"),
            Some(("signing_keys:revoking".to_owned(), Duration::from_secs(1)))
        );
    }
}
