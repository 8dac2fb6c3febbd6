//! The replicas' Prometheus metrics, summed over the fleet, for comparing with the store.

use std::collections::BTreeMap;

use super::replicas::Fleet;

/// The admin port's `/metrics` text.
async fn scrape(http: &reqwest::Client, admin: &str) -> String {
    let r = http.get(format!("http://{admin}/metrics")).send().await.unwrap();
    assert!(r.status().is_success(), "/metrics on {admin}: {}", r.status());
    r.text().await.unwrap()
}

/// Every series of the metric `name` (with its labels) and its value.
fn series(metrics: &str, name: &str) -> BTreeMap<String, f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// The scheduler's and the rotations' series, and the Auth0 calls that were not 2xx, summed
/// over the replicas in slots `0..slots`, by series (name and labels).
#[derive(Debug)]
pub struct Metrics(pub BTreeMap<String, f64>);

impl Metrics {
    pub async fn scrape(http: &reqwest::Client, fleet: &Fleet, slots: usize) -> Self {
        let mut metrics = BTreeMap::<String, f64>::new();
        for i in 0..slots {
            let text = scrape(http, &fleet.endpoint(i).admin).await;
            for name in ["keyward_scheduled_rotations_total", "keyward_rotations_total", "keyward_rotations_in_state"] {
                for (k, v) in series(&text, name) {
                    *metrics.entry(k).or_default() += v;
                }
            }
            for (k, v) in series(&text, "keyward_auth0_requests_total") {
                if !k.contains("status=\"2") {
                    *metrics.entry(k).or_default() += v;
                }
            }
        }
        Self(metrics)
    }

    /// One series' value (0 when absent).
    pub fn get(&self, series: &str) -> usize {
        self.0.get(series).copied().unwrap_or(0.0) as usize
    }

    /// The rotations the replicas still count open.
    pub fn open_rotations(&self) -> f64 {
        self.0.iter().filter(|(k, _)| k.starts_with("keyward_rotations_in_state")).map(|(_, v)| v).sum()
    }

    /// The Auth0 calls that were not 2xx, by series.
    pub fn auth0_errors(&self) -> BTreeMap<String, f64> {
        self.0
            .iter()
            .filter(|(k, _)| k.starts_with("keyward_auth0_requests_total"))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}
