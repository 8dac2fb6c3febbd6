//! SignJwt's claims. They are parsed strictly, so what keyward checks is what every verifier
//! reads: a key that appears twice in one object, at any depth, is refused (a verifier that takes
//! the first `exp` and one that takes the last would disagree). And claims shaped like an Auth0
//! client assertion for the tenant are recognised, so SignJwt cannot mint one outside
//! SignClientAssertion's rules.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::Error;

/// A JSON value built in one pass, refusing a key that appears twice in one object.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Walk)
    }
}

struct Walk;

impl<'de> Visitor<'de> for Walk {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Strict(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let shown: String = key.chars().take(64).collect();
                return Err(de::Error::custom(format!("the key {shown:?} appears twice")));
            }
            let Strict(v) = map.next_value()?;
            object.insert(key, v);
        }
        Ok(Strict(Value::Object(object)))
    }
}

/// Parses claims as a JSON object in one pass, refusing a duplicate key at any depth
/// (INVALID_ARGUMENT naming `claims_json` and the key).
pub(super) fn parse(json: &str) -> Result<Map<String, Value>, Error> {
    match serde_json::from_str::<Strict>(json) {
        Ok(Strict(Value::Object(map))) => Ok(map),
        Ok(_) => Err(Error::arg("claims_json", "must be a JSON object")),
        Err(e) if e.to_string().contains("appears twice") => Err(Error::arg("claims_json", e.to_string())),
        Err(_) => Err(Error::arg("claims_json", "must be a JSON object")),
    }
}

/// Whether claims look like an Auth0 client assertion of `client_id` for the tenant at `domain`:
/// an `aud` naming the tenant's issuer or token endpoint, or `iss` = `sub` = the client id.
pub(super) fn is_client_assertion(claims: &Map<String, Value>, client_id: &str, domain: &str) -> bool {
    let tenant_audiences =
        [format!("https://{domain}/"), format!("https://{domain}"), format!("https://{domain}/oauth/token")];
    let names_tenant = |v: &Value| v.as_str().is_some_and(|a| tenant_audiences.iter().any(|t| t == a.trim()));
    let aud = match claims.get("aud") {
        Some(Value::Array(list)) => list.iter().any(names_tenant),
        Some(v) => names_tenant(v),
        None => false,
    };
    let own = |k: &str| claims.get(k).and_then(Value::as_str) == Some(client_id);
    aud || (own("iss") && own("sub"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for json in [r#"{"exp":2111974343,"exp":1796614403}"#, r#"{"a":{"b":1,"b":2}}"#, r#"{"a":[{"x":1,"x":1}]}"#] {
            let err = parse(json).unwrap_err().to_string();
            assert!(err.starts_with("claims_json") && err.contains("appears twice"), "{json}: {err}");
        }
        assert!(parse(r#"{"a":{"b":1},"b":{"a":2},"c":[{"a":1},{"a":2}]}"#).is_ok());
        assert!(parse("[1]").unwrap_err().to_string().contains("JSON object"));
        assert!(parse("nope").unwrap_err().to_string().contains("JSON object"));
    }

    #[test]
    fn client_assertions_are_recognised() {
        let claims = |j: &str| parse(j).unwrap();
        let d = "t.example";
        assert!(is_client_assertion(&claims(r#"{"aud":"https://t.example/"}"#), "app", d));
        assert!(is_client_assertion(&claims(r#"{"aud":["x","https://t.example/oauth/token"]}"#), "app", d));
        assert!(is_client_assertion(&claims(r#"{"iss":"app","sub":"app","aud":"https://api/"}"#), "app", d));
        assert!(!is_client_assertion(&claims(r#"{"iss":"app","sub":"order-1","aud":"https://api/"}"#), "app", d));
        assert!(!is_client_assertion(&claims(r#"{"aud":"https://other.example/"}"#), "app", d));
    }
}
