//! Unary gRPC calls straight over the `h2` crate, for the measured callers.
//!
//! Written by hand because the load generator shares the machine's cores with the server it
//! measures, so its own cost per call is part of every figure. tonic's client goes through hyper,
//! which hands a request's message to h2 from a second task once the stream has opened: each call
//! then leaves as two writes (HEADERS, then DATA), with a buffer task and a body task in between.
//! Here the request's HEADERS and its one DATA frame are queued together and leave in one write.
//! Statuses are read with tonic's own parser ([`Status::from_header_map`]); the rotation side
//! task, which is not measured, still uses tonic's client.

use bytes::{BufMut, Bytes, BytesMut};
use h2::client::SendRequest;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, TE};
use http::{Method, Request, StatusCode, Uri};
use prost::Message;
use tokio::net::TcpStream;
use tonic::{Code, Status};

use crate::error::Error;

/// The largest response message accepted (tonic's default decoding limit).
const MAX_MESSAGE: usize = 4 * 1024 * 1024;
/// Flow-control windows large enough that responses never wait for a WINDOW_UPDATE.
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 1 << 24;

/// One HTTP/2 connection to keyward; clones share it.
#[derive(Debug, Clone)]
pub struct Connection {
    send: SendRequest<Bytes>,
    base: String,
}

/// Opens an HTTP/2 connection (prior knowledge, TCP_NODELAY) to `endpoint` (`http://host:port`).
pub async fn connect(endpoint: &str, timeout: std::time::Duration) -> Result<Connection, Error> {
    let uri: Uri = endpoint.parse().map_err(|e| Error::usage("--endpoint", format!("{endpoint:?}: {e}")))?;
    let authority =
        uri.authority().ok_or_else(|| Error::usage("--endpoint", format!("{endpoint:?} has no host")))?.clone();
    let port = authority.port_u16().unwrap_or(80);
    let failed = |cause: String| Error::Connect { endpoint: endpoint.to_owned(), cause };
    let tcp = tokio::time::timeout(timeout, TcpStream::connect((authority.host(), port)))
        .await
        .map_err(|_| failed("connect timed out".into()))?
        .map_err(|e| failed(e.to_string()))?;
    tcp.set_nodelay(true).map_err(|e| failed(e.to_string()))?;
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .handshake::<_, Bytes>(tcp)
        .await
        .map_err(|e| failed(e.to_string()))?;
    tokio::spawn(async move {
        // Ends when the server goes away; the calls in flight then fail with UNAVAILABLE.
        let _ = connection.await;
    });
    Ok(Connection { send, base: format!("http://{authority}") })
}

/// A prepared RPC: its path and the headers every call sends.
#[derive(Debug, Clone)]
pub struct Prepared {
    uri: Uri,
    headers: HeaderMap,
}

impl Connection {
    /// Prepares calls of `path` (`/package.Service/Method`) with `authorization` and a
    /// `grpc-timeout` of `timeout`.
    pub fn method(
        &self,
        path: &str,
        authorization: &HeaderValue,
        timeout: std::time::Duration,
    ) -> Result<Prepared, Error> {
        let uri =
            format!("{}{path}", self.base).parse().map_err(|e| Error::Internal(format!("the URI of {path}: {e}")))?;
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(TE, HeaderValue::from_static("trailers"));
        headers.insert(http::header::AUTHORIZATION, authorization.clone());
        // gRPC allows at most 8 digits.
        let millis = timeout.as_millis().clamp(1, 99_999_999);
        let timeout =
            HeaderValue::try_from(format!("{millis}m")).map_err(|e| Error::Internal(format!("grpc-timeout: {e}")))?;
        headers.insert(HeaderName::from_static("grpc-timeout"), timeout);
        Ok(Prepared { uri, headers })
    }

    /// One unary call of `method` with `request`.
    pub async fn unary<Req: Message, Resp: Message + Default>(
        &mut self,
        method: &Prepared,
        request: &Req,
    ) -> Result<Resp, Status> {
        std::future::poll_fn(|cx| self.send.poll_ready(cx)).await.map_err(transport)?;
        let mut head = Request::new(());
        *head.method_mut() = Method::POST;
        *head.uri_mut() = method.uri.clone();
        *head.headers_mut() = method.headers.clone();
        let (response, mut body_tx) = self.send.send_request(head, false).map_err(transport)?;
        body_tx.send_data(frame(request), true).map_err(transport)?;

        let response = response.await.map_err(transport)?;
        if response.status() != StatusCode::OK {
            return Err(http_status(response.status()));
        }
        if let Some(status) = Status::from_header_map(response.headers()) {
            // Trailers-only: an error (or a malformed OK without a message).
            return Err(if status.code() == Code::Ok { Status::internal("OK without a message") } else { status });
        }
        let mut body = response.into_body();
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(transport)?;
            let _ = body.flow_control().release_capacity(chunk.len());
            if buf.len() + chunk.len() > MAX_MESSAGE + 5 {
                return Err(Status::resource_exhausted("response message too large"));
            }
            buf.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.map_err(transport)?.unwrap_or_default();
        match Status::from_header_map(&trailers) {
            Some(status) if status.code() == Code::Ok => decode(&buf),
            Some(status) => Err(status),
            None => Err(Status::internal("the response has no grpc-status")),
        }
    }
}

/// A gRPC length-prefixed message (uncompressed).
fn frame<M: Message>(message: &M) -> Bytes {
    let len = message.encoded_len();
    let mut buf = BytesMut::with_capacity(5 + len);
    buf.put_u8(0);
    buf.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    // Infallible: the buffer was sized for the message.
    let _ = message.encode(&mut buf);
    buf.freeze()
}

/// The one message of a unary response body.
fn decode<M: Message + Default>(buf: &[u8]) -> Result<M, Status> {
    let Some((&[flag, a, b, c, d], rest)) = buf.split_first_chunk::<5>() else {
        return Err(Status::internal("the response has no message"));
    };
    if flag != 0 {
        return Err(Status::internal("compressed responses are not accepted"));
    }
    let len = u32::from_be_bytes([a, b, c, d]) as usize;
    if rest.len() != len {
        return Err(Status::internal(format!("the response's message is {} bytes; its prefix says {len}", rest.len())));
    }
    M::decode(rest).map_err(|e| Status::internal(format!("decoding the response: {e}")))
}

/// How the transport failing reads as a status: the server refused or went away.
fn transport(e: h2::Error) -> Status {
    if e.reason() == Some(h2::Reason::CANCEL) {
        Status::cancelled(format!("HTTP/2: {e}"))
    } else {
        Status::unavailable(format!("HTTP/2: {e}"))
    }
}

/// A non-200 HTTP status as gRPC maps it (gRPC's "HTTP to gRPC status code mapping").
fn http_status(status: StatusCode) -> Status {
    let code = match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502..=504 => Code::Unavailable,
        _ => Code::Unknown,
    };
    Status::new(code, format!("HTTP status {status}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_bad_frames_are_refused() {
        let msg = prost_types::Duration { seconds: 7, nanos: 9 };
        let framed = frame(&msg);
        assert_eq!(framed[0], 0);
        assert_eq!(u32::from_be_bytes(framed[1..5].try_into().unwrap()) as usize, framed.len() - 5);
        assert_eq!(decode::<prost_types::Duration>(&framed).unwrap(), msg);
        assert_eq!(decode::<prost_types::Duration>(&framed[..3]).unwrap_err().code(), Code::Internal);
        assert_eq!(decode::<prost_types::Duration>(&framed[..framed.len() - 1]).unwrap_err().code(), Code::Internal);
        let mut compressed = framed.to_vec();
        compressed[0] = 1;
        assert_eq!(decode::<prost_types::Duration>(&compressed).unwrap_err().code(), Code::Internal);
    }

    #[test]
    fn http_errors_map_as_grpc_specifies() {
        assert_eq!(http_status(StatusCode::FORBIDDEN).code(), Code::PermissionDenied);
        assert_eq!(http_status(StatusCode::SERVICE_UNAVAILABLE).code(), Code::Unavailable);
        assert_eq!(http_status(StatusCode::IM_A_TEAPOT).code(), Code::Unknown);
    }
}
