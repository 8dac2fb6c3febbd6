//! Hostile callers against a real server on 127.0.0.1:0 over real HTTP/2 (every loop bounded in
//! count and time): a flood of token-less calls to made-up paths adds no metric series and no
//! memory to speak of, failed authentication is counted by reason, the transport limits
//! (streams per connection, connections per port) hold while honest callers keep being served,
//! and so do the HTTP/2 defences: rapid reset (CVE-2023-44487) and "MadeYouReset"
//! (CVE-2025-8671) end in GOAWAY, slow connections that never finish the preface hold no more
//! than the connection cap, and an oversized header block is refused without a hang.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "support/grpc_world.rs"]
mod world;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use http::uri::PathAndQuery;
use keyward::grpc::proto;
use keyward::telemetry::metrics::metrics;
use tokio::io::AsyncWriteExt as _;
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

/// The tests run one at a time: each measures the process's memory, which the others would grow.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn counter(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_made_up_paths_adds_no_series() {
    let _alone = ALONE.lock().await;
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
    let _alone = ALONE.lock().await;
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

/// Calls Signer/GetJwks for the seeded application with the valid token: answered means any
/// status the service itself gives (the application has no key yet: FAILED_PRECONDITION), not
/// a transport failure.
async fn honest_jwks(channel: Channel) -> Result<(), tonic::Status> {
    let mut signer = proto::signer_client::SignerClient::new(channel);
    let req = proto::GetJwksRequest { tenant: "dev".into(), client_id: APP.into() };
    match signer.get_jwks(authed(req)).await {
        Ok(_) => Ok(()),
        Err(s) if s.code() == tonic::Code::FailedPrecondition => Ok(()),
        Err(s) => Err(s),
    }
}

/// Tasks alive on the test's runtime (the server's connection and stream tasks among them).
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// Honest callers on their own connection, one call after another until `stop`: every call must
/// be answered (each waits at most 10 s, a guard against a hang, not a timing assertion).
/// Returns how many were answered.
fn honest_caller(channel: Channel, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut answered = 0;
        while !stop.load(Ordering::SeqCst) {
            let call = tokio::time::timeout(Duration::from_secs(10), honest_jwks(channel.clone()));
            call.await.expect("an honest call hung during the attack").expect("an honest call failed");
            answered += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        answered
    })
}

/// The most tasks alive at once on the runtime, sampled every millisecond until `stop`.
fn task_peak(stop: Arc<AtomicBool>) -> (Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let peak = Arc::new(AtomicUsize::new(alive_tasks()));
    let handle = tokio::spawn({
        let peak = peak.clone();
        async move {
            while !stop.load(Ordering::SeqCst) {
                peak.fetch_max(alive_tasks(), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    (peak, handle)
}

/// A unary gRPC request head for `path` with the valid token, for the h2 client.
fn grpc_head(addr: std::net::SocketAddr, path: &str) -> http::Request<()> {
    http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(())
        .unwrap()
}

/// How an attacking connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The server sent GOAWAY with this reason.
    GoAway(h2::Reason),
    /// The server closed the connection under the attacker's writes (broken pipe, reset) before
    /// its GOAWAY was read.
    Closed,
    /// The attacker reached its stream count and closed it.
    ByClient,
}

/// One connection of a rapid-reset attacker (the h2 client): opens a stream and cancels it at
/// once, up to `max` times or until the connection ends. The streams opened and how it ended.
async fn reset_flood(addr: std::net::SocketAddr, max: usize) -> (usize, Ended) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(conn);
    let mut client = Some(client);
    let mut opened = 0;
    while opened < max {
        // Waits while the server's stream limit is reached; fails once the connection ended.
        let Some(idle) = client.take() else { break };
        let Ok(mut ready) = idle.ready().await else { break };
        let Ok((response, mut stream)) = ready.send_request(grpc_head(addr, "/keyward.v1.Signer/GetJwks"), false)
        else {
            break;
        };
        client = Some(ready);
        stream.send_reset(h2::Reason::CANCEL);
        drop(response);
        opened += 1;
        if opened % 32 == 0 {
            // Let the connection task write and read (the server's GOAWAY among what it reads).
            tokio::task::yield_now().await;
        }
    }
    drop(client);
    // A guard against a hang, not a timing assertion.
    let ended = tokio::time::timeout(Duration::from_secs(10), driver).await.expect("the connection did not end");
    let ended = match ended.unwrap() {
        Err(e) if e.is_go_away() && e.is_remote() => Ended::GoAway(e.reason().unwrap()),
        Err(e) if e.is_io() => Ended::Closed,
        Err(e) => panic!("the attacker's connection failed otherwise: {e:?}"),
        Ok(()) => Ended::ByClient,
    };
    (opened, ended)
}

/// Rapid reset (CVE-2023-44487): HEADERS then RST_STREAM at once, over and over. Reset streams
/// leave the stream count, so SETTINGS_MAX_CONCURRENT_STREAMS alone does not bound the work.
/// The server accepts at most `max_concurrent_requests_per_connection` (256) requests in service
/// per connection; past that, streams wait to be accepted, and h2 sends GOAWAY
/// (ENHANCE_YOUR_CALM, "too_many_resets") once more than `max_pending_accept_reset_streams` (20)
/// of the waiting ones were reset.
///
/// Bounds: 20,000 streams at most, over at most 500 connections (the attacker reconnects each
/// time it is cut off); every attacking connection but the last is ended by the server (GOAWAY,
/// or closed under the attacker's writes before the GOAWAY is read); tasks alive at once stay
/// within a few connections' worth of requests in service (the one under attack and those of
/// connections still being torn down), 4 × 256 + 64 more than before, whatever the number of
/// streams (measured: 9 to 454); an honest caller on its own connection is answered throughout
/// and after; the process grows by less than 32 MiB (measured: 2 to 8 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_reset_ends_in_goaway_while_honest_callers_are_served() {
    let _alone = ALONE.lock().await;
    let (name, store, dir) = stores().await.into_iter().next().unwrap();
    let w = world(name, store, dir).await;
    let limits = keyward::config::Limits::default();
    let honest = w.channel().await;
    honest_jwks(honest.clone()).await.unwrap();
    let rss_before = rss_kib();
    let tasks_before = alive_tasks();
    let stop = Arc::new(AtomicBool::new(false));
    let (peak, sampler) = task_peak(stop.clone());
    let caller = honest_caller(honest.clone(), stop.clone());

    let (mut streams, mut connections, mut goaways, mut by_server) = (0, 0, 0, 0);
    while streams < 20_000 && connections < 500 {
        let (opened, ended) = reset_flood(w.addr, 20_000 - streams).await;
        streams += opened;
        connections += 1;
        match ended {
            Ended::GoAway(reason) => {
                assert_eq!(reason, h2::Reason::ENHANCE_YOUR_CALM, "GOAWAY after {opened} streams");
                goaways += 1;
                by_server += 1;
            }
            Ended::Closed => by_server += 1,
            Ended::ByClient => {}
        }
    }
    stop.store(true, Ordering::SeqCst);
    let answered = caller.await.unwrap();
    sampler.await.unwrap();
    let extra = peak.load(Ordering::SeqCst).saturating_sub(tasks_before);
    eprintln!(
        "rapid reset: {streams} streams over {connections} connections, {by_server} ended by the server \
         ({goaways} with GOAWAY read), {answered} honest calls answered meanwhile, {extra} more tasks at the \
         peak, RSS grew {} KiB",
        rss_kib().saturating_sub(rss_before)
    );
    assert!(goaways > 0 && by_server + 1 >= connections, "{by_server} of {connections} connections cut off");
    assert!(answered > 0, "no honest call was answered during the attack");
    let bound = 4 * limits.max_concurrent_requests_per_connection + 64;
    assert!(extra <= bound, "{extra} more tasks alive at once during the attack (bound {bound})");
    honest_jwks(honest).await.expect("an honest caller after the attack");
    honest_jwks(w.channel().await).await.expect("a new honest connection after the attack");
    let grown = rss_kib().saturating_sub(rss_before);
    assert!(grown < 32 * 1024, "the process grew by {grown} KiB");
}

/// Raw HTTP/2 frames, for what a well-behaved client library will not send.
mod raw {
    pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const SETTINGS: u8 = 0x4;
    pub const GOAWAY: u8 = 0x7;
    pub const END_HEADERS: u8 = 0x4;
    pub const ACK: u8 = 0x1;

    /// One frame: 24-bit length, type, flags, stream id, payload.
    pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap();
        assert!(len < 1 << 14, "within the default SETTINGS_MAX_FRAME_SIZE");
        let mut f = len.to_be_bytes()[1..].to_vec();
        f.extend([kind, flags]);
        f.extend(stream.to_be_bytes());
        f.extend(payload);
        f
    }

    /// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1).
    fn int(out: &mut Vec<u8>, n: u32, mut value: usize) {
        let max = (1usize << n) - 1;
        if value < max {
            out.push(u8::try_from(value).unwrap());
            return;
        }
        out.push(u8::try_from(max).unwrap());
        value -= max;
        while value >= 128 {
            out.push(u8::try_from(value % 128).unwrap() | 0x80);
            value /= 128;
        }
        out.push(u8::try_from(value).unwrap());
    }

    /// A header block of literal fields without indexing, names and values as they are.
    pub fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in fields {
            out.push(0x00);
            int(&mut out, 7, name.len());
            out.extend(name.as_bytes());
            int(&mut out, 7, value.len());
            out.extend(value.as_bytes());
        }
        out
    }

    /// The client's connection preface with empty SETTINGS and the ACK of the server's.
    pub fn start() -> Vec<u8> {
        let mut out = PREFACE.to_vec();
        out.extend(frame(SETTINGS, 0, 0, &[]));
        out.extend(frame(SETTINGS, ACK, 0, &[]));
        out
    }

    /// Reads frames until the server sends GOAWAY (its last stream id, error code and debug
    /// data) or the connection ends (None).
    pub async fn goaway(mut read: impl tokio::io::AsyncRead + Unpin) -> Option<(u32, u32, String)> {
        use tokio::io::AsyncReadExt as _;
        let mut head = [0u8; 9];
        loop {
            read.read_exact(&mut head).await.ok()?;
            let len = usize::try_from(u32::from_be_bytes([0, head[0], head[1], head[2]])).unwrap();
            let mut payload = vec![0u8; len];
            read.read_exact(&mut payload).await.ok()?;
            if head[3] == GOAWAY {
                let last = u32::from_be_bytes(payload[..4].try_into().unwrap()) & !(1 << 31);
                let code = u32::from_be_bytes(payload[4..8].try_into().unwrap());
                return Some((last, code, String::from_utf8_lossy(&payload[8..]).into_owned()));
            }
        }
    }
}

/// "MadeYouReset" (CVE-2025-8671): each stream opens with a valid request and then gets a frame
/// the server must answer with RST_STREAM (here a PRIORITY naming the stream as its own parent,
/// a stream error): the server resets it, so it leaves the stream count while the request may
/// still be in service. h2 counts such resets and sends GOAWAY (ENHANCE_YOUR_CALM) past
/// `max_local_error_reset_streams` (1024).
///
/// Bounds: one connection, at most 20,000 streams written; the GOAWAY's last stream id shows the
/// server took at most 1024 + 1 of them (measured: 256 to 705); at most 2 × 256 + 64 more tasks
/// alive at once, whatever the number of streams (measured: 4 to 260); an honest caller is
/// answered throughout and after; the process grows by less than 32 MiB (measured: 0.2 to 4 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_you_reset_ends_in_goaway_while_honest_callers_are_served() {
    let _alone = ALONE.lock().await;
    let (name, store, dir) = stores().await.into_iter().next().unwrap();
    let w = world(name, store, dir).await;
    let limits = keyward::config::Limits::default();
    let honest = w.channel().await;
    honest_jwks(honest.clone()).await.unwrap();
    let rss_before = rss_kib();
    let tasks_before = alive_tasks();
    let stop = Arc::new(AtomicBool::new(false));
    let (peak, sampler) = task_peak(stop.clone());
    let caller = honest_caller(honest.clone(), stop.clone());

    let tcp = tokio::net::TcpStream::connect(w.addr).await.unwrap();
    let (read, mut write) = tcp.into_split();
    let reader = tokio::spawn(raw::goaway(read));
    let authority = w.addr.to_string();
    let bearer = format!("Bearer {TOKEN}");
    let block = raw::header_block(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/keyward.v1.Signer/GetJwks"),
        (":authority", &authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("authorization", &bearer),
    ]);
    write.write_all(&raw::start()).await.unwrap();
    let mut sent = 0u32;
    while sent < 20_000 && !reader.is_finished() {
        let mut batch = Vec::new();
        for _ in 0..64.min(20_000 - sent) {
            let id = 2 * sent + 1;
            batch.extend(raw::frame(raw::HEADERS, raw::END_HEADERS, id, &block));
            // Exclusive flag clear, depending on itself, weight 16.
            let mut priority = id.to_be_bytes().to_vec();
            priority.push(15);
            batch.extend(raw::frame(raw::PRIORITY, 0, id, &priority));
            sent += 1;
        }
        if write.write_all(&batch).await.is_err() {
            break;
        }
        tokio::task::yield_now().await;
    }
    // A guard against a hang, not a timing assertion.
    let goaway = tokio::time::timeout(Duration::from_secs(10), reader).await.expect("no GOAWAY").unwrap();
    drop(write);
    stop.store(true, Ordering::SeqCst);
    let answered = caller.await.unwrap();
    sampler.await.unwrap();
    let extra = peak.load(Ordering::SeqCst).saturating_sub(tasks_before);
    eprintln!(
        "MadeYouReset: {sent} streams written, GOAWAY (last stream, code) {goaway:?}, {answered} honest calls \
         answered meanwhile, {extra} more tasks at the peak, RSS grew {} KiB",
        rss_kib().saturating_sub(rss_before)
    );
    let (last_stream, code, debug) = goaway.expect("the server ended the connection without GOAWAY");
    assert_eq!(code, u32::from(h2::Reason::ENHANCE_YOUR_CALM), "GOAWAY's error code");
    assert_eq!(debug, "too_many_internal_resets", "the defence that ended it");
    // Client streams are odd: stream 2n + 1 is the (n + 1)th.
    let processed = usize::try_from(last_stream / 2 + 1).unwrap();
    assert!(
        processed <= limits.max_local_error_reset_streams + 1,
        "the server took {processed} streams before GOAWAY (limit {})",
        limits.max_local_error_reset_streams
    );
    assert!(answered > 0, "no honest call was answered during the attack");
    let bound = 2 * limits.max_concurrent_requests_per_connection + 64;
    assert!(extra <= bound, "{extra} more tasks alive at once during the attack (bound {bound})");
    honest_jwks(honest).await.expect("an honest caller after the attack");
    let grown = rss_kib().saturating_sub(rss_before);
    assert!(grown < 32 * 1024, "the process grew by {grown} KiB");
}

/// Raw TCP connections to `addr` that each send `parts[i]` (part of a preface, or nothing) and
/// then hold still.
async fn slow_sockets(addr: std::net::SocketAddr, parts: &[&[u8]]) -> Vec<tokio::net::TcpStream> {
    let mut slow = Vec::new();
    for part in parts {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(part).await.unwrap();
        slow.push(tcp);
    }
    slow
}

/// Slow clients: `max_connections` (3) raw TCP connections that send part of the HTTP/2 preface
/// (one sends nothing at all) and then hold still. Each holds a slot under the cap from the
/// moment it is accepted, so an honest client waits (it is not served past the cap); once they
/// close, it is served. (Left alone, the server closes them at `limits.handshake_timeout`, 10 s
/// by default: the next test.)
///
/// Bounds: 3 slow connections; the honest call is still waiting after 1 s; it is answered within
/// 10 s of the slow connections closing (guards, not timings); the process grows by less than
/// 8 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_connections_hold_no_more_than_the_cap() {
    let _alone = ALONE.lock().await;
    let (name, store, dir) = stores().await.into_iter().next().unwrap();
    let setup =
        Setup { limits: keyward::config::Limits { max_connections: 3, ..Default::default() }, ..Setup::default() };
    let w = world_with(name, store, dir, setup).await;
    honest_jwks(w.channel().await).await.unwrap();
    // The honest connection closes; its slot frees once the server sees it go.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = rss_kib();

    let slow = slow_sockets(w.addr, &[&raw::PREFACE[..10], &raw::PREFACE[..20], &[]]).await;
    let honest = tokio::spawn({
        let endpoint = w.endpoint();
        async move {
            let channel = Channel::from_shared(endpoint).unwrap().connect_lazy();
            honest_jwks(channel).await
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!honest.is_finished(), "an honest client was served past the cap of three: {:?}", honest.await);
    drop(slow);
    let served = tokio::time::timeout(Duration::from_secs(10), honest).await.expect("not served once the slow left");
    served.unwrap().expect("the honest call");
    let grown = rss_kib().saturating_sub(rss_before);
    assert!(grown < 8 * 1024, "the process grew by {grown} KiB");
}

/// Connections that never open their protocol (nothing, or half the HTTP/2 preface, and then
/// silence) are closed by the server at `limits.handshake_timeout` and free their slots while
/// their clients still hold them open: keepalive pings only start after the preface, so without
/// the deadline such sockets held the port's slots for as long as their clients liked.
///
/// Bounds: 2 slow connections against a cap of 2 and a 1 s deadline; each is closed by the
/// server within 15 s (a guard), and an honest client is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_open_their_protocol_are_closed_at_the_deadline() {
    let _alone = ALONE.lock().await;
    use tokio::io::AsyncReadExt;
    let (name, store, dir) = stores().await.into_iter().next().unwrap();
    let limits =
        keyward::config::Limits { max_connections: 2, handshake_timeout: Duration::from_secs(1), ..Default::default() };
    let w = world_with(name, store, dir, Setup { limits, ..Setup::default() }).await;
    let mut slow = slow_sockets(w.addr, &[&raw::PREFACE[..20], &[]]).await;
    for tcp in &mut slow {
        // The server's own preface (SETTINGS) comes first; then the connection must end.
        let mut sink = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(15), tcp.read_to_end(&mut sink)).await;
        let read = read.expect("the server kept a connection that never opened its protocol");
        assert!(sink.len() < 1024, "only the server's preface: {} bytes, {read:?}", sink.len());
    }
    // The slots are free although the slow clients still hold their sockets.
    let served = tokio::time::timeout(Duration::from_secs(15), honest_jwks(w.channel().await)).await;
    served.expect("an honest client waited behind closed connections").expect("the honest call");
    drop(slow);
}

/// Oversized headers: with `max_header_list_size` at 4 KiB, a call with an 8 KiB metadata value
/// is refused by the server (HTTP 431 and RST_STREAM: the client gets an error, not a hang) and
/// the same connection goes on serving honest calls; a 256 KiB value (sixteen CONTINUATION
/// frames, past h2's bound on them for this limit) ends the connection instead (GOAWAY
/// ENHANCE_YOUR_CALM, "too_many_continuations", or a broken pipe if the client is still writing),
/// and a new one is served.
///
/// Bounds: 200 oversized calls and 10 huge ones, each answered within 10 s (a guard); the
/// process grows by less than 32 MiB (measured: about 1 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_are_refused_and_honest_callers_served() {
    let _alone = ALONE.lock().await;
    let (name, store, dir) = stores().await.into_iter().next().unwrap();
    let setup = Setup {
        limits: keyward::config::Limits { max_header_list_size: 4 * 1024, ..Default::default() },
        ..Setup::default()
    };
    let w = world_with(name, store, dir, setup).await;
    let channel = w.channel().await;
    honest_jwks(channel.clone()).await.unwrap();
    let rss_before = rss_kib();

    let padded = |size: usize| {
        let req = proto::GetJwksRequest { tenant: "dev".into(), client_id: APP.into() };
        let mut req = authed(req);
        let pad = tonic::metadata::MetadataValue::try_from("p".repeat(size)).unwrap();
        req.metadata_mut().insert("x-pad", pad);
        req
    };
    for _ in 0..200 {
        let mut signer = proto::signer_client::SignerClient::new(channel.clone());
        let call = tokio::time::timeout(Duration::from_secs(10), signer.get_jwks(padded(8 * 1024)));
        let status = call.await.expect("an oversized call hung").unwrap_err();
        assert!(status.message().contains("431"), "{status:?}");
        honest_jwks(channel.clone()).await.expect("the same connection serves honest calls");
    }
    let mut first_error = None;
    for _ in 0..10 {
        let mut signer = proto::signer_client::SignerClient::new(w.channel().await);
        let call = tokio::time::timeout(Duration::from_secs(10), signer.get_jwks(padded(256 * 1024)));
        let status = call.await.expect("a huge header block hung").unwrap_err();
        first_error.get_or_insert(status);
        honest_jwks(w.channel().await).await.expect("a new connection serves honest calls");
    }
    eprintln!("a 256 KiB header: {:?}", first_error.unwrap());
    honest_jwks(channel).await.expect("the first connection still serves");
    let grown = rss_kib().saturating_sub(rss_before);
    eprintln!("oversized headers: RSS grew {grown} KiB");
    assert!(grown < 32 * 1024, "the process grew by {grown} KiB");
}
