//! The `aud` of a client assertion. Auth0 wants its issuer, `https://{domain}/`; the token
//! endpoint URL and arrays of audiences still work but are deprecated (CONTRACT.md §5.2), so they
//! are refused unless the tenant allows legacy audiences.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Error;

/// One audience, or a JSON array of them (legacy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Resolves the caller's `audience` (empty = the issuer).
pub(super) fn resolve(audience: Option<&str>, domain: &str, legacy: bool) -> Result<Audience, Error> {
    let issuer = format!("https://{domain}/");
    let token_endpoint = format!("https://{domain}/oauth/token");
    let Some(aud) = audience.map(str::trim).filter(|a| !a.is_empty()) else { return Ok(Audience::One(issuer)) };
    if aud.len() > 2048 {
        return Err(Error::arg("audience", "must be at most 2048 characters"));
    }
    let deprecated = "is deprecated by Auth0; use the issuer";
    if aud.starts_with('[') {
        let list: Vec<String> = serde_json::from_str(aud)
            .map_err(|_| Error::arg("audience", "an array must be a JSON array of strings"))?;
        if !legacy {
            return Err(Error::arg(
                "audience",
                format!("an array {deprecated} {issuer:?} (or allow legacy audiences)"),
            ));
        }
        if list.is_empty() || !list.iter().all(|a| *a == issuer || *a == token_endpoint) {
            return Err(Error::arg("audience", format!("every entry must be {issuer:?} or {token_endpoint:?}")));
        }
        return Ok(Audience::Many(list));
    }
    if aud == issuer {
        Ok(Audience::One(issuer))
    } else if aud == token_endpoint || aud == issuer.trim_end_matches('/') {
        if legacy {
            Ok(Audience::One(aud.to_owned()))
        } else {
            Err(Error::arg("audience", format!("{aud:?} {deprecated} {issuer:?} (or allow legacy audiences)")))
        }
    } else {
        Err(Error::arg("audience", format!("must be the tenant's issuer {issuer:?}")))
    }
}

/// Assertion claims with an array `aud` (the single-audience case uses keyward-crypto's
/// `client_assertion`).
pub(super) fn claims(client_id: &str, audiences: &[String], now: SystemTime, lifetime: Duration) -> Vec<u8> {
    let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": audiences,
        "iat": iat, "exp": iat + lifetime.as_secs(), "jti": crate::ids::uuid_v4(),
    });
    claims.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "t.example";

    #[test]
    fn issuer_by_default_and_deprecated_forms_only_when_allowed() {
        let issuer = Audience::One("https://t.example/".into());
        assert_eq!(resolve(None, D, false).unwrap(), issuer);
        assert_eq!(resolve(Some(""), D, false).unwrap(), issuer);
        assert_eq!(resolve(Some("https://t.example/"), D, false).unwrap(), issuer);
        for legacy in ["https://t.example/oauth/token", r#"["https://t.example/"]"#] {
            let err = resolve(Some(legacy), D, false).unwrap_err().to_string();
            assert!(err.starts_with("audience:") && err.contains("deprecated"), "{err}");
            assert!(resolve(Some(legacy), D, true).is_ok(), "{legacy}");
        }
        for bad in ["https://evil.example/", r#"["https://evil.example/"]"#, "[1]", "[]"] {
            assert!(resolve(Some(bad), D, true).is_err(), "{bad}");
        }
    }
}
