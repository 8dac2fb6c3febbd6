//! Reading a tenant from Auth0 for its inventory: every client (all pages of `GET /clients`,
//! within the adapter's bounds) with its credential records and the methods that list them,
//! the managed connections' keys and the tenant's signing keys. Every call goes through the
//! adapter, which waits out 429s until Auth0's reset time.

use std::collections::{BTreeMap, BTreeSet};

use keyward_auth0::{Auth0Client, Client, ClientAuthenticationMethods, ClientCredential, Error as Auth0Error};
use keyward_crypto::Certificate;

use super::types::{ClientEntry, ConnectionKeyEntry, CredentialEntry, Gap, SigningKeyEntry};
use crate::Error;
use crate::clock::Timestamp;

/// An inventory reads at most this many clients (one credentials call each)…
pub(super) const MAX_CLIENTS: usize = 10_000;
/// …and at most this many records per client (Auth0 holds at most 4).
pub(super) const MAX_RECORDS: usize = 16;
/// A method name Auth0 adds is kept when it is at most this long (lowercase, digits, `_`)…
const MAX_METHOD_NAME: usize = 64;
/// …and at most this many methods per client are read.
const MAX_METHODS: usize = 16;

/// The client fields an inventory needs (no secrets).
const FIELDS: &[&str] = &[
    "client_id",
    "name",
    "app_type",
    "client_authentication_methods",
    "signed_request_object",
    "token_vault_privileged_access",
];

/// An RFC 3339 time as a timestamp; `None` when it does not parse.
fn parse_time(text: Option<&str>) -> Option<Timestamp> {
    let t = time::OffsetDateTime::parse(text?, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok().map(Timestamp::from_millis)
}

/// A certificate's validity, when it parses.
fn validity(cert_pem: &str) -> (Option<Timestamp>, Option<Timestamp>) {
    match Certificate::from_pem(cert_pem) {
        Ok(c) => (Some(Timestamp::from_system(c.not_before())), Some(Timestamp::from_system(c.not_after()))),
        Err(_) => (None, None),
    }
}

/// Which methods list each credential id: the client's top-level `signed_request_object` (JAR)
/// and `token_vault_privileged_access`, and its `client_authentication_methods` (the methods
/// Auth0 documents, and any other whose value holds a `credentials` list, within bounds).
fn slots(client: &Client) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let top = [
        ("signed_request_object", &client.signed_request_object),
        ("token_vault_privileged_access", &client.token_vault_privileged_access),
    ];
    for (method, list) in top {
        for c in list.iter().flat_map(|l| l.credentials.iter()) {
            out.entry(c.id.clone()).or_default().insert(method.to_owned());
        }
    }
    if let Some(m) = &client.client_authentication_methods {
        methods(m, &mut out);
    }
    out
}

/// The credential ids each of `client_authentication_methods` lists, into `out`.
fn methods(m: &ClientAuthenticationMethods, out: &mut BTreeMap<String, BTreeSet<String>>) {
    let typed = [
        ("private_key_jwt", &m.private_key_jwt),
        ("signed_request_object", &m.signed_request_object),
        ("tls_client_auth", &m.tls_client_auth),
        ("self_signed_tls_client_auth", &m.self_signed_tls_client_auth),
    ];
    for (method, list) in typed {
        for c in list.iter().flat_map(|l| l.credentials.iter()) {
            out.entry(c.id.clone()).or_default().insert(method.to_owned());
        }
    }
    let named = |n: &str| {
        !n.is_empty()
            && n.len() <= MAX_METHOD_NAME
            && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    for (method, value) in m.other.iter().filter(|(n, _)| named(n)).take(MAX_METHODS) {
        let ids = value.get("credentials").and_then(|c| c.as_array()).into_iter().flatten();
        for id in ids.filter_map(|c| c.get("id").and_then(|i| i.as_str()).or_else(|| c.as_str())) {
            out.entry(id.to_owned()).or_default().insert(method.clone());
        }
    }
}

fn entry(c: ClientCredential, slots: &BTreeMap<String, BTreeSet<String>>) -> CredentialEntry {
    CredentialEntry {
        slots: slots.get(&c.id).map(|s| s.iter().cloned().collect()).unwrap_or_default(),
        created_at: parse_time(c.created_at.as_deref()),
        expires_at: parse_time(c.expires_at.as_deref()),
        credential_id: c.id,
        name: c.name,
        kid: c.kid,
        algorithm: c.alg,
        credential_type: c.credential_type,
        managed: None,
        flags: Vec::new(),
    }
}

/// Every client with its credential records (flags and keyward's states still to fill in),
/// by client id. A client deleted between the listing and its credentials is left out; any
/// other failure fails the inventory, so that drift never compares with a partial reading.
pub(super) async fn clients(auth0: &Auth0Client, managed: &BTreeSet<String>) -> Result<Vec<ClientEntry>, Error> {
    let mut listed: Vec<Client> = auth0.list_clients(Some(FIELDS)).await?;
    if listed.len() > MAX_CLIENTS {
        return Err(Error::FailedPrecondition(format!(
            "the tenant has {} clients; an inventory reads at most {MAX_CLIENTS}",
            listed.len()
        )));
    }
    listed.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    let mut out = Vec::with_capacity(listed.len());
    for client in listed {
        let records = match auth0.list_credentials(&client.client_id).await {
            Ok(r) => r,
            Err(Auth0Error::ClientNotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if records.len() > MAX_RECORDS {
            return Err(Error::FailedPrecondition(format!(
                "Auth0 lists {} credential records for client {:?}; an inventory reads at most {MAX_RECORDS}",
                records.len(),
                client.client_id
            )));
        }
        let slots = slots(&client);
        let mut credentials: Vec<CredentialEntry> = records.into_iter().map(|c| entry(c, &slots)).collect();
        credentials.sort_by(|a, b| a.credential_id.cmp(&b.credential_id));
        credentials.dedup_by(|a, b| a.credential_id == b.credential_id);
        out.push(ClientEntry {
            managed_by_keyward: managed.contains(&client.client_id),
            client_id: client.client_id,
            name: client.name,
            app_type: client.app_type,
            credentials,
        });
    }
    Ok(out)
}

/// The keys of each managed connection; a connection whose keys cannot be read is a gap.
pub(super) async fn connection_keys(
    auth0: &Auth0Client,
    connections: &BTreeSet<String>,
    gaps: &mut Vec<Gap>,
) -> Vec<ConnectionKeyEntry> {
    let mut out = Vec::new();
    for id in connections {
        match auth0.get_connection_keys(id).await {
            Ok(keys) => out.extend(keys.into_iter().map(|k| {
                let (not_before, not_after) = validity(&k.cert);
                ConnectionKeyEntry {
                    connection_id: id.clone(),
                    current_since: parse_time(k.current_since.as_deref()),
                    kid: k.kid,
                    current: k.current,
                    next: k.next,
                    previous: k.previous,
                    algorithm: k.algorithm,
                    not_before,
                    not_after,
                    flags: Vec::new(),
                }
            })),
            Err(e) => {
                gaps.push(Gap { what: "connection", id: id.clone(), error: Error::from(e).naming("connection_id", id) })
            }
        }
    }
    out
}

/// The tenant's signing keys; when they cannot be read, none and a gap.
pub(super) async fn signing_keys(auth0: &Auth0Client, gaps: &mut Vec<Gap>) -> Vec<SigningKeyEntry> {
    match auth0.list_signing_keys().await {
        Ok(keys) => keys
            .into_iter()
            .map(|k| {
                let (not_before, not_after) = validity(&k.cert);
                let at = |d: Option<&keyward_auth0::SigningKeyDate>| parse_time(d.and_then(|d| d.as_str()));
                SigningKeyEntry {
                    current_since: at(k.current_since.as_ref()),
                    current_until: at(k.current_until.as_ref()),
                    revoked_at: at(k.revoked_at.as_ref()),
                    kid: k.kid,
                    current: k.current,
                    next: k.next,
                    previous: k.previous,
                    revoked: k.revoked,
                    not_before,
                    not_after,
                    flags: Vec::new(),
                }
            })
            .collect(),
        Err(e) => {
            gaps.push(Gap { what: "signing_keys", id: String::new(), error: e.into() });
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_listing_a_record_is_a_slot_and_hostile_names_are_not() {
        let client: Client = serde_json::from_value(serde_json::json!({
            "client_id": "app",
            "client_authentication_methods": {
                "private_key_jwt": {"credentials": [{"id": "a"}, {"id": "b"}]},
                "some_future_method": {"credentials": [{"id": "d"}]},
                "Evil Method\n": {"credentials": [{"id": "a"}]},
            },
            "signed_request_object": {"required": false, "credentials": [{"id": "b"}]},
            "token_vault_privileged_access": {"credentials": [{"id": "c"}], "ip_allowlist": []},
        }))
        .unwrap();
        let s = slots(&client);
        let names = |id: &str| s[id].iter().cloned().collect::<Vec<_>>();
        assert_eq!(names("a"), vec!["private_key_jwt"]);
        assert_eq!(names("b"), vec!["private_key_jwt", "signed_request_object"]);
        assert_eq!(names("c"), vec!["token_vault_privileged_access"]);
        assert_eq!(names("d"), vec!["some_future_method"]);
        let bare: Client = serde_json::from_value(serde_json::json!({"client_id": "app"})).unwrap();
        assert!(slots(&bare).is_empty());
    }

    #[test]
    fn times_parse_or_are_absent() {
        assert_eq!(parse_time(Some("2023-05-16T08:57:30.562Z")), Some(Timestamp::from_millis(1_684_227_450_562)));
        assert_eq!(parse_time(Some("yesterday")), None);
        assert_eq!(parse_time(None), None);
    }
}
