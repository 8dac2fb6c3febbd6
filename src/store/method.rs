//! Which of a client's credential lists a managed key belongs to: `private_key_jwt` or JAR's
//! `signed_request_object`.

use std::fmt;
use std::str::FromStr;

use super::types::string_enum;
use crate::Error;

string_enum! {
    /// Which of the client's credential lists a key's Auth0 credential is attached to (CONTRACT.md
    /// §1.5–1.6): both take `public_key` credentials, at most 2 each, out of one pool of 4 records.
    CredentialMethod {
        /// `client_authentication_methods.private_key_jwt`: client assertions for /oauth/token.
        PrivateKeyJwt => "private_key_jwt",
        /// The client's top-level `signed_request_object` (JAR, RFC 9101): request objects.
        SignedRequestObject => "signed_request_object",
    }
}

impl Default for CredentialMethod {
    /// Every key before JAR keys existed, and every request that names no method.
    fn default() -> Self {
        Self::PrivateKeyJwt
    }
}

impl CredentialMethod {
    /// The method a caller named ("" is the default); INVALID_ARGUMENT naming `method` otherwise.
    pub fn parse_arg(text: &str) -> Result<Self, Error> {
        if text.is_empty() {
            return Ok(Self::default());
        }
        // Echoed cut short: an error never repeats a huge input.
        let shown: String = text.chars().take(32).collect();
        text.parse()
            .map_err(|_| Error::arg("method", format!("{shown:?} is not private_key_jwt or signed_request_object")))
    }
}
