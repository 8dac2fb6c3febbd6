//! The seed document that describes an emulated tenant: clients, grants, connections, limits.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;

/// A tenant to start from. Unknown fields are refused; the string `{domain}` anywhere in it is
/// replaced by the tenant's domain.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Applications.
    #[serde(default)]
    pub clients: Vec<SeedClient>,
    /// Connections (only `okta` and `oidc` ones can hold keys).
    #[serde(default)]
    pub connections: Vec<SeedConnection>,
    /// Credential and rate limits.
    #[serde(default)]
    pub limits: Limits,
}

/// One application.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedClient {
    /// The client id.
    pub client_id: String,
    /// The display name.
    pub name: String,
    /// The client secret, for `client_secret_post`/`client_secret_basic`.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// `client_secret_post` (default), `client_secret_basic`, `private_key_jwt` or `none`.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// `{"alg": "RS256"}` (the only value private_key_jwt allows).
    #[serde(default)]
    pub jwt_configuration: Option<JwtConfiguration>,
    /// Client grants: which APIs the client may get tokens for, with which scopes.
    #[serde(default)]
    pub grants: Vec<Grant>,
}

/// A client's JWT configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfiguration {
    /// The algorithm of the client's ID tokens.
    pub alg: String,
}

/// A client grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// The API identifier.
    pub audience: String,
    /// The scopes granted.
    #[serde(default)]
    pub scope: Vec<String>,
}

/// A connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedConnection {
    /// `con_…`.
    pub id: String,
    /// Its name (the CN of its key certificates).
    pub name: String,
    /// `oidc`, `okta`, `samlp`, `auth0`, ...
    pub strategy: String,
    /// Options; `token_endpoint_auth_method: "private_key_jwt"` provisions keys.
    #[serde(default)]
    pub options: serde_json::Map<String, Value>,
}

/// Limits of the tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Credentials attached to one method (Auth0: 2).
    #[serde(default = "default_slot")]
    pub slot: usize,
    /// Credential records per client (Auth0: 4).
    #[serde(default = "default_pool")]
    pub pool: usize,
    /// Rate-limit bucket size (Auth0 Enterprise production: 50).
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Rate-limit refill per second (Auth0 Enterprise production: 16).
    #[serde(default = "default_per_second")]
    pub per_second: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { slot: default_slot(), pool: default_pool(), burst: default_burst(), per_second: default_per_second() }
    }
}

fn default_slot() -> usize {
    2
}
fn default_pool() -> usize {
    4
}
fn default_burst() -> u32 {
    50
}
fn default_per_second() -> f64 {
    16.0
}

/// The auth methods a seed may name.
const AUTH_METHODS: [&str; 4] = ["client_secret_post", "client_secret_basic", "private_key_jwt", "none"];

impl Seed {
    /// Parses and validates a seed document, reporting every problem at once.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let value: Value = serde_json::from_str(text).map_err(|e| Error::Seed(e.to_string()))?;
        if !value.is_object() {
            return Err(Error::Seed("invalid type: the seed must be a JSON object".into()));
        }
        let seed: Seed = serde_json::from_value(value).map_err(|e| Error::Seed(e.to_string()))?;
        seed.validate()?;
        Ok(seed)
    }

    /// Checks cross-field rules.
    pub fn validate(&self) -> Result<(), Error> {
        let mut problems = Vec::new();
        let mut ids = std::collections::BTreeSet::new();
        for (i, c) in self.clients.iter().enumerate() {
            if c.client_id.is_empty() || c.client_id.len() > 64 {
                problems.push(format!("clients[{i}].client_id must be 1 to 64 characters"));
            }
            if !ids.insert(c.client_id.clone()) {
                problems.push(format!("clients[{i}].client_id {:?} is duplicated", c.client_id));
            }
            if let Some(m) = &c.token_endpoint_auth_method
                && !AUTH_METHODS.contains(&m.as_str())
            {
                problems.push(format!("clients[{i}].token_endpoint_auth_method {m:?} is not one of {AUTH_METHODS:?}"));
            }
            if let Some(j) = &c.jwt_configuration
                && !["RS256", "HS256", "PS256", "RS384"].contains(&j.alg.as_str())
            {
                problems.push(format!("clients[{i}].jwt_configuration.alg {:?} is not supported", j.alg));
            }
        }
        let mut conns = std::collections::BTreeSet::new();
        for (i, c) in self.connections.iter().enumerate() {
            if !conns.insert(c.id.clone()) {
                problems.push(format!("connections[{i}].id {:?} is duplicated", c.id));
            }
            if c.name.is_empty() || c.name.len() > 64 {
                problems.push(format!("connections[{i}].name must be 1 to 64 characters"));
            }
        }
        let l = &self.limits;
        if l.slot == 0 || l.pool == 0 || l.burst == 0 || !(l.per_second > 0.0 && l.per_second.is_finite()) {
            problems.push("limits must all be positive".into());
        }
        if problems.is_empty() { Ok(()) } else { Err(Error::Seed(problems.join("; "))) }
    }

    /// A copy with `{domain}` replaced in every string.
    pub fn with_domain(&self, domain: &str) -> Result<Self, Error> {
        let value = serde_json::to_value(self).map_err(|e| Error::Seed(e.to_string()))?;
        serde_json::from_value(replace_domain(value, domain)).map_err(|e| Error::Seed(e.to_string()))
    }
}

fn replace_domain(value: Value, domain: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace("{domain}", domain)),
        Value::Array(a) => Value::Array(a.into_iter().map(|v| replace_domain(v, domain)).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, replace_domain(v, domain))).collect()),
        other => other,
    }
}
