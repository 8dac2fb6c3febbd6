//! A tower layer around the gRPC server: one `rpc` span per call and the RPC counters and
//! latency histogram by method and gRPC code. The code is read from the response headers (a
//! trailers-only error) or from the trailers at the end of the body; a body dropped before its
//! trailers (the caller went away) counts as CANCELLED. It also counts the calls in flight, which
//! the shutdown drain reports.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use tonic::Code;
use tower::{Layer, Service};
use tracing::{Instrument, Span};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

use super::metrics::{RpcLabels, metrics};
use super::{InFlight, InFlightGuard};

/// The canonical name of a gRPC status code, as in the gRPC spec (`PERMISSION_DENIED`).
pub use keyward_proto::code_name as grpc_code_name;

/// How many gRPC status codes there are (OK = 0 to UNAUTHENTICATED = 16).
const CODES: usize = 17;

/// One method's metric series, by gRPC code, each found in the registry on its first call: a
/// call then records into handles it already holds, with no label to build or look up.
#[derive(Debug)]
struct MethodMetrics {
    method: String,
    by_code: [OnceLock<(Counter, Histogram)>; CODES],
}

impl MethodMetrics {
    fn new(method: String) -> Arc<Self> {
        Arc::new(Self { method, by_code: std::array::from_fn(|_| OnceLock::new()) })
    }

    fn record(&self, code: Code, seconds: f64) {
        let Some(slot) = self.by_code.get(code as usize) else { return };
        let (requests, duration) = slot.get_or_init(|| {
            let labels = RpcLabels { method: self.method.clone(), code: grpc_code_name(code) };
            let m = metrics();
            (m.rpc_requests.get_or_create(&labels).clone(), m.rpc_duration.get_or_create(&labels).clone())
        });
        duration.observe(seconds);
        requests.inc();
    }
}

/// The served methods' series, and `unknown`'s for any other path: a caller, with a token or
/// without, cannot add series or span names of its choosing.
#[derive(Debug)]
struct Methods {
    served: HashMap<String, Arc<MethodMetrics>>,
    unknown: Arc<MethodMetrics>,
}

impl Methods {
    fn of(&self, path: &str) -> &Arc<MethodMetrics> {
        path.strip_prefix('/').and_then(|m| self.served.get(m)).unwrap_or(&self.unknown)
    }
}

impl Default for Methods {
    fn default() -> Self {
        Self { served: HashMap::new(), unknown: MethodMetrics::new("unknown".into()) }
    }
}

/// The target of the per-RPC spans (exported over OTLP; left out of the log lines).
pub const SPAN_TARGET: &str = "keyward::rpc";

/// The layer, over the set of RPCs the port serves (`package.Service/Method`).
#[derive(Debug, Clone, Default)]
pub struct RpcLayer {
    methods: Arc<Methods>,
    in_flight: InFlight,
}

impl RpcLayer {
    /// A layer labelling calls of `served` by name and anything else `unknown`.
    pub fn new(served: BTreeSet<String>) -> Self {
        let served = served.into_iter().map(|m| (m.clone(), MethodMetrics::new(m))).collect();
        Self { methods: Arc::new(Methods { served, ..Methods::default() }), in_flight: InFlight::default() }
    }

    /// Counts the calls in flight into `in_flight`.
    pub fn counting(mut self, in_flight: InFlight) -> Self {
        self.in_flight = in_flight;
        self
    }
}

impl<S> Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcService { inner, methods: self.methods.clone(), in_flight: self.in_flight.clone() }
    }
}

/// The service the layer wraps around each route.
#[derive(Debug, Clone)]
pub struct RpcService<S> {
    inner: S,
    methods: Arc<Methods>,
    in_flight: InFlight,
}

impl<S, B, R> Service<http::Request<B>> for RpcService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Body + Send + 'static,
{
    type Response = http::Response<Observed<R>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = self.methods.of(request.uri().path()).clone();
        let span = tracing::info_span!(
            target: SPAN_TARGET,
            "rpc",
            otel.name = %method.method,
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.method = %method.method,
            rpc.grpc.status_code = tracing::field::Empty,
        );
        let started = Instant::now();
        let guard = self.in_flight.enter();
        let future = self.inner.call(request).instrument(span.clone());
        Box::pin(async move {
            let response = future.await?;
            let early = response.headers().get("grpc-status").map(code_of);
            let (parts, body) = response.into_parts();
            let mut observed =
                Observed { inner: Box::pin(body), pending: Some(Pending { method, started, span }), _in_flight: guard };
            if let Some(code) = early {
                observed.finish(code);
            }
            Ok(http::Response::from_parts(parts, observed))
        })
    }
}

struct Pending {
    method: Arc<MethodMetrics>,
    started: Instant,
    span: Span,
}

/// A response body that records the call when its gRPC status is known.
pub struct Observed<B> {
    inner: Pin<Box<B>>,
    pending: Option<Pending>,
    /// Held until the body is dropped: the call is in flight until then.
    _in_flight: InFlightGuard,
}

impl<B> std::fmt::Debug for Observed<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed").finish_non_exhaustive()
    }
}

impl<B> Observed<B> {
    fn finish(&mut self, code: Code) {
        if let Some(p) = self.pending.take() {
            p.span.record("rpc.grpc.status_code", grpc_code_name(code));
            p.method.record(code, p.started.elapsed().as_secs_f64());
        }
    }
}

impl<B> Drop for Observed<B> {
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

impl<B: Body> Body for Observed<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.get_mut();
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(|t| t.get("grpc-status")) {
                    this.finish(code_of(code));
                }
            }
            Poll::Ready(Some(Err(_))) => this.finish(Code::Internal),
            Poll::Ready(None) => this.finish(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn code_of(value: &http::HeaderValue) -> Code {
    value.to_str().ok().and_then(|s| s.parse::<i32>().ok()).map_or(Code::Unknown, Code::from_i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_in_flight_until_its_guard_drops() {
        let in_flight = InFlight::default();
        let counted = in_flight.clone();
        let (a, b) = (in_flight.enter(), in_flight.enter());
        assert_eq!(counted.get(), 2, "clones count together");
        drop(a);
        assert_eq!(counted.get(), 1);
        drop(b);
        assert_eq!(counted.get(), 0);
    }

    #[test]
    fn only_served_methods_are_labels() {
        let layer = RpcLayer::new(["keyward.v1.Signer/SignJwt".to_owned()].into());
        let label = |path: &str| layer.methods.of(path).method.clone();
        assert_eq!(label("/keyward.v1.Signer/SignJwt"), "keyward.v1.Signer/SignJwt");
        for hostile in ["/keyward.v1.Signer/Nope", "/x", "", "/keyward.v1.Signer/SignJwt/../x", &"a".repeat(8192)] {
            assert_eq!(label(hostile), "unknown", "{hostile:.40}");
        }
    }
}
