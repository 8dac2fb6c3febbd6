//! `[auth]` and `[[principals]]`: who may call, known by bearer-token hash or certificate SAN,
//! and what each may do. `KEYWARD_BEARER_TOKEN_SHA256` (comma-separated) overrides
//! `auth.bearer_token_sha256`, whose tokens may do everything.

use serde::Deserialize;

use super::source::{Env, Setting};
use super::tenants::valid_id;
use super::token_hash;
use crate::access::{Access, Grant, Principal};

const BEARER_TOKEN_SHA256: Setting = Setting::env("auth.bearer_token_sha256", "KEYWARD_BEARER_TOKEN_SHA256");

#[derive(Debug, Deserialize)]
pub(super) struct AuthFile {
    #[serde(default)]
    bearer_token_sha256: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct PrincipalFile {
    name: String,
    #[serde(default)]
    bearer_token_sha256: Vec<String>,
    #[serde(default)]
    mtls_san: Vec<String>,
    #[serde(default)]
    grants: Vec<GrantFile>,
}

#[derive(Debug, Deserialize)]
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

/// Resolves `[auth]` (with its variable) and `[[principals]]` into who may do what; someone must
/// be able to call.
pub(super) fn resolve(
    auth: Option<AuthFile>,
    principals: &[PrincipalFile],
    env: &Env,
    errors: &mut Vec<String>,
) -> Access {
    let hashes = BEARER_TOKEN_SHA256.pick(None, env, auth.map(|a| a.bearer_token_sha256));
    let name = hashes.name();
    let hashes = hashes
        .read(|list| list.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let mut token_hashes = Vec::new();
    for (i, h) in hashes.iter().enumerate() {
        token_hashes.extend(token_hash::parse(&format!("{name}[{i}]"), h, errors));
    }
    let mut access = Access::all_access(&token_hashes);
    for (i, p) in principals.iter().enumerate() {
        resolve_principal(i, p, &mut access, errors);
    }
    // A bad hash is reported as such, not as no one being able to call.
    if hashes.is_empty() && principals.is_empty() {
        errors.push("auth: configure auth.bearer_token_sha256 or at least one [[principals]]".into());
    }
    access
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
