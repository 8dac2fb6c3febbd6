//! Transport behaviour on a tiny scripted HTTP/1.1 server (127.0.0.1:0) and over TLS with an
//! extra trusted root: lost answers, refused connections, certificate trust.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyward_auth0::{Auth0Client, Config, Error, NewCredential, RetryPolicy, Url};
use secrecy::ExposeSecret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN_BODY: &str = include_str!("data/go-auth0_token_2023.json");

/// What the server does with one request.
#[derive(Clone, Copy, Debug)]
enum Act {
    /// Answer 200 with this JSON body.
    Ok(&'static str),
    /// Read the request, then close without answering.
    Close,
}

/// Serves `script` in order (one request per connection); logs "METHOD PATH" of each request.
async fn server(script: Vec<Act>) -> (Url, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    tokio::spawn(async move {
        for act in script {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let line = read_request(&mut stream).await;
            seen.lock().unwrap().push(line);
            if let Act::Ok(body) = act {
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\n\
                     x-ratelimit-limit: 10\r\nx-ratelimit-remaining: 9\r\nx-ratelimit-reset: 1700000000\r\n\
                     connection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            }
            drop(stream);
        }
    });
    (url, log)
}

/// Reads one request (head and content-length body); returns "METHOD PATH".
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

fn client_for(url: Url) -> Auth0Client {
    let mut config = Config::new("tenant.example").with_base_url(url);
    config.retry =
        RetryPolicy { max_attempts: 3, base_delay: Duration::from_millis(10), max_delay: Duration::from_secs(1) };
    Auth0Client::new(config, common::secret_post("mgmt", "transport-secret")).unwrap()
}

#[tokio::test]
async fn a_post_whose_answer_is_lost_is_an_unknown_outcome_and_not_repeated() {
    let (url, log) = server(vec![Act::Ok(TOKEN_BODY), Act::Close, Act::Ok("[]")]).await;
    let auth0 = client_for(url);
    // The recorded token answer reads, and its rate-limit headers are exposed.
    let token = auth0.management_token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "test-access-token");
    assert_eq!(token.expires_in(), Duration::from_secs(86400));
    assert_eq!(auth0.last_token_rate_limit().unwrap().remaining, Some(9));

    let e = auth0.create_credential("app", &NewCredential::public_key("PEM")).await.unwrap_err();
    assert!(matches!(e, Error::UnknownOutcome { operation: "create_credential", .. }), "{e:?}");
    // The follow-up GET gets the next connection: the POST was sent exactly once.
    assert!(auth0.list_credentials("app").await.unwrap().is_empty());
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        ["POST /oauth/token", "POST /api/v2/clients/app/credentials", "GET /api/v2/clients/app/credentials"]
    );
}

#[tokio::test]
async fn a_get_whose_answer_is_lost_is_retried() {
    let (url, log) = server(vec![Act::Ok(TOKEN_BODY), Act::Close, Act::Close, Act::Ok("[]")]).await;
    let auth0 = client_for(url);
    assert!(auth0.list_credentials("app").await.unwrap().is_empty());
    let log = log.lock().unwrap().clone();
    assert_eq!(log.iter().filter(|l| *l == "GET /api/v2/clients/app/credentials").count(), 3);
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error_even_for_a_post() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let auth0 = client_for(url);
    let e = auth0.create_credential("app", &NewCredential::public_key("PEM")).await.unwrap_err();
    // Nothing was sent (the token request could not connect): not an unknown outcome.
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    assert!(!format!("{e:?}").contains("transport-secret"));
}

#[tokio::test]
async fn tls_with_an_extra_trusted_root() {
    let identity = keyward_auth0_emulator::TlsIdentity::self_signed().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let seed = keyward_auth0_emulator::Seed::from_json(common::SEED).unwrap();
    let emu = keyward_auth0_emulator::start(
        listener,
        keyward_auth0_emulator::EmulatorConfig {
            seed,
            domain: Some(common::DOMAIN.to_owned()),
            tls: Some(identity.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(emu.base_url().starts_with("https://"));

    let trusted = Config { extra_root_ca_pem: Some(identity.cert_pem.clone()), ..common::config(&emu) };
    let auth0 = Auth0Client::new(trusted, common::secret_post(common::MGMT, common::MGMT_SECRET)).unwrap();
    assert_eq!(auth0.get_client(common::APP).await.unwrap().client_id, common::APP);

    let only =
        Config { extra_root_ca_pem: Some(identity.cert_pem.clone()), extra_roots_only: true, ..common::config(&emu) };
    let auth0 = Auth0Client::new(only, common::secret_post(common::MGMT, common::MGMT_SECRET)).unwrap();
    auth0.management_token().await.unwrap();

    // Without the root the handshake fails: a transport error, never an unknown outcome.
    let untrusted =
        Auth0Client::new(common::config(&emu), common::secret_post(common::MGMT, common::MGMT_SECRET)).unwrap();
    let e = untrusted.create_credential(common::APP, &NewCredential::public_key("PEM")).await.unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");

    let bad = Config { extra_root_ca_pem: Some("not a pem".into()), ..common::config(&emu) };
    assert!(matches!(Auth0Client::new(bad, common::secret_post("a", "b")), Err(Error::Config(_))));
    emu.shutdown().await;
}
