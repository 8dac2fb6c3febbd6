//! Auth0 `private_key_jwt` client assertions (CONTRACT.md §5.2).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::error::Error;
use crate::jws::sign_compact;
use crate::signer::Signer;

/// Auth0 refuses assertions whose `exp − iat` exceeds five minutes.
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

/// The claims of one assertion.
#[derive(Debug, Clone)]
pub struct AssertionParams<'a> {
    /// `iss` and `sub`.
    pub client_id: &'a str,
    /// `aud`: the tenant's issuer, `https://{domain}/`.
    pub audience: &'a str,
    /// `iat`, truncated to whole seconds.
    pub now: SystemTime,
    /// `exp − iat`; 1 to 300 seconds.
    pub lifetime: Duration,
    /// The `kid` header, if any.
    pub kid: Option<&'a str>,
}

/// The claims of an assertion, in the order they are written.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: &'a str,
}

/// Builds and signs a client assertion: `iss` = `sub` = client_id, `aud`, `iat`, `exp`, and a
/// random UUID v4 `jti` drawn from `rng`.
pub fn client_assertion(
    signer: &dyn Signer,
    params: &AssertionParams<'_>,
    rng: crate::Rng<'_>,
) -> Result<String, Error> {
    let seconds = params.lifetime.as_secs();
    if seconds == 0 || params.lifetime > MAX_ASSERTION_LIFETIME {
        return Err(Error::AssertionLifetime { seconds });
    }
    if params.client_id.is_empty() || params.client_id.len() > 64 {
        return Err(Error::InvalidClaim("client_id must be 1 to 64 characters"));
    }
    if params.audience.is_empty() {
        return Err(Error::InvalidClaim("audience must not be empty"));
    }
    let iat = params.now.duration_since(UNIX_EPOCH).map_err(|_| Error::InvalidClaim("time precedes 1970"))?.as_secs();
    let mut jti = [0u8; 16];
    rng.fill_bytes(&mut jti);
    let mut jti_text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let jti = uuid::Builder::from_random_bytes(jti).into_uuid().hyphenated().encode_lower(&mut jti_text);
    let claims =
        Claims { iss: params.client_id, sub: params.client_id, aud: params.audience, iat, exp: iat + seconds, jti };
    let mut payload = Vec::with_capacity(160 + 2 * params.client_id.len() + params.audience.len());
    serde_json::to_writer(&mut payload, &claims).map_err(|e| Error::Encoding(e.to_string()))?;
    sign_compact(signer, params.kid, None, &payload, rng)
}
