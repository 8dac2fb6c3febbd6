//! Dry runs: what a rotate or revoke would do, computed from Auth0's current state (read only)
//! and the store with the decisions the sagas themselves use (`slots::plan`, the retirement
//! time, the revocation and signing-key refusals). Planning never writes to the store, never
//! sends a mutating request to Auth0 and never generates key material or opens the key token.
//!
//! A refusal the real call would give (FAILED_PRECONDITION, or ABORTED while another rotation
//! of the same target is open) is a plan that would refuse, so an operator sees it; invalid
//! arguments, unknown targets and permission failures stay errors, exactly as in the real call.
//! A `request_id` that names an existing rotation or revocation plans nothing new: the plan
//! says so in a note, with no steps, because the real call would return that one.

mod client;
mod connection;
mod revoke;
mod signing_keys;

use crate::clock::Timestamp;

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A key pair is made (keyward's, or Auth0's new next key).
    Generate,
    /// A credential is created at Auth0.
    Create,
    /// A credential joins a client's method list.
    Attach,
    /// A credential leaves a client's method list.
    Detach,
    /// A credential is deleted at Auth0.
    Delete,
    /// A key starts signing.
    Activate,
    /// A key is retired after its grace period (detached, deleted, destroyed).
    Retire,
    /// Auth0 rotates a key set.
    Rotate,
    /// A signing key is revoked at Auth0.
    Revoke,
    /// keyward stops signing with a key.
    StopSigning,
    /// Key material is destroyed.
    Destroy,
    /// Something must happen first (a verifier to show a key).
    Wait,
}

impl Action {
    /// The name in a [`PlannedStep`] as the API gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generate => "generate",
            Self::Create => "create",
            Self::Attach => "attach",
            Self::Detach => "detach",
            Self::Delete => "delete",
            Self::Activate => "activate",
            Self::Retire => "retire",
            Self::Rotate => "rotate",
            Self::Revoke => "revoke",
            Self::StopSigning => "stop_signing",
            Self::Destroy => "destroy",
            Self::Wait => "wait",
        }
    }
}

/// The target of a step on something that does not exist yet.
pub const NEW: &str = "new";

/// The method list client credentials are attached to.
pub const PRIVATE_KEY_JWT: &str = "private_key_jwt";

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    /// What it does.
    pub action: Action,
    /// A credential id, kid, connection id or verifier URL; [`NEW`] for what does not exist yet.
    pub target: String,
    /// The client's method list it touches (empty when none).
    pub method: String,
    /// When: `None` = immediately.
    pub at: Option<Timestamp>,
    /// Why, in words.
    pub reason: String,
}

impl PlannedStep {
    /// A step taken at once, touching no method list.
    pub(crate) fn now(action: Action, target: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { action, target: target.into(), method: String::new(), at: None, reason: reason.into() }
    }

    /// The same step on `method`'s list.
    pub(crate) fn on(mut self, method: &str) -> Self {
        self.method = method.to_owned();
        self
    }

    /// The same step, scheduled for `at`.
    pub(crate) fn at(mut self, at: Timestamp) -> Self {
        self.at = Some(at);
        self
    }
}

/// What a rotate or revoke would do; nothing was changed to compute it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// In the order the saga would take them.
    pub steps: Vec<PlannedStep>,
    /// Why the real call would be refused, if it would.
    pub refusal: Option<String>,
    /// Lagging verifiers, rate limits, waits, a request_id seen before.
    pub notes: Vec<String>,
}

impl Plan {
    /// The real call would be refused, saying `why`.
    pub(crate) fn refused(why: impl Into<String>) -> Self {
        Self { refusal: Some(why.into()), ..Self::default() }
    }

    /// Nothing would be done; `note` says why.
    pub(crate) fn noted(note: impl Into<String>) -> Self {
        Self { notes: vec![note.into()], ..Self::default() }
    }

    /// Whether the real call would be refused.
    pub fn would_refuse(&self) -> bool {
        self.refusal.is_some()
    }

    /// The actions in order (for tests and summaries).
    pub fn actions(&self) -> Vec<&'static str> {
        self.steps.iter().map(|s| s.action.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_built_at_once_or_scheduled_on_a_method() {
        let at = Timestamp::from_millis(5_000);
        let s = PlannedStep::now(Action::Retire, "cred_1", "grace").on(PRIVATE_KEY_JWT).at(at);
        assert_eq!((s.action.as_str(), s.method.as_str(), s.at), ("retire", "private_key_jwt", Some(at)));
        let p = Plan::refused("no");
        assert!(p.would_refuse() && p.steps.is_empty());
        assert!(!Plan::noted("seen").would_refuse());
        assert_eq!(Action::StopSigning.as_str(), "stop_signing");
    }
}
