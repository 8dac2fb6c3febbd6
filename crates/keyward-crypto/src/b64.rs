//! base64url (unpadded) helpers over `base64ct`.

use base64ct::{Base64UrlUnpadded, Encoding};

/// base64url without padding, as JOSE uses it.
pub(crate) fn encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Decodes base64url without padding; `None` on any malformed input.
pub(crate) fn decode(s: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(s).ok()
}
