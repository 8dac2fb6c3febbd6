//! base64url (unpadded) helpers over `base64ct`.

use base64ct::{Base64UrlUnpadded, Encoding};

/// base64url without padding, as JOSE uses it.
pub(crate) fn encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// The length of `len` bytes in base64url without padding.
pub(crate) fn encoded_len(len: usize) -> usize {
    (len * 4).div_ceil(3)
}

/// Appends `bytes` in base64url without padding to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + encoded_len(bytes.len()), 0);
    // The slice is exactly the encoded length, so encoding cannot fail.
    let written = Base64UrlUnpadded::encode(bytes, &mut out[start..]).map_or(0, str::len);
    out.truncate(start + written);
}

/// Decodes base64url without padding; `None` on any malformed input.
pub(crate) fn decode(s: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(s).ok()
}
