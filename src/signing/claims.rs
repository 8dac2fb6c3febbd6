//! SignJwt's claims. They are read strictly, so what keyward checks is what every verifier
//! reads: a key that appears twice in one object, at any depth, is refused (a verifier that takes
//! the first `exp` and one that takes the last would disagree). And claims shaped like an Auth0
//! client assertion for the tenant are recognised, so SignJwt cannot mint one outside
//! SignClientAssertion's rules.
//!
//! The document is read in one pass that keeps only the members keyward checks (`exp`, `aud`,
//! `iss`, `sub`); everything else is walked for duplicate keys and dropped, so a call builds no
//! tree of the caller's claims (the signature covers the caller's bytes as sent).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::Error;

/// The members of a claims object that keyward checks.
#[derive(Debug, Default)]
pub(super) struct Claims {
    /// `exp`, if it is an integer.
    pub exp: Option<i64>,
    aud: Option<Value>,
    iss: Option<Value>,
    sub: Option<Value>,
}

/// Keys of one object seen so far: a list while short, a set beyond, so a document of many
/// tiny keys costs linear time.
#[derive(Default)]
struct Seen<'de> {
    few: Vec<Cow<'de, str>>,
    many: HashSet<Cow<'de, str>>,
}

impl<'de> Seen<'de> {
    /// Records `key`; false if it was already there.
    fn insert(&mut self, key: Cow<'de, str>) -> bool {
        if !self.many.is_empty() {
            return self.many.insert(key);
        }
        if self.few.contains(&key) {
            return false;
        }
        self.few.push(key);
        if self.few.len() > 16 {
            self.many.extend(self.few.drain(..));
        }
        true
    }
}

fn twice<E: de::Error>(key: &str) -> E {
    let shown: String = key.chars().take(64).collect();
    E::custom(format!("the key {shown:?} appears twice"))
}

/// A key of an object, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Walks any value, refusing duplicate keys, keeping nothing.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = Seen::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if !seen.insert(key.clone()) {
                return Err(twice(&key));
            }
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }
}

/// A value kept whole (for `aud`, `iss`, `sub`, `exp`), refusing duplicate keys inside it.
struct Keep;

impl<'de> DeserializeSeed<'de> for Keep {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Keep {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Keep)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if object.contains_key(key.as_ref()) {
                return Err(twice(&key));
            }
            let v = map.next_value_seed(Keep)?;
            object.insert(key.into_owned(), v);
        }
        Ok(Value::Object(object))
    }
}

/// The top-level object.
struct Top;

impl<'de> Visitor<'de> for Top {
    type Value = Option<Claims>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Claims>, A::Error> {
        let mut claims = Claims::default();
        let mut seen = Seen::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if !seen.insert(key.clone()) {
                return Err(twice(&key));
            }
            let slot = match key.as_ref() {
                "aud" => &mut claims.aud,
                "iss" => &mut claims.iss,
                "sub" => &mut claims.sub,
                "exp" => {
                    claims.exp = map.next_value_seed(Keep)?.as_i64();
                    continue;
                }
                _ => {
                    map.next_value_seed(Skip)?;
                    continue;
                }
            };
            *slot = Some(map.next_value_seed(Keep)?);
        }
        Ok(Some(claims))
    }

    // Anything but an object is read through (so the error is the same for all of them) and
    // refused by the caller.
    fn visit_bool<E>(self, _: bool) -> Result<Option<Claims>, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Option<Claims>, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Option<Claims>, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Option<Claims>, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Option<Claims>, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Option<Claims>, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Claims>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// Reads claims as a JSON object in one pass, refusing a duplicate key at any depth
/// (INVALID_ARGUMENT naming `claims_json` and the key).
pub(super) fn parse(json: &str) -> Result<Claims, Error> {
    let mut d = serde_json::Deserializer::from_str(json);
    let read = d.deserialize_any(Top).and_then(|c| d.end().map(|()| c));
    match read {
        Ok(Some(claims)) => Ok(claims),
        Ok(None) => Err(Error::arg("claims_json", "must be a JSON object")),
        Err(e) if e.to_string().contains("appears twice") => Err(Error::arg("claims_json", e.to_string())),
        Err(_) => Err(Error::arg("claims_json", "must be a JSON object")),
    }
}

/// Whether `aud` names the tenant at `domain`: its issuer or its token endpoint.
fn names_tenant(aud: &str, domain: &str) -> bool {
    aud.trim()
        .strip_prefix("https://")
        .and_then(|rest| rest.strip_prefix(domain))
        .is_some_and(|path| matches!(path, "" | "/" | "/oauth/token"))
}

impl Claims {
    /// Whether they look like an Auth0 client assertion of `client_id` for the tenant at
    /// `domain`: an `aud` naming the tenant's issuer or token endpoint, or `iss` = `sub` = the
    /// client id.
    pub(super) fn is_client_assertion(&self, client_id: &str, domain: &str) -> bool {
        let names = |v: &Value| v.as_str().is_some_and(|a| names_tenant(a, domain));
        let aud = match &self.aud {
            Some(Value::Array(list)) => list.iter().any(names),
            Some(v) => names(v),
            None => false,
        };
        let own = |v: &Option<Value>| v.as_ref().and_then(Value::as_str) == Some(client_id);
        aud || (own(&self.iss) && own(&self.sub))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for json in [
            r#"{"exp":2111974343,"exp":1796614403}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"{"a":[{"x":1,"x":1}]}"#,
            r#"{"aud":{"x":1,"x":1}}"#,
            r#"{"a\u0062":1,"ab":2}"#,
        ] {
            let err = parse(json).unwrap_err().to_string();
            assert!(err.starts_with("claims_json") && err.contains("appears twice"), "{json}: {err}");
        }
        // Many keys, then one repeated: found past the list's length too.
        let mut many: Vec<String> = (0..40).map(|i| format!(r#""k{i}":{i}"#)).collect();
        many.push(r#""k3":0"#.into());
        let err = parse(&format!("{{{}}}", many.join(","))).unwrap_err().to_string();
        assert!(err.contains("\"k3\" appears twice"), "{err}");
        many.pop();
        assert!(parse(&format!("{{{}}}", many.join(","))).is_ok());
        assert!(parse(r#"{"a":{"b":1},"b":{"a":2},"c":[{"a":1},{"a":2}]}"#).is_ok());
        for not_object in ["[1]", "nope", "1", "\"s\"", "null", "{} {}", "{\"a\":1"] {
            assert!(parse(not_object).unwrap_err().to_string().contains("JSON object"), "{not_object}");
        }
    }

    #[test]
    fn exp_is_read_when_it_is_an_integer() {
        assert_eq!(parse(r#"{"exp":1796614403,"x":{"exp":1}}"#).unwrap().exp, Some(1_796_614_403));
        assert_eq!(parse(r#"{"exp":"1796614403"}"#).unwrap().exp, None);
        assert_eq!(parse(r#"{"exp":1.5}"#).unwrap().exp, None);
        assert_eq!(parse("{}").unwrap().exp, None);
    }

    #[test]
    fn client_assertions_are_recognised() {
        let claims = |j: &str| parse(j).unwrap();
        let d = "t.example";
        assert!(claims(r#"{"aud":"https://t.example/"}"#).is_client_assertion("app", d));
        assert!(claims(r#"{"aud":" https://t.example "}"#).is_client_assertion("app", d));
        assert!(claims(r#"{"aud":["x","https://t.example/oauth/token"]}"#).is_client_assertion("app", d));
        assert!(claims(r#"{"iss":"app","sub":"app","aud":"https://api/"}"#).is_client_assertion("app", d));
        assert!(!claims(r#"{"iss":"app","sub":"order-1","aud":"https://api/"}"#).is_client_assertion("app", d));
        assert!(!claims(r#"{"aud":"https://other.example/"}"#).is_client_assertion("app", d));
        assert!(!claims(r#"{"aud":"https://t.example.evil/"}"#).is_client_assertion("app", d));
        assert!(!claims(r#"{"aud":"https://t.example/other"}"#).is_client_assertion("app", d));
        assert!(!claims(r#"{"nested":{"aud":"https://t.example/"}}"#).is_client_assertion("app", d));
    }
}
