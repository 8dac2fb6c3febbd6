//! The top-level keys of `keyward.toml`: where gRPC and the admin port listen, whether plaintext
//! gRPC may leave loopback, the store, this replica's name and the shutdown drain.

use std::net::SocketAddr;
use std::time::Duration;

use super::source::{Env, Setting};

const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// How long shutdown waits for in-flight RPCs unless `drain_timeout` says otherwise.
pub(super) const DEFAULT_DRAIN: Duration = Duration::from_secs(20);

const LISTEN: Setting = Setting::flag("listen", "--listen", "KEYWARD_LISTEN");
const ADMIN_LISTEN: Setting = Setting::flag("admin_listen", "--admin-listen", "KEYWARD_ADMIN_LISTEN");
const STORE: Setting = Setting::env("store", "KEYWARD_STORE");
const REPLICA_ID: Setting = Setting::env("replica_id", "KEYWARD_REPLICA_ID");
const DRAIN_TIMEOUT: Setting = Setting::file("drain_timeout");

/// The top-level keys as the file gives them.
#[derive(Debug, Default)]
pub(super) struct ServerFile {
    pub listen: Option<String>,
    pub allow_plaintext: bool,
    pub admin_listen: Option<String>,
    pub store: Option<String>,
    pub replica_id: Option<String>,
    pub drain_timeout: Option<String>,
}

/// The top-level keys, resolved.
#[derive(Debug)]
pub(super) struct Server {
    pub listen: SocketAddr,
    pub allow_plaintext: bool,
    pub admin_listen: Option<SocketAddr>,
    pub store_url: String,
    pub replica_id: String,
    pub drain_timeout: Duration,
}

/// The host name (`HOSTNAME`, else `/etc/hostname`), else `keyward`.
pub fn default_replica_id() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "keyward".into())
}

/// Resolves the top-level keys with their variables and the `--listen` and `--admin-listen`
/// flags, reporting every problem.
pub(super) fn resolve(
    file: ServerFile,
    listen_flag: Option<&str>,
    admin_flag: Option<&str>,
    env: &Env,
    errors: &mut Vec<String>,
) -> Server {
    let listen = LISTEN.pick(listen_flag, env, file.listen.as_deref());
    let listen = address(listen.name(), listen.text().unwrap_or(DEFAULT_LISTEN), errors)
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));

    let store = STORE.pick(None, env, file.store.as_deref());
    let store_url = store.text().unwrap_or_default().to_owned();
    if !(store_url.starts_with("sqlite://")
        || store_url.starts_with("postgres://")
        || store_url.starts_with("postgresql://"))
    {
        errors.push(format!("{}: must be a sqlite://PATH or postgres://… URL", store.name()));
    }

    let admin = ADMIN_LISTEN.pick(admin_flag, env, file.admin_listen.as_deref());
    let admin_listen = admin.text().and_then(|text| address(admin.name(), text, errors));

    let replica = REPLICA_ID.pick(None, env, file.replica_id.as_deref());
    let replica_id = match replica.text() {
        None => default_replica_id(),
        Some(id) => {
            if id.is_empty() || id.len() > 128 || id.chars().any(char::is_whitespace) {
                errors.push(format!("{}: {id:?} must be 1 to 128 characters without spaces", replica.name()));
            }
            id.to_owned()
        }
    };
    let drain_timeout = DRAIN_TIMEOUT.given(file.drain_timeout.as_deref()).duration(DEFAULT_DRAIN, errors);

    Server { listen, allow_plaintext: file.allow_plaintext, admin_listen, store_url, replica_id, drain_timeout }
}

/// `text` as `HOST:PORT`, else a problem reported under `name`.
fn address(name: String, text: &str, errors: &mut Vec<String>) -> Option<SocketAddr> {
    let addr = text.parse().ok();
    if addr.is_none() {
        errors.push(format!("{name}: {text:?} is not HOST:PORT"));
    }
    addr
}
