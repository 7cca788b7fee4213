//! Deliveries left in `sending` by a worker that died mid-call. After the
//! sending lease, the lost call is written down as a `retryable` attempt and
//! the delivery goes back to `waitForSending` (or fails, when that was its
//! last attempt). The next claim makes the call again.

use super::{StorageError, Store};
use crate::domain::lost::lost_claim;
use crate::domain::{Actor, DeliveryStatus, EventKind, RetryPolicy};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

/// Claims older than the lease, served by `deliveries_sending` (whose
/// predicate the state's literal must match).
static STALE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id, connection, attempts, resends, claimed_at, accepted_at, group_id FROM deliveries \
         WHERE status = '{sending}' AND claimed_at < now() - make_interval(secs => $1) \
         ORDER BY claimed_at LIMIT 500 FOR UPDATE SKIP LOCKED",
        sending = DeliveryStatus::Sending,
    )
});

/// A lost claim's delivery moved to the state `$2` (waiting until `$3` for
/// `$4`, or failed for `$5`), with its audit event.
static RECOVER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH moved AS ( \
             UPDATE deliveries SET status = $2, next_attempt_at = $3, wait_reason = $4, \
                 fail_reason = $5, claimed_at = NULL, updated_at = now() \
             WHERE id = $1 RETURNING id) \
         INSERT INTO delivery_events (delivery_id, kind, from_status, to_status, reason, until, \
             actor) \
         SELECT id, '{recovered}', '{sending}', $2, \
             COALESCE($5, 'its worker was lost: the sending lease ended'), $3, '{worker}' \
         FROM moved",
        recovered = EventKind::Recovered,
        sending = DeliveryStatus::Sending,
        worker = Actor::Worker,
    )
});

/// A delivery moved out of a lost claim.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub id: Uuid,
    pub connection: String,
    pub failed: bool,
    pub accepted_at: DateTime<Utc>,
}

/// The golden ratio's fraction: added once per row to the one random value,
/// it gives each row its own value, spread evenly over [0, 1).
const SPREAD: f64 = 0.618_033_988_749_895;

impl Store {
    /// Takes back up to 500 claims older than `lease`. Each row's retry gets
    /// its own jitter, from `unit_random` (one random value in [0, 1)) and
    /// the row's place, so that rows lost together are not all due again at
    /// the same instant.
    pub async fn recover_stale(
        &self,
        lease: Duration,
        policy_of: &(dyn Fn(&str) -> RetryPolicy + Sync),
        unit_random: f64,
    ) -> Result<Vec<Recovered>, StorageError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(STALE.as_str())
            .bind(lease.as_secs_f64())
            .fetch_all(&mut *tx)
            .await?;
        let now = Utc::now();
        let mut recovered = Vec::with_capacity(rows.len());
        let mut failed_groups: Vec<String> = Vec::new();
        for (i, row) in rows.into_iter().enumerate() {
            let unit = (unit_random + i as f64 * SPREAD).fract();
            let id: Uuid = row.try_get("id")?;
            let connection: String = row.try_get("connection")?;
            let attempts: i32 = row.try_get("attempts")?;
            let claimed_at: DateTime<Utc> = row.try_get("claimed_at")?;
            let policy = policy_of(&connection);
            let outcome = lost_claim(&policy, attempts.max(0) as u32, claimed_at, now, unit);
            let attempt = outcome.attempt.as_ref();
            sqlx::query(
                "INSERT INTO delivery_attempts (delivery_id, round, attempt, started_at, finished_at, outcome, error) \
                 VALUES ($1, $2, $3, $4, now(), $5, $6) \
                 ON CONFLICT (delivery_id, started_at) DO NOTHING",
            )
            .bind(id)
            .bind(row.try_get::<i32, _>("resends")?)
            .bind(attempts)
            .bind(attempt.map(|a| a.started_at))
            .bind(attempt.map(|a| a.outcome.as_str()))
            .bind(attempt.and_then(|a| a.error.as_deref()))
            .execute(&mut *tx)
            .await?;
            sqlx::query(RECOVER.as_str())
                .bind(id)
                .bind(outcome.status.as_str())
                .bind(outcome.next_attempt_at)
                .bind(outcome.wait_reason.map(|r| r.as_str()))
                .bind(outcome.fail_reason.as_deref())
                .execute(&mut *tx)
                .await?;
            if outcome.status == DeliveryStatus::Failed {
                failed_groups.extend(row.try_get::<Option<String>, _>("group_id")?);
            }
            recovered.push(Recovered {
                id,
                connection,
                failed: outcome.status == DeliveryStatus::Failed,
                accepted_at: row.try_get("accepted_at")?,
            });
        }
        tx.commit().await?;
        // The members waiting behind a member that failed here are aborted
        // (or, where this fails, when they are next claimed).
        let groups: Vec<&str> = failed_groups.iter().map(String::as_str).collect();
        if let Err(err) = self.settle_groups(&groups).await {
            tracing::warn!(error = %crate::error_chain(&err),
                "the groups of members failed by the lease could not be settled; their members are, when next claimed");
        }
        Ok(recovered)
    }
}
