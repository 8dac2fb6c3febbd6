//! Listing the tenant's clients: `GET /api/v2/clients?page=N&per_page=100&include_totals=true`,
//! one page at a time or all pages within hard bounds.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::client::{Auth0Client, NO_BODY, Request};
use crate::clients::Client;
use crate::error::{Error, Resource};

/// Clients per page: Auth0's maximum.
pub(crate) const PER_PAGE: u32 = 100;
/// [`Auth0Client::list_clients`] fetches at most this many pages…
pub(crate) const MAX_PAGES: u32 = 1000;
/// …and collects at most this many clients.
pub(crate) const MAX_CLIENTS: usize = 100_000;

/// One page of `GET /clients` with `include_totals=true`: `{start, limit, length, total, clients}`.
/// The numbers are `None` when Auth0 leaves them out; a plain array (Auth0 ignoring
/// `include_totals`) reads as a page with no numbers.
#[derive(Debug, Clone)]
pub struct ClientsPage {
    /// Offset of the first client of the page.
    pub start: Option<u64>,
    /// The page size Auth0 applied.
    pub limit: Option<u64>,
    /// Clients on this page.
    pub length: Option<u64>,
    /// Clients in the tenant (matching the query).
    pub total: Option<u64>,
    /// The page's clients.
    pub clients: Vec<Client>,
}

impl<'de> Deserialize<'de> for ClientsPage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Totals {
            #[serde(default)]
            start: Option<u64>,
            #[serde(default)]
            limit: Option<u64>,
            #[serde(default)]
            length: Option<u64>,
            #[serde(default)]
            total: Option<u64>,
            clients: Vec<Client>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Totals(Totals),
            Plain(Vec<Client>),
        }
        Ok(match Shape::deserialize(d)? {
            Shape::Totals(t) => {
                Self { start: t.start, limit: t.limit, length: t.length, total: t.total, clients: t.clients }
            }
            Shape::Plain(clients) => Self { start: None, limit: None, length: None, total: None, clients },
        })
    }
}

/// The query string of one page. `fields` always includes `client_id` (every [`Client`] has
/// one); a field name that is empty or holds a comma is refused.
fn page_query(page: u32, per_page: u32, fields: Option<&[&str]>) -> Result<String, Error> {
    if per_page == 0 || per_page > PER_PAGE {
        return Err(Error::InvalidArgument(format!("per_page must be 1 to {PER_PAGE}: {per_page}")));
    }
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("page", &page.to_string())
        .append_pair("per_page", &per_page.to_string())
        .append_pair("include_totals", "true");
    if let Some(fields) = fields {
        if let Some(bad) = fields.iter().find(|f| f.is_empty() || f.contains(',')) {
            return Err(Error::InvalidArgument(format!("not a field name: {bad:?}")));
        }
        let mut names: Vec<&str> = fields.to_vec();
        if !names.contains(&"client_id") {
            names.insert(0, "client_id");
        }
        q.append_pair("fields", &names.join(",")).append_pair("include_fields", "true");
    }
    Ok(q.finish())
}

impl Auth0Client {
    /// One page of `GET /clients` (`page` from 0, `per_page` 1–100), with only `fields` (plus
    /// `client_id`) when given. Needs `read:clients`; `client_authentication_methods` and
    /// `client_secret` also need `read:client_keys` or `read:client_credentials`.
    pub async fn list_clients_page(
        &self,
        page: u32,
        per_page: u32,
        fields: Option<&[&str]>,
    ) -> Result<ClientsPage, Error> {
        self.management_json(Request {
            operation: "list_clients",
            resource: Resource::Client,
            method: Method::GET,
            path: format!("/clients?{}", page_query(page, per_page, fields)?),
            body: NO_BODY,
            expected: &[StatusCode::OK],
        })
        .await
    }

    /// Every client, 100 a page, each page retried like any read (429s wait for the reset). Asking
    /// for few `fields` keeps pages small and secrets out (e.g. `["client_authentication_methods"]`).
    ///
    /// Ends at an empty page, when `total` clients were collected, or (without totals) at a short
    /// page. A client seen on two pages (the list shifted under the offset) is kept once; a client
    /// deleted meanwhile may shift another past the offset and be missed, as with any offset
    /// listing. Bounded: more than 1000 pages or 100 000 clients (or a `total` above that), or a
    /// page with nothing new while more is claimed, is [`Error::Pagination`].
    pub async fn list_clients(&self, fields: Option<&[&str]>) -> Result<Vec<Client>, Error> {
        page_query(0, PER_PAGE, fields)?;
        let mut seen = HashSet::new();
        let mut all = Vec::new();
        let stop = |pages: u32, items: usize, reason: &'static str| Error::Pagination {
            operation: "list_clients",
            pages,
            items,
            reason,
        };
        for page in 0..MAX_PAGES {
            let got = self.list_clients_page(page, PER_PAGE, fields).await?;
            let pages = page + 1;
            if got.total.is_some_and(|t| t > MAX_CLIENTS as u64) {
                return Err(stop(pages, all.len(), "Auth0 reports more clients than the adapter lists"));
            }
            let length = got.clients.len();
            let before = all.len();
            for c in got.clients {
                if seen.insert(c.client_id.clone()) {
                    all.push(c);
                }
            }
            if all.len() > MAX_CLIENTS {
                return Err(stop(pages, all.len(), "more clients than the adapter lists"));
            }
            let more = match got.total {
                Some(total) => length > 0 && (all.len() as u64) < total,
                None => length >= PER_PAGE as usize,
            };
            if !more {
                return Ok(all);
            }
            if all.len() == before {
                return Err(stop(pages, all.len(), "a page added no new client while more were claimed"));
            }
        }
        Err(stop(MAX_PAGES, all.len(), "too many pages"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        assert_eq!(page_query(0, 100, None).unwrap(), "page=0&per_page=100&include_totals=true");
        assert_eq!(
            page_query(3, 50, Some(&["name", "client_authentication_methods"])).unwrap(),
            "page=3&per_page=50&include_totals=true&fields=client_id%2Cname%2Cclient_authentication_methods&include_fields=true"
        );
        assert_eq!(
            page_query(0, 1, Some(&["name", "client_id"])).unwrap(),
            "page=0&per_page=1&include_totals=true&fields=name%2Cclient_id&include_fields=true"
        );
        assert!(page_query(0, 100, Some(&[])).unwrap().ends_with("fields=client_id&include_fields=true"));
        for bad in [&["a,b"][..], &[""][..], &["a&b=c", ""][..]] {
            assert!(matches!(page_query(0, 100, Some(bad)), Err(Error::InvalidArgument(_))), "{bad:?}");
        }
        assert_eq!(page_query(0, 1, Some(&["a&b=c"])).unwrap().split('&').count(), 5);
        for bad in [0, 101] {
            assert!(matches!(page_query(0, bad, None), Err(Error::InvalidArgument(_))));
        }
    }

    #[test]
    fn page_shapes() {
        let p: ClientsPage = serde_json::from_str(
            r#"{"start":0,"limit":100,"length":1,"total":1,"clients":[{"client_id":"a","x":1}],"extra":true}"#,
        )
        .unwrap();
        assert_eq!((p.start, p.limit, p.length, p.total), (Some(0), Some(100), Some(1), Some(1)));
        assert_eq!(p.clients[0].client_id, "a");
        let p: ClientsPage = serde_json::from_str(r#"[{"client_id":"a"},{"client_id":"b"}]"#).unwrap();
        assert_eq!((p.total, p.clients.len()), (None, 2));
        let p: ClientsPage = serde_json::from_str(r#"{"total":null,"clients":[]}"#).unwrap();
        assert!(p.clients.is_empty());
        let p: ClientsPage =
            serde_json::from_str(r#"{"total":1,"clients":[{"client_id":"a","client_secret":"listed-secret-1f3e"}]}"#)
                .unwrap();
        assert!(p.clients[0].client_secret.is_some());
        assert!(!format!("{p:?}").contains("listed-secret-1f3e"));
        for bad in ["{}", r#"{"clients":null}"#, r#"{"total":-1,"clients":[]}"#, r#"[{"name":"no id"}]"#, "7"] {
            assert!(serde_json::from_str::<ClientsPage>(bad).is_err(), "{bad}");
        }
    }
}
