//! keyward's gRPC contract, package `keyward.v1` (`proto/keyward/v1/` at the workspace root): the
//! generated messages, enums, clients and servers, the encoded descriptor set for server
//! reflection, and the few conventions a client shares with the server (where `keyward dev`
//! listens and keeps its token, the names of gRPC status codes).

#[allow(missing_docs, unused_qualifications, clippy::all, clippy::pedantic)]
mod generated {
    tonic::include_proto!("keyward.v1");
}

pub use generated::*;

/// The encoded file descriptor set of `keyward.v1`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/keyward_descriptor.bin"));

/// The endpoint clients use unless told otherwise (what `keyward dev` listens on).
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50051";

/// The directory `keyward dev` keeps its state in unless told otherwise; clients given no token
/// read the bearer token from its `token` file.
pub const DEV_DIR: &str = ".keyward-dev";

/// The canonical name of a gRPC status code, as in the gRPC spec (`PERMISSION_DENIED`).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use prost::Message as _;

    #[test]
    fn the_descriptor_set_holds_every_service() {
        let fds = prost_types::FileDescriptorSet::decode(super::FILE_DESCRIPTOR_SET).unwrap();
        let services: Vec<String> = fds
            .file
            .iter()
            .filter(|f| f.package() == "keyward.v1")
            .flat_map(|f| f.service.iter().map(|s| format!("keyward.v1.{}", s.name())))
            .collect();
        for service in [
            super::key_rotation_server::SERVICE_NAME,
            super::signer_server::SERVICE_NAME,
            super::tokens_server::SERVICE_NAME,
            super::audit_server::SERVICE_NAME,
        ] {
            assert!(services.iter().any(|s| s == service), "{service} missing from {services:?}");
        }
    }

    #[test]
    fn every_code_has_its_own_name() {
        let names: std::collections::BTreeSet<&str> =
            (0..=16).map(|i| super::code_name(tonic::Code::from_i32(i))).collect();
        assert_eq!(names.len(), 17);
    }
}
