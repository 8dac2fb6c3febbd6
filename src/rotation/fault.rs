//! Crash injection for tests (`fault-injection` feature): exit with code 86 right after the
//! rotation state named in `KEYWARD_FAULT_EXIT_AFTER` is persisted.

use crate::store::RotationState;

/// Where to crash, if anywhere.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FaultPoint(Option<RotationState>);

/// The exit code of an injected crash.
pub const FAULT_EXIT_CODE: i32 = 86;

impl FaultPoint {
    /// Reads `KEYWARD_FAULT_EXIT_AFTER` (e.g. `REGISTERED`) when built with `fault-injection`.
    pub fn from_env() -> Self {
        #[cfg(feature = "fault-injection")]
        {
            let wanted = std::env::var("KEYWARD_FAULT_EXIT_AFTER").unwrap_or_default().to_ascii_lowercase();
            return Self(RotationState::ALL.iter().copied().find(|s| s.as_str() == wanted));
        }
        #[allow(unreachable_code)]
        Self(None)
    }

    /// Called right after `state` is persisted.
    pub fn after(&self, state: RotationState) {
        if self.0 == Some(state) {
            eprintln!("keyward: fault injection: exiting after persisting {state}");
            std::process::exit(FAULT_EXIT_CODE);
        }
    }
}
