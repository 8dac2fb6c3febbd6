//! keyward: key custody and rotation for Auth0 `private_key_jwt` credentials and connection
//! keys. This crate is the service and its command-line tool; the crypto core is
//! `keyward-crypto`.

pub mod access;
pub mod admin;
pub mod cli;
pub mod clock;
pub mod config;
pub mod context;
pub mod custody;
#[cfg(feature = "dev")]
pub mod dev;
mod error;
pub(crate) mod files;
pub mod grpc;
pub(crate) mod ids;
pub mod inventory;
pub mod kek;
pub(crate) mod net;
mod rng;
pub mod rotation;
pub mod schedule;
pub mod seal;
pub mod service;
pub mod signing;
pub mod store;
pub mod telemetry;
pub mod tenant;

pub use error::Error;
