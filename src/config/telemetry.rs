//! `[telemetry]`: where spans are exported and under which service name; the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_SERVICE_NAME` override the file.

use serde::Deserialize;

use super::source::{Env, Setting};
use crate::telemetry::TelemetryConfig;

const DEFAULT_SERVICE_NAME: &str = "keyward";

const OTLP_ENDPOINT: Setting = Setting::env("telemetry.otlp_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT");
const SERVICE_NAME: Setting = Setting::env("telemetry.service_name", "OTEL_SERVICE_NAME");

#[derive(Debug, Default, Deserialize)]
pub(super) struct TelemetryFile {
    otlp_endpoint: Option<String>,
    service_name: Option<String>,
}

/// Telemetry when nothing is configured: logs only, as `keyward`.
pub(super) fn default() -> TelemetryConfig {
    TelemetryConfig { otlp_endpoint: None, service_name: DEFAULT_SERVICE_NAME.into() }
}

/// Resolves `[telemetry]` with the OpenTelemetry variables.
pub(super) fn resolve(file: Option<TelemetryFile>, env: &Env, errors: &mut Vec<String>) -> TelemetryConfig {
    let t = file.unwrap_or_default();
    let endpoint = OTLP_ENDPOINT.pick(None, env, t.otlp_endpoint.as_deref());
    if let Some(e) = endpoint.text()
        && !(e.starts_with("http://") || e.starts_with("https://"))
    {
        errors.push(format!("{}: {e:?} must start with http:// or https://", endpoint.name()));
    }
    let service_name = SERVICE_NAME.pick(None, env, t.service_name.as_deref()).text().unwrap_or(DEFAULT_SERVICE_NAME);
    TelemetryConfig { otlp_endpoint: endpoint.text().map(str::to_owned), service_name: service_name.to_owned() }
}
