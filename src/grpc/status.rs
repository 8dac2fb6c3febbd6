//! The one mapping from keyward's errors to gRPC status. Internal errors reach the caller as a
//! generic message; their cause goes to the log.

use keyward_auth0::Error as Auth0;
use tonic::Status;

use crate::Error;

fn internal(e: &Error) -> Status {
    tracing::error!(error = %e, "internal error");
    Status::internal("internal error; see keyward's log")
}

/// The status for `e`.
pub fn to_status(e: &Error) -> Status {
    match e {
        Error::InvalidArgument { flag, reason } => Status::invalid_argument(format!("{flag}: {reason}")),
        Error::NotFound(m) => Status::not_found(m.clone()),
        Error::FailedPrecondition(m) => Status::failed_precondition(m.clone()),
        Error::Aborted(m) => Status::aborted(m.clone()),
        Error::Conflict(m) => Status::aborted(m.clone()),
        Error::LeaseLost { .. } => Status::aborted(e.to_string()),
        Error::Unavailable(m) => Status::unavailable(m.clone()),
        Error::PermissionDenied(m) => Status::permission_denied(m.clone()),
        Error::Overloaded(m) => Status::resource_exhausted(m.clone()),
        Error::Database(_) => {
            tracing::error!(error = %e, "store unavailable");
            Status::unavailable("keyward's store is unavailable")
        }
        Error::Auth0(a) => auth0_status(a, e),
        Error::Crypto(_)
        | Error::Io { .. }
        | Error::WouldOverwrite(_)
        | Error::Output(_)
        | Error::Kek(_)
        | Error::Seal
        | Error::Corrupt(_)
        | Error::Config(_)
        | Error::Rpc { .. } => internal(e),
    }
}

fn auth0_status(a: &Auth0, e: &Error) -> Status {
    match a {
        Auth0::RateLimited { .. }
        | Auth0::Unavailable { .. }
        | Auth0::Transport { .. }
        | Auth0::UnknownOutcome { .. } => Status::unavailable(format!("Auth0 is unavailable: {a}")),
        Auth0::ClientNotFound { .. } | Auth0::ConnectionNotFound { .. } | Auth0::CredentialNotFound { .. } => {
            Status::not_found(a.to_string())
        }
        Auth0::InsufficientScope { .. } | Auth0::Unauthorized { .. } | Auth0::AccessDenied { .. } => {
            Status::failed_precondition(format!("keyward's Auth0 access is not sufficient: {a}"))
        }
        Auth0::SlotFull { .. } | Auth0::PoolFull { .. } | Auth0::DuplicateKey { .. } | Auth0::StillAttached { .. } => {
            Status::failed_precondition(a.to_string())
        }
        _ => internal(e),
    }
}
