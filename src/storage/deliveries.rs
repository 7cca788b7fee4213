//! The worker's statements: accept a command, claim due deliveries, record an
//! outcome. Each is one round trip; none holds a transaction across a
//! provider call. A claim is a conditional update, so exactly one worker
//! gets a row, and an outcome only lands on the claim it belongs to.

use super::text::{MAX_TEXT, storable};
use super::{StorageError, Store};

/// The longest connection name kept for a refused command, in bytes.
const MAX_CONNECTION: usize = 200;
use crate::domain::{Actor, DeliveryStatus, EventKind, FailReason, SendCommand};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use uuid::Uuid;

/// A delivery this worker holds in `sending` and must now send.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub connection: String,
    /// Shared, not copied, as the delivery moves through the worker.
    pub command: Arc<SendCommand>,
    /// The attempt being made, 1-based, within the current round.
    pub attempt: u32,
    pub resends: u32,
    pub remote_id: Option<String>,
    /// Identifies this claim: an outcome for an older claim is not recorded.
    pub claimed_at: DateTime<Utc>,
    pub accepted_at: DateTime<Utc>,
}

#[derive(Debug)]
pub enum AcceptOutcome {
    /// New, due now, and claimed by this worker in the same statement.
    Claimed(Box<Claimed>),
    /// New, and waiting for its `not_before`.
    Scheduled,
    /// New, but its `expires_at` had passed: failed with `expired`.
    Expired,
    /// The id was known: nothing changed.
    Duplicate,
}

impl Store {
    /// Keeps a refused command that named an id, as `failed` with the reason.
    /// An existing delivery with that id is left alone. Both texts come from
    /// outside: they are stored without U+0000 and bounded.
    pub async fn record_rejected(
        &self,
        id: Uuid,
        connection: &str,
        reason: &str,
    ) -> Result<bool, StorageError> {
        let connection = storable(connection, MAX_CONNECTION);
        let reason = storable(reason, MAX_TEXT);
        let done = sqlx::query(
            "INSERT INTO deliveries (id, connection, status, fail_reason) VALUES ($1, $2, $4, $3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(&*connection)
        .bind(&*reason)
        .bind(DeliveryStatus::Failed.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes the row a refused command left ([`Store::record_rejected`]:
    /// `failed`, no command, never accepted nor attempted), so that a replay
    /// of the command (`herald dead replay`) is accepted instead of being a
    /// duplicate of its refusal. Any other row with that id is left alone.
    /// Returns whether there was one.
    pub async fn release_rejected(&self, id: Uuid) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "DELETE FROM deliveries WHERE id = $1 AND status = $2 AND command IS NULL \
             AND accept_token IS NULL AND attempts = 0",
        )
        .bind(id)
        .bind(DeliveryStatus::Failed.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims up to `limit` due deliveries for this worker, of the given
    /// connections only and at most `rooms[i]` of `connections[i]` (what
    /// this worker can start now), the longest due first.
    pub async fn claim_due(
        &self,
        connections: &[&str],
        rooms: &[i32],
        limit: i64,
    ) -> Result<Vec<Claimed>, StorageError> {
        self.claim_due_within(connections, rooms, limit, Duration::from_secs(30))
            .await
    }

    /// [`Store::claim_due`], cut by PostgreSQL itself after `within`
    /// (`statement_timeout`, in the claim's own transaction). A caller that
    /// stops waiting for a claim must be able to count on it not landing
    /// later: rows claimed by a statement whose answer nobody read would sit
    /// in `sending` with nobody sending them until the lease ran out. Cut in
    /// PostgreSQL, the claim rolls back instead.
    pub async fn claim_due_within(
        &self,
        connections: &[&str],
        rooms: &[i32],
        limit: i64,
        within: Duration,
    ) -> Result<Vec<Claimed>, StorageError> {
        let mut tx = self.begin_within(within).await?;
        let rows = sqlx::query(CLAIM_DUE.as_str())
            .bind(connections)
            .bind(rooms)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut claims = Vec::with_capacity(rows.len());
        let (mut unreadable, mut reasons) = (Vec::new(), Vec::new());
        for row in &rows {
            match claimed_from_row(row) {
                Ok(claim) => claims.push(claim),
                Err(err) => {
                    let reason = format!(
                        "the stored command cannot be read: {}",
                        crate::error_chain(&err)
                    );
                    match row.try_get::<Uuid, _>("id") {
                        Ok(id) => {
                            tracing::error!(%id, "{reason}; the delivery fails");
                            unreadable.push(id);
                            reasons.push(storable(&reason, MAX_TEXT).into_owned());
                        }
                        Err(_) => tracing::error!("{reason}; the lease will take it back"),
                    }
                }
            }
        }
        if !unreadable.is_empty() {
            // Failing them is the lease's work if this fails: the claims
            // read are delivered all the same.
            let failed = sqlx::query(
                "UPDATE deliveries d SET status = $3, fail_reason = u.reason, claimed_at = NULL, \
                     updated_at = now() \
                 FROM UNNEST($1::uuid[], $2::text[]) AS u(id, reason) \
                 WHERE d.id = u.id AND d.status = $4",
            )
            .bind(&unreadable)
            .bind(&reasons)
            .bind(DeliveryStatus::Failed.as_str())
            .bind(DeliveryStatus::Sending.as_str())
            .execute(&self.pool)
            .await;
            if let Err(err) = failed {
                tracing::error!(error = %crate::error_chain(&err), "failing deliveries whose command cannot be read failed");
            }
        }
        Ok(claims)
    }

    /// Fails waiting deliveries whose `expires_at` has passed, and the
    /// group members waiting behind them; returns their connections and
    /// acceptance times, for the metrics.
    pub async fn expire_due(&self) -> Result<Vec<(String, DateTime<Utc>)>, StorageError> {
        let rows = sqlx::query(EXPIRE_DUE.as_str())
            .fetch_all(&self.pool)
            .await?;
        let mut failed = Vec::with_capacity(rows.len());
        let mut groups: Vec<String> = Vec::new();
        for row in &rows {
            failed.push((row.try_get("connection")?, row.try_get("accepted_at")?));
            groups.extend(row.try_get::<Option<String>, _>("group_id")?);
        }
        // Settled after the expiry's commit: where this fails, a member left
        // waiting behind a failure is aborted when it is next claimed.
        let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
        match self.settle_groups(&groups).await {
            Ok(settled) => failed.extend(settled.aborted),
            Err(err) => tracing::warn!(error = %crate::error_chain(&err),
                "the groups of expired members could not be settled; their members are, when next claimed"),
        }
        Ok(failed)
    }
}

/// The due-sweeper's claim: per connection, at most its room of the
/// longest-due rows, served by `deliveries_due_by_connection` (whose
/// predicate the state's literal must match).
static CLAIM_DUE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE deliveries d SET status = '{sending}', attempts = d.attempts + 1, claimed_at = now(), \
             next_attempt_at = NULL, wait_reason = NULL, updated_at = now() \
         FROM (SELECT due.id FROM UNNEST($1::text[], $2::int[]) AS r(connection, room) \
               CROSS JOIN LATERAL (SELECT id, next_attempt_at FROM deliveries \
                   WHERE connection = r.connection AND status = '{waiting}' \
                     AND next_attempt_at <= now() \
                     AND (expires_at IS NULL OR expires_at > now()) AND command IS NOT NULL \
                   ORDER BY next_attempt_at LIMIT r.room FOR UPDATE SKIP LOCKED) due \
               ORDER BY due.next_attempt_at LIMIT $3) due \
         WHERE d.id = due.id \
         RETURNING d.id, d.connection, d.command, d.attempts, d.resends, d.remote_id, \
             d.claimed_at, d.accepted_at",
        sending = DeliveryStatus::Sending,
        waiting = DeliveryStatus::WaitForSending,
    )
});

/// The sweeper's expiry, every tick: served by `deliveries_expiring`, which
/// holds only the waiting rows that have an `expires_at`.
pub static EXPIRE_DUE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH expired AS ( \
             UPDATE deliveries SET status = '{failed}', fail_reason = '{expired}', \
                 next_attempt_at = NULL, wait_reason = NULL, updated_at = now() \
             WHERE status = '{waiting}' AND expires_at IS NOT NULL AND expires_at <= now() \
             RETURNING id, connection, accepted_at, group_id), \
         audit AS ( \
             INSERT INTO delivery_events (delivery_id, kind, from_status, to_status, reason, actor) \
             SELECT id, '{expired_event}', '{waiting}', '{failed}', '{expired}', '{worker}' \
             FROM expired) \
         SELECT connection, accepted_at, group_id FROM expired",
        failed = DeliveryStatus::Failed,
        expired = FailReason::Expired,
        waiting = DeliveryStatus::WaitForSending,
        expired_event = EventKind::Expired,
        worker = Actor::Worker,
    )
});

pub(super) fn claimed_from_row(row: &sqlx::postgres::PgRow) -> Result<Claimed, StorageError> {
    let id: Uuid = row.try_get("id")?;
    let command: serde_json::Value = row.try_get("command")?;
    let command: SendCommand = serde_json::from_value(command)
        .map_err(|source| StorageError::CorruptCommand { id, source })?;
    Ok(Claimed {
        id,
        connection: row.try_get("connection")?,
        command: Arc::new(command),
        attempt: row.try_get::<i32, _>("attempts")?.max(1) as u32,
        resends: row.try_get::<i32, _>("resends")?.max(0) as u32,
        remote_id: row.try_get("remote_id")?,
        claimed_at: row.try_get("claimed_at")?,
        accepted_at: row.try_get("accepted_at")?,
    })
}
