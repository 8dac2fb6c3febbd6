//! Authentication and authorization. The interceptor finds the caller's [`Principal`]: a bearer
//! token (configured as its SHA-256, compared in constant time) or, over mTLS, the client
//! certificate's URI or DNS subject alternative name; it puts the principal in the request's
//! extensions. Each RPC then checks the permission it needs for the tenant and client it names;
//! denials are PERMISSION_DENIED and audited, at most ten events a minute per principal (the
//! next event written counts those that were not).

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tonic::service::Interceptor;
use tonic::{Request, Status};
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use super::auth_failures::{Failure, FailureLog};
use crate::access::{Access, Permission, Principal};
use crate::store::{AuditEvent, AuditKind, Store};

/// The SHA-256 of a token, as configured.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The authenticated caller, in each request's extensions.
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<Principal>);

/// Finds the principal of every KeyRotation, Signer, Tokens and Audit call.
#[derive(Clone)]
pub struct Authenticate {
    access: Arc<Access>,
    failures: Arc<FailureLog>,
}

impl std::fmt::Debug for Authenticate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticate").field("access", &self.access).finish()
    }
}

impl Authenticate {
    /// Over the configured principals.
    pub fn new(access: Arc<Access>) -> Self {
        Self { access, failures: Arc::default() }
    }

    /// Failed authentication so far, for [`super::auth_failures::audit_failures`].
    pub(super) fn failures(&self) -> Arc<FailureLog> {
        self.failures.clone()
    }

    fn principal<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        self.find(request).map_err(|(failure, status)| {
            self.failures.record(request.remote_addr().map(|a| a.ip()), failure);
            status
        })
    }

    fn find<T>(&self, request: &Request<T>) -> Result<Principal, (Failure, Status)> {
        match request.metadata().get("authorization") {
            Some(value) => {
                let required =
                    || (Failure::Malformed, Status::unauthenticated("authorization: Bearer <token> is required"));
                let header = value.to_str().map_err(|_| required())?;
                let token =
                    header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).ok_or_else(required)?;
                self.access
                    .by_token_hash(&token_hash(token.trim()))
                    .cloned()
                    .ok_or_else(|| (Failure::UnknownToken, Status::unauthenticated("the bearer token is not valid")))
            }
            None => {
                let certs = request.peer_certs();
                let leaf = certs.as_ref().and_then(|c| c.first());
                match leaf {
                    Some(der) => {
                        let sans = subject_alt_names(der.as_ref());
                        self.access.by_san(sans.iter().map(String::as_str)).cloned().ok_or_else(|| {
                            let status =
                                Status::unauthenticated("the client certificate names no configured principal");
                            (Failure::UnknownCertificate, status)
                        })
                    }
                    None => Err((
                        Failure::Missing,
                        Status::unauthenticated("authorization: Bearer <token> (or a client certificate) is required"),
                    )),
                }
            }
        }
    }
}

impl Interceptor for Authenticate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let principal = self.principal(&request)?;
        request.extensions_mut().insert(Caller(Arc::new(principal)));
        Ok(request)
    }
}

/// The URI and DNS subject alternative names of a DER certificate (none if it does not parse).
pub fn subject_alt_names(der: &[u8]) -> Vec<String> {
    let Ok(cert) = Certificate::from_der(der) else { return Vec::new() };
    let Ok(Some(san)) = cert.tbs_certificate().get_extension::<SubjectAltName>() else { return Vec::new() };
    san.1
        .0
        .iter()
        .filter_map(|name| match name {
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
            GeneralName::DnsName(dns) => Some(dns.to_string()),
            _ => None,
        })
        .collect()
}

/// At most this many `access.denied` events per principal a minute; the rest are counted and
/// carried by the next event written (`suppressed`).
const DENIALS_PER_MINUTE: u32 = 10;

/// One principal's denials in the current minute.
#[derive(Debug)]
struct Denials {
    since: std::time::Instant,
    written: u32,
    suppressed: u64,
}

/// Checks permissions and audits denials (rate-limited per principal).
#[derive(Clone)]
pub struct Authorize {
    store: Arc<dyn Store>,
    /// Keyed by principal name: configured principals only, so bounded.
    denials: Arc<std::sync::Mutex<std::collections::HashMap<String, Denials>>>,
}

impl std::fmt::Debug for Authorize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorize").finish_non_exhaustive()
    }
}

impl Authorize {
    /// Audits denials into `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, denials: Arc::default() }
    }

    /// Whether this denial is audited, and how many of the principal's denials were not since
    /// the last one that was.
    fn audit_denial(&self, principal: &str) -> Option<u64> {
        let mut all = self.denials.lock().ok()?;
        let now = std::time::Instant::now();
        let d = all.entry(principal.to_owned()).or_insert(Denials { since: now, written: 0, suppressed: 0 });
        if now.duration_since(d.since) >= std::time::Duration::from_secs(60) {
            d.since = now;
            d.written = 0;
        }
        if d.written >= DENIALS_PER_MINUTE {
            d.suppressed += 1;
            return None;
        }
        d.written += 1;
        Some(std::mem::take(&mut d.suppressed))
    }

    /// The authenticated caller of `request` (whatever it may do).
    pub fn caller<T>(request: &Request<T>) -> Result<Arc<Principal>, Status> {
        request
            .extensions()
            .get::<Caller>()
            .map(|c| c.0.clone())
            .ok_or_else(|| Status::unauthenticated("no authenticated principal"))
    }

    /// The caller of `request`, if it may do `permission` on `tenant` (and `client`).
    pub async fn check<T>(
        &self,
        request: &Request<T>,
        permission: Permission,
        tenant: &str,
        client: Option<&str>,
    ) -> Result<Arc<Principal>, Status> {
        let caller = Self::caller(request)?;
        if caller.may(permission, tenant, client) {
            return Ok(caller);
        }
        let target = client.map_or_else(|| format!("tenant {tenant:?}"), |c| format!("{c:?} in tenant {tenant:?}"));
        let denied =
            || Status::permission_denied(format!("principal {:?} lacks {permission} on {target}", caller.name));
        let Some(suppressed) = self.audit_denial(&caller.name) else { return Err(denied()) };
        let detail = serde_json::json!({"permission": permission.as_str(), "suppressed": suppressed});
        let event = AuditEvent::new(
            AuditKind::AccessDenied,
            &caller.name,
            tenant,
            client.unwrap_or_default(),
            detail.to_string(),
        );
        if let Err(e) = self.store.append_audit(&event).await {
            tracing::error!(error = %e, "audit event access.denied not recorded");
        }
        Err(denied())
    }
}
