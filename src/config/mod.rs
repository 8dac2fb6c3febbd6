//! `keyward.toml`: a typed, validated configuration. Unknown fields are refused; environment
//! variables (`KEYWARD_…`) override the file and flags override both, decided in one function
//! ([`Config::resolve`]); every problem is reported at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use keyward_crypto::{Algorithm, KeySpec};
use secrecy::SecretString;
use serde::Deserialize;

use crate::Error;
use crate::access::{Access, Grant, Principal};

mod limits;
mod operations;
mod plaintext;
mod token_hash;

pub use limits::{LimitOverrides, Limits};
pub use operations::{
    LeaseTiming, Operations, PolicyConfig, PolicyTarget, RotationWindow, SchedulerConfig, default_replica_id,
};

/// The defaults the issue names: a 10-minute grace period, RS256, 2048 bits.
const DEFAULT_GRACE: Duration = Duration::from_secs(600);
const DEFAULT_LISTEN: &str = "127.0.0.1:50051";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    #[serde(default)]
    allow_plaintext: bool,
    store: Option<String>,
    kek: Option<KekFile>,
    auth: Option<AuthFile>,
    defaults: Option<DefaultsFile>,
    #[serde(default)]
    tenants: BTreeMap<String, TenantFile>,
    #[serde(default)]
    principals: Vec<PrincipalFile>,
    tls: Option<TlsFile>,
    signer: Option<SignerFile>,
    limits: Option<limits::LimitsFile>,
    admin_listen: Option<String>,
    replica_id: Option<String>,
    drain_timeout: Option<String>,
    telemetry: Option<operations::TelemetryFile>,
    scheduler: Option<operations::SchedulerFile>,
    #[serde(default)]
    policies: Vec<operations::PolicyFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalFile {
    name: String,
    #[serde(default)]
    bearer_token_sha256: Vec<String>,
    #[serde(default)]
    mtls_san: Vec<String>,
    #[serde(default)]
    grants: Vec<GrantFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantFile {
    permissions: Vec<String>,
    #[serde(default = "any")]
    tenants: Vec<String>,
    #[serde(default = "any")]
    clients: Vec<String>,
}

fn any() -> Vec<String> {
    vec!["*".into()]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignerFile {
    threads: Option<usize>,
    queue: Option<usize>,
    token_cache_entries: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KekFile {
    file: Option<PathBuf>,
    env: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    #[serde(default)]
    bearer_token_sha256: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsFile {
    grace_period: Option<String>,
    algorithm: Option<String>,
    key_bits: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFile {
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
}

/// Where the key-encryption key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// A file holding 32 bytes in base64 or hex.
    File(PathBuf),
    /// An environment variable holding the same.
    Env(String),
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

/// gRPC server TLS; with a client CA, callers may authenticate by certificate (mTLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Server certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Server private key (PEM).
    pub key_file: PathBuf,
    /// Trusted client CA (PEM); enables client certificates.
    pub client_ca_file: Option<PathBuf>,
}

/// The signing pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignerConfig {
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Jobs that may wait for a worker before calls fail with RESOURCE_EXHAUSTED.
    pub queue: usize,
    /// Access tokens kept per client, by audience and scope (least recently used go first).
    pub token_cache_entries: usize,
}

impl Default for SignerConfig {
    fn default() -> Self {
        Self { threads: 0, queue: 1024, token_cache_entries: 1024 }
    }
}

/// Rotation defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// How long an old key stays attached after its successor is active.
    pub grace_period: Duration,
    /// RS256, RS384 or PS256.
    pub algorithm: Algorithm,
    /// 2048, 3072 or 4096.
    pub key_bits: u32,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// `sqlite://…` or `postgres://…`.
    pub store_url: String,
    /// The KEK's source.
    pub kek: KekSource,
    /// Principals and their grants (bearer tokens and certificate SANs).
    pub access: Access,
    /// gRPC TLS (and mTLS), if configured.
    pub tls: Option<TlsConfig>,
    /// The signing pool.
    pub signer: SignerConfig,
    /// Transport limits of the gRPC and admin ports.
    pub limits: Limits,
    /// Rotation defaults.
    pub defaults: Defaults,
    /// Tenants by name.
    pub tenants: BTreeMap<String, TenantConfig>,
    /// The admin port, telemetry, scheduler and policies.
    pub operations: Operations,
}

/// Values given on the command line, which win over everything.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--admin-listen`.
    pub admin_listen: Option<String>,
    /// `--max-connections` and the other `[limits]` flags.
    pub limits: LimitOverrides,
}

impl Config {
    /// Reads and validates a config file with environment and flag overrides.
    pub fn load(path: &Path, env: &HashMap<String, String>, flags: &Overrides) -> Result<Self, Error> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Config(vec![format!("{}: {e}", path.display())]))?;
        if let Err(e) = toml::from_str::<FileConfig>(&text) {
            return Err(Error::Config(vec![format!("{}: {}", path.display(), parse_error(&text, &e))]));
        }
        Self::resolve(&text, env, flags)
    }

    /// Parses `text`, applies overrides (flag > env > file) and validates, reporting every
    /// problem at once.
    pub fn resolve(text: &str, env: &HashMap<String, String>, flags: &Overrides) -> Result<Self, Error> {
        let file: FileConfig = toml::from_str(text).map_err(|e| Error::Config(vec![parse_error(text, &e)]))?;
        let mut errors = Vec::new();
        let pick = |flag: Option<&String>, var: &str, file: Option<&String>| -> Option<String> {
            flag.or(env.get(var)).or(file).cloned()
        };

        let listen_text =
            pick(flags.listen.as_ref(), "KEYWARD_LISTEN", file.listen.as_ref()).unwrap_or(DEFAULT_LISTEN.into());
        let listen = listen_text.parse().unwrap_or_else(|_| {
            errors.push(format!("listen: {listen_text:?} is not HOST:PORT"));
            SocketAddr::from(([127, 0, 0, 1], 0))
        });

        let store_url = pick(None, "KEYWARD_STORE", file.store.as_ref()).unwrap_or_default();
        if !(store_url.starts_with("sqlite://")
            || store_url.starts_with("postgres://")
            || store_url.starts_with("postgresql://"))
        {
            errors.push("store: must be a sqlite://PATH or postgres://… URL".into());
        }

        let kek_file = pick(
            None,
            "KEYWARD_KEK_FILE",
            file.kek.as_ref().and_then(|k| k.file.as_ref()).map(|p| p.display().to_string()).as_ref(),
        );
        let kek_env = pick(None, "KEYWARD_KEK_ENV", file.kek.as_ref().and_then(|k| k.env.as_ref()));
        let kek = match (kek_file, kek_env) {
            (Some(f), None) => KekSource::File(f.into()),
            (None, Some(v)) => KekSource::Env(v),
            (Some(_), Some(_)) => {
                errors.push("kek: set one of kek.file and kek.env, not both".into());
                KekSource::Env(String::new())
            }
            (None, None) => {
                errors.push("kek: set kek.file or kek.env (or KEYWARD_KEK_FILE / KEYWARD_KEK_ENV)".into());
                KekSource::Env(String::new())
            }
        };

        let hashes: Vec<String> = match env.get("KEYWARD_BEARER_TOKEN_SHA256") {
            Some(list) => list.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
            None => file.auth.as_ref().map(|a| a.bearer_token_sha256.clone()).unwrap_or_default(),
        };
        let mut token_hashes = Vec::new();
        for (i, h) in hashes.iter().enumerate() {
            token_hashes.extend(token_hash::parse(&format!("auth.bearer_token_sha256[{i}]"), h, &mut errors));
        }
        let mut access = Access::all_access(&token_hashes);
        for (i, p) in file.principals.iter().enumerate() {
            resolve_principal(i, p, &mut access, &mut errors);
        }
        if token_hashes.is_empty() && file.principals.is_empty() && errors.iter().all(|e| !e.starts_with("auth")) {
            errors.push("auth: configure auth.bearer_token_sha256 or at least one [[principals]]".into());
        }
        let tls = file.tls.map(|t| TlsConfig {
            cert_file: t.cert_file,
            key_file: t.key_file,
            client_ca_file: t.client_ca_file,
        });
        if let Some(t) = &tls {
            for (field, path) in [
                ("tls.cert_file", Some(&t.cert_file)),
                ("tls.key_file", Some(&t.key_file)),
                ("tls.client_ca_file", t.client_ca_file.as_ref()),
            ] {
                if let Some(p) = path
                    && !p.exists()
                {
                    errors.push(format!("{field}: {} does not exist", p.display()));
                }
            }
        }
        if access.has_certificate_principals() && tls.as_ref().is_none_or(|t| t.client_ca_file.is_none()) {
            errors.push("principals.mtls_san: needs tls.client_ca_file (client certificates)".into());
        }
        errors.extend(plaintext::listen_problem(listen, tls.is_some(), file.allow_plaintext));
        let limits = limits::resolve(file.limits, &flags.limits, env, &mut errors);
        let signer = SignerConfig {
            threads: file.signer.as_ref().and_then(|s| s.threads).unwrap_or(0),
            queue: file.signer.as_ref().and_then(|s| s.queue).unwrap_or(1024),
            token_cache_entries: file.signer.as_ref().and_then(|s| s.token_cache_entries).unwrap_or(1024),
        };
        if signer.threads > 256 || signer.queue == 0 || signer.queue > 1_000_000 {
            errors.push("signer: threads must be 0 to 256 and queue 1 to 1000000".into());
        }
        if !(1..=1_000_000).contains(&signer.token_cache_entries) {
            errors.push("signer.token_cache_entries: must be 1 to 1000000".into());
        }

        let operations = operations::resolve(
            operations::OperationsFile {
                admin_listen: file.admin_listen,
                replica_id: file.replica_id,
                drain_timeout: file.drain_timeout,
                telemetry: file.telemetry,
                scheduler: file.scheduler,
                policies: file.policies,
            },
            env,
            flags.admin_listen.as_ref(),
            &mut errors,
        );
        let defaults = resolve_defaults(file.defaults.as_ref(), env, &mut errors);
        let mut tenants = BTreeMap::new();
        if file.tenants.is_empty() {
            errors.push("tenants: at least one tenant is required".into());
        }
        let mut broken = BTreeSet::new();
        for (name, t) in file.tenants {
            match resolve_tenant(&name, t, env, &mut errors) {
                Some(tenant) => {
                    tenants.insert(name, tenant);
                }
                None => {
                    broken.insert(name);
                }
            }
        }

        for (i, p) in operations.policies.iter().enumerate() {
            let known = tenants.get(&p.tenant).is_some_and(|t| match &p.target {
                PolicyTarget::Client(c) => t.clients.contains(c) || t.signing.local_clients.contains(c),
                PolicyTarget::Connection(c) => t.connections.contains(c),
            });
            if !known {
                errors.push(format!(
                    "policies[{i}]: {:?} is not a client or connection of tenant {:?}",
                    p.target, p.tenant
                ));
            }
        }
        if errors.is_empty() {
            Ok(Config { listen, store_url, kek, access, tls, signer, limits, defaults, tenants, operations })
        } else {
            Err(Error::Config(errors))
        }
    }
}

/// A parse error as one line naming the line, column and key, never the value: the offending
/// line may hold a secret (`management_client_secret = "…"` beside a mistyped key), and serde's
/// "invalid type" messages quote the value found.
fn parse_error(text: &str, e: &toml::de::Error) -> String {
    let mut message = one_line(e.message());
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        let kind = message.split(':').next().unwrap_or("invalid value").to_owned();
        message = match message.split_once(", expected") {
            Some((_, expected)) => format!("{kind}, expected{expected}"),
            None => kind,
        };
    }
    let Some(start) = e.span().map(|s| s.start).filter(|s| *s <= text.len()) else { return message };
    let before = text.get(..start).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let source = text.lines().nth(line - 1).unwrap_or_default();
    let key = source
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && k.len() <= 128 && !k.contains(['"', '\'']))
        .map(|k| format!(" (key {k})"))
        .unwrap_or_default();
    format!("line {line}, column {column}{key}: {message}")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn resolve_principal(i: usize, p: &PrincipalFile, access: &mut Access, errors: &mut Vec<String>) {
    let at = format!("principals[{i}]");
    if !valid_id(&p.name) {
        errors.push(format!("{at}.name: {:?} must be letters, digits, '-', '_', '.' or '@'", p.name));
    }
    let mut hashes = Vec::new();
    for (j, h) in p.bearer_token_sha256.iter().enumerate() {
        hashes.extend(token_hash::parse(&format!("{at}.bearer_token_sha256[{j}]"), h, errors));
    }
    if p.bearer_token_sha256.is_empty() && p.mtls_san.is_empty() {
        errors.push(format!("{at}: set bearer_token_sha256 or mtls_san"));
    }
    let mut grants = Vec::new();
    for (j, g) in p.grants.iter().enumerate() {
        let mut permissions = Vec::new();
        for perm in &g.permissions {
            match perm.parse() {
                Ok(x) => permissions.push(x),
                Err(e) => errors.push(format!("{at}.grants[{j}].permissions: {e}")),
            }
        }
        if g.permissions.is_empty() || g.tenants.is_empty() || g.clients.is_empty() {
            errors.push(format!("{at}.grants[{j}]: permissions, tenants and clients must not be empty"));
        }
        grants.push(Grant { permissions, tenants: g.tenants.clone(), clients: g.clients.clone() });
    }
    access.add(Principal { name: p.name.clone(), grants }, &hashes, &p.mtls_san);
}

fn resolve_defaults(d: Option<&DefaultsFile>, env: &HashMap<String, String>, errors: &mut Vec<String>) -> Defaults {
    let grace_text =
        env.get("KEYWARD_DEFAULT_GRACE_PERIOD").cloned().or_else(|| d.and_then(|d| d.grace_period.clone()));
    let grace_period = match grace_text {
        None => DEFAULT_GRACE,
        Some(t) => humantime::parse_duration(&t).unwrap_or_else(|e| {
            errors.push(format!("defaults.grace_period: {t:?}: {e}"));
            DEFAULT_GRACE
        }),
    };
    let algorithm = match d.and_then(|d| d.algorithm.as_deref()) {
        None => Algorithm::RS256,
        Some(a) => match a.parse::<Algorithm>() {
            Ok(alg) if alg.is_client_credential_alg() => alg,
            _ => {
                errors.push(format!("defaults.algorithm: {a:?} is not one of RS256, RS384, PS256"));
                Algorithm::RS256
            }
        },
    };
    let key_bits = d.and_then(|d| d.key_bits).unwrap_or(2048);
    if KeySpec::rsa(key_bits as usize).is_err() {
        errors.push(format!("defaults.key_bits: {key_bits} is not 2048, 3072 or 4096"));
    }
    Defaults { grace_period, algorithm, key_bits }
}

/// Auth0 client ids and connection ids: short, printable, no separators that could smuggle a path.
fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
}

fn resolve_tenant(
    name: &str,
    t: TenantFile,
    env: &HashMap<String, String>,
    errors: &mut Vec<String>,
) -> Option<TenantConfig> {
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
    })
}

#[cfg(test)]
mod tests;
