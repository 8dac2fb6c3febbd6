//! `[tenants.NAME] signing_keys = { … }` and `[[tenants.NAME.verifiers]]`: how keyward rotates a
//! tenant's signing keys and when it may revoke the previous one.

use std::time::Duration;

use serde::Deserialize;

use super::plaintext;

/// Auth0's default access-token lifetime (86400 s), the default longest token lifetime.
const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Auth0's longest access-token lifetime (2592000 s, 30 days).
const LONGEST_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// The most verifiers a tenant may list (each is polled until it shows the new key).
pub const MAX_VERIFIERS: usize = 32;

/// `signing_keys = { max_token_lifetime = "24h", auto_revoke = true }` as written.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SigningKeysFile {
    max_token_lifetime: Option<String>,
    auto_revoke: Option<bool>,
}

/// `[[tenants.NAME.verifiers]]` as written.
#[derive(Debug, Deserialize)]
pub(super) struct VerifierFile {
    jwks_url: String,
}

/// A tenant's signing-key rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeysPolicy {
    /// The longest lifetime of a token the tenant issues: the previous key is revoked no sooner
    /// than this long after the rotation (tokens it signed may live that long).
    pub max_token_lifetime: Duration,
    /// Whether keyward revokes the previous key by itself once the rules allow it.
    pub auto_revoke: bool,
    /// The JWKS copies (API gateways, services) that must show the new current key before the
    /// previous one is revoked.
    pub verifiers: Vec<String>,
}

impl Default for SigningKeysPolicy {
    fn default() -> Self {
        Self { max_token_lifetime: DEFAULT_MAX_TOKEN_LIFETIME, auto_revoke: true, verifiers: Vec::new() }
    }
}

/// Resolves the tenant's `signing_keys` and `verifiers`, naming each bad key in `errors`.
pub(super) fn resolve(
    tenant: &str,
    file: Option<SigningKeysFile>,
    verifiers: Vec<VerifierFile>,
    errors: &mut Vec<String>,
) -> SigningKeysPolicy {
    let file = file.unwrap_or_default();
    let mut policy = SigningKeysPolicy::default();
    if let Some(text) = &file.max_token_lifetime {
        match humantime::parse_duration(text) {
            Ok(d) if d >= Duration::from_secs(1) && d <= LONGEST_TOKEN_LIFETIME => policy.max_token_lifetime = d,
            _ => errors.push(format!(
                "tenants.{tenant}.signing_keys.max_token_lifetime: {text:?} is not a duration from 1s to 30d"
            )),
        }
    }
    if let Some(auto) = file.auto_revoke {
        policy.auto_revoke = auto;
    }
    if verifiers.len() > MAX_VERIFIERS {
        errors.push(format!("tenants.{tenant}.verifiers: at most {MAX_VERIFIERS} verifiers"));
    }
    for (i, v) in verifiers.into_iter().enumerate() {
        match jwks_url_problem(&v.jwks_url) {
            Some(problem) => errors.push(format!("tenants.{tenant}.verifiers[{i}].jwks_url: {problem}")),
            None if policy.verifiers.contains(&v.jwks_url) => {
                errors.push(format!("tenants.{tenant}.verifiers[{i}].jwks_url: listed twice"));
            }
            None => policy.verifiers.push(v.jwks_url),
        }
    }
    policy
}

/// The problem with a verifier's JWKS URL: as a tenant's `base_url`, `https://` anywhere and
/// `http://` only to a loopback host; no credentials in it (it is shown in answers and logs).
fn jwks_url_problem(text: &str) -> Option<&'static str> {
    if let Some(problem) = plaintext::base_url_problem(text) {
        return Some(problem);
    }
    match url::Url::parse(text) {
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            Some("must not carry credentials (it is shown in answers and logs)")
        }
        Ok(u) if u.host().is_none() => Some("has no host"),
        Ok(_) => None,
        Err(_) => Some("not a URL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(url: &str) -> VerifierFile {
        VerifierFile { jwks_url: url.to_owned() }
    }

    #[test]
    fn defaults_and_values() {
        let mut errors = Vec::new();
        assert_eq!(resolve("t", None, Vec::new(), &mut errors), SigningKeysPolicy::default());
        let file = SigningKeysFile { max_token_lifetime: Some("2h".into()), auto_revoke: Some(false) };
        let p =
            resolve("t", Some(file), vec![v("https://gw.example/jwks.json"), v("http://127.0.0.1:9/j")], &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(p.max_token_lifetime, Duration::from_secs(7200));
        assert!(!p.auto_revoke);
        assert_eq!(p.verifiers.len(), 2);
    }

    #[test]
    fn bad_values_are_named() {
        let mut errors = Vec::new();
        let file = SigningKeysFile { max_token_lifetime: Some("31d".into()), auto_revoke: None };
        let verifiers = vec![
            v("http://gw.example/jwks.json"),
            v("ftp://x"),
            v("https://u:p@gw.example/j"),
            v("https://a.example/j"),
            v("https://a.example/j"),
        ];
        resolve("t", Some(file), verifiers, &mut errors);
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(errors[0].starts_with("tenants.t.signing_keys.max_token_lifetime: "), "{}", errors[0]);
        assert!(errors[1].starts_with("tenants.t.verifiers[0].jwks_url: http:// is allowed only"), "{}", errors[1]);
        assert!(errors[2].starts_with("tenants.t.verifiers[1].jwks_url: "), "{}", errors[2]);
        assert!(errors[3].contains("credentials") && !errors[3].contains("u:p"), "{}", errors[3]);
        assert!(errors[4].ends_with("listed twice"), "{}", errors[4]);
    }
}
