//! Bearer-token hashes in `keyward.toml`: the SHA-256 of each token as 64 hex digits (a hash is
//! not a secret; the token never appears in the file). A value that is not one, such as the
//! example config's `REPLACE_ME…` placeholder, is refused with the commands that make one.

/// What marks a value the operator still has to fill in (deploy/keyward.example.toml).
const PLACEHOLDER: &str = "REPLACE_ME";

/// How to make a token and its hash (the commands docs/operations.md uses).
const HOW_TO: &str = "make a token with `openssl rand -hex 32 > token` (keep it secret) and put the \
                      output of `tr -d '\\n' < token | sha256sum | cut -d' ' -f1` here";

/// The hash in `text`, or an error naming `field` (never the value) pushed to `errors`.
pub(super) fn parse(field: &str, text: &str, errors: &mut Vec<String>) -> Option<[u8; 32]> {
    let hash = parse_hex(text);
    if hash.is_none() {
        if text.trim_start().starts_with(PLACEHOLDER) {
            errors.push(format!("{field}: still the example's placeholder: {HOW_TO}"));
        } else {
            errors.push(format!("{field}: not 64 hex digits: {HOW_TO}"));
        }
    }
    hash
}

/// 64 hex digits as 32 bytes.
pub(super) fn parse_hex(h: &str) -> Option<[u8; 32]> {
    if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_bad_hashes_are_refused_with_how_to_make_one() {
        let mut errors = Vec::new();
        let good = "9F86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(parse("auth.bearer_token_sha256[0]", good, &mut errors).map(|h| h[0]), Some(0x9f));
        assert!(errors.is_empty());
        assert_eq!(parse("auth.bearer_token_sha256[0]", "REPLACE_ME: a hash", &mut errors), None);
        assert_eq!(parse("principals[0].bearer_token_sha256[1]", "my-s3cret-token", &mut errors), None);
        assert!(errors[0].starts_with("auth.bearer_token_sha256[0]: still the example's placeholder: "));
        assert!(errors[1].starts_with("principals[0].bearer_token_sha256[1]: not 64 hex digits: "));
        for e in &errors {
            assert!(e.contains("openssl rand -hex 32") && e.contains("sha256sum"), "{e}");
            assert!(!e.contains("s3cret") && !e.contains('\n'), "{e}");
        }
        assert_eq!(parse_hex(&"é".repeat(32)), None);
    }
}
