//! `keyward status`: the server, and who the caller is there.

use serde_json::json;

use super::human::{fields, table, yes};
use super::{CliError, Style, print_json, text};
use crate::cli::out::outln;
use crate::grpc::proto::WhoAmIResponse;

/// `keyward status`: the server at `endpoint`, then the caller and its grants.
pub(in crate::cli) fn status(resp: &WhoAmIResponse, endpoint: &str, style: Style) -> Result<(), CliError> {
    if style.json {
        let grants: Vec<_> = resp
            .grants
            .iter()
            .map(|g| json!({"permissions": g.permissions, "tenants": g.tenants, "clients": g.clients}))
            .collect();
        return print_json(&json!({
            "endpoint": endpoint, "version": text(&resp.version), "commit": text(&resp.commit),
            "replica_id": text(&resp.replica_id), "ready": resp.ready, "store": text(&resp.store),
            "tenants": resp.tenants, "principal": text(&resp.principal),
            "authenticated_by": text(&resp.authenticated_by), "grants": grants,
        }));
    }
    let version = match (resp.version.is_empty(), resp.commit.is_empty()) {
        (false, false) => format!("{} (commit {})", resp.version, resp.commit),
        _ => format!("{}{}", resp.version, resp.commit),
    };
    let principal = if resp.authenticated_by.is_empty() {
        resp.principal.clone()
    } else {
        format!("{} (by {})", resp.principal, resp.authenticated_by)
    };
    fields(&[
        ("endpoint", endpoint.to_owned()),
        ("version", version),
        ("replica", resp.replica_id.clone()),
        ("ready", yes(resp.ready)),
        ("store", resp.store.clone()),
        ("you are", principal),
        ("tenants", if resp.tenants.is_empty() { "none".to_owned() } else { resp.tenants.join(", ") }),
    ])?;
    outln!()?;
    if resp.grants.is_empty() {
        return outln!("no grants: this principal may not read or change anything");
    }
    let rows: Vec<Vec<String>> =
        resp.grants.iter().map(|g| vec![g.permissions.join(","), g.tenants.join(","), g.clients.join(",")]).collect();
    table(&["PERMISSIONS", "TENANTS", "CLIENTS"], &rows, style)
}
