//! `list_clients` page by page against a stub Auth0 over HTTP: every page, fields, 429s, and the
//! bounds that stop a server claiming more pages forever.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::stub::{Reply, stub};
use keyward_auth0::Error;
use serde_json::{Value, json};

/// The value of `name` in a request target's query.
fn query(target: &str, name: &str) -> Option<String> {
    let (_, q) = target.split_once('?')?;
    url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn page_of(target: &str) -> u64 {
    query(target, "page").unwrap().parse().unwrap()
}

fn clients(ids: impl Iterator<Item = u64>) -> Vec<Value> {
    ids.map(|i| json!({"client_id": format!("c{i:06}"), "name": format!("app {i}")})).collect()
}

/// Offset pages of a tenant with `total` clients, as Auth0 answers with `include_totals=true`.
fn tenant(total: u64) -> impl Fn(&str, &str) -> Reply {
    move |_, target| {
        let (page, per) = (page_of(target), query(target, "per_page").unwrap().parse::<u64>().unwrap());
        let start = (page * per).min(total);
        let list = clients(start..(start + per).min(total));
        let body = json!({"start": start, "limit": per, "length": list.len(), "total": total, "clients": list});
        Reply::json(200, body.to_string())
    }
}

#[tokio::test]
async fn every_page_is_read_until_the_total() {
    let server = stub(tenant(250)).await;
    let all = server.client().list_clients(None).await.unwrap();
    let ids: Vec<String> = all.iter().map(|c| c.client_id.clone()).collect();
    assert_eq!(ids.len(), 250);
    assert_eq!((ids[0].as_str(), ids[249].as_str()), ("c000000", "c000249"));
    assert_eq!(all[7].name.as_deref(), Some("app 7"));
    assert_eq!(
        server.management_log(),
        (0..3).map(|p| format!("GET /api/v2/clients?page={p}&per_page=100&include_totals=true")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_empty_tenant_and_an_exact_multiple_of_the_page_size() {
    let server = stub(tenant(0)).await;
    assert!(server.client().list_clients(None).await.unwrap().is_empty());
    assert_eq!(server.management_log().len(), 1);

    let server = stub(tenant(200)).await;
    assert_eq!(server.client().list_clients(None).await.unwrap().len(), 200);
    assert_eq!(server.management_log().len(), 2, "the total ends the listing without an empty page");
}

#[tokio::test]
async fn plain_arrays_end_at_a_short_page() {
    // Auth0 ignoring include_totals: 200 clients in full pages, then an empty one.
    let server = stub(|_, target: &str| {
        let start = page_of(target) * 100;
        Reply::json(200, Value::from(clients(start..(start + 100).min(200))).to_string())
    })
    .await;
    assert_eq!(server.client().list_clients(None).await.unwrap().len(), 200);
    assert_eq!(server.management_log().len(), 3);
}

#[tokio::test]
async fn fields_are_passed_through_with_client_id() {
    let server = stub(|_, target: &str| {
        assert_eq!(query(target, "fields").as_deref(), Some("client_id,client_authentication_methods"));
        assert_eq!(query(target, "include_fields").as_deref(), Some("true"));
        let body = json!({"start": 0, "limit": 100, "length": 2, "total": 2, "clients": [
            {"client_id": "app", "client_authentication_methods":
                {"private_key_jwt": {"credentials": [{"id": "cred_a"}, {"id": "cred_b"}]}}},
            {"client_id": "spa"}
        ]});
        Reply::json(200, body.to_string())
    })
    .await;
    let all = server.client().list_clients(Some(&["client_authentication_methods"])).await.unwrap();
    assert_eq!(all[0].private_key_jwt_credential_ids(), ["cred_a", "cred_b"]);
    assert!(!all[1].uses_private_key_jwt());
    assert!(
        server.management_log()[0]
            .ends_with("include_totals=true&fields=client_id%2Cclient_authentication_methods&include_fields=true")
    );

    let e = server.client().list_clients(Some(&["a,b"])).await.unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    assert_eq!(server.management_log().len(), 1, "nothing sent for a bad field name");
}

#[tokio::test]
async fn a_rate_limited_page_waits_and_is_retried() {
    let limited = Arc::new(AtomicU32::new(0));
    let seen = limited.clone();
    let pages = tenant(150);
    let server = stub(move |method, target: &str| {
        if page_of(target) == 1 && seen.fetch_add(1, Ordering::SeqCst) == 0 {
            // The bucket refills now: the adapter waits at most one base delay.
            return Reply::rate_limited(common::now_epoch());
        }
        pages(method, target)
    })
    .await;
    let auth0 = server.client();
    assert_eq!(auth0.list_clients(None).await.unwrap().len(), 150);
    assert_eq!(limited.load(Ordering::SeqCst), 2);
    let log = server.management_log();
    assert_eq!(log.iter().filter(|l| l.contains("page=1&")).count(), 2, "{log:?}");
    assert_eq!(auth0.last_rate_limit().unwrap().remaining, Some(9));

    // A bucket that refills beyond the retry policy's cap: RateLimited at once, nothing partial.
    let server = stub(|_, _: &str| Reply::rate_limited(common::now_epoch() + 3600)).await;
    let e = server.client().list_clients(None).await.unwrap_err();
    assert!(matches!(e, Error::RateLimited { .. }), "{e:?}");
    assert_eq!(server.management_log().len(), 1);
}

#[tokio::test]
async fn a_server_claiming_more_pages_forever_is_stopped() {
    // Every page holds new clients, and the total is always ahead of them.
    let server = stub(|_, target: &str| {
        let page = page_of(target);
        let body = json!({"start": page * 10, "limit": 10, "length": 10, "total": 100_000,
                          "clients": clients(page * 10..(page + 1) * 10)});
        Reply::json(200, body.to_string())
    })
    .await;
    let e = server.client().list_clients(None).await.unwrap_err();
    assert!(matches!(e, Error::Pagination { operation: "list_clients", pages: 1000, items: 10_000, .. }), "{e:?}");
    assert_eq!(server.management_log().len(), 1000);

    // A total that grows past the bound as the pages come: stopped when it does.
    let server = stub(|_, target: &str| {
        let page = page_of(target);
        let body = json!({"start": page * 100, "limit": 100, "length": 100, "total": (page + 2) * 100,
                          "clients": clients(page * 100..(page + 1) * 100)});
        Reply::json(200, body.to_string())
    })
    .await;
    let e = server.client().list_clients(None).await.unwrap_err();
    assert!(matches!(e, Error::Pagination { pages: 1000, items: 99_900, .. }), "{e:?}");
}

#[tokio::test]
async fn full_plain_pages_forever_are_stopped() {
    let server = stub(|_, target: &str| {
        let start = page_of(target) * 100;
        Reply::json(200, Value::from(clients(start..start + 100)).to_string())
    })
    .await;
    let e = server.client().list_clients(None).await.unwrap_err();
    assert!(matches!(e, Error::Pagination { pages: 1000, .. }), "{e:?}");
}

#[tokio::test]
async fn a_server_ignoring_the_page_is_stopped_at_once() {
    let server = stub(|_, _: &str| {
        let body = json!({"start": 0, "limit": 100, "length": 100, "total": 5000, "clients": clients(0..100)});
        Reply::json(200, body.to_string())
    })
    .await;
    let e = server.client().list_clients(None).await.unwrap_err();
    assert!(matches!(e, Error::Pagination { pages: 2, items: 100, .. }), "{e:?}");
    assert_eq!(server.management_log().len(), 2);
}

#[tokio::test]
async fn totals_and_pages_beyond_the_bounds_are_refused() {
    let server = stub(|_, _: &str| {
        let body = json!({"start": 0, "limit": 100, "length": 1, "total": u64::MAX, "clients": clients(0..1)});
        Reply::json(200, body.to_string())
    })
    .await;
    let e = server.client().list_clients(None).await.unwrap_err();
    assert!(matches!(e, Error::Pagination { pages: 1, .. }), "{e:?}");
    assert_eq!(server.management_log().len(), 1, "no page is spent on a listing that cannot finish");

    // One page far larger than asked for.
    let ids: Vec<Value> = (0..100_001).map(|i| json!({"client_id": format!("c{i}")})).collect();
    let big = Value::from(ids).to_string();
    let server = stub(move |_, _: &str| Reply::json(200, big.clone())).await;
    let e = server.client().list_clients(None).await.unwrap_err();
    assert!(matches!(e, Error::Pagination { pages: 1, items: 100_001, .. }), "{e:?}");
}

#[tokio::test]
async fn bad_pages_are_typed_errors() {
    for body in [r#"{"clients":"nope"}"#, r#"{"total":3}"#, "[{\"name\":\"no id\"}]", "<html>", ""] {
        let server = stub(move |_, _: &str| Reply::json(200, body)).await;
        let e = server.client().list_clients(None).await.unwrap_err();
        assert!(matches!(e, Error::Protocol { status: 200, .. }), "{body}: {e:?}");
    }
    let server = stub(|_, _: &str| {
        Reply::json(
            403,
            r#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: read:clients, read:client_keys, read:client_summary","errorCode":"insufficient_scope"}"#,
        )
    })
    .await;
    let e = server.client().list_clients_page(0, 100, None).await.unwrap_err();
    assert!(matches!(e, Error::InsufficientScope { .. }), "{e:?}");
    let e = server.client().list_clients_page(0, 101, None).await.unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
}

#[tokio::test]
async fn one_page_reads_its_numbers() {
    let server = stub(tenant(130)).await;
    let page = server.client().list_clients_page(1, 50, None).await.unwrap();
    assert_eq!((page.start, page.limit, page.length, page.total), (Some(50), Some(50), Some(50), Some(130)));
    assert_eq!(page.clients[0].client_id, "c000050");
    assert_eq!(server.management_log(), ["GET /api/v2/clients?page=1&per_page=50&include_totals=true"]);
}
