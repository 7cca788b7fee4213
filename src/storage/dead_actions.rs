//! The audit trail of the dead-letter queue, `dead_letter_actions`: every
//! replay and purge, who ran it and why, and the dead letters it took.
//!
//! An action is recorded in two steps around its work on the queue:
//! [`Store::dead_action_started`] before it touches a message, and
//! [`Store::dead_action_finished`] once it ends, with what it did. A row
//! with no `finished_at` is an action that stopped half way (its process
//! died, or PostgreSQL was lost before the end): a reader sees what it was
//! asked to do, who asked, and that any of it may have been done.

use super::events::By;
use super::text::{MAX_TEXT, storable};
use super::{StorageError, Store};
use crate::domain::DeadLetterAction;
use crate::queue::dead::DeadLetter;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// The longest handle, id or type kept of a dead letter, in bytes.
const MAX_FIELD: usize = 200;
/// The longest reason kept of a dead letter, in bytes: a row may name
/// thousands of them.
const MAX_ERROR: usize = 500;

/// One dead letter an action took: who it was, as `herald dead list`
/// names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LetterRecord {
    pub handle: String,
    pub message_id: Option<String>,
    /// The command's `type`, where its body could be read.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The command's `id` (a delivery id for a `send`), where readable.
    pub id: Option<String>,
    /// Why it had been dead-lettered (`x-herald-error`, or RabbitMQ's reason).
    pub error: Option<String>,
}

impl LetterRecord {
    /// A dead letter as the record names it.
    pub fn of(letter: &DeadLetter) -> LetterRecord {
        LetterRecord {
            handle: letter.handle.clone(),
            message_id: letter.message_id.clone(),
            kind: letter.kind.clone(),
            id: letter.id.clone(),
            error: letter.reason.clone(),
        }
    }

    /// The record as PostgreSQL's `jsonb` can hold it: no U+0000, bounded.
    fn storable(&self) -> LetterRecord {
        let cut = |v: &Option<String>, max| v.as_deref().map(|v| storable(v, max).into_owned());
        LetterRecord {
            handle: storable(&self.handle, MAX_FIELD).into_owned(),
            message_id: cut(&self.message_id, MAX_FIELD),
            kind: cut(&self.kind, MAX_FIELD),
            id: cut(&self.id, MAX_FIELD),
            error: cut(&self.error, MAX_ERROR),
        }
    }
}

/// What an action was asked to do, recorded before it starts.
#[derive(Debug, Clone)]
pub struct ActionStart<'a> {
    pub action: DeadLetterAction,
    pub by: By<'a>,
    pub reason: Option<&'a str>,
    pub queue: &'a str,
    /// The handles named; `None` for every dead letter.
    pub handles: Option<&'a [String]>,
    /// How many it means to take, where known (a purge's count).
    pub asked_count: Option<u32>,
}

/// One row of the dead-letter audit trail.
#[derive(Debug, Clone, Serialize)]
pub struct ActionView {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    /// `None`: it never said how it ended (see the module's docs).
    pub finished_at: Option<DateTime<Utc>>,
    pub action: String,
    pub actor: String,
    pub operator: Option<String>,
    pub reason: Option<String>,
    pub queue: String,
    pub handles: Option<Vec<String>>,
    pub asked_count: Option<i32>,
    pub count: Option<i32>,
    pub letters: Vec<LetterRecord>,
    pub error: Option<String>,
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl Store {
    /// Records that an action starts; its id, to finish it with.
    pub async fn dead_action_started(&self, start: &ActionStart<'_>) -> Result<i64, StorageError> {
        let text = |v: Option<&str>| v.map(|v| storable(v, MAX_TEXT).into_owned());
        let handles: Option<Vec<String>> = start.handles.map(|hs| {
            hs.iter()
                .map(|h| storable(h, MAX_FIELD).into_owned())
                .collect()
        });
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO dead_letter_actions \
             (action, actor, operator, reason, queue, handles, asked_count) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(start.action.as_str())
        .bind(start.by.actor.as_str())
        .bind(text(start.by.operator))
        .bind(text(start.reason))
        .bind(storable(start.queue, MAX_FIELD).as_ref())
        .bind(handles)
        .bind(start.asked_count.map(count))
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    /// Completes action `id` with what it did: `done` dead letters, these
    /// `letters`, and the `error` it stopped at, if any. A row is completed
    /// once; completing it again changes nothing.
    pub async fn dead_action_finished(
        &self,
        id: i64,
        letters: &[LetterRecord],
        error: Option<&str>,
    ) -> Result<(), StorageError> {
        let done = u32::try_from(letters.len()).unwrap_or(u32::MAX);
        let letters: Vec<LetterRecord> = letters.iter().map(LetterRecord::storable).collect();
        let letters = serde_json::to_value(&letters)
            .map_err(|e| StorageError::Unstorable(format!("dead letters: {e}")))?;
        sqlx::query(
            "UPDATE dead_letter_actions SET finished_at = now(), count = $2, letters = $3, \
             error = $4 WHERE id = $1 AND finished_at IS NULL",
        )
        .bind(id)
        .bind(count(done))
        .bind(letters)
        .bind(error.map(|e| storable(e, MAX_TEXT).into_owned()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The latest `limit` actions, newest first, before action `before`
    /// where given (the next page).
    pub async fn dead_actions(
        &self,
        limit: i64,
        before: Option<i64>,
    ) -> Result<Vec<ActionView>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, started_at, finished_at, action, actor, operator, reason, queue, \
             handles, asked_count, count, letters, error FROM dead_letter_actions \
             WHERE $2::bigint IS NULL OR id < $2 ORDER BY id DESC LIMIT $1",
        )
        .bind(limit.max(1))
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let letters: serde_json::Value = r.try_get("letters")?;
                Ok(ActionView {
                    id: r.try_get("id")?,
                    started_at: r.try_get("started_at")?,
                    finished_at: r.try_get("finished_at")?,
                    action: r.try_get("action")?,
                    actor: r.try_get("actor")?,
                    operator: r.try_get("operator")?,
                    reason: r.try_get("reason")?,
                    queue: r.try_get("queue")?,
                    handles: r.try_get("handles")?,
                    asked_count: r.try_get("asked_count")?,
                    count: r.try_get("count")?,
                    // Written by this module only; a row it cannot read
                    // shows no letters rather than hiding the action.
                    letters: serde_json::from_value(letters).unwrap_or_default(),
                    error: r.try_get("error")?,
                })
            })
            .collect()
    }
}
