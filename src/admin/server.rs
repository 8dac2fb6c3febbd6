//! The admin port's HTTP/1.1 server: at most `max_connections` open at once, a deadline on
//! every request's headers, and a bounded graceful stop. A client that sends its headers a byte
//! at a time, or connects and sends nothing, is closed at the deadline instead of holding one of
//! the port's connections (and so the kubelet's probes) for as long as it likes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// The port's listener: at most `slots` connections open at once; past it the next one waits in
/// the listen queue until one closes.
struct Capped {
    listener: TcpListener,
    slots: Arc<Semaphore>,
}

impl axum::serve::Listener for Capped {
    type Io = crate::net::Coalescing;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed, so acquiring only waits.
        let slot = self.slots.clone().acquire_owned().await.ok();
        let (stream, addr) = axum::serve::Listener::accept(&mut self.listener).await;
        (crate::net::Coalescing::new(stream, slot), addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// How the port admits clients.
#[derive(Debug, Clone, Copy)]
pub(super) struct Admission {
    /// Connections open at once.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, counted from the connection's
    /// start or the end of its previous response (so an idle keep-alive connection closes too).
    pub header_read_timeout: Duration,
    /// How long a stop waits for requests in service.
    pub stop_grace: Duration,
}

/// Serves `app` on `listener` until `shutdown`, then lets requests in service finish (at most
/// `stop_grace`) and closes the rest.
///
/// HTTP/1.1 only: Prometheus, the kubelet and curl speak it, and neither an HTTP/2 connection nor
/// the wait for its preface has a header deadline.
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    admission: Admission,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut listener = Capped { listener, slots: Arc::new(Semaphore::new(admission.max_connections)) };
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(admission.header_read_timeout);
    let builder = Arc::new(builder);
    let (closing, _) = watch::channel(());
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (io, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
        };
        while connections.try_join_next().is_some() {}
        let (builder, service, mut closing) =
            (builder.clone(), TowerToHyperService::new(app.clone()), closing.subscribe());
        connections.spawn(async move {
            let connection = builder.serve_connection(TokioIo::new(io), service);
            tokio::pin!(connection);
            // Errors (a client gone, a header deadline missed) only end this connection.
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = closing.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    closing.send_replace(());
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(admission.stop_grace, drained).await.is_err() {
        tracing::debug!("admin port: connections still open at stop were closed");
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    async fn healthz(addr: std::net::SocketAddr) -> String {
        let mut probe = TcpStream::connect(addr).await.unwrap();
        probe.write_all(b"GET /healthz HTTP/1.1\r\nhost: keyward\r\nconnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        probe.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn a_client_stalled_in_its_headers_is_dropped_while_the_port_answers() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/healthz", get(|| async { "ok\n" }));
        let admission = Admission {
            max_connections: 8,
            header_read_timeout: Duration::from_millis(300),
            stop_grace: Duration::from_secs(1),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app, admission, async {
            let _ = stopped.await;
        }));

        // A partial request line, then nothing; and a connection that sends nothing at all.
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /hea").await.unwrap();
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let answer = healthz(addr).await;
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok\n"), "{answer}");

        // Both are closed by the server (end of stream, or a reset) within a generous bound.
        for (what, stream) in [("partial request line", &mut slow), ("silent", &mut silent)] {
            let mut buf = [0u8; 64];
            let read = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("{what}: still connected after 20 s"));
            assert!(matches!(read, Ok(0) | Err(_)), "{what}: {read:?}");
        }
        assert!(healthz(addr).await.starts_with("HTTP/1.1 200"));

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server).await.expect("the port stops").unwrap();
    }
}
