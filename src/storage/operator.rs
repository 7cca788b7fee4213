//! What operators read and change: one delivery with its attempts, resend
//! and cancel (lists: `listing`). The same statements serve the CLI and the
//! admin API.

use super::events::By;
use super::groups;
use super::text::{MAX_TEXT, storable};
use super::{StorageError, Store};
use crate::domain::status::{DeliveryEvent, sources, target};
use crate::domain::{DeliveryStatus, EventKind, FailReason, WaitReason};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

/// One line of the waiting deliveries: a connection and a wait reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub connection: String,
    pub reason: String,
    pub count: i64,
    /// Seconds since the oldest of them that is due fell due; none when
    /// none is due.
    pub overdue_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub id: Uuid,
    pub connection: String,
    pub status: String,
    pub provider_status: Option<i16>,
    pub remote_id: Option<String>,
    pub attempts: i32,
    pub resends: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub wait_reason: Option<String>,
    pub fail_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptView {
    pub round: i32,
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub http_status: Option<i32>,
    pub outcome: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub success: u64,
    pub failed: u64,
    pub waiting: u64,
    pub sending: u64,
}

/// What a resend or cancel did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Done {
        connection: String,
        /// The connections of the group members the change aborted.
        aborted: Vec<String>,
    },
    /// Not applied; the text says why.
    Refused(String),
}

pub(super) const COLUMNS: &str = "id, connection, status, provider_status, remote_id, attempts, resends, \
    next_attempt_at, wait_reason, fail_reason, created_at, updated_at, command";

pub(super) fn view(
    row: &sqlx::postgres::PgRow,
    with_command: bool,
) -> Result<DeliveryView, sqlx::Error> {
    Ok(DeliveryView {
        id: row.try_get("id")?,
        connection: row.try_get("connection")?,
        status: row.try_get("status")?,
        provider_status: row.try_get("provider_status")?,
        remote_id: row.try_get("remote_id")?,
        attempts: row.try_get("attempts")?,
        resends: row.try_get("resends")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        wait_reason: row.try_get("wait_reason")?,
        fail_reason: row.try_get("fail_reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        command: if with_command {
            row.try_get("command")?
        } else {
            None
        },
    })
}

impl Store {
    pub async fn delivery(&self, id: Uuid) -> Result<Option<DeliveryView>, StorageError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM deliveries WHERE id = $1"));
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| view(&r, true)).transpose()?)
    }

    pub async fn attempts(&self, id: Uuid) -> Result<Vec<AttemptView>, StorageError> {
        let rows = sqlx::query(
            "SELECT round, attempt, started_at, finished_at, http_status, outcome, error \
             FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let attempt = |r: &sqlx::postgres::PgRow| -> Result<AttemptView, sqlx::Error> {
            Ok(AttemptView {
                round: r.try_get("round")?,
                attempt: r.try_get("attempt")?,
                started_at: r.try_get("started_at")?,
                finished_at: r.try_get("finished_at")?,
                http_status: r.try_get("http_status")?,
                outcome: r.try_get("outcome")?,
                error: r.try_get("error")?,
            })
        };
        Ok(rows.iter().map(attempt).collect::<Result<_, _>>()?)
    }

    /// Starts a new round of attempts for a `failed` or `success` delivery,
    /// for `by`, with the operator's `reason`; the members of its group
    /// aborted behind it wait for their turn again. The provider's id of
    /// the message is kept where the delivery's connection is one of
    /// `keep_remote_id` (whose provider resends by it); elsewhere the new
    /// round clears it.
    ///
    /// `key` identifies the resend command; the delivery keeps the last one
    /// applied. Where `repeat_is_duplicate` (the command was handed out
    /// before, or its key is unique per publish), a resend whose key is
    /// that last one was applied already and changes nothing.
    #[allow(clippy::too_many_arguments)]
    pub async fn resend(
        &self,
        id: Uuid,
        key: Uuid,
        repeat_is_duplicate: bool,
        group_timeout: Duration,
        by: By<'_>,
        reason: Option<&str>,
        keep_remote_id: &[&str],
    ) -> Result<Change, StorageError> {
        let mut tx = self.pool.begin().await?;
        let member = lock_group_of(&mut tx, id).await?;
        let row = sqlx::query(RESEND.as_str())
            .bind(id)
            .bind(key)
            .bind(repeat_is_duplicate)
            .bind(sources(DeliveryEvent::Resend))
            .bind(target(DeliveryEvent::Resend))
            .bind(reason.map(|r| storable(r, MAX_TEXT)))
            .bind(by.actor.as_str())
            .bind(by.operator)
            .bind(keep_remote_id)
            .fetch_optional(&mut *tx)
            .await?;
        if row.is_some()
            && let Some((group, order)) = &member
        {
            // The members aborted behind it wait for their turn again.
            groups::rearm(&mut tx, group, *order, group_timeout, by).await?;
        }
        tx.commit().await?;
        match row {
            Some(row) => Ok(Change::Done {
                connection: row.try_get("connection")?,
                aborted: Vec::new(),
            }),
            None if repeat_is_duplicate && self.last_resend_key(id).await? == Some(key) => {
                Ok(Change::Refused(format!(
                    "resend {key} was applied to delivery {id} already: this is the same command again"
                )))
            }
            None => self.refusal(id, "resend").await,
        }
    }

    async fn last_resend_key(&self, id: Uuid) -> Result<Option<Uuid>, StorageError> {
        let key = sqlx::query_scalar("SELECT last_resend_key FROM deliveries WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(key.flatten())
    }

    /// Fails a delivery that is still `waitForSending`, with `cancelled`,
    /// for `by`; the members of its group waiting behind it are aborted.
    pub async fn cancel(&self, id: Uuid, by: By<'_>) -> Result<Change, StorageError> {
        let mut tx = self.pool.begin().await?;
        let member = lock_group_of(&mut tx, id).await?;
        let row = sqlx::query(CANCEL.as_str())
            .bind(id)
            .bind(sources(DeliveryEvent::Cancel))
            .bind(target(DeliveryEvent::Cancel))
            .bind(FailReason::Cancelled.as_str())
            .bind(by.actor.as_str())
            .bind(by.operator)
            .fetch_optional(&mut *tx)
            .await?;
        let aborted = match (&row, &member) {
            (Some(_), Some((group, _))) => groups::settle(&mut tx, &[group], by).await?.aborted,
            _ => Vec::new(),
        };
        tx.commit().await?;
        match row {
            Some(row) => Ok(Change::Done {
                connection: row.try_get("connection")?,
                aborted: aborted
                    .into_iter()
                    .map(|(connection, _)| connection)
                    .collect(),
            }),
            None => self.refusal(id, "cancel").await,
        }
    }

    async fn refusal(&self, id: Uuid, what: &str) -> Result<Change, StorageError> {
        let row =
            sqlx::query("SELECT status, command IS NULL AS rejected FROM deliveries WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        let why = match row {
            None => format!("no delivery {id}"),
            Some(row) if row.try_get::<bool, _>("rejected")? => {
                format!("delivery {id} was a rejected command: there is nothing to {what}")
            }
            Some(row) => {
                let status: String = row.try_get("status")?;
                format!("delivery {id} is {status}: {what} does not apply")
            }
        };
        Ok(Change::Refused(why))
    }

    /// Deliveries waiting, by connection and reason, with the oldest due
    /// one's lateness: the `herald_waiting` and `herald_overdue_seconds`
    /// gauges, from one statement.
    pub async fn waiting_counts(&self) -> Result<Vec<Waiting>, StorageError> {
        let rows = sqlx::query(WAITING_COUNTS.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Waiting {
                    connection: r.try_get("connection")?,
                    reason: r.try_get("reason")?,
                    count: r.try_get("n")?,
                    overdue_seconds: r.try_get("overdue")?,
                })
            })
            .collect()
    }

    /// Per connection, the deliveries in `sending` whose claim is older than
    /// `lease`: a live worker records or gives back every claim within its
    /// lease, and a sweeper takes back a dead worker's soon after, so rows
    /// that stay here mean no sweeper runs or its recovery fails. Reads the
    /// partial index on `sending` rows, from its oldest end.
    pub async fn stuck_sending(&self, lease: Duration) -> Result<Vec<(String, i64)>, StorageError> {
        let rows = sqlx::query(STUCK_SENDING.as_str())
            .bind(lease.as_secs_f64())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("connection")?, r.try_get("n")?)))
            .collect()
    }

    /// Counts by status of the given deliveries (the demo's progress).
    pub async fn status_counts_of(&self, ids: &[Uuid]) -> Result<StatusCounts, StorageError> {
        let row = sqlx::query(
            "SELECT count(*) FILTER (WHERE status = $2) AS success, \
                    count(*) FILTER (WHERE status = $3) AS failed, \
                    count(*) FILTER (WHERE status = $4) AS waiting, \
                    count(*) FILTER (WHERE status = $5) AS sending \
             FROM deliveries WHERE id = ANY($1)",
        )
        .bind(ids)
        .bind(DeliveryStatus::Success.as_str())
        .bind(DeliveryStatus::Failed.as_str())
        .bind(DeliveryStatus::WaitForSending.as_str())
        .bind(DeliveryStatus::Sending.as_str())
        .fetch_one(&self.pool)
        .await?;
        let n = |name: &str| row.try_get::<i64, _>(name).map(|v| v.max(0) as u64);
        Ok(StatusCounts {
            success: n("success")?,
            failed: n("failed")?,
            waiting: n("waiting")?,
            sending: n("sending")?,
        })
    }
}

/// Deliveries waiting, by connection and reason (a due one without a
/// reason counts as a retry), and how long ago the oldest of them that is
/// due now fell due: a due row is taken by a sweeper within a second, so
/// one left longer is overdue, while rows due later (scheduled sends,
/// retries waiting for their time, a closed window) are not. The states'
/// literal matches the partial index on waiting rows.
static WAITING_COUNTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT connection, COALESCE(wait_reason, '{retry}') AS reason, count(*) AS n, \
                EXTRACT(EPOCH FROM now() - min(next_attempt_at) \
                    FILTER (WHERE next_attempt_at <= now()))::float8 AS overdue \
         FROM deliveries WHERE status = '{waiting}' GROUP BY 1, 2",
        retry = WaitReason::Retry,
        waiting = DeliveryStatus::WaitForSending,
    )
});

/// Claims older than `$1` seconds, by connection (see [`Store::stuck_sending`]).
static STUCK_SENDING: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT connection, count(*) AS n FROM deliveries \
         WHERE status = '{sending}' AND claimed_at < now() - make_interval(secs => $1) \
         GROUP BY 1",
        sending = DeliveryStatus::Sending,
    )
});

/// A resend of `$1` (see [`Store::resend`]) and its audit event: from the
/// status it had, for actor `$7` and operator `$8`, with the reason `$6`;
/// the provider's id of the message is kept only on the connections `$9`.
static RESEND: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH resent AS ( \
             UPDATE deliveries d SET status = $5, attempts = 0, resends = d.resends + 1, \
                 next_attempt_at = now(), wait_reason = NULL, fail_reason = NULL, \
                 remote_id = CASE WHEN d.connection = ANY($9) THEN d.remote_id END, \
                 last_resend_key = $2, updated_at = now() \
             FROM (SELECT status AS was FROM deliveries WHERE id = $1) o \
             WHERE d.id = $1 AND d.status = ANY($4) AND d.command IS NOT NULL \
               AND NOT ($3 AND d.last_resend_key IS NOT DISTINCT FROM $2) \
             RETURNING d.connection, o.was), \
         audit AS ( \
             INSERT INTO delivery_events (delivery_id, kind, from_status, to_status, reason, \
                 actor, operator) \
             SELECT $1, '{resent}', was, $5, $6, $7, $8 FROM resent) \
         SELECT connection FROM resent",
        resent = EventKind::Resent,
    )
});

/// A cancel of `$1` (see [`Store::cancel`]) and its audit event, for actor
/// `$5` and operator `$6`.
static CANCEL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH cancelled AS ( \
             UPDATE deliveries SET status = $3, fail_reason = $4, next_attempt_at = NULL, \
                 wait_reason = NULL, updated_at = now() \
             WHERE id = $1 AND status = ANY($2) RETURNING connection), \
         audit AS ( \
             INSERT INTO delivery_events (delivery_id, kind, from_status, to_status, reason, \
                 actor, operator) \
             SELECT $1, '{cancelled}', '{waiting}', $3, $4, $5, $6 FROM cancelled) \
         SELECT connection FROM cancelled",
        cancelled = EventKind::Cancelled,
        waiting = DeliveryStatus::WaitForSending,
    )
});

/// Locks the group of delivery `id`, if it is a group member, for the rest
/// of the transaction: its group and place.
async fn lock_group_of(
    tx: &mut sqlx::PgConnection,
    id: Uuid,
) -> Result<Option<(String, i32)>, StorageError> {
    let member: Option<(Option<String>, Option<i32>)> =
        sqlx::query_as("SELECT group_id, group_order FROM deliveries WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((Some(group), Some(order))) = member else {
        return Ok(None);
    };
    groups::lock(tx, &[&group]).await?;
    Ok(Some((group, order)))
}
