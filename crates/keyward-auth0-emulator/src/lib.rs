//! A faithful local Auth0 for keyward's tests, benchmarks and `keyward dev`.
//!
//! It serves the parts of Auth0 keyward uses, as CONTRACT.md describes them: the Management API's
//! client credentials, clients (read, listed with pagination and `fields`, and their
//! `client_authentication_methods`), connections and their keys (with Auth0-shaped certificates
//! from `keyward-crypto`), the tenant's signing keys (list, get, rotate, revoke),
//! `/oauth/token` for client_secret_post, client_secret_basic and private_key_jwt with tokens
//! signed by the current signing key, the tenant's JWKS (current, next and unrevoked previous
//! key) and OpenID configuration, with Auth0's status codes, error envelopes, scopes and
//! `x-ratelimit-*` token buckets.
//!
//! A control API under `/__emulator/` (loopback peers only) is the tests' independent witness:
//! `GET state` (clients, credentials, connections, keys, signing keys, request log), `POST seed`,
//! `POST reset`, and `POST faults` / `DELETE faults` for scripted failures ([`Fault`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), keyward_auth0_emulator::Error> {
//! use keyward_auth0_emulator::{EmulatorConfig, Seed, start};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let seed = Seed::from_json(r#"{"clients":[{"client_id":"app","name":"App","client_secret":"s","grants":[]}]}"#)?;
//! let emulator = start(listener, EmulatorConfig { seed, control: true, ..Default::default() }).await?;
//! println!("{} is Auth0 for https://{}/", emulator.base_url(), emulator.domain());
//! # Ok(()) }
//! ```

mod api;
mod app;
mod auth;
mod control;
mod envelope;
mod error;
mod faults;
mod ratelimit;
mod seed;
mod server;
mod shared;
mod state;
mod util;

pub use error::Error;
pub use faults::{Fault, FaultAction};
pub use seed::{Grant, JwtConfiguration, Limits, Seed, SeedClient, SeedConnection};
pub use server::{EmulatorConfig, RunningEmulator, TlsIdentity, router, start};
