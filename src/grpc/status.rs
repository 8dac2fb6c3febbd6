//! The one mapping from keyward's errors to gRPC status. Internal errors reach the caller as a
//! generic message; their cause goes to the log.

use keyward_auth0::Error as Auth0;
use tonic::Status;

use crate::Error;

fn internal(e: &Error) -> Status {
    tracing::error!(error = %e, source = ?std::error::Error::source(e), "internal error");
    Status::internal("internal error; see keyward's log")
}

/// The status for `e`: the one mapping of the service, exhaustive so that a new [`Error`] variant
/// does not compile until it has a status.
///
/// - `InvalidArgument { flag, reason }` is INVALID_ARGUMENT with `flag: reason` (the field the
///   caller sent).
/// - `NotFound`, and Auth0 not knowing a client or connection, are NOT_FOUND; when the caller
///   named it ([`Error::UnknownAtAuth0`], made by `Error::naming`) the message starts with the
///   caller's field and value.
/// - `Aborted` (another operation holds the resource), `Conflict` (a concurrent writer won a
///   compare-and-set) and `LeaseLost` are all ABORTED: gRPC's code for "retry at a higher level"
///   fits a lost race as well as a held resource, and callers already retry on ABORTED.
/// - `Unavailable`, `Resource` and `Database` are UNAVAILABLE (retry with backoff); the database's cause is
///   logged, never sent.
/// - `Overloaded` is RESOURCE_EXHAUSTED, `PermissionDenied` PERMISSION_DENIED,
///   `FailedPrecondition` FAILED_PRECONDITION.
/// - `Auth0`: unreachable or rate-limited is UNAVAILABLE, unknown objects NOT_FOUND, keyward's
///   own access too narrow or a full slot FAILED_PRECONDITION, anything else INTERNAL.
/// - `TokenExchange`: Auth0 refusing a caller's exchange is PERMISSION_DENIED, a bad audience or
///   scope INVALID_ARGUMENT, rate-limiting UNAVAILABLE with the reset time; else as `Auth0`.
/// - Everything else (crypto, files, the KEK, sealing, corrupt rows, configuration, encoding,
///   reflection) is INTERNAL: a generic message, the cause in the log.
pub fn to_status(e: &Error) -> Status {
    match e {
        Error::InvalidArgument { flag, reason } => Status::invalid_argument(format!("{flag}: {reason}")),
        Error::NotFound(m) => Status::not_found(m.clone()),
        Error::UnknownAtAuth0 { .. } => Status::not_found(e.to_string()),
        Error::FailedPrecondition(m) => Status::failed_precondition(m.clone()),
        Error::Aborted(m) | Error::Conflict(m) => Status::aborted(m.clone()),
        Error::LeaseLost { .. } => Status::aborted(e.to_string()),
        Error::Unavailable(m) => Status::unavailable(m.clone()),
        Error::Resource { .. } => Status::unavailable(e.to_string()),
        Error::PermissionDenied(m) => Status::permission_denied(m.clone()),
        Error::Overloaded(m) => Status::resource_exhausted(m.clone()),
        Error::Database(source) => {
            tracing::error!(error = %e, source = ?source, "store unavailable");
            Status::unavailable("keyward's store is unavailable")
        }
        Error::Custody(_) if e.custody_unavailable() => Status::unavailable(e.to_string()),
        Error::Auth0(a) => auth0_status(a, e),
        Error::TokenExchange(a) => token_exchange_status(a, e),
        Error::Crypto(_)
        | Error::Io { .. }
        | Error::Kek(_)
        | Error::Seal
        | Error::Corrupt(_)
        | Error::Config(_)
        | Error::Encode { .. }
        | Error::Custody(_)
        | Error::Reflection(_) => internal(e),
    }
}

/// Auth0's answer to keyward's own calls. `keyward_auth0::Error` is `#[non_exhaustive]` (another
/// crate), so its unlisted variants are INTERNAL.
fn auth0_status(a: &Auth0, e: &Error) -> Status {
    match a {
        Auth0::RateLimited { .. }
        | Auth0::Unavailable { .. }
        | Auth0::Transport { .. }
        | Auth0::UnknownOutcome { .. } => Status::unavailable(format!("Auth0 is unavailable: {a}")),
        Auth0::ClientNotFound { .. }
        | Auth0::ConnectionNotFound { .. }
        | Auth0::CredentialNotFound { .. }
        | Auth0::SigningKeyNotFound { .. } => Status::not_found(a.to_string()),
        Auth0::InsufficientScope { .. } | Auth0::Unauthorized { .. } | Auth0::AccessDenied { .. } => {
            Status::failed_precondition(format!("keyward's Auth0 access is not sufficient: {a}"))
        }
        Auth0::SlotFull { .. } | Auth0::PoolFull { .. } | Auth0::DuplicateKey { .. } | Auth0::StillAttached { .. } => {
            Status::failed_precondition(a.to_string())
        }
        // A listing past the adapter's bounds: retrying does not help until the tenant (or what
        // answers for Auth0) changes.
        Auth0::Pagination { .. } => Status::failed_precondition(format!("Auth0 listing exceeded keyward's bound: {a}")),
        _ => internal(e),
    }
}

/// Auth0's answer to a token exchange made for a caller: its refusals are the caller's.
fn token_exchange_status(a: &Auth0, e: &Error) -> Status {
    match a {
        Auth0::AccessDenied { .. } | Auth0::Unauthorized { .. } | Auth0::InsufficientScope { .. } => {
            Status::permission_denied(format!("Auth0 refused the exchange: {a}"))
        }
        Auth0::RateLimited { rate_limit, .. } => {
            let reset = rate_limit
                .reset
                .and_then(|r| r.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| format!("; retry after {} (epoch seconds)", d.as_secs()))
                .unwrap_or_default();
            Status::unavailable(format!("Auth0 rate-limited the exchange{reset}"))
        }
        Auth0::InvalidRequest { .. } => Status::invalid_argument(format!("audience or scope: {a}")),
        _ => auth0_status(a, e),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashSet;
    use std::time::{Duration, UNIX_EPOCH};

    use keyward_auth0::RateLimit;
    use tonic::Code;

    use super::*;

    /// One example of every [`Error`] variant (and of every Auth0 case the mapping tells apart).
    pub(crate) fn examples() -> Vec<Error> {
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(b"\xff\xff")
            .build_v1()
            .err()
            .map(Error::Reflection);
        let mut all = vec![
            Error::Crypto(keyward_crypto::Error::Pkcs7("bad".into())),
            Error::io("/k", std::io::Error::other("disk")),
            Error::arg("client_id", "is required"),
            Error::Kek("not 32 bytes".into()),
            Error::Seal,
            Error::database(sqlx::Error::PoolTimedOut),
            Error::Conflict("rotation rot_1 changed concurrently".into()),
            Error::LeaseLost { rotation: "rotation rot_1".into() },
            Error::NotFound("rotation \"rot_1\"".into()),
            Error::Corrupt("key_bits -1".into()),
            Error::Config(vec!["listen: bad".into(), "kek: missing".into()]),
            Error::Auth0(Auth0::ClientNotFound { message: "inexistent_client".into() }),
            Error::Auth0(Auth0::ClientNotFound { message: "inexistent_client".into() }).naming("client_id", "app"),
            Error::Auth0(Auth0::AccessDenied { error_code: "access_denied".into(), message: "no grant".into() })
                .in_token_exchange(),
            Error::FailedPrecondition("slots full".into()),
            Error::Aborted("an open rotation".into()),
            Error::Unavailable("Auth0 is rate-limiting".into()),
            Error::resource("signing pool")(std::io::Error::other("no threads")),
            Error::PermissionDenied("not yours".into()),
            Error::Overloaded("the signing pool is full".into()),
            Error::Custody(keyward_pkcs11::Error::Busy { sessions: 2, waited_ms: 5_000 }),
            Error::encode("rotation parameters")(serde_json::from_str::<u8>("x").unwrap_err()),
        ];
        all.extend(reflection);
        all
    }

    /// The status code of each variant, as [`to_status`]'s documentation states it. Exhaustive:
    /// a new variant does not compile until it is listed here (and given an example above).
    fn documented(e: &Error) -> Code {
        match e {
            Error::InvalidArgument { .. } => Code::InvalidArgument,
            Error::NotFound(_) | Error::UnknownAtAuth0 { .. } => Code::NotFound,
            Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::Aborted(_) | Error::Conflict(_) | Error::LeaseLost { .. } => Code::Aborted,
            Error::Unavailable(_) | Error::Resource { .. } | Error::Database(_) => Code::Unavailable,
            // The example: a token whose sessions are all busy.
            Error::Custody(_) => Code::Unavailable,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::Overloaded(_) => Code::ResourceExhausted,
            // The examples: a client Auth0 does not know, and a refused exchange.
            Error::Auth0(_) => Code::NotFound,
            Error::TokenExchange(_) => Code::PermissionDenied,
            Error::Crypto(_)
            | Error::Io { .. }
            | Error::Kek(_)
            | Error::Seal
            | Error::Corrupt(_)
            | Error::Config(_)
            | Error::Encode { .. }
            | Error::Reflection(_) => Code::Internal,
        }
    }

    #[test]
    fn every_variant_has_its_documented_status() {
        let all = examples();
        let kinds: HashSet<_> = all.iter().map(std::mem::discriminant).collect();
        assert_eq!(kinds.len(), all.len(), "one example per variant");
        assert_eq!(all.len(), 23, "a variant without an example");
        for e in &all {
            assert_eq!(to_status(e).code(), documented(e), "{e}");
        }
    }

    #[test]
    fn internal_errors_say_nothing_of_their_cause() {
        for e in examples().iter().filter(|e| documented(e) == Code::Internal) {
            assert_eq!(to_status(e).message(), "internal error; see keyward's log", "{e}");
        }
        let db = to_status(&Error::database(sqlx::Error::PoolTimedOut));
        assert_eq!(db.message(), "keyward's store is unavailable");
    }

    #[test]
    fn messages_name_the_callers_field() {
        let arg = to_status(&Error::arg("request_id", "must be at most 128 characters"));
        assert_eq!(arg.message(), "request_id: must be at most 128 characters");
        let unknown = Auth0::ConnectionNotFound { message: "no such connection".into() };
        let s = to_status(&Error::Auth0(unknown).naming("connection_id", "con_1"));
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.message(), "connection_id \"con_1\": Auth0 connection not found: no such connection");
        let kid = to_status(&Error::Auth0(Auth0::SigningKeyNotFound { message: "Signing key not found.".into() }));
        assert_eq!(kid.code(), Code::NotFound);
        let named =
            Error::Auth0(Auth0::SigningKeyNotFound { message: "Signing key not found.".into() }).naming("kid", "k1");
        assert_eq!(to_status(&named).message(), "kid \"k1\": Auth0 signing key not found: Signing key not found.");
        // Only "not found" is renamed; every other error keeps its own status.
        let slot = Error::Auth0(Auth0::SlotFull { message: "2 credentials".into() }).naming("client_id", "app");
        assert!(matches!(slot, Error::Auth0(_)));
        assert_eq!(to_status(&slot).code(), Code::FailedPrecondition);
    }

    #[test]
    fn a_listing_past_the_adapters_bound_names_the_bound() {
        let a = Auth0::Pagination { operation: "list_clients", pages: 1000, items: 100_000, reason: "too many pages" };
        let s = to_status(&Error::Auth0(a));
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert!(
            s.message().contains("list_clients stopped after 1000 pages") && s.message().contains("too many pages"),
            "{}",
            s.message()
        );
    }

    #[test]
    fn token_exchange_refusals_are_the_callers() {
        let exchange = |a| to_status(&Error::Auth0(a).in_token_exchange());
        let refused = exchange(Auth0::Unauthorized { error_code: "invalid_client".into(), message: "no".into() });
        assert_eq!(refused.code(), Code::PermissionDenied);
        assert!(refused.message().starts_with("Auth0 refused the exchange: "), "{}", refused.message());
        let bad = exchange(Auth0::InvalidRequest {
            status: 400,
            message: "unknown audience".into(),
            error_code: Some("invalid_request".into()),
        });
        assert_eq!(bad.code(), Code::InvalidArgument);
        assert!(bad.message().starts_with("audience or scope: "), "{}", bad.message());
        let reset = RateLimit { reset: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)), ..RateLimit::default() };
        let limited = exchange(Auth0::RateLimited { rate_limit: reset, retry_after: None });
        assert_eq!(limited.code(), Code::Unavailable);
        assert_eq!(limited.message(), "Auth0 rate-limited the exchange; retry after 1700000000 (epoch seconds)");
        // Outside an exchange the same refusal is keyward's own access falling short.
        let own = Error::Auth0(Auth0::AccessDenied { error_code: "access_denied".into(), message: "no".into() });
        assert_eq!(to_status(&own).code(), Code::FailedPrecondition);
        // Other Auth0 failures map as they do anywhere.
        assert_eq!(exchange(Auth0::ClientNotFound { message: "gone".into() }).code(), Code::NotFound);
    }
}
