//! A tiny HTTP/1.1 server on 127.0.0.1:0 standing in for Auth0: `/oauth/token` gets a recorded
//! token answer, every other request the answer a closure picks; each request is logged as
//! "METHOD target" (target with its query).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyward_auth0::{Auth0Client, Config, RetryPolicy, Url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN_BODY: &str = include_str!("../data/go-auth0_token_2023.json");

/// One answer.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    /// `status` with a JSON body and rate-limit headers of a bucket that is not empty.
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        let headers = vec![
            ("x-ratelimit-limit", "10".to_owned()),
            ("x-ratelimit-remaining", "9".to_owned()),
            ("x-ratelimit-reset", super::now_epoch().to_string()),
        ];
        Self { status, headers, body: body.into() }
    }

    /// Auth0's 429 with an empty bucket that refills at `reset` (epoch seconds).
    pub fn rate_limited(reset: u64) -> Self {
        let body = r#"{"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}"#;
        let headers = vec![
            ("x-ratelimit-limit", "10".to_owned()),
            ("x-ratelimit-remaining", "0".to_owned()),
            ("x-ratelimit-reset", reset.to_string()),
        ];
        Self { status: 429, headers, body: body.to_owned() }
    }
}

/// A running stub.
pub struct Stub {
    pub url: Url,
    log: Arc<Mutex<Vec<String>>>,
}

impl Stub {
    /// Every request so far but the token requests, in order.
    pub fn management_log(&self) -> Vec<String> {
        self.log.lock().unwrap().iter().filter(|l| !l.ends_with(" /oauth/token")).cloned().collect()
    }

    /// An adapter client for the stub with short retry waits.
    pub fn client(&self) -> Auth0Client {
        let mut config = Config::new("tenant.example").with_base_url(self.url.clone());
        config.retry =
            RetryPolicy { max_attempts: 3, base_delay: Duration::from_millis(10), max_delay: Duration::from_secs(2) };
        Auth0Client::new(config, super::secret_post("mgmt", "stub-secret")).unwrap()
    }
}

/// Starts a stub whose answers `answer(method, target)` picks.
pub async fn stub<F>(answer: F) -> Stub
where
    F: Fn(&str, &str) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (seen, answer) = (seen.clone(), answer.clone());
            tokio::spawn(async move { serve(stream, &seen, &*answer).await });
        }
    });
    Stub { url, log }
}

async fn serve(mut stream: TcpStream, seen: &Mutex<Vec<String>>, answer: &(dyn Fn(&str, &str) -> Reply + Sync)) {
    let line = read_request(&mut stream).await;
    seen.lock().unwrap().push(line.clone());
    let (method, target) = line.split_once(' ').unwrap_or((&line, ""));
    let reply = if target == "/oauth/token" { Reply::json(200, TOKEN_BODY) } else { answer(method, target) };
    let mut head = format!(
        "HTTP/1.1 {} Stub\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(reply.body.as_bytes()).await;
}

/// Reads one request (head and content-length body); returns "METHOD target".
async fn read_request(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf);
    text.lines().next().unwrap_or("").rsplit_once(' ').map(|(a, _)| a.to_owned()).unwrap_or_default()
}
