//! Fidelity checking against Auth0's own recordings and OpenAPI document: the schema-subset
//! validator, Auth0's value formats and answer comparison, the replayer, and the checks the
//! bad-input tests share.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod oas;
pub mod refusal;
pub mod replay;
pub mod shape;
pub mod signing_keys;
