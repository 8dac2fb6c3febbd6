//! Calling a replica: a channel, a client deadline, how an RPC ended, and which failures are a
//! dying replica's (retry the same request).

use std::time::Duration;

use keyward::grpc::proto::{self, key_rotation_client::KeyRotationClient};
use tonic::Code;
use tonic::transport::Channel;

use super::{authed, code_name};

pub async fn connect(addr: &str) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(format!("http://{addr}")).unwrap().connect_timeout(Duration::from_secs(2)).connect().await
}

/// How one RPC ended.
#[derive(Debug)]
pub enum Outcome<T> {
    Ok(T),
    Status(tonic::Status),
    /// The replica could not be reached at all.
    Connect(String),
    /// The client's deadline fired: the RPC neither succeeded nor failed in time.
    Deadline,
}

impl<T> Outcome<T> {
    /// The outcome as the reports count it (`OK`, a status code, `CONNECT`, `DEADLINE`).
    pub fn label(&self) -> String {
        match self {
            Outcome::Ok(_) => "OK".into(),
            Outcome::Status(s) => code_name(s.code()),
            Outcome::Connect(_) => "CONNECT".into(),
            Outcome::Deadline => "DEADLINE".into(),
        }
    }

    /// What went wrong, for a failure message.
    pub fn detail(&self) -> String {
        match self {
            Outcome::Ok(_) => "OK".into(),
            Outcome::Status(s) => format!("{:?}: {}", s.code(), s.message()),
            Outcome::Connect(e) => format!("cannot connect: {e}"),
            Outcome::Deadline => "the client's deadline fired".into(),
        }
    }

    /// The same outcome without the answer.
    pub fn unit(self) -> Outcome<()> {
        match self {
            Outcome::Ok(_) => Outcome::Ok(()),
            Outcome::Status(s) => Outcome::Status(s),
            Outcome::Connect(e) => Outcome::Connect(e),
            Outcome::Deadline => Outcome::Deadline,
        }
    }
}

/// Sends an RPC with a client deadline (as grpc-timeout, also enforced here a second later).
pub async fn with_deadline<T, M>(
    mut req: tonic::Request<M>,
    deadline: Duration,
    call: impl AsyncFnOnce(tonic::Request<M>) -> Result<tonic::Response<T>, tonic::Status>,
) -> Outcome<T> {
    req.set_timeout(deadline);
    match tokio::time::timeout(deadline + Duration::from_secs(1), call(req)).await {
        Err(_) => Outcome::Deadline,
        Ok(Ok(r)) => Outcome::Ok(r.into_inner()),
        Ok(Err(s)) if s.code() == Code::DeadlineExceeded => Outcome::Deadline,
        Ok(Err(s)) if s.code() == Code::Cancelled && s.message().contains("Timeout") => Outcome::Deadline,
        Ok(Err(s)) => Outcome::Status(s),
    }
}

/// RotateClientCredential with a client deadline (sent as grpc-timeout, and enforced here).
pub async fn rotate_call(
    addr: &str,
    client: &str,
    request_id: &str,
    deadline: Duration,
) -> Outcome<proto::RotateClientCredentialResponse> {
    let channel = match connect(addr).await {
        Ok(c) => c,
        Err(e) => return Outcome::Connect(format!("{e:?}")),
    };
    let mut rpc = KeyRotationClient::new(channel);
    let req = authed(proto::RotateClientCredentialRequest {
        tenant: "dev".into(),
        client_id: client.into(),
        request_id: request_id.into(),
        ..Default::default()
    });
    with_deadline(req, deadline, async |r| rpc.rotate_client_credential(r).await).await
}

/// Whether a failed RPC is what a dying replica, a lease held elsewhere or a paused rotation
/// looks like (retry the same request_id).
pub fn transient(s: &tonic::Status) -> bool {
    match s.code() {
        Code::Aborted | Code::Unavailable => true,
        // A connection cut mid-call by a killed replica (h2/hyper errors carry no gRPC status).
        Code::Unknown | Code::Internal | Code::Cancelled => {
            let m = s.message().to_ascii_lowercase();
            m.contains("transport") || m.contains("connection") || m.contains("h2 protocol") || m.contains("stream")
        }
        _ => false,
    }
}
