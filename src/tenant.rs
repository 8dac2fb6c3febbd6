//! A configured tenant with its Auth0 client.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use keyward_auth0::{AssertionProvider, Auth0Client, BoxError, ClientAuth};
use keyward_crypto::{Algorithm, AssertionParams, Backend, PrivateKey, Signer, client_assertion, signer_for};

use crate::Error;
use crate::config::{ManagementAuth, TenantConfig};
use crate::telemetry::metrics::{Auth0Labels, TenantLabel, metrics};

/// A tenant keyward manages, ready to call.
pub struct Tenant {
    /// Its configuration.
    pub config: TenantConfig,
    /// Its Management and Authentication API client.
    pub auth0: Auth0Client,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tenant({})", self.config.name)
    }
}

/// The configured tenants, by name: what the rotation engine and the signer look tenants and
/// their clients up in.
#[derive(Debug, Default)]
pub struct Tenants(BTreeMap<String, Tenant>);

impl Tenants {
    /// Over `tenants`, keyed by name.
    pub fn new(tenants: BTreeMap<String, Tenant>) -> Self {
        Self(tenants)
    }

    /// Their names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// A configured tenant, or NOT_FOUND.
    pub fn get(&self, name: &str) -> Result<&Tenant, Error> {
        self.0.get(name).ok_or_else(|| Error::NotFound(format!("tenant {name:?} is not configured")))
    }

    /// The tenant, if it lets keyward manage (or sign for) `client_id`; else NOT_FOUND.
    pub fn managed_client(&self, tenant: &str, client_id: &str) -> Result<&Tenant, Error> {
        let t = self.get(tenant)?;
        if t.config.clients.contains(client_id) || t.config.signing.local_clients.contains(client_id) {
            Ok(t)
        } else {
            Err(Error::NotFound(format!("client {client_id:?} is not managed by keyward in tenant {tenant:?}")))
        }
    }

    /// The tenant, if it lets keyward manage `connection_id`; else NOT_FOUND.
    pub fn managed_connection(&self, tenant: &str, connection_id: &str) -> Result<&Tenant, Error> {
        let t = self.get(tenant)?;
        if t.config.connections.contains(connection_id) {
            Ok(t)
        } else {
            Err(Error::NotFound(format!("connection {connection_id:?} is not managed by keyward in tenant {tenant:?}")))
        }
    }
}

/// Signs the management application's own private_key_jwt assertions.
struct KeyAssertions {
    client_id: String,
    signer: Box<dyn Signer>,
}

impl AssertionProvider for KeyAssertions {
    fn assertion(&self, audience: &str) -> Result<String, BoxError> {
        let params = AssertionParams {
            client_id: &self.client_id,
            audience,
            now: SystemTime::now(),
            lifetime: Duration::from_secs(60),
            kid: None,
        };
        Ok(client_assertion(&*self.signer, &params, &mut crate::rng::os_rng())?)
    }
}

/// Counts a tenant's Auth0 calls and keeps its last rate-limit reading.
#[derive(Debug)]
struct Auth0Metrics {
    tenant: String,
}

impl keyward_auth0::Observer for Auth0Metrics {
    fn answered(&self, operation: &'static str, status: Option<u16>, rate_limit: &keyward_auth0::RateLimit) {
        let m = metrics();
        let status = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
        m.auth0_requests
            .get_or_create(&Auth0Labels { tenant: self.tenant.clone(), endpoint: operation.to_owned(), status })
            .inc();
        if let Some(remaining) = rate_limit.remaining {
            let gauge = m.auth0_ratelimit_remaining.get_or_create(&TenantLabel { tenant: self.tenant.clone() });
            gauge.set(i64::try_from(remaining).unwrap_or(i64::MAX));
        }
    }
}

impl Tenant {
    /// Builds the tenant's Auth0 client from its configuration.
    pub fn connect(config: TenantConfig) -> Result<Self, Error> {
        let mut c = keyward_auth0::Config::new(config.domain.clone());
        if let Some(u) = &config.base_url {
            let url = url::Url::parse(u)
                .map_err(|e| Error::Config(vec![format!("tenants.{}.base_url: {e}", config.name)]))?;
            c = c.with_base_url(url);
        }
        if let Some(ca) = &config.ca_file {
            c = c.with_extra_root_ca_pem(crate::files::read_text(ca)?);
        }
        c = c.with_observer(Arc::new(Auth0Metrics { tenant: config.name.clone() }));
        let client_id = config.management_client_id.clone();
        let auth = match &config.management_auth {
            ManagementAuth::Secret(s) => ClientAuth::SecretPost { client_id, client_secret: s.clone() },
            ManagementAuth::PrivateKeyFile(path) => {
                let key = PrivateKey::from_pem(&crate::files::read_text(path)?)?;
                let signer = signer_for(Backend::fastest(), &key, Algorithm::RS256)?;
                ClientAuth::PrivateKeyJwt {
                    client_id: client_id.clone(),
                    provider: Arc::new(KeyAssertions { client_id, signer }),
                }
            }
        };
        let auth0 = Auth0Client::new(c, auth)?;
        Ok(Self { config, auth0 })
    }
}
