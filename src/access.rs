//! Who may do what: principals (from bearer tokens or mTLS client certificates) and their
//! grants, each a set of permissions scoped by tenant and client-id glob patterns.

use std::fmt;
use std::str::FromStr;

use subtle::ConstantTimeEq;

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Rotate client credentials and connection keys.
    Rotate,
    /// Sign client assertions and JWTs.
    Sign,
    /// Get Auth0 access tokens.
    Token,
    /// Read rotations, credentials, JWKS and audit events.
    Read,
    /// Revoke a client credential at once (`KeyRotation.RevokeCredential`).
    Revoke,
    /// Everything, on every tenant and client the grant names.
    Admin,
}

impl Permission {
    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Rotate => "rotate",
            Permission::Sign => "sign",
            Permission::Token => "token",
            Permission::Read => "read",
            Permission::Revoke => "revoke",
            Permission::Admin => "admin",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "rotate" => Permission::Rotate,
            "sign" => Permission::Sign,
            "token" => Permission::Token,
            "read" => Permission::Read,
            "revoke" => Permission::Revoke,
            "admin" => Permission::Admin,
            other => return Err(format!("{other:?} is not one of rotate, sign, token, read, revoke, admin")),
        })
    }
}

/// Permissions on the tenants and clients matching the patterns (`*` matches any run of
/// characters; `prod-*`, `*`, `billing-api`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// What is allowed.
    pub permissions: Vec<Permission>,
    /// Tenant name patterns.
    pub tenants: Vec<String>,
    /// Client id (or connection id) patterns.
    pub clients: Vec<String>,
}

impl Grant {
    /// Everything everywhere.
    pub fn everything() -> Self {
        Self { permissions: vec![Permission::Admin], tenants: vec!["*".into()], clients: vec!["*".into()] }
    }

    fn allows(&self, permission: Permission, tenant: &str, client: Option<&str>) -> bool {
        let perm = self.permissions.iter().any(|p| *p == permission || *p == Permission::Admin);
        let tenant_ok = self.tenants.iter().any(|p| glob(p, tenant));
        let client_ok = client.is_none_or(|c| self.clients.iter().any(|p| glob(p, c)));
        perm && tenant_ok && client_ok
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Its name, as configured (audit events name it).
    pub name: String,
    /// What it may do.
    pub grants: Vec<Grant>,
}

impl Principal {
    /// Whether it may do `permission` on `tenant` (and `client`, when the call names one).
    pub fn may(&self, permission: Permission, tenant: &str, client: Option<&str>) -> bool {
        self.grants.iter().any(|g| g.allows(permission, tenant, client))
    }

    /// Whether any of its grants names `tenant`.
    pub fn names_tenant(&self, tenant: &str) -> bool {
        self.grants.iter().any(|g| g.tenants.iter().any(|p| glob(p, tenant)))
    }

    /// Whether it holds `admin` on every tenant and every client (`*`/`*`): it alone reads the
    /// global audit events (principals, grants, KEK) and everyone's denials.
    pub fn is_global_admin(&self) -> bool {
        self.grants.iter().any(|g| {
            g.permissions.contains(&Permission::Admin)
                && g.tenants.iter().any(|t| t == "*")
                && g.clients.iter().any(|c| c == "*")
        })
    }

    /// Whether it may read an audit event: a global one (no tenant) or another principal's
    /// denial only as global admin; others where it may read the tenant (and the subject).
    pub fn may_read_event(&self, tenant: &str, subject: &str, kind: &str, actor: &str) -> bool {
        if self.is_global_admin() {
            return true;
        }
        if tenant.is_empty() || (kind == crate::store::AuditKind::AccessDenied.as_str() && actor != self.name) {
            return false;
        }
        self.may(Permission::Read, tenant, (!subject.is_empty()).then_some(subject))
    }
}

/// The configured principals, found by token hash or certificate SAN.
#[derive(Clone, Default)]
pub struct Access {
    tokens: Vec<([u8; 32], usize)>,
    sans: Vec<(String, usize)>,
    principals: Vec<Principal>,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.principals.iter().map(|p| p.name.as_str()).collect();
        f.debug_struct("Access").field("principals", &names).finish_non_exhaustive()
    }
}

impl Access {
    /// Full access for each token hash (the `auth.bearer_token_sha256` shorthand).
    pub fn all_access(token_hashes: &[[u8; 32]]) -> Self {
        let mut access = Self::default();
        for (i, h) in token_hashes.iter().enumerate() {
            let name = format!("token-{}", i + 1);
            access.add(Principal { name, grants: vec![Grant::everything()] }, &[*h], &[]);
        }
        access
    }

    /// Adds a principal reachable by any of `token_hashes` and certificate `sans`.
    pub fn add(&mut self, principal: Principal, token_hashes: &[[u8; 32]], sans: &[String]) {
        let i = self.principals.len();
        self.principals.push(principal);
        self.tokens.extend(token_hashes.iter().map(|h| (*h, i)));
        self.sans.extend(sans.iter().map(|s| (s.clone(), i)));
    }

    /// The principal whose token has this SHA-256. Every configured hash is compared, in
    /// constant time, so timing does not tell which one matched.
    pub fn by_token_hash(&self, hash: &[u8; 32]) -> Option<&Principal> {
        let mut found = None;
        for (known, i) in &self.tokens {
            if bool::from(known.ct_eq(hash)) {
                found = Some(*i);
            }
        }
        found.map(|i| &self.principals[i])
    }

    /// The principal named by a client certificate's URI or DNS subject alternative name.
    pub fn by_san<'a>(&self, sans: impl IntoIterator<Item = &'a str>) -> Option<&Principal> {
        sans.into_iter()
            .find_map(|san| self.sans.iter().find(|(known, _)| known == san))
            .map(|(_, i)| &self.principals[*i])
    }

    /// What the grants are, for the audit log: each principal's grants, how many bearer tokens
    /// and which certificate SANs reach it, and a SHA-256 over the token hashes (it changes
    /// when a token is added, replaced or removed, and reveals none).
    pub fn summary(&self) -> serde_json::Value {
        use sha2::{Digest, Sha256};
        let principals: Vec<serde_json::Value> = self
            .principals
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut tokens = Sha256::new();
                let mut count = 0;
                for (hash, _) in self.tokens.iter().filter(|(_, j)| *j == i) {
                    tokens.update(hash);
                    count += 1;
                }
                let digest = crate::ids::hex(&tokens.finalize());
                let grants: Vec<serde_json::Value> = p
                    .grants
                    .iter()
                    .map(|g| {
                        let permissions: Vec<&str> = g.permissions.iter().map(|x| x.as_str()).collect();
                        serde_json::json!({ "permissions": permissions, "tenants": g.tenants, "clients": g.clients })
                    })
                    .collect();
                let sans: Vec<&str> = self.sans.iter().filter(|(_, j)| *j == i).map(|(s, _)| s.as_str()).collect();
                serde_json::json!({ "principal": p.name, "grants": grants, "bearer_tokens": count,
                    "bearer_tokens_sha256": digest, "mtls_san": sans })
            })
            .collect();
        serde_json::json!({ "principals": principals })
    }

    /// Whether any principal is reachable by certificate.
    pub fn has_certificate_principals(&self) -> bool {
        !self.sans.is_empty()
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else { return text.is_empty() };
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns() {
        for (p, t, want) in [
            ("*", "", true),
            ("*", "anything", true),
            ("billing-*", "billing-api", true),
            ("billing-*", "billing-", true),
            ("billing-*", "xbilling-api", false),
            ("*-api", "billing-api", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXcYYb", false),
            ("ab*ba", "aba", false),
            ("exact", "exact", true),
            ("exact", "exact2", false),
        ] {
            assert_eq!(glob(p, t), want, "{p} ~ {t}");
        }
    }

    #[test]
    fn grants_scope_permissions_by_tenant_and_client() {
        let p = Principal {
            name: "svc".into(),
            grants: vec![Grant {
                permissions: vec![Permission::Sign, Permission::Read],
                tenants: vec!["prod".into()],
                clients: vec!["billing-*".into()],
            }],
        };
        assert!(p.may(Permission::Sign, "prod", Some("billing-api")));
        assert!(!p.may(Permission::Sign, "prod", Some("payroll")));
        assert!(!p.may(Permission::Sign, "dev", Some("billing-api")));
        assert!(!p.may(Permission::Rotate, "prod", Some("billing-api")));
        assert!(!p.is_global_admin());
        let admin = Principal { name: "ops".into(), grants: vec![Grant::everything()] };
        assert!(admin.may(Permission::Rotate, "any", Some("thing")) && admin.is_global_admin());
        // A patterned reader on every tenant sees its clients' events, not the global ones
        // (principals, grants, KEK) nor other principals' denials.
        let reader = Principal {
            name: "reader".into(),
            grants: vec![Grant {
                permissions: vec![Permission::Read],
                tenants: vec!["*".into()],
                clients: vec!["p*".into()],
            }],
        };
        assert!(!reader.is_global_admin());
        assert!(reader.may_read_event("dev", "payments", "rotation.completed", "keyward"));
        assert!(!reader.may_read_event("", "principals", "access.grants", "keyward replica a"));
        assert!(!reader.may_read_event("dev", "payments", "access.denied", "someone-else"));
        assert!(reader.may_read_event("dev", "payments", "access.denied", "reader"));
        assert!(!reader.may_read_event("dev", "orders", "rotation.completed", "keyward"));
        assert!(admin.may_read_event("", "principals", "access.grants", "keyward replica a"));
    }

    #[test]
    fn principals_by_token_hash_and_san() {
        let mut access = Access::all_access(&[[1; 32]]);
        let svc = Principal { name: "svc".into(), grants: vec![] };
        access.add(svc.clone(), &[[2; 32]], &["spiffe://corp/svc".into()]);
        assert_eq!(access.by_token_hash(&[1; 32]).unwrap().name, "token-1");
        assert_eq!(access.by_token_hash(&[2; 32]), Some(&svc));
        assert!(access.by_token_hash(&[3; 32]).is_none());
        assert_eq!(access.by_san(["dns.example", "spiffe://corp/svc"]), Some(&svc));
        assert!(access.by_san(["other"]).is_none());
        assert!(access.has_certificate_principals());
    }
}
