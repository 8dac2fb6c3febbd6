//! The connections of keyward's ports: held under the port's connection cap until they close,
//! and, on the gRPC port, wrapped so that a unary response leaves in one write.
//!
//! h2 copies a DATA payload into its write buffer only below a threshold (256 bytes when the
//! transport says it supports vectored writes, 1 KiB when it does not). Above it the payload is
//! chained as its own iovec, and h2 flushes before it buffers the next frame: a keyward response
//! (a 300 to 800 byte JWS) then went out as one `writev` for HEADERS and DATA and a second one
//! for the trailers, which doubled the syscalls per call and woke the caller twice. Declaring no
//! vectored writes lets h2 copy those payloads, so HEADERS, DATA and trailers share one write.
//! (With TLS the TLS stream is h2's transport and this wrapper sits beneath it, unseen.)
//!
//! A connection must also open its protocol in time: until its first [`HANDSHAKE_BYTES`] have
//! arrived (the length of the HTTP/2 client preface; a TLS ClientHello is longer), reads fail
//! once the handshake deadline passes, and the server drops the connection and frees its slot.
//! Without it a socket that sends nothing, or half a preface, held a slot for as long as the
//! client liked (HTTP/2 keepalive starts after the preface).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// A TCP connection that tells h2 to coalesce small frames into one write, holding its place
/// under the port's connection cap until it closes.
#[derive(Debug)]
pub struct Coalescing {
    stream: TcpStream,
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Until the handshake's first bytes are in: its deadline and how many have arrived.
    handshake: Option<(Pin<Box<tokio::time::Sleep>>, usize)>,
}

/// How many bytes open a connection's protocol: the HTTP/2 client preface.
pub const HANDSHAKE_BYTES: usize = 24;

impl Coalescing {
    /// `stream`, holding `slot` under the port's connection cap until it closes.
    pub fn new(stream: TcpStream, slot: Option<tokio::sync::OwnedSemaphorePermit>) -> Self {
        Self { stream, _slot: slot, handshake: None }
    }

    /// Closes the connection (its reads fail) if its first [`HANDSHAKE_BYTES`] have not arrived
    /// within `timeout`.
    pub fn with_handshake_deadline(mut self, timeout: Duration) -> Self {
        self.handshake = Some((Box::pin(tokio::time::sleep(timeout)), 0));
        self
    }
}

impl Connected for Coalescing {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Coalescing {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.stream).poll_read(cx, buf);
        let this = &mut *self;
        if let Some((deadline, seen)) = &mut this.handshake {
            *seen += buf.filled().len() - before;
            if *seen >= HANDSHAKE_BYTES {
                this.handshake = None;
            } else if read.is_pending() && deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "handshake not received in time")));
            }
        }
        read
    }
}

impl AsyncWrite for Coalescing {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}
