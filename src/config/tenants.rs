//! `[tenants.NAME]`: the Auth0 tenants keyward manages, how it reaches and authenticates to each
//! one's Management API, the clients and connections it may touch, and how it signs for them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::plaintext;
use super::signing_keys::{SigningKeysFile, SigningKeysPolicy, VerifierFile};
use super::source::Env;
use crate::custody::Custody;

#[derive(Debug, Deserialize)]
pub(super) struct TenantFile {
    domain: String,
    base_url: Option<String>,
    ca_file: Option<PathBuf>,
    management_client_id: String,
    management_client_secret: Option<SecretString>,
    management_client_secret_env: Option<String>,
    management_private_key_file: Option<PathBuf>,
    #[serde(default)]
    clients: Vec<String>,
    #[serde(default)]
    connections: Vec<String>,
    #[serde(default)]
    legacy_audiences: bool,
    #[serde(default)]
    allow_sign_jwt_for_auth0_clients: bool,
    max_jwt_lifetime: Option<String>,
    #[serde(default)]
    local_clients: Vec<String>,
    /// `sealed` (the default) or `pkcs11`: where new keys of the tenant's clients live.
    custody: Option<String>,
    /// Per client, overriding `custody`.
    #[serde(default)]
    client_custody: BTreeMap<String, String>,
    /// How the tenant's signing keys are rotated and revoked.
    signing_keys: Option<SigningKeysFile>,
    /// JWKS copies that must show a new current signing key before the previous is revoked.
    #[serde(default)]
    verifiers: Vec<VerifierFile>,
    /// `inventory = { expiry_window = "30d" }`: how `GetTenantInventory` reads the tenant.
    inventory: Option<InventoryFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryFile {
    expiry_window: Option<String>,
}

/// How keyward authenticates to a tenant's Management API.
#[derive(Debug, Clone)]
pub enum ManagementAuth {
    /// client_secret_post with this secret.
    Secret(SecretString),
    /// private_key_jwt with the key in this PEM file.
    PrivateKeyFile(PathBuf),
}

/// One Auth0 tenant keyward manages.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// The name callers use.
    pub name: String,
    /// The Auth0 domain (issuer `https://{domain}/`).
    pub domain: String,
    /// Where to send requests instead of `https://{domain}` (the emulator, a proxy).
    pub base_url: Option<String>,
    /// An extra trusted root CA (PEM file).
    pub ca_file: Option<PathBuf>,
    /// The Management API application.
    pub management_client_id: String,
    /// Its credentials.
    pub management_auth: ManagementAuth,
    /// Applications keyward may rotate and sign for.
    pub clients: BTreeSet<String>,
    /// Connections keyward may rotate.
    pub connections: BTreeSet<String>,
    /// How keyward signs for this tenant's clients.
    pub signing: SigningPolicy,
    /// Where new keys of its clients live.
    pub custody: CustodyPolicy,
    /// How its signing keys are rotated and the previous one revoked.
    pub signing_keys: SigningKeysPolicy,
    /// How its inventory flags records.
    pub inventory: InventoryPolicy,
}

/// `[tenants.NAME] inventory`: how `GetTenantInventory` flags the tenant's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryPolicy {
    /// A record expiring within this window is EXPIRING (`expiry_window`, 1h to 365d; default
    /// 30 days).
    pub expiry_window: Duration,
}

impl InventoryPolicy {
    /// The default window: 30 days.
    pub const DEFAULT_EXPIRY_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
    /// The shortest window accepted.
    pub const MIN_EXPIRY_WINDOW: Duration = Duration::from_secs(3600);
    /// The longest window accepted.
    pub const MAX_EXPIRY_WINDOW: Duration = Duration::from_secs(365 * 24 * 3600);
}

impl Default for InventoryPolicy {
    fn default() -> Self {
        Self { expiry_window: Self::DEFAULT_EXPIRY_WINDOW }
    }
}

/// Where a tenant's new keys live: its default, and per client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustodyPolicy {
    /// For clients not listed.
    pub default: Custody,
    /// Per client.
    pub clients: BTreeMap<String, Custody>,
}

impl CustodyPolicy {
    /// Where `client_id`'s new keys live.
    pub fn for_client(&self, client_id: &str) -> Custody {
        self.clients.get(client_id).copied().unwrap_or(self.default)
    }

    /// Whether any of the tenant's keys would live in the token.
    pub fn uses_token(&self) -> bool {
        self.default == Custody::Pkcs11 || self.clients.values().any(|c| *c == Custody::Pkcs11)
    }
}

/// Per-tenant signing rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningPolicy {
    /// Accept assertion audiences Auth0 has deprecated (the token endpoint URL, arrays).
    pub legacy_audiences: bool,
    /// The furthest `exp` SignJwt accepts, from now.
    pub max_jwt_lifetime: Duration,
    /// Whether SignJwt may sign for Auth0-registered clients (e.g. JAR request objects); claims
    /// shaped like a client assertion are refused even then.
    pub allow_sign_jwt_for_auth0_clients: bool,
    /// Signing-only clients: keys keyward generates, rotates and publishes (GetJwks) for JWTs
    /// that third parties verify, never registered at Auth0, so any of the seven algorithms
    /// (ES256 included) is allowed.
    pub local_clients: BTreeSet<String>,
}

impl Default for SigningPolicy {
    fn default() -> Self {
        Self {
            legacy_audiences: false,
            max_jwt_lifetime: Duration::from_secs(3600),
            allow_sign_jwt_for_auth0_clients: false,
            local_clients: BTreeSet::new(),
        }
    }
}

/// Auth0 client ids and connection ids: short, printable, no separators that could smuggle a path.
pub(super) fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
}

/// Resolves every `[tenants.NAME]`, at least one; a tenant with a problem is left out and each
/// problem reported.
pub(super) fn resolve(
    files: BTreeMap<String, TenantFile>,
    env: &Env,
    errors: &mut Vec<String>,
) -> BTreeMap<String, TenantConfig> {
    if files.is_empty() {
        errors.push("tenants: at least one tenant is required".into());
    }
    let mut tenants = BTreeMap::new();
    for (name, t) in files {
        if let Some(tenant) = resolve_tenant(&name, t, env, errors) {
            tenants.insert(name, tenant);
        }
    }
    tenants
}

fn resolve_tenant(name: &str, t: TenantFile, env: &Env, errors: &mut Vec<String>) -> Option<TenantConfig> {
    let before = errors.len();
    let at = |field: &str| format!("tenants.{name}.{field}");
    if !valid_id(name) {
        errors.push(format!("tenants.{name}: the tenant name must be letters, digits, '-', '_' or '.'"));
    }
    if t.domain.is_empty() || t.domain.contains('/') || t.domain.contains(' ') {
        errors.push(format!("{}: {:?} is not a domain", at("domain"), t.domain));
    }
    if let Some(problem) = t.base_url.as_deref().and_then(plaintext::base_url_problem) {
        errors.push(format!("{}: {problem}", at("base_url")));
    }
    if let Some(f) = &t.ca_file
        && !f.exists()
    {
        errors.push(format!("{}: {} does not exist", at("ca_file"), f.display()));
    }
    if !valid_id(&t.management_client_id) {
        errors.push(format!("{}: not a client id", at("management_client_id")));
    }
    let secret_from_env = t.management_client_secret_env.as_ref().map(|var| {
        env.get(var)
            .cloned()
            .map(SecretString::from)
            .ok_or_else(|| format!("{}: ${var} is not set", at("management_client_secret_env")))
    });
    let auth = match (t.management_client_secret, secret_from_env, t.management_private_key_file) {
        (Some(s), None, None) => Some(ManagementAuth::Secret(s)),
        (None, Some(Ok(s)), None) => Some(ManagementAuth::Secret(s)),
        (None, Some(Err(e)), None) => {
            errors.push(e);
            None
        }
        (None, None, Some(p)) => Some(ManagementAuth::PrivateKeyFile(p)),
        _ => {
            errors.push(format!(
                "tenants.{name}: set exactly one of management_client_secret, management_client_secret_env, management_private_key_file"
            ));
            None
        }
    };
    for (field, ids) in [("clients", &t.clients), ("connections", &t.connections), ("local_clients", &t.local_clients)]
    {
        for id in ids.iter().filter(|id| !valid_id(id)) {
            errors.push(format!("{}: {id:?} is not a valid id", at(field)));
        }
    }
    let max_jwt_lifetime = match &t.max_jwt_lifetime {
        None => SigningPolicy::default().max_jwt_lifetime,
        Some(text) => match humantime::parse_duration(text) {
            Ok(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(24 * 3600) => d,
            _ => {
                errors.push(format!("{}: {text:?} is not a duration from 1s to 24h", at("max_jwt_lifetime")));
                Duration::ZERO
            }
        },
    };
    let mut custody = CustodyPolicy::default();
    match t.custody.as_deref().map(str::parse::<Custody>) {
        None => {}
        Some(Ok(c)) => custody.default = c,
        Some(Err(_)) => errors.push(format!("{}: must be sealed or pkcs11", at("custody"))),
    }
    for (client, text) in &t.client_custody {
        match text.parse::<Custody>() {
            Ok(c) if valid_id(client) => {
                custody.clients.insert(client.clone(), c);
            }
            Ok(_) => errors.push(format!("{}: {client:?} is not a valid id", at("client_custody"))),
            Err(_) => errors.push(format!("{}: must be sealed or pkcs11", at(&format!("client_custody.{client}")))),
        }
    }
    let signing_keys = super::signing_keys::resolve(name, t.signing_keys, t.verifiers, errors);
    let inventory = inventory_policy(t.inventory.as_ref(), &at("inventory.expiry_window"), errors);
    if errors.len() > before {
        return None;
    }
    Some(TenantConfig {
        name: name.to_owned(),
        domain: t.domain,
        base_url: t.base_url,
        ca_file: t.ca_file,
        management_client_id: t.management_client_id,
        management_auth: auth?,
        clients: t.clients.into_iter().collect(),
        connections: t.connections.into_iter().collect(),
        signing: SigningPolicy {
            legacy_audiences: t.legacy_audiences,
            max_jwt_lifetime,
            allow_sign_jwt_for_auth0_clients: t.allow_sign_jwt_for_auth0_clients,
            local_clients: t.local_clients.into_iter().collect(),
        },
        custody,
        signing_keys,
        inventory,
    })
}

/// `inventory = { expiry_window = "…" }`, checked: a humantime duration from 1h to 365d.
fn inventory_policy(file: Option<&InventoryFile>, at: &str, errors: &mut Vec<String>) -> InventoryPolicy {
    let Some(text) = file.and_then(|f| f.expiry_window.as_deref()) else {
        return InventoryPolicy::default();
    };
    match humantime::parse_duration(text) {
        Ok(d) if (InventoryPolicy::MIN_EXPIRY_WINDOW..=InventoryPolicy::MAX_EXPIRY_WINDOW).contains(&d) => {
            InventoryPolicy { expiry_window: d }
        }
        _ => {
            errors.push(format!("{at}: {text:?} is not a duration from 1h to 365d"));
            InventoryPolicy::default()
        }
    }
}
