//! What operators see of a running keyward (the real binary): the admin port's metrics and
//! probes, scraped by a real Prometheus; readiness when the store goes away; a graceful drain on
//! SIGTERM; and spans exported over OTLP to a collector, grepped with the logs for every secret
//! the run handled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyward::grpc::proto::{self, signer_client::SignerClient, tokens_client::TokensClient};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use serde_json::{Value, json};
use support::{Keyward, eventually, start, tempdir};
use tonic::transport::Channel;

/// `keyward dev` in `dir` on ephemeral ports, with `env`.
fn dev(dir: &Path, env: &[(&str, &str)]) -> Keyward {
    start(&["dev", "--dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"], env)
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap().trim().to_owned()
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of the sample `series` (name and labels exactly as exposed).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
}

fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

async fn channel(addr: &str) -> Channel {
    Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap()
}

/// Rotates demo-app, signs an assertion and fetches an access token; returns the assertion and
/// the access token (secrets the logs must not hold).
async fn exercise(k: &Keyward, token: &str) -> (String, String) {
    let mut rotation = k.client(token).await;
    let req = proto::RotateClientCredentialRequest {
        tenant: "dev".into(),
        client_id: "demo-app".into(),
        ..Default::default()
    };
    rotation.rotate_client_credential(req).await.unwrap();
    let mut signer = SignerClient::new(channel(&k.addr).await);
    let req =
        proto::SignClientAssertionRequest { tenant: "dev".into(), client_id: "demo-app".into(), ..Default::default() };
    let assertion = signer.sign_client_assertion(authed(req, token)).await.unwrap().into_inner().assertion;
    let mut tokens = TokensClient::new(channel(&k.addr).await);
    let req = proto::GetAccessTokenRequest {
        tenant: "dev".into(),
        client_id: "demo-app".into(),
        audience: "https://api.demo.local/".into(),
        scope: String::new(),
    };
    let access = tokens.get_access_token(authed(req, token)).await.unwrap().into_inner().access_token;
    (assertion, access)
}

/// A Prometheus server on loopback, stopped on drop.
struct Prometheus(Child, String);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn prometheus(dir: &Path, target: &str) -> Option<Prometheus> {
    if Command::new("prometheus").arg("--version").output().is_err() {
        eprintln!("SKIPPED: the `prometheus` binary is not installed (Debian package prometheus); not scraped");
        return None;
    }
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: keyward\n    static_configs:\n      - targets: ['{target}']\n"),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
        .arg(format!("--web.listen-address={listen}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Some(Prometheus(child, listen))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_port_serves_metrics_and_probes_that_prometheus_scrapes() {
    let (_keep, dir) = tempdir();
    let k = dev(&dir, &[]);
    let admin = read(&dir, "admin-addr");
    let token = read(&dir, "token");
    assert_eq!(get(&format!("http://{admin}/healthz")).await, (200, "ok\n".into()));
    assert_eq!(get(&format!("http://{admin}/readyz")).await, (200, "ready\n".into()));

    exercise(&k, &token).await;
    let mut denied = SignerClient::new(channel(&k.addr).await);
    let req = proto::GetJwksRequest { tenant: "dev".into(), client_id: "demo-app".into() };
    let status = denied.get_jwks(authed(req, "not-the-token")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    let response = reqwest::get(format!("http://{admin}/metrics")).await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let m = response.text().await.unwrap();
    let rpc = |method: &str, code: &str| {
        sample(&m, &format!("keyward_rpc_requests_total{{method=\"keyward.v1.{method}\",code=\"{code}\"}}"))
    };
    assert_eq!(rpc("KeyRotation/RotateClientCredential", "OK"), Some(1.0), "{m}");
    assert_eq!(rpc("Signer/SignClientAssertion", "OK"), Some(1.0), "{m}");
    assert_eq!(rpc("Tokens/GetAccessToken", "OK"), Some(1.0), "{m}");
    assert_eq!(rpc("Signer/GetJwks", "UNAUTHENTICATED"), Some(1.0), "{m}");
    let count = "keyward_rpc_duration_seconds_count{method=\"keyward.v1.Signer/SignClientAssertion\",code=\"OK\"}";
    assert_eq!(sample(&m, count), Some(1.0), "{m}");
    // One signature for the assertion, one for the token exchange's own assertion.
    assert_eq!(sample(&m, "keyward_signatures_total{algorithm=\"RS256\"}"), Some(2.0), "{m}");
    assert_eq!(sample(&m, "keyward_token_cache_lookups_total{result=\"miss\"}"), Some(1.0), "{m}");
    assert_eq!(sample(&m, "keyward_rotations_total{kind=\"client\",outcome=\"active\"}"), Some(1.0), "{m}");
    assert_eq!(sample(&m, "keyward_ready"), Some(1.0), "{m}");
    assert!(sample(&m, "keyward_key_age_seconds{tenant=\"dev\",client=\"demo-app\"}").is_some(), "{m}");
    assert_eq!(sample(&m, "keyward_rotations_in_state{state=\"PLANNED\"}"), Some(0.0), "{m}");

    // The Auth0 call counts agree with the emulator's own request log.
    let emulator = read(&dir, "emulator-url");
    let log = support::emulator_state(&emulator).await["requests"].as_array().unwrap().clone();
    let creates = log
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.ends_with("/credentials")))
        .count();
    let series = "keyward_auth0_requests_total{tenant=\"dev\",endpoint=\"create_credential\",status=\"201\"}";
    assert_eq!(sample(&m, series), Some(creates as f64), "{m}");
    assert!(sample(&m, "keyward_auth0_ratelimit_remaining{tenant=\"dev\"}").is_some(), "{m}");

    // A real Prometheus scrapes the port and answers a query about it.
    let Some(prom) = prometheus(&dir, &admin) else { return };
    let query = format!("http://{}/api/v1/query?query=keyward_rotations_total{{outcome=%22active%22}}", prom.1);
    let value = eventually("Prometheus to scrape keyward", || async {
        let body: Value = reqwest::get(&query).await.ok()?.json().await.ok()?;
        body["data"]["result"][0]["value"][1].as_str().map(str::to_owned)
    })
    .await;
    assert_eq!(value, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_rpcs_and_reports_not_ready_meanwhile() {
    let (_keep, dir) = tempdir();
    let mut k = dev(&dir, &[]);
    let (admin, token, emulator) = (read(&dir, "admin-addr"), read(&dir, "token"), read(&dir, "emulator-url"));
    // Auth0 takes 5 s to create the credential: the rotation is in flight when SIGTERM comes.
    let fault = json!({"method": "POST", "path_prefix": "/api/v2/clients/demo-app/credentials", "times": 1,
                       "action": {"kind": "delay", "delay_ms": 5000}});
    let r = reqwest::Client::new().post(format!("{emulator}/__emulator/faults")).json(&fault).send().await.unwrap();
    assert!(r.status().is_success());
    let mut client = k.client(&token).await;
    let rotation = tokio::spawn(async move {
        let req = proto::RotateClientCredentialRequest {
            tenant: "dev".into(),
            client_id: "demo-app".into(),
            ..Default::default()
        };
        client.rotate_client_credential(req).await
    });
    // SLOT_FREED is stored just before the (delayed) credential request.
    eventually("the rotation to wait on Auth0", || async {
        let metrics = get(&format!("http://{admin}/metrics")).await.1;
        (sample(&metrics, "keyward_rotations_in_state{state=\"SLOT_FREED\"}") == Some(1.0)).then_some(())
    })
    .await;
    k.terminate();
    let (code, body) = eventually("/readyz to report the drain", || async {
        let (code, body) = get(&format!("http://{admin}/readyz")).await;
        (code == 503).then_some((code, body))
    })
    .await;
    assert!(body.contains("shutting down"), "{code} {body}");
    let done = rotation.await.unwrap().expect("the in-flight rotation completes during the drain");
    assert_eq!(done.into_inner().rotation.unwrap().state(), proto::RotationState::Completed);
    let (exit, output) = k.wait_exit("drain", Duration::from_secs(30));
    assert_eq!(exit, Some(0), "{output:#?}");
    assert!(output.iter().any(|l| l.contains("shutting down")), "{output:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_while_the_store_is_unreachable() {
    let Some(url) = support::pg_schema_url().await else { return };
    let (_keep, dir) = tempdir();
    let (emu, _tenant) = support::dev_tenant(support::SEED_JSON, &["demo-app"], &[]).await;
    let token = "kw-ops-token";
    let kek = dir.join("kek");
    std::fs::write(&kek, format!("{}\n", keyward::seal::Kek::generate(&mut support::rng()).to_text().as_str()))
        .unwrap();
    let config = dir.join("keyward.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
store = "{url}"
[kek]
file = "{}"
[auth]
bearer_token_sha256 = ["{}"]
[tenants.dev]
domain = "{}"
base_url = "{}"
management_client_id = "keyward-management"
management_client_secret = "dev-management-secret-change-me"
clients = ["demo-app"]
"#,
            kek.display(),
            support::sha256_hex(token),
            support::DOMAIN,
            emu.base_url()
        ),
    )
    .unwrap();
    let k = start(&["serve", "--config", config.to_str().unwrap()], &[("KEYWARD_REPLICA_ID", "ops-test")]);
    let admin = k.admin_addr().expect("serve names its admin port");
    assert_eq!(get(&format!("http://{admin}/readyz")).await.0, 200);
    // The store goes away (its schema dropped): not ready, said plainly; still alive.
    let schema = url.split("search_path%3D").nth(1).unwrap().to_owned();
    let base = std::env::var("KEYWARD_TEST_DATABASE_URL").unwrap();
    let pool = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&pool).await.unwrap();
    let (code, body) = get(&format!("http://{admin}/readyz")).await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("store"), "{body}");
    assert_eq!(get(&format!("http://{admin}/healthz")).await.0, 200);
    let metrics = get(&format!("http://{admin}/metrics")).await.1;
    assert_eq!(sample(&metrics, "keyward_ready"), Some(0.0), "{metrics}");
    emu.shutdown().await;
}

/// An OTLP trace collector: keeps every span it is sent.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Value>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for rs in &request.get_ref().resource_spans {
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    spans.push(
                        json!({ "name": s.name, "debug": format!("{s:?}"), "resource": format!("{:?}", rs.resource) }),
                    );
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_collector_and_no_secret_reaches_a_span_or_a_log_line() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let (_keep, dir) = tempdir();
    let mut k = dev(&dir, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp), ("KEYWARD_LOG", "trace")]);
    let token = read(&dir, "token");
    let (assertion, access_token) = exercise(&k, &token).await;
    k.terminate();
    let (exit, output) = k.wait_exit("shutdown", Duration::from_secs(30));
    assert_eq!(exit, Some(0), "{output:#?}");
    server.abort();

    let spans = collector.0.lock().unwrap().clone();
    let names: BTreeMap<String, usize> = spans.iter().fold(BTreeMap::new(), |mut m, s| {
        *m.entry(s["name"].as_str().unwrap().to_owned()).or_default() += 1;
        m
    });
    assert!(names.contains_key("keyward.v1.KeyRotation/RotateClientCredential"), "{names:?}");
    assert!(names.contains_key("keyward.v1.Signer/SignClientAssertion"), "{names:?}");
    assert!(names.contains_key("create_credential"), "an Auth0 call span: {names:?}");
    assert!(names.contains_key("rotation step from slot_freed"), "a saga step span: {names:?}");
    assert!(spans.iter().any(|s| s["resource"].as_str().unwrap().contains("keyward-dev")), "service.name");

    let everything = format!("{spans:?}\n{}", output.join("\n"));
    let kek = read(&dir, "kek");
    let secrets = [
        ("bearer token", token.as_str()),
        ("assertion", assertion.as_str()),
        ("assertion signature", assertion.rsplit('.').next().unwrap()),
        ("access token", access_token.as_str()),
        ("management client secret", "dev-management-secret-change-me"),
        ("KEK", kek.lines().last().unwrap()),
    ];
    for (what, secret) in secrets {
        assert!(secret.len() >= 16, "{what} is too short to grep for");
        assert!(!everything.contains(secret), "the {what} reached a span or a log line");
    }
    assert!(
        output.len() > 10 && spans.len() > 10,
        "trace logging was on: {} lines, {} spans",
        output.len(),
        spans.len()
    );
}
