//! keyward's PKCS#11 adapter: a typed, safe layer over [`cryptoki`] for keeping the KEK (an
//! AES-256 key) and non-exportable signing keys inside an HSM token.
//!
//! [`Token::open`] loads the module, finds the token by label and logs in on a bounded pool of
//! sessions. Everything is synchronous: call it from blocking threads. When the token goes away
//! the calls fail with [`Error::Unavailable`] and the pool reconnects by itself once it is back.
//! The PIN never appears in an error, a `Debug` string or a log.

mod error;
mod kek;
mod keys;
mod mechanism;
mod pool;
mod signer;
mod token;

pub use error::Error;
pub use kek::TAG_LEN;
pub use keys::TokenKey;
pub use pool::{PoolStats, RETRY_INTERVAL};
pub use signer::TokenSigner;
pub use token::{DEFAULT_SESSION_WAIT, Token, TokenConfig};
