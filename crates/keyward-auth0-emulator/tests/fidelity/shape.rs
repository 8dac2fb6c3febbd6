//! Auth0's value formats (CONTRACT.md §1.3, §3.2) and field-by-field comparison of an emulator
//! answer with the recorded one.

use keyward_crypto::{CertArtifacts, Certificate};
use serde_json::{Map, Value};

use super::oas::type_of;

const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// `cred_` + 22 Base58 characters.
pub fn is_credential_id(s: &str) -> bool {
    s.strip_prefix("cred_").is_some_and(|rest| rest.len() == 22 && rest.chars().all(|c| BASE58.contains(c)))
}

/// An RFC 7638 SHA-256 thumbprint: 43 unpadded base64url characters.
pub fn is_thumbprint(s: &str) -> bool {
    s.len() == 43 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() == 24
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && b[23] == b'Z'
}

/// SHA-1 as `AA:BB:…` (20 bytes).
pub fn is_fingerprint(s: &str) -> bool {
    s.len() == 59
        && s.split(':').all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()))
}

/// SHA-1 as 40 uppercase hex digits.
pub fn is_hex_thumbprint(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
}

/// The framing of a PEM: label, line ending, longest line, trailing line ending.
pub fn pem_shape(s: &str) -> (String, &'static str, usize, bool) {
    let crlf = s.contains("\r\n");
    let eol = if crlf { "\r\n" } else { "\n" };
    let label = s.lines().next().unwrap_or_default().trim().to_owned();
    let longest = s.lines().map(|l| l.trim_end_matches('\r').len()).max().unwrap_or(0);
    (label, eol, longest, s.ends_with(eol))
}

/// Recorded → emulator values of generated identifiers (credential ids, connection key kids),
/// kept one-to-one.
#[derive(Default)]
pub struct IdMap {
    pairs: Vec<(String, String)>,
}

impl IdMap {
    /// Records (or checks) that `recorded` is `emulated` in this replay.
    pub fn learn(&mut self, recorded: &str, emulated: &str) -> Result<(), String> {
        match (self.to_emulated(recorded), self.pairs.iter().find(|(_, e)| e == emulated)) {
            (Some(e), _) if e != emulated => Err(format!("recorded {recorded} was {e}, now {emulated}")),
            (None, Some((r, _))) => Err(format!("emulated {emulated} answers both {r} and {recorded}")),
            (None, None) => {
                self.pairs.push((recorded.to_owned(), emulated.to_owned()));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    pub fn to_emulated(&self, recorded: &str) -> Option<&str> {
        self.pairs.iter().find(|(r, _)| r == recorded).map(|(_, e)| e.as_str())
    }

    /// Replaces every recorded identifier in `text` with its emulator counterpart.
    pub fn rewrite(&self, text: &str) -> String {
        self.pairs.iter().fold(text.to_owned(), |t, (r, e)| t.replace(r.as_str(), e))
    }

    /// `value` with every recorded identifier string replaced.
    pub fn rewrite_value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.to_emulated(s).map(str::to_owned).unwrap_or_else(|| s.clone())),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.rewrite_value(v)).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), self.rewrite_value(v))).collect()),
            other => other.clone(),
        }
    }
}

/// Problems found comparing one answer; each line names the field.
pub type Problems = Vec<String>;

fn keys(o: &Map<String, Value>) -> Vec<&str> {
    o.keys().map(String::as_str).collect()
}

/// Same JSON type for every member both have.
fn same_types(rec: &Map<String, Value>, emu: &Map<String, Value>, p: &mut Problems) {
    for (k, r) in rec {
        if let Some(e) = emu.get(k)
            && !r.is_null()
            && type_of(r) != type_of(e)
        {
            p.push(format!("{k}: recorded {} but emulated {}", type_of(r), type_of(e)));
        }
    }
}

/// A client credential: same members (a recorded `"expires_at": null` may be absent when
/// allowed), same types, Auth0's id and timestamp formats, and the values that follow from the
/// request (kid, alg, type, name, expiry) equal.
pub fn credential(rec: &Value, emu: &Value, null_expiry_ok: bool, ids: &mut IdMap) -> Problems {
    let mut p = Problems::new();
    let (Some(r), Some(e)) = (rec.as_object(), emu.as_object()) else {
        return vec![format!("expected a credential object, got {emu}")];
    };
    let mut want: Vec<&str> = keys(r);
    if null_expiry_ok && r.get("expires_at") == Some(&Value::Null) {
        want.retain(|k| *k != "expires_at");
    }
    let (mut want, mut got) = (want, keys(e));
    want.sort_unstable();
    got.sort_unstable();
    if want != got {
        p.push(format!("members: recorded {want:?}, emulated {got:?}"));
    }
    same_types(r, e, &mut p);
    let id = e["id"].as_str().unwrap_or_default();
    if !is_credential_id(id) {
        p.push(format!("id {id:?} is not cred_ + 22 Base58"));
    }
    if let Some(rid) = r["id"].as_str()
        && let Err(why) = ids.learn(rid, id)
    {
        p.push(why);
    }
    if !e["kid"].as_str().is_some_and(is_thumbprint) && r["kid"].as_str().is_some_and(is_thumbprint) {
        p.push(format!("kid {} is not an RFC 7638 thumbprint", e["kid"]));
    }
    for k in ["kid", "alg", "credential_type", "name", "expires_at"] {
        if r.get(k).is_some_and(|v| !v.is_null()) && r.get(k) != e.get(k) {
            p.push(format!("{k}: recorded {}, emulated {}", r[k], e[k]));
        }
    }
    for k in ["created_at", "updated_at", "expires_at"] {
        if let Some(v) = e.get(k)
            && !v.as_str().is_some_and(is_timestamp)
        {
            p.push(format!("{k} {v} is not YYYY-MM-DDTHH:MM:SS.mmmZ"));
        }
    }
    p
}

/// A credential list: the same credentials (matched by id; Auth0's order is not stable).
pub fn credential_list(rec: &Value, emu: &Value, null_expiry_ok: bool, ids: &mut IdMap) -> Problems {
    let (Some(r), Some(e)) = (rec.as_array(), emu.as_array()) else {
        return vec![format!("expected a list, got {emu}")];
    };
    if r.len() != e.len() {
        return vec![format!("recorded {} credentials, emulated {}", r.len(), e.len())];
    }
    let mut p = Problems::new();
    for item in r {
        let want = item["id"].as_str().and_then(|id| ids.to_emulated(id)).map(str::to_owned);
        match e.iter().find(|x| x["id"].as_str() == want.as_deref()) {
            Some(found) => p.extend(credential(item, found, null_expiry_ok, ids)),
            None => p.push(format!("no emulated credential for recorded {}", item["id"])),
        }
    }
    p
}

/// The members of a client that concern credentials: their presence and (with recorded ids
/// rewritten) their values; for the other members the emulator has, only their types.
pub fn client(rec: &Value, emu: &Value, secret_may_hide: bool, ids: &IdMap) -> Problems {
    let mut p = Problems::new();
    let (Some(r), Some(e)) = (rec.as_object(), emu.as_object()) else {
        return vec![format!("expected a client object, got {emu}")];
    };
    for k in ["client_id", "name"] {
        if r.get(k) != e.get(k) {
            p.push(format!("{k}: recorded {:?}, emulated {:?}", r.get(k), e.get(k)));
        }
    }
    let secret_ok = match (r.contains_key("client_secret"), e.contains_key("client_secret")) {
        (true, false) => secret_may_hide,
        (a, b) => a == b,
    };
    if !secret_ok {
        p.push(format!(
            "client_secret: recorded present={}, emulated present={}",
            r.contains_key("client_secret"),
            e.contains_key("client_secret")
        ));
    }
    for k in [
        "token_endpoint_auth_method",
        "client_authentication_methods",
        "signed_request_object",
        "token_vault_privileged_access",
    ] {
        let want = r.get(k).map(|v| ids.rewrite_value(v));
        if want.as_ref() != e.get(k) {
            p.push(format!("{k}: recorded {want:?}, emulated {:?}", e.get(k)));
        }
    }
    if let Some(alg) = r.get("jwt_configuration").and_then(|j| j.get("alg"))
        && e.get("jwt_configuration").and_then(|j| j.get("alg")) != Some(alg)
    {
        p.push(format!("jwt_configuration.alg: recorded {alg}, emulated {:?}", e.get("jwt_configuration")));
    }
    same_types(r, e, &mut p);
    p
}

fn status_flag(k: &Value) -> &'static str {
    ["current", "next", "previous"].into_iter().find(|f| k[*f] == Value::Bool(true)).unwrap_or("none")
}

/// A connection key: Auth0's members in Auth0's order (a subset when the recording holds the
/// 2025 `{kid, cert}` rotate answer), the same algorithm, use, subject and status, Auth0's
/// formats, a kid and fingerprints that are those of the certificate, and a stable kid mapping.
pub fn connection_key(rec: &Value, emu: &Value, partial: bool, kids: &mut IdMap) -> Problems {
    let mut p = Problems::new();
    let (Some(r), Some(e)) = (rec.as_object(), emu.as_object()) else {
        return vec![format!("expected a key object, got {emu}")];
    };
    let (want, got) = (keys(r), keys(e));
    if partial {
        if let Some(missing) = want.iter().find(|k| !got.contains(k)) {
            p.push(format!("member {missing} of the recorded key is missing"));
        }
    } else if want != got {
        p.push(format!("members in order: recorded {want:?}, emulated {got:?}"));
    }
    same_types(r, e, &mut p);
    for k in ["algorithm", "key_use", "subject_dn"] {
        if r.contains_key(k) && r.get(k) != e.get(k) {
            p.push(format!("{k}: recorded {}, emulated {}", r[k], e[k]));
        }
    }
    if !partial && status_flag(rec) != status_flag(emu) {
        p.push(format!("status: recorded {}, emulated {}", status_flag(rec), status_flag(emu)));
    }
    let kid = e["kid"].as_str().unwrap_or_default();
    if !is_thumbprint(kid) {
        p.push(format!("kid {kid:?} is not an RFC 7638 thumbprint"));
    }
    if let Some(rk) = r["kid"].as_str()
        && let Err(why) = kids.learn(rk, kid)
    {
        p.push(why);
    }
    if let Some(f) = e.get("fingerprint").and_then(Value::as_str).filter(|f| !is_fingerprint(f)) {
        p.push(format!("fingerprint {f:?} is not colon-separated SHA-1 hex"));
    }
    if let Some(t) = e.get("thumbprint").and_then(Value::as_str).filter(|t| !is_hex_thumbprint(t)) {
        p.push(format!("thumbprint {t:?} is not 40 hex digits"));
    }
    for k in ["cert", "pkcs"] {
        if let (Some(rv), Some(ev)) = (r.get(k).and_then(Value::as_str), e.get(k).and_then(Value::as_str))
            && pem_shape(rv) != pem_shape(ev)
        {
            p.push(format!("{k} framing: recorded {:?}, emulated {:?}", pem_shape(rv), pem_shape(ev)));
        }
    }
    if let Some(since) = e.get("current_since")
        && !since.as_str().is_some_and(is_timestamp)
    {
        p.push(format!("current_since {since} is not YYYY-MM-DDTHH:MM:SS.mmmZ"));
    }
    match Certificate::from_pem(e["cert"].as_str().unwrap_or_default())
        .and_then(|c| CertArtifacts::from_certificate(&c, None))
    {
        Ok(a) => {
            if a.kid != kid || Some(a.fingerprint.as_str()) != e.get("fingerprint").and_then(Value::as_str) {
                p.push("kid or fingerprint is not that of the certificate".into());
            }
        }
        Err(err) => p.push(format!("cert does not parse: {err}")),
    }
    p
}

/// A key list: the same statuses in the same order, each key as [`connection_key`].
pub fn connection_keys(rec: &Value, emu: &Value, kids: &mut IdMap) -> Problems {
    let (Some(r), Some(e)) = (rec.as_array(), emu.as_array()) else {
        return vec![format!("expected a list, got {emu}")];
    };
    let (rs, es): (Vec<_>, Vec<_>) = (r.iter().map(status_flag).collect(), e.iter().map(status_flag).collect());
    if rs != es {
        return vec![format!("statuses: recorded {rs:?}, emulated {es:?}")];
    }
    r.iter().zip(e).flat_map(|(rk, ek)| connection_key(rk, ek, false, kids)).collect()
}

/// A token answer: the same members and types, `token_type` and `expires_in` equal, a JWT.
pub fn token(rec: &Value, emu: &Value) -> Problems {
    let mut p = Problems::new();
    let (Some(r), Some(e)) = (rec.as_object(), emu.as_object()) else {
        return vec![format!("expected a token object, got {emu}")];
    };
    let (mut want, mut got) = (keys(r), keys(e));
    want.sort_unstable();
    got.sort_unstable();
    if want != got {
        p.push(format!("members: recorded {want:?}, emulated {got:?}"));
    }
    same_types(r, e, &mut p);
    for k in ["token_type", "expires_in"] {
        if r.get(k) != e.get(k) {
            p.push(format!("{k}: recorded {:?}, emulated {:?}", r.get(k), e.get(k)));
        }
    }
    if e["access_token"].as_str().is_none_or(|t| t.split('.').count() != 3) {
        p.push("access_token is not a compact JWT".into());
    }
    p
}
