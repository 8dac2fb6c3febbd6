//! What keyward tells its operators: logs and spans through `tracing` (stderr, filtered by
//! `KEYWARD_LOG`, and OpenTelemetry OTLP/gRPC when an endpoint is configured), Prometheus
//! metrics, and the admin HTTP port that serves them with the health probes.
//!
//! No span or log field ever holds a key, token or assertion: spans carry method names, tenant
//! and client ids, rotation ids and states, Auth0 operation names and statuses only.

mod in_flight;
pub mod metrics;
pub mod rpc;

pub use in_flight::InFlight;
pub(crate) use in_flight::InFlightGuard;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::Error;

/// The environment variable holding the log and span filter (`info` when unset).
pub const LOG_ENV: &str = "KEYWARD_LOG";

/// Where spans go besides the log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TelemetryConfig {
    /// The OTLP/gRPC collector (`http://collector:4317`); `None` exports nothing.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute.
    pub service_name: String,
}

/// Keeps the exporter alive; dropping it flushes the spans still buffered.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            // The log subscriber is global and outlives this.
            tracing::warn!(error = %e, "spans not flushed to the OTLP collector");
        }
    }
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The log lines' filter: `KEYWARD_LOG`, less the per-RPC spans. Those are for the trace
/// exporter; formatting their fields into every RPC's log context cost ES256 signing about a fifth
/// of its throughput, and with no exporter they are then not created at all. Events inside an RPC
/// are still logged, with the saga-step and Auth0 spans around them.
fn log_filter<S>() -> impl tracing_subscriber::layer::Filter<S> {
    use tracing_subscriber::filter::FilterExt;
    filter().and(tracing_subscriber::filter::filter_fn(|m| !(m.is_span() && m.target() == rpc::SPAN_TARGET)))
}

fn log_layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false)
        .with_filter(log_filter())
}

/// Logs to stderr only (the command-line tools).
pub fn init_logs() {
    let _ = tracing_subscriber::registry().with(log_layer()).try_init();
}

/// Logs to stderr and, when `config` names an endpoint, spans to OTLP. Call inside the Tokio
/// runtime (the gRPC exporter needs it). A second call changes nothing.
pub fn init(config: &TelemetryConfig) -> Result<Telemetry, Error> {
    let Some(endpoint) = &config.otlp_endpoint else {
        init_logs();
        return Ok(Telemetry::default());
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .build()
        .map_err(|e| Error::Config(vec![format!("telemetry.otlp_endpoint: {e}")]))?;
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(config.service_name.clone()).build();
    let provider = SdkTracerProvider::builder().with_resource(resource).with_batch_exporter(exporter).build();
    let tracer = provider.tracer("keyward");
    let otel = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(filter());
    let installed = tracing_subscriber::registry().with(log_layer()).with(otel).try_init();
    if installed.is_err() {
        // Someone (a test harness) installed a subscriber first: keep theirs, export nothing.
        let _ = provider.shutdown();
        return Ok(Telemetry::default());
    }
    Ok(Telemetry { provider: Some(provider) })
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn log_lines_leave_out_the_per_rpc_spans_only() {
        let subscriber = tracing_subscriber::registry().with(log_layer());
        tracing::subscriber::with_default(subscriber, || {
            let rpc = tracing::info_span!(target: rpc::SPAN_TARGET, "rpc", rpc.method = "keyward.v1.Signer/SignJwt");
            assert!(rpc.is_disabled(), "with no exporter the per-RPC span is not created");
            let saga = tracing::info_span!("saga_step", step = "attach");
            assert!(!saga.is_disabled(), "other spans stay in the log context");
            assert!(tracing::enabled!(target: rpc::SPAN_TARGET, tracing::Level::INFO), "events under the target stay");
        });
    }
}
