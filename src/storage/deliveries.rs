//! The worker's statements: accept a command, claim due deliveries, record an
//! outcome. Each is one round trip; none holds a transaction across a
//! provider call. A claim is a conditional update, so exactly one worker
//! gets a row, and an outcome only lands on the claim it belongs to.

use super::{StorageError, Store};
use crate::domain::{DeliveryStatus, SendCommand};
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

/// A delivery this worker holds in `sending` and must now send.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub connection: String,
    pub command: SendCommand,
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

/// One provider call, as `delivery_attempts` keeps it.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub http_status: Option<u16>,
    /// `success`, `retryable`, `permanent` or `deferred`.
    pub outcome: &'static str,
    pub error: Option<String>,
}

/// Where a claimed delivery goes next.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub wait_reason: Option<&'static str>,
    pub fail_reason: Option<String>,
    pub provider_status: Option<i16>,
    pub remote_id: Option<String>,
    /// A deferral: the attempt taken at claim time does not count.
    pub refund_attempt: bool,
    /// The provider call, if one was made.
    pub attempt: Option<AttemptRecord>,
}

impl Store {
    /// Records a new `send` command. Where it is due now, the row is born
    /// claimed (`waitForSending → sending` in one statement), saving the hot
    /// path a round trip.
    pub async fn accept_send(
        &self,
        cmd: &SendCommand,
        now: DateTime<Utc>,
    ) -> Result<AcceptOutcome, StorageError> {
        let command = serde_json::to_value(cmd)
            .map_err(|source| StorageError::CorruptCommand { id: cmd.id, source })?;
        let expired = cmd.expires_at.is_some_and(|at| at <= now);
        let scheduled = !expired && cmd.not_before.is_some_and(|at| at > now);
        let (status, attempts, next_at, wait_reason, fail_reason) = if expired {
            (DeliveryStatus::Failed, 0, None, None, Some("expired"))
        } else if scheduled {
            (
                DeliveryStatus::WaitForSending,
                0,
                cmd.not_before,
                Some("scheduled"),
                None,
            )
        } else {
            (DeliveryStatus::Sending, 1, None, None, None)
        };
        let row = sqlx::query(
            "INSERT INTO deliveries (id, connection, status, attempts, next_attempt_at, wait_reason, \
                 fail_reason, command, not_before, expires_at, group_id, group_order, claimed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                 CASE WHEN $3 = 'sending' THEN now() END) \
             ON CONFLICT (id) DO NOTHING \
             RETURNING claimed_at, accepted_at",
        )
        .bind(cmd.id)
        .bind(&cmd.connection)
        .bind(status.as_str())
        .bind(attempts)
        .bind(next_at)
        .bind(wait_reason)
        .bind(fail_reason)
        .bind(&command)
        .bind(cmd.not_before)
        .bind(cmd.expires_at)
        .bind(cmd.group.as_ref().map(|g| g.id.as_str()))
        .bind(cmd.group.as_ref().map(|g| g.order as i32))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(AcceptOutcome::Duplicate);
        };
        Ok(match status {
            DeliveryStatus::Failed => AcceptOutcome::Expired,
            DeliveryStatus::WaitForSending => AcceptOutcome::Scheduled,
            _ => AcceptOutcome::Claimed(Box::new(Claimed {
                id: cmd.id,
                connection: cmd.connection.clone(),
                command: cmd.clone(),
                attempt: 1,
                resends: 0,
                remote_id: None,
                claimed_at: row.try_get("claimed_at")?,
                accepted_at: row.try_get("accepted_at")?,
            })),
        })
    }

    /// Keeps a refused command that named an id, as `failed` with the reason.
    /// An existing delivery with that id is left alone.
    pub async fn record_rejected(
        &self,
        id: Uuid,
        connection: &str,
        reason: &str,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "INSERT INTO deliveries (id, connection, status, fail_reason) VALUES ($1, $2, 'failed', $3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(connection)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims up to `limit` due deliveries for this worker.
    pub async fn claim_due(&self, limit: i64) -> Result<Vec<Claimed>, StorageError> {
        let rows = sqlx::query(
            "UPDATE deliveries d SET status = 'sending', attempts = d.attempts + 1, claimed_at = now(), \
                 next_attempt_at = NULL, wait_reason = NULL, updated_at = now() \
             FROM (SELECT id FROM deliveries \
                   WHERE status = 'waitForSending' AND next_attempt_at <= now() \
                     AND (expires_at IS NULL OR expires_at > now()) AND command IS NOT NULL \
                   ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due \
             WHERE d.id = due.id \
             RETURNING d.id, d.connection, d.command, d.attempts, d.resends, d.remote_id, \
                 d.claimed_at, d.accepted_at",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(claimed_from_row).collect()
    }

    /// Fails waiting deliveries whose `expires_at` has passed; returns their
    /// connections and acceptance times, for the metrics.
    pub async fn expire_due(&self) -> Result<Vec<(String, DateTime<Utc>)>, StorageError> {
        let rows = sqlx::query(
            "UPDATE deliveries SET status = 'failed', fail_reason = 'expired', next_attempt_at = NULL, \
                 wait_reason = NULL, updated_at = now() \
             WHERE status = 'waitForSending' AND expires_at <= now() \
             RETURNING connection, accepted_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("connection")?, r.try_get("accepted_at")?)))
            .collect()
    }

    /// Records the outcome of a claim and its attempt row in one statement.
    /// Returns the acceptance time, or `None` when the claim was no longer
    /// this worker's (its lease expired and another worker took it over).
    pub async fn record_outcome(
        &self,
        claim: &Claimed,
        outcome: &Outcome,
    ) -> Result<Option<DateTime<Utc>>, StorageError> {
        let attempt = outcome.attempt.as_ref();
        let row = sqlx::query(
            "WITH updated AS ( \
                 UPDATE deliveries SET status = $3, next_attempt_at = $4, wait_reason = $5, \
                     fail_reason = $6, provider_status = GREATEST(provider_status, $7::smallint), \
                     remote_id = COALESCE($8, remote_id), attempts = attempts - $9::int, \
                     claimed_at = NULL, updated_at = now() \
                 WHERE id = $1 AND status = 'sending' AND claimed_at = $2 \
                 RETURNING accepted_at), \
             attempt AS ( \
                 INSERT INTO delivery_attempts (delivery_id, round, attempt, started_at, finished_at, \
                     http_status, outcome, error) \
                 SELECT $1, $10, $11, $12, $13, $14, $15, $16 WHERE $15::text IS NOT NULL) \
             SELECT accepted_at FROM updated",
        )
        .bind(claim.id)
        .bind(claim.claimed_at)
        .bind(outcome.status.as_str())
        .bind(outcome.next_attempt_at)
        .bind(outcome.wait_reason)
        .bind(outcome.fail_reason.as_deref())
        .bind(outcome.provider_status)
        .bind(outcome.remote_id.as_deref())
        .bind(i32::from(outcome.refund_attempt))
        .bind(claim.resends as i32)
        .bind(claim.attempt as i32)
        .bind(attempt.map(|a| a.started_at))
        .bind(attempt.map(|a| a.finished_at))
        .bind(attempt.and_then(|a| a.http_status).map(i32::from))
        .bind(attempt.map(|a| a.outcome))
        .bind(attempt.and_then(|a| a.error.as_deref()))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get("accepted_at"))
            .transpose()
            .map_err(Into::into)
    }
}

pub(super) fn claimed_from_row(row: &sqlx::postgres::PgRow) -> Result<Claimed, StorageError> {
    let id: Uuid = row.try_get("id")?;
    let command: serde_json::Value = row.try_get("command")?;
    let command: SendCommand = serde_json::from_value(command)
        .map_err(|source| StorageError::CorruptCommand { id, source })?;
    Ok(Claimed {
        id,
        connection: row.try_get("connection")?,
        command,
        attempt: row.try_get::<i32, _>("attempts")?.max(1) as u32,
        resends: row.try_get::<i32, _>("resends")?.max(0) as u32,
        remote_id: row.try_get("remote_id")?,
        claimed_at: row.try_get("claimed_at")?,
        accepted_at: row.try_get("accepted_at")?,
    })
}
