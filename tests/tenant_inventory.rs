//! `GetTenantInventory` and `keyward inventory` over real HTTP/2 against a real server, the
//! emulator (changed behind keyward's back through its Management API) and both stores: every
//! record with the methods that attach it, whether keyward manages it and its flags; drift
//! between inventories (and a keyward rotation is not drift); all pages of a tenant with more
//! than 100 clients; the admin port's inventory metrics with bounded labels; the CLI's JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "support/grpc_world.rs"]
mod world;

use std::collections::BTreeSet;

use keyward::access::{Access, Grant, Permission, Principal};
use keyward::grpc::proto::{self, GetTenantInventoryResponse, InventoryCredential, InventoryFlag};
use keyward::grpc::token_hash;
use keyward::store::AuditKind;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use tonic::{Code, Request};
use world::*;

/// A client made outside keyward (as Terraform would), with a name no metric label may carry.
const TF_APP: &str = "tf-app";
const HOSTILE: &str = "tf \"} 1\nkeyward_pwned{x=\"y";
/// May read only demo-app in `dev`: not the whole tenant.
const APP_READER: &str = "kw-app-reader-5c1";

fn access() -> Access {
    let mut a = Access::all_access(&[token_hash(TOKEN)]);
    let app = Grant { permissions: vec![Permission::Read], tenants: vec!["dev".into()], clients: vec![APP.into()] };
    a.add(Principal { name: "app-reader".into(), grants: vec![app] }, &[token_hash(APP_READER)], &[]);
    a
}

/// The example seed plus [`TF_APP`] and `fillers` more clients, under `limits`.
fn seed(fillers: usize, limits: Value) -> String {
    let mut s: Value = serde_json::from_str(SEED).unwrap();
    let clients = s["clients"].as_array_mut().unwrap();
    clients.push(json!({"client_id": TF_APP, "name": HOSTILE, "token_endpoint_auth_method": "private_key_jwt",
        "jwt_configuration": {"alg": "RS256"}}));
    for i in 0..fillers {
        clients.push(json!({"client_id": format!("filler-{i:03}"), "name": format!("filler {i}")}));
    }
    s["limits"] = limits;
    s.to_string()
}

async fn reseed(w: &World, seed: String) {
    let r = w.http.post(format!("{}/__emulator/seed", w.emu.base_url())).body(seed).send().await.unwrap();
    assert!(r.status().is_success(), "reseed: {}", r.text().await.unwrap());
}

/// What a person with the dashboard (or Terraform) does, over the emulator's Management API.
struct Outside<'a> {
    w: &'a World,
    token: String,
}

impl Outside<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v2/clients/{TF_APP}{path}", self.w.emu.base_url())
    }

    async fn create(&self, name: &str, expires_in_days: Option<i64>) -> String {
        let pem = keyward_crypto::aws_lc_generate(keyward_crypto::KeySpec::Rsa(2048))
            .unwrap()
            .public_key()
            .to_spki_pem()
            .unwrap();
        let mut body = json!({"credential_type": "public_key", "pem": pem, "name": name});
        if let Some(days) = expires_in_days {
            let at = keyward::clock::wall_now().plus_ms(days * 86_400_000).to_offset_date_time().unwrap();
            body["expires_at"] = json!(at.format(&Rfc3339).unwrap());
        }
        let r = self.w.http.post(self.url("/credentials")).bearer_auth(&self.token).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201, "create {name}");
        r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }

    async fn patch(&self, body: Value) {
        let r = self.w.http.patch(self.url("")).bearer_auth(&self.token).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "patch {body}: {}", r.text().await.unwrap());
    }

    async fn delete(&self, id: &str) {
        let r =
            self.w.http.delete(self.url(&format!("/credentials/{id}"))).bearer_auth(&self.token).send().await.unwrap();
        assert_eq!(r.status(), 204, "delete {id}");
    }
}

async fn inventory(w: &World) -> GetTenantInventoryResponse {
    let mut c = w.client().await;
    c.get_tenant_inventory(authed(proto::GetTenantInventoryRequest { tenant: "dev".into() }))
        .await
        .unwrap()
        .into_inner()
}

fn record<'a>(inv: &'a GetTenantInventoryResponse, client: &str, id: &str) -> &'a InventoryCredential {
    let c = inv.clients.iter().find(|c| c.client_id == client).unwrap_or_else(|| panic!("no client {client}"));
    c.credentials.iter().find(|r| r.credential_id == id).unwrap_or_else(|| panic!("no record {id} on {client}"))
}

fn flags(r: &InventoryCredential) -> Vec<InventoryFlag> {
    r.flags.iter().map(|f| InventoryFlag::try_from(*f).unwrap()).collect()
}

/// (kind, what, client, credential, slot) of each drift entry, sorted.
fn drift(inv: &GetTenantInventoryResponse) -> BTreeSet<(String, String, String, String, String)> {
    inv.drift
        .iter()
        .map(|d| (d.kind.clone(), d.what.clone(), d.client_id.clone(), d.credential_id.clone(), d.slot.clone()))
        .collect()
}

fn entry(kind: &str, what: &str, id: &str, slot: &str) -> (String, String, String, String, String) {
    (kind.into(), what.into(), TF_APP.into(), id.into(), slot.into())
}

fn rotate(lifetime_days: i64) -> proto::RotateClientCredentialRequest {
    proto::RotateClientCredentialRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        credential_lifetime: (lifetime_days > 0)
            .then_some(prost_types::Duration { seconds: lifetime_days * 86_400, nanos: 0 }),
        ..Default::default()
    }
}

/// The admin port's metrics, served in-process on 127.0.0.1:0 as `keyward serve` serves them.
async fn scrape(w: &World) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let parts = keyward::admin::Parts { engine: w.engine.clone(), signing: w.signing.clone() };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(keyward::admin::serve(listener, parts, 4, async move {
        let _ = rx.await;
    }));
    let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
    text
}

/// One series: its metric, labels (name, value) and value.
type Series = (String, Vec<(String, String)>, f64);

/// Every `keyward_inventory_*` series.
fn inventory_series(metrics: &str) -> Vec<Series> {
    metrics
        .lines()
        .filter(|l| l.starts_with("keyward_inventory_"))
        .map(|l| {
            let (name, rest) = l.split_once('{').unwrap_or_else(|| panic!("unlabelled series: {l}"));
            let (labels, value) = rest.rsplit_once("} ").unwrap();
            let labels = labels
                .split(',')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            (name.to_owned(), labels, value.parse().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_shows_every_record_and_what_changed_outside_keyward() {
    for (name, store, dir) in stores().await {
        let w = world_with(name, store, dir, Setup { access: access(), ..Setup::default() }).await;
        // A burst that the test's own Management API calls (made outside keyward, with no retry)
        // cannot exhaust on a fast machine; Auth0's rate limit is the next test's subject.
        reseed(&w, seed(0, json!({"slot": 2, "pool": 4, "burst": 1000, "per_second": 16}))).await;
        let mut c = w.client().await;
        let first = c.rotate_client_credential(authed(rotate(0))).await.unwrap().into_inner();
        let k1 = first.credential.unwrap().credential_id;

        // Records made outside keyward: one per slot, one attached nowhere, one expiring soon.
        let outside = Outside { w: &w, token: w.management_token().await };
        let pkjwt = outside.create("made by terraform", None).await;
        let jar = outside.create("jar key", None).await;
        let orphan = outside.create("forgotten \"} keyward_pwned 1", None).await;
        let expiring = outside.create("expiring", Some(5)).await;
        outside
            .patch(json!({"client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": pkjwt}, {"id": expiring}]}},
                "token_endpoint_auth_method": null}))
            .await;
        outside.patch(json!({"signed_request_object": {"credentials": [{"id": jar}]}})).await;

        // A caller that may read one client only may not read the whole tenant.
        let denied = c
            .get_tenant_inventory({
                let mut r = Request::new(proto::GetTenantInventoryRequest { tenant: "dev".into() });
                r.metadata_mut().insert("authorization", format!("Bearer {APP_READER}").parse().unwrap());
                r
            })
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{name}: {denied:?}");
        let missing = c.get_tenant_inventory(authed(proto::GetTenantInventoryRequest::default())).await.unwrap_err();
        assert_eq!((missing.code(), missing.message()), (Code::InvalidArgument, "tenant: is required"), "{name}");

        // The first inventory: a baseline, with every record as it is.
        let inv = inventory(&w).await;
        assert!(inv.baseline && inv.drift.is_empty() && inv.previous_taken_at.is_none(), "{name}: {inv:?}");
        let ours = record(&inv, APP, &k1);
        assert!(ours.managed_by_keyward, "{name}");
        assert_eq!(
            (ours.key_state.as_str(), ours.slots.clone(), flags(ours)),
            ("ACTIVE", vec!["private_key_jwt".to_owned()], vec![])
        );
        let app = inv.clients.iter().find(|c| c.client_id == APP).unwrap();
        assert!(app.managed_by_keyward && app.name == "Demo application", "{name}: {app:?}");
        let tf = inv.clients.iter().find(|c| c.client_id == TF_APP).unwrap();
        assert!(!tf.managed_by_keyward && tf.name == HOSTILE && tf.app_type == "non_interactive", "{name}: {tf:?}");
        assert_eq!(tf.credentials.len(), 4, "{name}");
        for (id, slots, want) in [
            (&pkjwt, vec!["private_key_jwt"], vec![]),
            (&jar, vec!["signed_request_object"], vec![]),
            (&orphan, vec![], vec![InventoryFlag::Orphaned]),
            (&expiring, vec!["private_key_jwt"], vec![InventoryFlag::Expiring]),
        ] {
            let r = record(&inv, TF_APP, id);
            assert!(!r.managed_by_keyward && r.key_state.is_empty(), "{name}: {r:?}");
            assert_eq!(
                (r.slots.clone(), flags(r)),
                (slots.iter().map(|s| (*s).to_owned()).collect(), want),
                "{name}: {r:?}"
            );
            assert_eq!((r.algorithm.as_str(), r.credential_type.as_str()), ("RS256", "public_key"), "{name}");
            assert!(r.created_at.is_some() && r.age.is_some(), "{name}: {r:?}");
        }
        assert!(record(&inv, TF_APP, &expiring).expires_at.is_some(), "{name}");
        assert!(!inv.signing_keys.is_empty() && inv.signing_keys.iter().any(|k| k.current), "{name}: {inv:?}");
        assert!(inv.signing_keys.iter().all(|k| k.not_after.is_some() && k.age.is_some()), "{name}");
        let conn: Vec<_> = inv.connection_keys.iter().filter(|k| k.connection_id == CONN).collect();
        assert!(conn.iter().any(|k| k.current) && conn.iter().any(|k| k.next), "{name}: {conn:?}");
        // A managed connection Auth0 does not know is named, and the rest is whole.
        assert_eq!(inv.gaps.len(), 1, "{name}: {:?}", inv.gaps);
        assert_eq!((inv.gaps[0].what.as_str(), inv.gaps[0].id.as_str()), ("connection", "con_notatauth0000"));
        let s = inv.summary.unwrap();
        assert_eq!((s.credentials, s.managed_credentials, s.orphaned, s.expiring, s.drift), (5, 1, 1, 1, 0), "{name}");
        assert_eq!(inv.expiry_window.unwrap().seconds, 30 * 86_400);

        // Outside keyward: a record deleted, one created, one detached. Exactly those are drift.
        outside.delete(&orphan).await;
        let fresh = outside.create("created by hand", None).await;
        outside.patch(json!({"signed_request_object": {"credentials": []}})).await;
        let inv = inventory(&w).await;
        assert!(!inv.baseline && inv.previous_taken_at.is_some(), "{name}");
        assert_eq!(
            drift(&inv),
            BTreeSet::from([
                entry("disappeared", "record", &orphan, ""),
                entry("appeared", "record", &fresh, ""),
                entry("disappeared", "attachment", &jar, "signed_request_object"),
            ]),
            "{name}: {:?}",
            inv.drift
        );
        assert_eq!(flags(record(&inv, TF_APP, &jar)), vec![InventoryFlag::Orphaned], "{name}");
        let audited = w.store.last_audit(AuditKind::InventoryDrift).await.unwrap().expect("an inventory.drift event");
        assert_eq!((audited.tenant.as_str(), audited.actor.as_str()), ("dev", "token-1"), "{name}");
        let detail: Value = serde_json::from_str(&audited.detail).unwrap();
        assert_eq!(detail["count"], 3, "{name}: {detail}");

        // keyward's own rotations between two inventories are not drift: a new key registered
        // and attached twice, the first one evicted (detached and deleted) by the second.
        c.rotate_client_credential(authed(rotate(0))).await.unwrap();
        let third = c.rotate_client_credential(authed(rotate(90))).await.unwrap().into_inner();
        let k3 = third.credential.unwrap();
        let inv = inventory(&w).await;
        assert!(inv.drift.is_empty(), "{name}: {:?}", inv.drift);
        assert!(
            inv.clients.iter().find(|c| c.client_id == APP).unwrap().credentials.iter().all(|r| r.credential_id != k1)
        );
        assert_eq!(record(&inv, APP, &k3.credential_id).key_state, "ACTIVE", "{name}");

        // Metrics: counts by tenant, kind and flag only; the earliest managed expiry.
        let metrics = scrape(&w).await;
        assert!(!metrics.contains("pwned") && !metrics.contains("tf \\\""), "{name}: a name became a label");
        let series = inventory_series(&metrics);
        let kinds = ["client_credential", "connection_key", "signing_key"];
        let flag_names = ["all", "orphaned", "expiring", "older_than_policy", "expired"];
        for (metric, labels, _) in &series {
            for (k, v) in labels {
                let allowed = match k.as_str() {
                    "tenant" => v == "dev",
                    "kind" => kinds.contains(&v.as_str()),
                    "flag" => flag_names.contains(&v.as_str()),
                    _ => false,
                };
                assert!(allowed, "{name}: {metric} has label {k}={v:?}");
            }
        }
        let value = |metric: &str, kind: &str, flag: &str| {
            series
                .iter()
                .find(|(m, l, _)| {
                    m == metric
                        && l.contains(&("kind".into(), kind.into()))
                        && l.contains(&("flag".into(), flag.into()))
                })
                .map(|(_, _, v)| *v)
        };
        assert_eq!(value("keyward_inventory_records", "client_credential", "all"), Some(6.0), "{name}");
        assert_eq!(value("keyward_inventory_records", "client_credential", "orphaned"), Some(2.0), "{name}");
        assert_eq!(value("keyward_inventory_records", "client_credential", "expiring"), Some(1.0), "{name}");
        let earliest = series.iter().find(|(m, _, _)| m == "keyward_inventory_earliest_expiry_seconds").unwrap().2;
        assert_eq!(earliest, (ms(k3.expires_at.as_ref().unwrap()) / 1000) as f64, "{name}");

        // The CLI: JSON as the response says, and a table that keeps Auth0's names harmless.
        let (_dir, token_file) = token_file();
        let out = support::keyward_output(
            &["inventory", "--tenant", "dev", "--json", "--endpoint", &w.endpoint(), "--token-file", &token_file],
            &[],
        );
        let j = support::stdout_json(&out);
        assert_eq!((j["tenant"].as_str(), j["baseline"].as_bool()), (Some("dev"), Some(false)), "{name}: {j}");
        let tf = j["clients"].as_array().unwrap().iter().find(|c| c["client_id"] == TF_APP).unwrap();
        let jar_json =
            tf["credentials"].as_array().unwrap().iter().find(|r| r["credential_id"] == jar.as_str()).unwrap();
        assert_eq!(
            (jar_json["flags"].clone(), jar_json["managed_by_keyward"].clone()),
            (json!(["ORPHANED"]), json!(false))
        );
        assert_eq!(j["drift"], json!([]), "{name}");
        assert_eq!(j["summary"]["clients"], json!(inv.clients.len()), "{name}");
        outside.delete(&fresh).await;
        let out = support::keyward_output(
            &["inventory", "--tenant", "dev", "--endpoint", &w.endpoint(), "--token-file", &token_file],
            &[],
        );
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.lines().all(|l| l.chars().count() <= 100), "a line wider than 100 columns:\n{text}");
        assert!(
            text.contains(TF_APP)
                && text.contains("ORPHANED")
                && text.contains("drift since")
                && text.contains("disappeared  record")
                && text.contains("created by hand"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}') && !text.contains("\nkeyward_pwned"), "{text}");
    }
}

/// A file holding the test's bearer token.
fn token_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, TOKEN).unwrap();
    let path = path.display().to_string();
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_reads_every_page_of_a_large_tenant_within_auth0s_rate_limit() {
    let (name, store, dir) = stores().await.into_iter().next().unwrap();
    let w = world(name, store, dir).await;
    // 240 clients, 3 pages; Auth0's enterprise rate limit makes the adapter wait on 429s.
    reseed(&w, seed(237, json!({"slot": 2, "pool": 4, "burst": 50, "per_second": 16}))).await;
    let before = w.requests().await.len();
    let inv = inventory(&w).await;
    assert_eq!(inv.clients.len(), 240, "{:?}", inv.clients.iter().map(|c| &c.client_id).collect::<Vec<_>>());
    let ids: BTreeSet<&str> = inv.clients.iter().map(|c| c.client_id.as_str()).collect();
    assert!((0..237).all(|i| ids.contains(format!("filler-{i:03}").as_str())));
    let requests = w.management_requests_since(before).await;
    let pages = requests.iter().filter(|r| r["path"] == "/api/v2/clients").count();
    assert!(pages >= 3, "{pages} pages: {requests:?}");
    let throttled = requests.iter().filter(|r| r["status"] == 429).count();
    assert!(throttled > 0, "the inventory's reads went past the bucket without a 429");
}
