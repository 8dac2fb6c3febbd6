//! What a `keyward` command fails with, and the one mapping from it to the process exit code.

use std::path::PathBuf;

use keyward_proto::code_name;

/// A command's failure: the service's [`crate::Error`] or one of the cases only the command line
/// has (a server's refusal, output, files it would overwrite, bad flags).
///
/// The crate keeps one error enum for its service and library ([`crate::Error`]); this is the
/// binary side of the same crate, kept apart so that no service path can produce a command-line
/// case and no gRPC status is ever made from one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The service or library failed.
    #[error(transparent)]
    Service(#[from] crate::Error),
    /// A flag or argument that parsed but makes no sense.
    #[error("{flag}: {reason}")]
    Usage {
        /// The flag or argument.
        flag: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A keyward server refused a client command.
    #[error("{}{}: {message}", code_name(*.code), from_endpoint(.endpoint.as_deref()))]
    Rpc {
        /// The gRPC status code.
        code: tonic::Code,
        /// The endpoint that answered, named for refusals of the connection or the token.
        endpoint: Option<String>,
        /// The server's message.
        message: String,
    },
    /// The keyward server could not be reached.
    #[error("cannot reach keyward at {endpoint}: {}", cause(.source))]
    Unreachable {
        /// The endpoint tried.
        endpoint: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// The async runtime could not be started.
    #[error("async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A file that holds a private key would be overwritten.
    #[error("{0} already exists; pass --force to overwrite it")]
    WouldOverwrite(PathBuf),
    /// Writing the output (JSON, a timestamp) failed.
    #[error("encoding output: {0}")]
    Output(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A `bench` worker thread panicked.
    #[error("a bench thread panicked")]
    BenchPanicked,
    /// Whoever read stdout stopped reading (`| head -1`): the command ends quietly with 0.
    #[error("stdout was closed")]
    StdoutClosed,
    /// What the server reported failed keyward's verification (the output above says how).
    #[error("{what} failed verification (see above)")]
    Unverified {
        /// What was checked.
        what: String,
    },
}

/// " from <endpoint>" when the endpoint is known.
fn from_endpoint(endpoint: Option<&str>) -> String {
    endpoint.map(|e| format!(" from {e}")).unwrap_or_default()
}

/// What a transport error says: its cause when it has one (tonic's own message is generic).
fn cause(e: &tonic::transport::Error) -> String {
    std::error::Error::source(e).map(ToString::to_string).unwrap_or_else(|| e.to_string())
}

impl CliError {
    /// The process exit code for this error, as the README's "Exit codes" says: 64 (EX_USAGE)
    /// for bad arguments and configuration (a server's INVALID_ARGUMENT included), 69
    /// (EX_UNAVAILABLE) when a server or service cannot be reached, 77 (EX_NOPERM) for a refused
    /// token, else 1. Exhaustive over [`crate::Error`] too, so a new variant of either must be
    /// given a code.
    pub fn exit_code(&self) -> u8 {
        use crate::Error as E;
        match self {
            CliError::Usage { .. } => 64,
            CliError::Rpc { code: tonic::Code::InvalidArgument, .. } => 64,
            CliError::Rpc { code: tonic::Code::Unavailable, .. } => 69,
            CliError::Rpc { code: tonic::Code::Unauthenticated | tonic::Code::PermissionDenied, .. } => 77,
            CliError::Rpc { .. } => 1,
            CliError::Unreachable { .. } | CliError::Runtime(_) => 69,
            CliError::WouldOverwrite(_)
            | CliError::Output(_)
            | CliError::BenchPanicked
            | CliError::Unverified { .. } => 1,
            CliError::StdoutClosed => 0,
            CliError::Service(e) => match e {
                E::InvalidArgument { .. } | E::Config(_) => 64,
                E::Unavailable(_) | E::Resource { .. } => 69,
                E::Custody(_) if e.custody_unavailable() => 69,
                E::Crypto(_)
                | E::Io { .. }
                | E::Kek(_)
                | E::Seal
                | E::Database(_)
                | E::Conflict(_)
                | E::LeaseLost { .. }
                | E::NotFound(_)
                | E::Corrupt(_)
                | E::Auth0(_)
                | E::UnknownAtAuth0 { .. }
                | E::TokenExchange(_)
                | E::FailedPrecondition(_)
                | E::Aborted(_)
                | E::PermissionDenied(_)
                | E::Overloaded(_)
                | E::Encode { .. }
                | E::Custody(_)
                | E::Reflection(_) => 1,
            },
        }
    }

    /// Names `endpoint` in a server's refusal of the connection or of the token (UNAVAILABLE,
    /// UNAUTHENTICATED, PERMISSION_DENIED), so the operator sees which server said it.
    pub(crate) fn at(self, endpoint: &str) -> Self {
        match self {
            CliError::Rpc {
                code: code @ (tonic::Code::Unavailable | tonic::Code::Unauthenticated | tonic::Code::PermissionDenied),
                endpoint: None,
                message,
            } => CliError::Rpc { code, endpoint: Some(endpoint.to_owned()), message },
            other => other,
        }
    }

    /// A bad flag or argument.
    pub(crate) fn usage(flag: &'static str, reason: impl Into<String>) -> Self {
        CliError::Usage { flag, reason: reason.into() }
    }

    /// An output encoding failure.
    pub(crate) fn output(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        CliError::Output(Box::new(e))
    }
}

impl From<tonic::Status> for CliError {
    fn from(s: tonic::Status) -> Self {
        let message =
            if s.code() == tonic::Code::InvalidArgument { in_flag_terms(s.message()) } else { s.message().to_owned() };
        CliError::Rpc { code: s.code(), endpoint: None, message }
    }
}

/// The request fields the server names at the start of an INVALID_ARGUMENT message, and the
/// client flag that sets each.
const FIELD_FLAGS: [(&str, &str); 19] = [
    ("grace_period", "--grace"),
    ("evict_unmanaged", "--evict-unmanaged"),
    ("client_id", "--client"),
    ("credential_lifetime", "--lifetime"),
    ("key_bits", "--bits"),
    ("algorithm", "--alg"),
    ("request_id", "--request-id"),
    ("connection_id", "--connection"),
    ("signing_alg", "--alg"),
    ("max_key_age", "--max-key-age"),
    ("interval", "--interval"),
    ("window", "--window"),
    ("credential_id", "--credential"),
    ("reason", "--reason"),
    ("tenant", "--tenant"),
    ("claims_json", "--claims"),
    ("audience", "--audience"),
    ("lifetime", "--lifetime"),
    ("scope", "--scope"),
];

fn flag_of(field: &str) -> Option<&'static str> {
    FIELD_FLAGS.iter().find(|(f, _)| *f == field).map(|(_, flag)| *flag)
}

/// A server's `field: reason` in the terms of the command line: `--bits (key_bits): reason`.
/// A head naming several fields (`client_id, connection_id: …`, `audience or scope: …`) has each
/// mapped; a message whose head is not all known fields is left as it is.
fn in_flag_terms(message: &str) -> String {
    let Some((head, rest)) = message.split_once(':') else { return message.to_owned() };
    let mut flags = String::new();
    for token in head.split_inclusive([' ', ',']) {
        let word = token.trim_end_matches([' ', ',']);
        let sep = &token[word.len()..];
        match word {
            "or" | "and" | "" => flags.push_str(word),
            field => match flag_of(field) {
                Some(flag) => flags.push_str(flag),
                None => return message.to_owned(),
            },
        }
        flags.push_str(sep);
    }
    format!("{flags} ({head}):{rest}")
}

impl From<keyward_crypto::Error> for CliError {
    fn from(e: keyward_crypto::Error) -> Self {
        CliError::Service(e.into())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use tonic::Code;

    use super::*;
    use crate::Error;

    /// The exit code of each case, as README's "Exit codes" says. Exhaustive over both enums: a new
    /// variant does not compile until it is listed here.
    fn documented(e: &CliError) -> u8 {
        match e {
            CliError::Usage { .. } | CliError::Service(Error::InvalidArgument { .. } | Error::Config(_)) => 64,
            CliError::Rpc { code, .. } => match code {
                Code::InvalidArgument => 64,
                Code::Unavailable => 69,
                Code::Unauthenticated | Code::PermissionDenied => 77,
                _ => 1,
            },
            CliError::Unreachable { .. }
            | CliError::Runtime(_)
            | CliError::Service(Error::Unavailable(_) | Error::Resource { .. } | Error::Custody(_)) => 69,
            CliError::WouldOverwrite(_)
            | CliError::Output(_)
            | CliError::BenchPanicked
            | CliError::Unverified { .. } => 1,
            CliError::StdoutClosed => 0,
            CliError::Service(
                Error::Crypto(_)
                | Error::Io { .. }
                | Error::Kek(_)
                | Error::Seal
                | Error::Database(_)
                | Error::Conflict(_)
                | Error::LeaseLost { .. }
                | Error::NotFound(_)
                | Error::Corrupt(_)
                | Error::Auth0(_)
                | Error::UnknownAtAuth0 { .. }
                | Error::TokenExchange(_)
                | Error::FailedPrecondition(_)
                | Error::Aborted(_)
                | Error::PermissionDenied(_)
                | Error::Overloaded(_)
                | Error::Encode { .. }
                | Error::Reflection(_),
            ) => 1,
        }
    }

    async fn unreachable() -> CliError {
        let endpoint = "http://127.0.0.1:1";
        let source = tonic::transport::Endpoint::from_static(endpoint).connect().await.unwrap_err();
        CliError::Unreachable { endpoint: endpoint.into(), source }
    }

    #[tokio::test]
    async fn every_case_has_its_documented_exit_code() {
        let mut all: Vec<CliError> =
            crate::grpc::status::tests::examples().into_iter().map(CliError::Service).collect();
        all.extend([
            CliError::usage("--seconds", "must be greater than 0"),
            unreachable().await,
            CliError::Runtime(std::io::Error::other("no threads")),
            CliError::WouldOverwrite("/k/private.pem".into()),
            CliError::output(std::io::Error::other("closed")),
            CliError::BenchPanicked,
            CliError::StdoutClosed,
            CliError::Unverified { what: "connection con_1".into() },
        ]);
        let codes = [
            Code::Ok,
            Code::InvalidArgument,
            Code::NotFound,
            Code::Unavailable,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Internal,
        ];
        all.extend(codes.map(|c| CliError::from(tonic::Status::new(c, "m"))));
        let kinds: HashSet<_> = all.iter().map(std::mem::discriminant).collect();
        assert_eq!(kinds.len(), 10, "one example of each command-line case, and the service's");
        for e in &all {
            assert_eq!(e.exit_code(), documented(e), "{e}");
        }
        let code = |c| CliError::from(tonic::Status::new(c, "m")).exit_code();
        assert_eq!(
            [Code::InvalidArgument, Code::Unavailable, Code::Unauthenticated, Code::PermissionDenied, Code::Aborted]
                .map(code),
            [64, 69, 77, 77, 1]
        );
        assert_eq!(CliError::from(Error::arg("--config", "missing")).exit_code(), 64);
    }

    #[tokio::test]
    async fn messages_keep_their_wording() {
        let rpc = CliError::from(tonic::Status::invalid_argument("request_id: too long"));
        assert_eq!(rpc.to_string(), "INVALID_ARGUMENT: --request-id (request_id): too long");
        let at = "http://127.0.0.1:50051";
        assert_eq!(rpc.at(at).to_string(), "INVALID_ARGUMENT: --request-id (request_id): too long");
        let refused = CliError::from(tonic::Status::unauthenticated("the bearer token is not valid")).at(at);
        assert_eq!(refused.to_string(), "UNAUTHENTICATED from http://127.0.0.1:50051: the bearer token is not valid");
        let e = unreachable().await;
        assert!(e.to_string().starts_with("cannot reach keyward at http://127.0.0.1:1: "), "{e}");
        assert_eq!(CliError::usage("--threads", "must be at least 1").to_string(), "--threads: must be at least 1");
    }

    #[test]
    fn invalid_arguments_name_the_flag() {
        let said = |m: &str| CliError::from(tonic::Status::invalid_argument(m)).to_string();
        for (field, flag) in FIELD_FLAGS {
            assert_eq!(
                said(&format!("{field}: is wrong")),
                format!("INVALID_ARGUMENT: {flag} ({field}): is wrong"),
                "{field}"
            );
        }
        assert_eq!(
            said("key_bits: 1024 is not 2048, 3072 or 4096"),
            "INVALID_ARGUMENT: --bits (key_bits): 1024 is not 2048, 3072 or 4096"
        );
        assert_eq!(
            said("client_id, connection_id: set exactly one"),
            "INVALID_ARGUMENT: --client, --connection (client_id, connection_id): set exactly one"
        );
        assert_eq!(said("audience or scope: bad"), "INVALID_ARGUMENT: --audience or --scope (audience or scope): bad");
        assert_eq!(
            said("after_id: must not be negative"),
            "INVALID_ARGUMENT: after_id: must not be negative",
            "no flag"
        );
        assert_eq!(said("tenant dev: unknown"), "INVALID_ARGUMENT: tenant dev: unknown", "not a field head");
        assert_eq!(said("no colon here"), "INVALID_ARGUMENT: no colon here");
        let other = CliError::from(tonic::Status::failed_precondition("key_bits: x")).to_string();
        assert_eq!(other, "FAILED_PRECONDITION: key_bits: x", "INVALID_ARGUMENT only");
    }
}
