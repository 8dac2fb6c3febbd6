//! Hostile callers against a real server on 127.0.0.1:0 over real HTTP/2 (every loop bounded in
//! count and time): a flood of token-less calls to made-up paths adds no metric series and no
//! memory to speak of, failed authentication is counted by reason, and the transport limits
//! (streams per connection, connections per port) hold while honest callers keep being served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "support/grpc_world.rs"]
mod world;

use std::time::Duration;

use http::uri::PathAndQuery;
use keyward::grpc::proto;
use keyward::telemetry::metrics::metrics;
use tonic::transport::Channel;
use world::*;

/// Calls `path` on `channel` with an empty message and no token; the gRPC status.
async fn call_path(channel: Channel, path: &str) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<proto::GetJwksRequest, proto::GetJwksResponse>::default();
    let path = PathAndQuery::try_from(path).unwrap();
    grpc.unary(tonic::Request::new(proto::GetJwksRequest::default()), path, codec).await.unwrap_err()
}

/// The process's resident set, in KiB (Linux).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn counter(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_made_up_paths_adds_no_series() {
    let (name, store, dir) = stores().await.into_iter().next().unwrap();
    let w = world(name, store, dir).await;
    let channel = w.channel().await;
    // Warm up the series an honest call creates, then measure.
    let _ = call_path(channel.clone(), "/keyward.v1.Signer/GetJwks").await;
    let before = metrics().encode();
    let rss_before = rss_kib();
    let failures_before = counter(&before, r#"keyward_auth_failures_total{reason="missing"}"#);
    let long = "a".repeat(8 * 1024);
    for i in 0..2_000 {
        let status = call_path(channel.clone(), &format!("/made.up.Service{i}/{long}")).await;
        assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
    }
    // Token-less calls to a real method fail authentication, counted by reason.
    for _ in 0..50 {
        let status = call_path(channel.clone(), "/keyward.v1.Signer/GetJwks").await;
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    }
    let after = metrics().encode();
    assert!(!after.contains("made.up"), "a caller's path became a label");
    assert!(after.contains(r#"method="unknown""#), "unknown paths are counted as unknown");
    // A fixed number of new series at most (the `unknown` method's counter and histogram).
    assert!(after.len() <= before.len() + 16 * 1024, "/metrics grew from {} to {} bytes", before.len(), after.len());
    assert!(
        counter(&after, r#"keyward_auth_failures_total{reason="missing"}"#) >= failures_before + 50.0,
        "failed authentication is counted"
    );
    // The flood of 16 MB of paths left no trace to speak of (a bound, not a time).
    let grown = rss_kib().saturating_sub(rss_before);
    assert!(grown < 32 * 1024, "the process grew by {grown} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_and_connections_are_capped_while_honest_callers_are_served() {
    let (name, store, dir) = stores().await.into_iter().next().unwrap();
    let setup = Setup {
        limits: keyward::config::Limits { max_concurrent_streams: 8, max_connections: 3, ..Default::default() },
        ..Setup::default()
    };
    let w = world_with(name, store, dir, setup).await;

    // The server advertises its stream limit; h2 holds a client to it.
    let tcp = tokio::net::TcpStream::connect(w.addr).await.unwrap();
    let (h2, conn) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(conn);
    let h2 = h2.ready().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while h2.current_max_send_streams() != 8 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the server never advertised SETTINGS_MAX_CONCURRENT_STREAMS = 8");

    // 40 token-less Health/Watch streams on one connection: 8 open at most, and health still
    // answers on another connection meanwhile.
    let flood = w.channel().await;
    let mut watchers = Vec::new();
    for _ in 0..40 {
        let mut health = tonic_health::pb::health_client::HealthClient::new(flood.clone());
        watchers.push(tokio::spawn(async move {
            let req = tonic_health::pb::HealthCheckRequest { service: String::new() };
            let mut stream = health.watch(req).await?.into_inner();
            stream.message().await.map(|_| stream)
        }));
    }
    let mut honest = tonic_health::pb::health_client::HealthClient::new(w.channel().await);
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        honest.check(tonic_health::pb::HealthCheckRequest { service: String::new() }),
    )
    .await
    .expect("health did not answer during the stream flood")
    .unwrap();
    assert_eq!(answer.into_inner().status, 1, "SERVING");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Streams sent before the client learnt the limit are refused (REFUSED_STREAM); the rest
    // wait. Those that opened are the ones that got their first message.
    let mut open = Vec::new();
    for t in watchers {
        if t.is_finished() {
            if let Ok(stream) = t.await.unwrap() {
                open.push(stream);
            }
        } else {
            t.abort();
        }
    }
    assert!(!open.is_empty() && open.len() <= 8, "{} watch streams were opened on one connection", open.len());
    drop(open);
    drop((flood, honest, h2));
    driver.abort();

    // Three connections are the cap: a fourth waits until one closes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let c = w.channel().await;
        let mut h = tonic_health::pb::health_client::HealthClient::new(c.clone());
        let check = h.check(tonic_health::pb::HealthCheckRequest { service: String::new() });
        tokio::time::timeout(Duration::from_secs(10), check).await.expect("served under the cap").unwrap();
        held.push(c);
    }
    let fourth = tokio::spawn({
        let endpoint = w.endpoint();
        async move {
            let c = Channel::from_shared(endpoint).unwrap().connect_lazy();
            let mut h = tonic_health::pb::health_client::HealthClient::new(c);
            h.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!fourth.is_finished(), "a fourth connection was served past the cap of three");
    held.pop();
    let served = tokio::time::timeout(Duration::from_secs(10), fourth).await.expect("not served once a slot freed");
    assert_eq!(served.unwrap().unwrap().into_inner().status, 1);
}
