//! Dry runs over gRPC: a request's `plan` flag, and the engine's [`Plan`] as a `keyward.v1.Plan`.

use super::convert::timestamp;
use super::proto;
use crate::rotation::Plan;

/// The message of a plan.
pub(super) fn plan(p: &Plan) -> proto::Plan {
    proto::Plan {
        steps: p
            .steps
            .iter()
            .map(|s| proto::PlannedStep {
                action: s.action.as_str().to_owned(),
                target: s.target.clone(),
                method: s.method.clone(),
                at: s.at.map(timestamp),
                reason: s.reason.clone(),
            })
            .collect(),
        would_refuse: p.would_refuse(),
        refusal: p.refusal.clone().unwrap_or_default(),
        notes: p.notes.clone(),
    }
}
