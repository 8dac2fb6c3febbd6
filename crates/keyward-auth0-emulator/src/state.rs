//! The emulated tenant: clients, credentials, connections and their keys, the tenant's signing
//! keys, persisted as JSON.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::seed::{Grant, Limits, Seed};

mod connections;
mod signing_keys;

pub(crate) use connections::{Connection, ConnectionKey};
pub(crate) use signing_keys::{RevokeError, SigningKey, SigningKeys};

/// The part of the emulator that survives restarts (the state file's contents).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tenant {
    pub domain: String,
    /// The tenant's signing keys: current (signs access tokens), next, previous, revoked.
    #[serde(default)]
    pub signing_keys: SigningKeys,
    /// The one signing key of state files written before [`SigningKeys`]; read, never written.
    #[serde(default, skip_serializing)]
    signing_key_pem: Option<String>,
    pub clients: BTreeMap<String, Client>,
    pub connections: BTreeMap<String, Connection>,
    pub limits: Limits,
    /// The seed the tenant was made from, for `POST /__emulator/reset`.
    pub seed: Seed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Client {
    pub client_id: String,
    pub name: String,
    pub client_secret: Option<String>,
    /// `None` while `client_authentication_methods` is in force.
    pub token_endpoint_auth_method: Option<String>,
    /// Method (`private_key_jwt`, ...) → attached credential ids.
    pub auth_methods: Option<BTreeMap<String, Vec<String>>>,
    pub jwt_alg: String,
    pub grants: Vec<Grant>,
    pub credentials: Vec<Credential>,
    /// JAR (`signed_request_object`): its credential ids and `required` flag.
    #[serde(default)]
    pub signed_request_object: Option<SignedRequestObject>,
    /// Token Vault privileged access: its credential ids, plus `ip_allowlist` and `grants` kept as sent.
    #[serde(default)]
    pub token_vault_privileged_access: Option<TokenVaultAccess>,
}

/// A client's `signed_request_object`; a PATCH merges into it (REC-TF sends `{"required": true}` alone).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignedRequestObject {
    pub required: Option<bool>,
    pub credentials: Option<Vec<String>>,
}

/// A client's `token_vault_privileged_access`; a PATCH replaces it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenVaultAccess {
    pub credentials: Vec<String>,
    pub ip_allowlist: Option<Vec<Value>>,
    pub grants: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Credential {
    pub id: String,
    pub name: Option<String>,
    pub kid: String,
    pub alg: String,
    pub credential_type: String,
    pub public_key_pem: String,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: Option<String>,
}

impl Tenant {
    /// A fresh tenant from a seed, with new signing keys (current and next).
    pub fn from_seed(seed: &Seed, domain: &str) -> Result<Self, Error> {
        Self::from_seed_with_keys(seed, domain, SigningKeys::provision(domain)?)
    }

    /// A tenant from a seed, keeping the given signing keys.
    pub fn from_seed_with_keys(seed: &Seed, domain: &str, signing_keys: SigningKeys) -> Result<Self, Error> {
        seed.validate()?;
        let expanded = seed.with_domain(domain)?;
        let mut clients = BTreeMap::new();
        for c in &expanded.clients {
            let method = c.token_endpoint_auth_method.clone().unwrap_or_else(|| "client_secret_post".into());
            let (tepm, methods) = if method == "private_key_jwt" {
                (None, Some(BTreeMap::from([("private_key_jwt".to_owned(), Vec::new())])))
            } else {
                (Some(method), None)
            };
            clients.insert(
                c.client_id.clone(),
                Client {
                    client_id: c.client_id.clone(),
                    name: c.name.clone(),
                    client_secret: c.client_secret.clone(),
                    token_endpoint_auth_method: tepm,
                    auth_methods: methods,
                    jwt_alg: c.jwt_configuration.as_ref().map(|j| j.alg.clone()).unwrap_or_else(|| "RS256".into()),
                    grants: c.grants.clone(),
                    credentials: Vec::new(),
                    signed_request_object: None,
                    token_vault_privileged_access: None,
                },
            );
        }
        let mut connections = BTreeMap::new();
        for c in &expanded.connections {
            let mut conn = Connection {
                id: c.id.clone(),
                name: c.name.clone(),
                strategy: c.strategy.clone(),
                options: c.options.clone(),
                keys: Vec::new(),
            };
            if conn.can_hold_keys() && conn.uses_private_key_jwt() {
                conn.provision_keys()?;
            }
            connections.insert(c.id.clone(), conn);
        }
        Ok(Self {
            domain: domain.to_owned(),
            signing_keys,
            signing_key_pem: None,
            clients,
            connections,
            limits: expanded.limits.clone(),
            seed: seed.clone(),
        })
    }

    /// Loads a state file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let err = |reason: String| Error::StateFile { path: path.to_owned(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let mut tenant: Self =
            serde_json::from_str(&text).map_err(|e| err(format!("not an emulator state file: {e}")))?;
        if let Some(pem) = tenant.signing_key_pem.take() {
            tenant.signing_keys =
                SigningKeys::from_legacy(&tenant.domain, &pem).map_err(|e| err(format!("signing_key_pem: {e}")))?;
        }
        if !matches!(tenant.signing_keys.current().and_then(SigningKey::private_key), Some(Ok(_))) {
            return Err(err("no current signing key with a usable private key".into()));
        }
        Ok(tenant)
    }

    /// Saves atomically: a temporary file beside it, then a rename.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let err = |reason: String| Error::StateFile { path: path.to_owned(), reason };
        let text = serde_json::to_string_pretty(self).map_err(|e| err(e.to_string()))?;
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        write_private(&tmp, text.as_bytes()).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
    }

    /// The control API's view of the tenant (without the request log).
    pub fn snapshot(&self) -> Value {
        let clients: Vec<Value> = self
            .clients
            .values()
            .map(|c| {
                let attached = c.attached_ids();
                json!({
                    "client_id": c.client_id,
                    "name": c.name,
                    "token_endpoint_auth_method": c.token_endpoint_auth_method,
                    "client_authentication_methods": c.auth_methods_json(),
                    "credentials": c.credentials.iter().map(|cr| json!({
                        "id": cr.id,
                        "kid": cr.kid,
                        "alg": cr.alg,
                        "name": cr.name,
                        "attached": attached.contains(&cr.id.as_str()),
                        "expires_at": cr.expires_at,
                        "public_key_pem": cr.public_key_pem,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let connections: Vec<Value> = self
            .connections
            .values()
            .map(|c| {
                json!({"id": c.id, "name": c.name, "strategy": c.strategy, "keys": c.keys.iter().map(ConnectionKey::to_json).collect::<Vec<_>>()})
            })
            .collect();
        let signing_keys: Vec<Value> = self.signing_keys.0.iter().map(SigningKey::to_json).collect();
        json!({ "domain": self.domain, "clients": clients, "connections": connections, "signing_keys": signing_keys })
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

impl Client {
    /// Ids attached to any method, to `signed_request_object` or to `token_vault_privileged_access`.
    pub fn attached_ids(&self) -> Vec<&str> {
        let methods = self.auth_methods.iter().flat_map(|m| m.values()).flatten();
        let jar = self.signed_request_object.iter().flat_map(|s| s.credentials.iter().flatten());
        let vault = self.token_vault_privileged_access.iter().flat_map(|t| t.credentials.iter());
        methods.chain(jar).chain(vault).map(String::as_str).collect()
    }

    /// Ids attached to `private_key_jwt`.
    pub fn private_key_jwt_ids(&self) -> Vec<&str> {
        self.auth_methods
            .as_ref()
            .and_then(|m| m.get("private_key_jwt"))
            .map(|ids| ids.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// `{"private_key_jwt":{"credentials":[{"id":…}]}}` or null.
    pub fn auth_methods_json(&self) -> Value {
        match &self.auth_methods {
            None => Value::Null,
            Some(m) => {
                Value::Object(m.iter().map(|(k, ids)| (k.clone(), json!({"credentials": id_objects(ids)}))).collect())
            }
        }
    }

    /// The Management API's client object. Secrets and methods only with `show_keys`.
    pub fn to_json(&self, show_keys: bool) -> Value {
        let mut o = json!({
            "client_id": self.client_id,
            "name": self.name,
            "app_type": "non_interactive",
            "is_first_party": true,
            "grant_types": ["client_credentials"],
            "callbacks": [],
            "jwt_configuration": {"alg": self.jwt_alg, "lifetime_in_seconds": 36000, "secret_encoded": false},
        });
        let private_key_jwt_active = self.auth_methods.as_ref().is_some_and(|m| m.contains_key("private_key_jwt"));
        if let Some(map) = o.as_object_mut() {
            if !private_key_jwt_active && let Some(m) = &self.token_endpoint_auth_method {
                map.insert("token_endpoint_auth_method".into(), json!(m));
            }
            if show_keys {
                if !private_key_jwt_active && let Some(s) = &self.client_secret {
                    map.insert("client_secret".into(), json!(s));
                }
                if self.auth_methods.is_some() {
                    map.insert("client_authentication_methods".into(), self.auth_methods_json());
                }
                if let Some(jar) = &self.signed_request_object {
                    map.insert("signed_request_object".into(), jar.to_json());
                }
                if let Some(vault) = &self.token_vault_privileged_access {
                    map.insert("token_vault_privileged_access".into(), vault.to_json());
                }
            }
        }
        o
    }
}

/// `[{"id": …}, …]`.
fn id_objects(ids: &[String]) -> Value {
    Value::Array(ids.iter().map(|id| json!({ "id": id })).collect())
}

impl SignedRequestObject {
    /// Auth0's order: `required`, then `credentials`; members never set are left out.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        if let Some(r) = self.required {
            o.insert("required".into(), json!(r));
        }
        if let Some(ids) = &self.credentials {
            o.insert("credentials".into(), id_objects(ids));
        }
        Value::Object(o)
    }
}

impl TokenVaultAccess {
    /// Auth0's order: `credentials`, `ip_allowlist`, `grants`.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("credentials".into(), id_objects(&self.credentials));
        if let Some(ips) = &self.ip_allowlist {
            o.insert("ip_allowlist".into(), Value::Array(ips.clone()));
        }
        if let Some(grants) = &self.grants {
            o.insert("grants".into(), Value::Array(grants.clone()));
        }
        Value::Object(o)
    }
}

impl Credential {
    /// The Management API's credential object (`pem` never returned; absent fields left out).
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(self.id));
        o.insert("credential_type".into(), json!(self.credential_type));
        o.insert("kid".into(), json!(self.kid));
        o.insert("alg".into(), json!(self.alg));
        if let Some(n) = &self.name {
            o.insert("name".into(), json!(n));
        }
        o.insert("created_at".into(), json!(self.created_at));
        o.insert("updated_at".into(), json!(self.updated_at));
        if let Some(e) = &self.expires_at {
            o.insert("expires_at".into(), json!(e));
        }
        Value::Object(o)
    }
}
