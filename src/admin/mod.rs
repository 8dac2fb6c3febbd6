//! The admin HTTP port, apart from gRPC: `/metrics` (Prometheus text), `/healthz` (the process
//! serves) and `/readyz` (the store answers and the signer's keys are loaded; 503 otherwise).
//! It needs no credentials and exposes no secret, so it belongs on a network only the
//! monitoring system reaches.

mod server;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use server::Admission;

use crate::Error;
use crate::rotation::Engine;
use crate::schedule;
use crate::signing::Signing;
use crate::store::{KeyState, RotationState};
use crate::telemetry::metrics::{ClientLabels, StateLabel, TargetLabels, metrics};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The longest an admin request may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may take to send a request's headers: Prometheus and the kubelet send
/// theirs at once; a client trickling them in is closed.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What the admin port reports on: the signer (readiness) and the rotation engine (stored
/// rotations and policy status).
#[derive(Debug, Clone)]
pub struct Parts {
    /// The rotation engine.
    pub engine: Arc<Engine>,
    /// The signer.
    pub signing: Arc<Signing>,
}

/// Serves the admin port on `listener` until `shutdown`, with at most `max_connections` open
/// and a deadline on every request's headers.
pub async fn serve(
    listener: TcpListener,
    parts: Parts,
    max_connections: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .layer(axum::middleware::from_fn(|request, next: axum::middleware::Next| async move {
            match tokio::time::timeout(ADMIN_TIMEOUT, next.run(request)).await {
                Ok(response) => response,
                Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
            }
        }))
        .with_state(parts);
    let admission = Admission { max_connections, header_read_timeout: HEADER_READ_TIMEOUT, stop_grace: ADMIN_TIMEOUT };
    server::serve(listener, app, admission, shutdown).await;
    Ok(())
}

async fn ready(State(parts): State<Parts>) -> impl IntoResponse {
    match parts.signing.readiness().await {
        Ok(()) => {
            metrics().ready.set(1);
            (StatusCode::OK, "ready\n".to_owned())
        }
        Err(why) => {
            metrics().ready.set(0);
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n"))
        }
    }
}

async fn scrape(State(parts): State<Parts>) -> impl IntoResponse {
    metrics().ready.set(i64::from(parts.signing.readiness().await.is_ok()));
    if let Err(e) = observe_store(&parts.engine).await {
        tracing::warn!(error = %e, "metrics: stored state not observed");
    }
    ([(header::CONTENT_TYPE, OPENMETRICS)], metrics().encode())
}

/// Refreshes the gauges that describe stored state: rotations per state, the oldest open one,
/// key ages and scheduled rotations.
async fn observe_store(engine: &Engine) -> Result<(), Error> {
    let store = engine.store();
    let now = engine.clock().now();
    let m = metrics();

    let mut open = store.open_rotations().await?;
    open.extend(store.rotations_in_state(RotationState::Active).await?);
    open.extend(store.rotations_in_state(RotationState::Retired).await?);
    m.rotations_in_state.clear();
    for state in RotationState::ALL.iter().filter(|s| !matches!(s, RotationState::Completed | RotationState::Failed)) {
        let n = open.iter().filter(|r| r.state == *state).count();
        m.rotations_in_state
            .get_or_create(&StateLabel { state: state.as_str().to_ascii_uppercase() })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    let oldest = open
        .iter()
        .filter(|r| !matches!(r.state, RotationState::Active | RotationState::Retired))
        .map(|r| r.updated_at)
        .min();
    m.rotation_oldest_open.set(oldest.map_or(0.0, |t| seconds(now.millis_since(t))));

    m.key_age.clear();
    let active = store.keys_in_state(KeyState::Active).await?;
    // The gauge is labelled by client: it shows the private_key_jwt key (the one policies
    // and alerts are about), not a JAR key's.
    for key in active.iter().filter(|k| k.method == crate::store::CredentialMethod::PrivateKeyJwt) {
        let labels = ClientLabels { tenant: key.tenant.clone(), client: key.client_id.clone() };
        m.key_age.get_or_create(&labels).set(seconds(now.millis_since(key.created_at)));
    }

    m.rotation_due.clear();
    m.rotation_overdue.clear();
    for status in schedule::statuses_given_keys(engine, now, &active).await? {
        let labels = TargetLabels { tenant: status.tenant.clone(), target: status.target.clone() };
        if let Some(due) = status.due_at {
            m.rotation_due.get_or_create(&labels).set(seconds(due.millis_since(now)));
        }
        m.rotation_overdue.get_or_create(&labels).set(i64::from(status.overdue));
    }
    Ok(())
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
