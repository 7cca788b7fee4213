//! `connection_pauses`: connections a provider's quota refusal paused,
//! shared by every worker through PostgreSQL, and this process's copy of
//! them, so that the check before each provider call reads memory and runs
//! no statement. The copy takes a new pause at once
//! ([`Store::pause_connection`]) and the other workers' pauses when the
//! sweeper refreshes it ([`Store::refresh_pauses`]).

use super::{StorageError, Store};
use crate::domain::pauses::PauseBook;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::Row;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Instant;

/// This process's copy of `connection_pauses`, behind a lock.
#[derive(Debug, Default)]
pub struct Pauses {
    /// False while no pause is known: the common case costs no lock.
    any: AtomicBool,
    book: RwLock<PauseBook>,
}

impl Pauses {
    fn until(&self, connection: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        self.read().until(connection, now)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, PauseBook> {
        self.book.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the book, and notes whether any pause is known.
    fn change(&self, change: impl FnOnce(&mut PauseBook)) {
        let mut book = self.book.write().unwrap_or_else(PoisonError::into_inner);
        change(&mut book);
        self.any.store(!book.is_empty(), Ordering::Release);
    }
}

impl Store {
    /// Whether the connection is paused at `now`, from memory: until when.
    pub fn paused_until(&self, connection: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.pauses.until(connection, now)
    }

    /// Pauses the connection until `until`, in this process at once, then
    /// for every worker in PostgreSQL. Returns the pause's end: a later one
    /// already recorded is kept. The reason is the provider's text: stored
    /// without U+0000 and bounded. Where recording it fails (or the caller stops waiting),
    /// this process keeps the pause until its end and
    /// [`Store::refresh_pauses`] records it.
    pub async fn pause_connection(
        &self,
        connection: &str,
        until: DateTime<Utc>,
        reason: &str,
    ) -> Result<DateTime<Utc>, StorageError> {
        let until = until.trunc_subsecs(6); // as PostgreSQL keeps it
        self.pauses
            .change(|book| book.note(connection, until, reason, Instant::now()));
        self.record_pause(connection, until, reason).await
    }

    async fn record_pause(
        &self,
        connection: &str,
        until: DateTime<Utc>,
        reason: &str,
    ) -> Result<DateTime<Utc>, StorageError> {
        let row = sqlx::query(
            "INSERT INTO connection_pauses (connection, paused_until, reason) VALUES ($1, $2, $3) \
             ON CONFLICT (connection) DO UPDATE SET reason = EXCLUDED.reason, updated_at = now(), \
                 paused_until = GREATEST(connection_pauses.paused_until, EXCLUDED.paused_until) \
             RETURNING paused_until",
        )
        .bind(connection)
        .bind(until)
        .bind(&*super::text::storable(reason, super::text::MAX_TEXT))
        .fetch_one(&self.pool)
        .await?;
        let until: DateTime<Utc> = row.try_get("paused_until")?;
        self.pauses
            .change(|book| book.recorded(connection, until, Instant::now()));
        Ok(until)
    }

    /// Every recorded pause that has not ended: connection, end, reason.
    pub async fn current_pauses(
        &self,
    ) -> Result<Vec<(String, DateTime<Utc>, String)>, StorageError> {
        let rows = sqlx::query(
            "SELECT connection, paused_until, reason FROM connection_pauses \
             WHERE paused_until > now() ORDER BY connection",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("connection")?,
                    row.try_get("paused_until")?,
                    row.try_get("reason")?,
                ))
            })
            .collect()
    }

    /// Records the pauses this process holds but could not record yet,
    /// then reloads its copy from `connection_pauses`; returns how many
    /// connections are paused.
    pub async fn refresh_pauses(&self) -> Result<usize, StorageError> {
        let unrecorded = self.pauses.read().unrecorded(Utc::now());
        for (connection, until, reason) in unrecorded {
            self.record_pause(&connection, until, &reason).await?;
            tracing::info!(%connection, %until, "recorded a connection pause held only in this worker");
        }
        let read_at = Instant::now();
        let rows = sqlx::query(
            "SELECT connection, paused_until FROM connection_pauses WHERE paused_until > now()",
        )
        .fetch_all(&self.pool)
        .await?;
        let rows = rows
            .iter()
            .map(|row| Ok((row.try_get("connection")?, row.try_get("paused_until")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let paused = rows.len();
        self.pauses
            .change(|book| book.replace(rows, read_at, Utc::now()));
        Ok(paused)
    }
}
