//! How the client authenticates at `/oauth/token`: client secret (post or basic) or a
//! `private_key_jwt` assertion from a caller-supplied signer.

use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;

use crate::error::BoxError;

/// Produces `private_key_jwt` client assertions. keyward's signer implements it; private keys
/// never enter this crate.
///
/// Each call must return a fresh assertion (new `jti`) with `iss` = `sub` = the client id,
/// `aud` = the given `audience` (the tenant issuer `https://{domain}/`, or the custom domain's),
/// and a lifetime of at most 5 minutes. It is called once per token request attempt.
pub trait AssertionProvider: Send + Sync {
    /// A signed assertion for `audience`.
    fn assertion(&self, audience: &str) -> Result<String, BoxError>;
}

/// The client's credentials for the client credentials grant.
#[derive(Clone)]
pub enum ClientAuth {
    /// `client_secret` in the request body.
    SecretPost {
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: SecretString,
    },
    /// `Authorization: Basic base64(client_id:client_secret)`.
    SecretBasic {
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: SecretString,
    },
    /// `client_assertion` (`urn:ietf:params:oauth:client-assertion-type:jwt-bearer`).
    PrivateKeyJwt {
        /// The client id (sent as `client_id`, and the assertion's `iss`/`sub`).
        client_id: String,
        /// Signs the assertions.
        provider: Arc<dyn AssertionProvider>,
    },
}

impl ClientAuth {
    /// The client id.
    pub fn client_id(&self) -> &str {
        match self {
            Self::SecretPost { client_id, .. }
            | Self::SecretBasic { client_id, .. }
            | Self::PrivateKeyJwt { client_id, .. } => client_id,
        }
    }

    /// The method's name as Auth0 spells it (`token_endpoint_auth_method`).
    pub fn method(&self) -> &'static str {
        match self {
            Self::SecretPost { .. } => "client_secret_post",
            Self::SecretBasic { .. } => "client_secret_basic",
            Self::PrivateKeyJwt { .. } => "private_key_jwt",
        }
    }
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuth")
            .field("method", &self.method())
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Never;
    impl AssertionProvider for Never {
        fn assertion(&self, _: &str) -> Result<String, BoxError> {
            Err("no".into())
        }
    }

    #[test]
    fn debug_names_the_method_not_the_secret() {
        let secret = || SecretString::from("hunter2-secret".to_owned());
        for auth in [
            ClientAuth::SecretPost { client_id: "a".into(), client_secret: secret() },
            ClientAuth::SecretBasic { client_id: "a".into(), client_secret: secret() },
            ClientAuth::PrivateKeyJwt { client_id: "a".into(), provider: Arc::new(Never) },
        ] {
            let text = format!("{auth:?}");
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains(auth.method()) && text.contains("\"a\""), "{text}");
        }
    }
}
