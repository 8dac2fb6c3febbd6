//! keyward's client for Auth0's Management and Authentication APIs (reqwest + rustls).
//!
//! One [`Auth0Client`] talks to one tenant as one application:
//! - access tokens with the client credentials grant ([`ClientAuth`]: `client_secret_post`,
//!   `client_secret_basic`, or `private_key_jwt` with assertions from a caller's
//!   [`AssertionProvider`], so private keys never enter this crate), cached per audience and scope
//!   until `expires_in − 10 s`, with single flight;
//! - the Management API calls keyward needs: clients (one, or all pages within hard bounds) and
//!   their `client_authentication_methods`, client credentials, connections and connection keys,
//!   and the tenant's signing keys;
//! - retries: a 429 waits for `Retry-After`, else `x-ratelimit-reset` (epoch seconds), capped and
//!   jittered; 5xx, 408 and lost connections are retried only for idempotent calls, and a
//!   non-idempotent call (create, rotate, PATCH) whose outcome is unknown fails with
//!   [`Error::UnknownOutcome`] so the caller can reconcile;
//! - one error enum, [`Error`], mapped from Auth0's status and envelope.
//!
//! ```no_run
//! # async fn run() -> Result<(), keyward_auth0::Error> {
//! use keyward_auth0::{Auth0Client, ClientAuth, Config, NewCredential};
//! let auth = ClientAuth::SecretPost { client_id: "mgmt".into(), client_secret: "s".to_owned().into() };
//! let auth0 = Auth0Client::new(Config::new("example.eu.auth0.com"), auth)?;
//! let cred = auth0.create_credential("app", &NewCredential::public_key("-----BEGIN PUBLIC KEY-----…")).await?;
//! auth0.set_private_key_jwt_credentials("app", &[&cred.id], true).await?;
//! # Ok(()) }
//! ```

mod client;
mod client_auth;
mod clients;
mod clients_list;
mod config;
mod connections;
mod credentials;
mod de;
mod error;
mod http;
mod ratelimit;
mod requests;
mod retry;
mod signing_keys;
mod token;

pub use client::Auth0Client;
pub use client_auth::{AssertionProvider, ClientAuth};
pub use clients::{Client, ClientAuthenticationMethods, CredentialList, CredentialRef, JwtConfiguration};
pub use clients_list::ClientsPage;
pub use config::{Config, Observer};
pub use connections::{Connection, ConnectionKey};
pub use credentials::ClientCredential;
pub use error::{BoxError, Error};
pub use ratelimit::RateLimit;
pub use requests::{CredentialAlg, NewCredential, SecretMethod};
pub use retry::RetryPolicy;
pub use secrecy::SecretString;
pub use signing_keys::{RevokedSigningKey, RotatedSigningKey, SigningKey, SigningKeyDate};
pub use token::AccessToken;
pub use url::Url;
