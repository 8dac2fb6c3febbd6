//! Scenario 2's violence: the replicas' PostgreSQL connections terminated
//! (`pg_terminate_backend`) in single sweeps, and in storms that kill every new connection for
//! a few seconds. The PostgreSQL server itself keeps running.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::rng::Rng;

/// What the test did to the replicas' PostgreSQL connections.
#[derive(Debug, Default)]
pub struct PgKills {
    /// Single rounds of terminations.
    pub sweeps: u64,
    /// Spells during which every new connection was terminated as soon as it showed up.
    pub storms: u64,
    pub storm_ms: u64,
    /// Backends terminated, and of those, how many were running a query or a transaction.
    pub backends: u64,
    pub busy: u64,
}

impl PgKills {
    /// A storm of 1-4 s (30%) or a single sweep of the backends named `app`.
    pub async fn strike(&mut self, admin: &sqlx::PgPool, app: &str, rng: &mut Rng) {
        if rng.chance(30) {
            let length = rng.ms(1000, 4000);
            let until = Instant::now() + length;
            self.storms += 1;
            self.storm_ms += u64::try_from(length.as_millis()).unwrap();
            while Instant::now() < until {
                self.terminate_backends(admin, app).await;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        } else {
            self.sweeps += 1;
            self.terminate_backends(admin, app).await;
        }
    }

    /// Terminates every PostgreSQL backend named `app`: the replicas' store connections, and no
    /// one else's (the test's own connections carry no such name).
    async fn terminate_backends(&mut self, admin: &sqlx::PgPool, app: &str) {
        let rows: Vec<(Option<String>, Option<bool>)> = sqlx::query_as(
            "SELECT state, pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
        )
        .bind(app)
        .fetch_all(admin)
        .await
        .unwrap();
        for (state, killed) in rows {
            if killed == Some(true) {
                self.backends += 1;
                if state.as_deref().is_some_and(|s| s != "idle") {
                    self.busy += 1;
                }
            }
        }
    }

    /// The report's `kills`.
    pub fn report(&self) -> Value {
        json!({
            "sweeps": self.sweeps,
            "storms": self.storms,
            "storm_seconds": self.storm_ms as f64 / 1000.0,
            "backends_terminated": self.backends,
            "terminated_mid_query": self.busy,
        })
    }
}

/// The store URL under which the replicas' connections carry a fresh `application_name`
/// (sqlx takes it from the URL), and that name: the test kills those and only those.
pub fn named_store_url(store_url: &str) -> (String, String) {
    let app = format!("kwchaos_{}", crate::support::random_hex(6));
    let sep = if store_url.contains('?') { '&' } else { '?' };
    (format!("{store_url}{sep}application_name={app}"), app)
}

/// How many connections named `app` PostgreSQL sees.
pub async fn named_connections(admin: &sqlx::PgPool, app: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
        .bind(app)
        .fetch_one(admin)
        .await
        .unwrap()
}
