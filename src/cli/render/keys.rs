//! Keys: a client's credentials (`credentials list`) and a connection's signing keys
//! (`rotate connection`, `connection keys`).

use serde_json::{Value, json};

use super::human::{age, empty, say, short, table, when, yes};
use super::{CliError, Style, credential_state, print_json, stamp, text};
use crate::cli::out::outln;
use crate::grpc::proto::{self, Auth0Credential, ConnectionKey, Credential};

pub(super) fn credential_json(c: &Credential) -> Value {
    json!({
        "credential_id": c.credential_id, "kid": c.kid, "algorithm": c.algorithm, "key_bits": c.key_bits,
        "state": credential_state(c.state), "public_key_pem": text(&c.public_key_pem), "cert": text(&c.cert),
        "fingerprint": text(&c.fingerprint), "thumbprint": text(&c.thumbprint),
        "thumbprint_sha256": text(&c.thumbprint_sha256), "pkcs": text(&c.pkcs), "subject_dn": text(&c.subject_dn),
        "created_at": stamp(c.created_at.as_ref()), "expires_at": stamp(c.expires_at.as_ref()),
        "custody": text(&c.custody), "method": text(&c.method),
    })
}

fn auth0_credential_json(c: &Auth0Credential) -> Value {
    json!({"id": c.id, "kid": text(&c.kid), "alg": text(&c.alg), "name": text(&c.name), "attached": c.attached,
        "managed": c.managed, "method": text(&c.method)})
}

fn connection_key_json(k: &ConnectionKey) -> Value {
    json!({
        "kid": k.kid, "algorithm": text(&k.algorithm), "key_use": text(&k.key_use),
        "current": k.current, "next": k.next, "previous": k.previous,
        "current_since": stamp(k.current_since.as_ref()), "subject_dn": text(&k.subject_dn),
        "fingerprint": text(&k.fingerprint), "thumbprint": text(&k.thumbprint), "cert": text(&k.cert),
        "pkcs": text(&k.pkcs), "problem": text(&k.problem),
    })
}

/// `keyward credentials list`: what keyward manages, then what Auth0 holds.
pub(in crate::cli) fn credentials(
    req: &proto::ListClientCredentialsRequest,
    resp: &proto::ListClientCredentialsResponse,
    style: Style,
) -> Result<(), CliError> {
    if style.json {
        return print_json(&json!({
            "credentials": resp.credentials.iter().map(credential_json).collect::<Vec<_>>(),
            "auth0_credentials": resp.auth0_credentials.iter().map(auth0_credential_json).collect::<Vec<_>>(),
        }));
    }
    let (tenant, client) = (&req.tenant, &req.client_id);
    outln!("managed by keyward:")?;
    if resp.credentials.is_empty() {
        empty(
            &format!("no credentials managed by keyward for {client}; rotate one with"),
            &format!("keyward rotate client --tenant {tenant} --client {client}"),
        )?;
    } else {
        let rows: Vec<Vec<String>> = resp
            .credentials
            .iter()
            .map(|c| {
                vec![
                    short(&c.credential_id, style),
                    credential_state(c.state).to_owned(),
                    short(&c.kid, style),
                    format!("{}/{}", c.algorithm, c.key_bits),
                    c.custody.clone(),
                    age(c.created_at.as_ref()),
                    when(c.expires_at.as_ref()),
                ]
            })
            .collect();
        table(&["CREDENTIAL", "STATE", "KID", "ALG", "CUSTODY", "AGE", "EXPIRES"], &rows, style)?;
    }
    outln!("\nat Auth0:")?;
    if resp.auth0_credentials.is_empty() {
        return outln!("Auth0 holds no private_key_jwt credentials for {client}");
    }
    let rows: Vec<Vec<String>> = resp
        .auth0_credentials
        .iter()
        .map(|c| {
            let id = short(&c.id, style);
            vec![id, short(&c.kid, style), c.alg.clone(), yes(c.attached), yes(c.managed), c.name.clone()]
        })
        .collect();
    table(&["ID", "KID", "ALG", "ATTACHED", "MANAGED", "NAME"], &rows, style)
}

fn role(k: &ConnectionKey) -> String {
    [(k.current, "current"), (k.next, "next"), (k.previous, "previous")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, r)| *r)
        .collect::<Vec<_>>()
        .join(",")
}

/// A connection's key set as a table, with a PROBLEM column when `problems`.
fn key_table(keys: &[ConnectionKey], problems: bool, style: Style) -> Result<(), CliError> {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            let mut row = vec![
                short(&k.kid, style),
                k.algorithm.clone(),
                role(k),
                when(k.current_since.as_ref()),
                short(&k.fingerprint, style),
            ];
            if problems {
                row.push(if k.problem.is_empty() { "ok".to_owned() } else { k.problem.clone() });
            }
            row
        })
        .collect();
    let mut header = vec!["KID", "ALG", "ROLE", "CURRENT SINCE", "FINGERPRINT"];
    if problems {
        header.push("CHECK");
    }
    table(&header, &rows, style)
}

fn verdict(verified: bool) -> Result<(), CliError> {
    if verified {
        outln!("verified: every key's certificate, PKCS#7, fingerprint, thumbprint and kid check out")
    } else {
        outln!("NOT VERIFIED: a key failed verification; see keyward's log and audit events")
    }
}

/// `keyward rotate connection`: the new next key, the key set, and whether it verified.
pub(in crate::cli) fn rotated_connection(
    resp: &proto::RotateConnectionKeysResponse,
    style: Style,
) -> Result<(), CliError> {
    if style.json {
        return print_json(&json!({
            "key": resp.key.as_ref().map(connection_key_json),
            "keys": resp.keys.iter().map(connection_key_json).collect::<Vec<_>>(),
            "verified": resp.verified,
        }));
    }
    match &resp.key {
        Some(k) => say(&format!("rotated the connection's signing keys: {} is the new next key", k.kid))?,
        None => outln!("rotated the connection's signing keys")?,
    }
    key_table(&resp.keys, false, style)?;
    outln!()?;
    verdict(resp.verified)
}

/// `keyward connection keys`: a connection's keys, each verified.
pub(in crate::cli) fn connection_keys(resp: &proto::ListConnectionKeysResponse, style: Style) -> Result<(), CliError> {
    if style.json {
        return print_json(&json!({
            "keys": resp.keys.iter().map(connection_key_json).collect::<Vec<_>>(),
            "verified": resp.verified,
        }));
    }
    if resp.keys.is_empty() {
        return empty(
            "Auth0 holds no signing keys for this connection; create them with",
            "keyward rotate connection --tenant TENANT --connection CONNECTION",
        );
    }
    key_table(&resp.keys, true, style)?;
    outln!()?;
    verdict(resp.verified)
}
