//! Figures of a set of deliveries, per connection: what the demo's summary
//! shows.

use super::{StorageError, Store};
use crate::domain::{AttemptOutcome, DeliveryStatus};
use sqlx::Row;
use uuid::Uuid;

/// One connection's deliveries among a set, and their provider calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionFigures {
    pub connection: String,
    pub success: u64,
    pub failed: u64,
    /// Not settled yet (`waitForSending` or `sending`).
    pub waiting: u64,
    /// Attempt rows: provider calls, and those that were retryable or
    /// deferred (a quota refusal).
    pub calls: u64,
    pub retryable: u64,
    pub deferred: u64,
    /// Deliveries that succeeded after more than one attempt.
    pub recovered: u64,
}

impl Store {
    /// The figures of the deliveries `ids`, by connection, in name order.
    pub async fn figures_of(&self, ids: &[Uuid]) -> Result<Vec<ConnectionFigures>, StorageError> {
        let rows = sqlx::query(
            "SELECT d.connection, \
                    count(*) FILTER (WHERE d.status = $2) AS success, \
                    count(*) FILTER (WHERE d.status = $3) AS failed, \
                    count(*) FILTER (WHERE d.status IN ($4, $5)) AS waiting, \
                    count(*) FILTER (WHERE d.status = $2 AND d.attempts > 1) AS recovered, \
                    COALESCE(sum(a.calls), 0)::bigint AS calls, \
                    COALESCE(sum(a.retryable), 0)::bigint AS retryable, \
                    COALESCE(sum(a.deferred), 0)::bigint AS deferred \
             FROM deliveries d \
             LEFT JOIN (SELECT delivery_id, count(*) AS calls, \
                               count(*) FILTER (WHERE outcome = $6) AS retryable, \
                               count(*) FILTER (WHERE outcome = $7) AS deferred \
                        FROM delivery_attempts WHERE delivery_id = ANY($1) GROUP BY delivery_id) a \
                 ON a.delivery_id = d.id \
             WHERE d.id = ANY($1) \
             GROUP BY d.connection ORDER BY d.connection",
        )
        .bind(ids)
        .bind(DeliveryStatus::Success.as_str())
        .bind(DeliveryStatus::Failed.as_str())
        .bind(DeliveryStatus::WaitForSending.as_str())
        .bind(DeliveryStatus::Sending.as_str())
        .bind(AttemptOutcome::Retryable.as_str())
        .bind(AttemptOutcome::Deferred.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let n = |name: &str| row.try_get::<i64, _>(name).map(|v| v.max(0) as u64);
                Ok(ConnectionFigures {
                    connection: row.try_get("connection")?,
                    success: n("success")?,
                    failed: n("failed")?,
                    waiting: n("waiting")?,
                    calls: n("calls")?,
                    retryable: n("retryable")?,
                    deferred: n("deferred")?,
                    recovered: n("recovered")?,
                })
            })
            .collect()
    }
}
