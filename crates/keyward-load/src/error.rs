//! What can stop a load run before it reports, and the exit code each maps to.

use std::path::PathBuf;

/// Why keyward-load could not produce a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A flag or flag combination is unusable.
    #[error("{flag}: {reason}")]
    Usage {
        /// The flag at fault, e.g. `--concurrency`.
        flag: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The command line does not parse (clap's message, on one line).
    #[error("{0}")]
    Args(String),
    /// A file named by a flag could not be read.
    #[error("{flag}: cannot read {}: {source}", path.display())]
    File {
        /// The flag that named the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },
    /// The server could not be reached.
    #[error("cannot reach keyward at {endpoint}: {cause}")]
    Connect {
        /// The endpoint as given.
        endpoint: String,
        /// The innermost transport error, as text (tonic's outer error says only "transport error").
        cause: String,
    },
    /// The local machinery failed (runtime, HTTP client, a worker task).
    #[error("{0}")]
    Internal(String),
    /// The run finished and reported, but more calls failed than `--max-error-rate` allows.
    #[error("{errors} of {calls} calls failed, above --max-error-rate {max}")]
    Failed {
        /// Failed calls.
        errors: u64,
        /// All calls.
        calls: u64,
        /// The rate allowed.
        max: f64,
    },
}

impl Error {
    /// A usage error for `flag`.
    pub fn usage(flag: &'static str, reason: impl Into<String>) -> Self {
        Self::Usage { flag, reason: reason.into() }
    }

    /// The process exit code (sysexits.h): 64 bad usage, 69 unavailable, 70 internal; 1 when
    /// the run reported but too many of its calls failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage { .. } | Self::Args(_) | Self::File { .. } => 64,
            Self::Connect { .. } => 69,
            Self::Internal(_) => 70,
            Self::Failed { .. } => 1,
        }
    }
}
