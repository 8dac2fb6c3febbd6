//! Client rotations during the load. A refusal (FAILED_PRECONDITION: a retiring key still has
//! live assertions or the slots are full; ABORTED: another rotation is running) is keyward
//! protecting callers, so it is counted apart from failures, and apart from the load's errors.

use std::collections::BTreeMap;
use std::time::Duration;

use keyward_proto::RotateClientCredentialRequest;
use keyward_proto::key_rotation_client::KeyRotationClient;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tonic::Code;

use crate::args::{Rotation, Target};
use crate::call::pb_duration;
use crate::connect::Authed;
use crate::tally::code_name;

/// A rotation waits on Auth0's management API; give it far longer than a signing call.
const ROTATION_TIMEOUT: Duration = Duration::from_secs(120);

/// What the rotations came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Rotations that completed.
    pub done: u64,
    /// Rotations keyward refused (FAILED_PRECONDITION, ABORTED).
    pub refused: u64,
    /// Rotations that failed otherwise.
    pub errors: u64,
    /// The first message per status that was not OK.
    pub first: BTreeMap<&'static str, String>,
}

impl Outcome {
    fn record(&mut self, result: Result<(), tonic::Status>) {
        let status = match result {
            Ok(()) => {
                self.done += 1;
                return;
            }
            Err(status) => status,
        };
        match status.code() {
            Code::FailedPrecondition | Code::Aborted => self.refused += 1,
            _ => self.errors += 1,
        }
        self.first.entry(code_name(status.code())).or_insert_with(|| status.message().to_owned());
    }
}

/// Rotates `target`'s client every `rotation.every` until `stop` turns true; a rotation in
/// flight then is finished, not abandoned.
pub async fn run(
    mut client: KeyRotationClient<Authed>,
    target: Target,
    rotation: Rotation,
    mut stop: watch::Receiver<bool>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut ticks = tokio::time::interval_at(Instant::now() + rotation.every, rotation.every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
        let mut req = tonic::Request::new(RotateClientCredentialRequest {
            tenant: target.tenant.clone(),
            client_id: target.client.clone(),
            grace_period: rotation.grace.map(pb_duration),
            ..Default::default()
        });
        req.set_timeout(ROTATION_TIMEOUT);
        outcome.record(client.rotate_client_credential(req).await.map(drop));
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_apart_from_errors() {
        let mut o = Outcome::default();
        o.record(Ok(()));
        o.record(Err(tonic::Status::failed_precondition("live assertions")));
        o.record(Err(tonic::Status::aborted("busy")));
        o.record(Err(tonic::Status::unavailable("Auth0 down")));
        assert_eq!((o.done, o.refused, o.errors), (1, 2, 1));
        assert_eq!(o.first["FAILED_PRECONDITION"], "live assertions");
    }
}
