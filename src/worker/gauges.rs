//! The gauges of what every worker shares rather than what this process
//! counted: `herald_waiting` (deliveries waiting, by connection and
//! reason), `herald_overdue_seconds` (per connection, how long ago the
//! oldest due delivery fell due without being taken), `herald_stuck_sending`
//! (claims older than the sending lease) from the database, and
//! `herald_connection_paused` from the pauses every worker shares. Every
//! worker reads the same rows, so every worker reports the same values:
//! dashboards and alerts take their `max` across workers, not their sum.

use super::context::Context;
use crate::storage::operator::Waiting;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// How often the gauges are read again: one grouped scan of the waiting
/// rows' partial index and one of the oldest end of the sending rows',
/// off the hot path.
const EVERY: Duration = Duration::from_secs(5);

/// Refreshes the gauges every 5 s (`EVERY`) until the process ends; a read
/// that fails leaves the last values (the database being away shows in
/// `/readyz`, not here).
pub async fn refresh(ctx: Arc<Context>) {
    let configured: Vec<String> = ctx
        .config
        .connections
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    loop {
        if let Ok(rows) = ctx.store.waiting_counts().await {
            let now: BTreeSet<(String, String)> = rows
                .iter()
                .map(|w| (w.connection.clone(), w.reason.clone()))
                .collect();
            // A reason no longer waiting drops to 0 rather than keeping its
            // last count.
            for (connection, reason) in seen.difference(&now) {
                crate::metrics::set_waiting(connection, reason, 0);
            }
            for w in &rows {
                crate::metrics::set_waiting(&w.connection, &w.reason, w.count);
            }
            for (connection, seconds) in overdue(&configured, &rows) {
                crate::metrics::set_overdue(&connection, seconds);
            }
            seen = now;
        }
        if let Ok(stuck) = ctx
            .store
            .stuck_sending(ctx.config.worker.sending_lease)
            .await
        {
            for connection in &configured {
                let count = stuck
                    .iter()
                    .find(|(c, _)| c == connection)
                    .map_or(0, |(_, n)| *n);
                crate::metrics::set_stuck_sending(connection, count);
            }
        }
        let now = chrono::Utc::now();
        for connection in &configured {
            let paused = ctx.store.paused_until(connection, now).is_some();
            crate::metrics::set_paused(connection, paused);
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Per connection, the oldest due delivery's lateness over every wait
/// reason; 0 for a configured connection with nothing due, so that its
/// series exists before anything is late (an alert on it needs one).
pub fn overdue(configured: &[String], rows: &[Waiting]) -> BTreeMap<String, f64> {
    let mut ages: BTreeMap<String, f64> = configured.iter().map(|c| (c.clone(), 0.0)).collect();
    for w in rows {
        let age = ages.entry(w.connection.clone()).or_insert(0.0);
        *age = age.max(w.overdue_seconds.unwrap_or(0.0).max(0.0));
    }
    ages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(connection: &str, reason: &str, overdue_seconds: Option<f64>) -> Waiting {
        Waiting {
            connection: connection.into(),
            reason: reason.into(),
            count: 1,
            overdue_seconds,
        }
    }

    #[test]
    fn the_oldest_over_every_reason_and_zero_when_nothing_is_due() {
        let configured = vec!["a".to_string(), "b".to_string()];
        let rows = [
            row("a", "retry", Some(3.0)),
            row("a", "rate", Some(90.0)),
            row("b", "scheduled", None),
            // Rows of a connection no longer configured still show.
            row("gone", "retry", Some(7.5)),
        ];
        let ages = overdue(&configured, &rows);
        assert_eq!(ages.get("a"), Some(&90.0));
        assert_eq!(ages.get("b"), Some(&0.0));
        assert_eq!(ages.get("gone"), Some(&7.5));
    }
}
