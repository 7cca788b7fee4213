//! `connection_pauses`: connections a provider's quota refusal paused,
//! shared by every worker through PostgreSQL, and this process's copy of
//! them, so that the check before each provider call reads memory and runs
//! no statement. The copy takes a new pause at once
//! ([`Store::pause_connection`]) and the other workers' pauses when the
//! sweeper refreshes it ([`Store::refresh_pauses`]).

use super::{StorageError, Store};
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

/// This process's copy of `connection_pauses`.
#[derive(Debug, Default)]
pub struct Pauses {
    /// False while no pause is known: the common case costs no lock.
    any: AtomicBool,
    entries: RwLock<HashMap<String, Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    until: DateTime<Utc>,
    /// When this process noted it: a refresh that read the table before
    /// then may not have seen it, and keeps it.
    noted: Instant,
    /// The reason, while the pause is not recorded in PostgreSQL yet:
    /// every refresh keeps it and tries to record it again, until its end.
    unrecorded: Option<Arc<str>>,
}

impl Pauses {
    /// The end of the connection's pause, if it is paused at `now`.
    pub fn until(&self, connection: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(connection)
            .map(|entry| entry.until)
            .filter(|until| *until > now)
    }

    /// Notes a pause not recorded in PostgreSQL yet; a longer one already
    /// noted wins.
    fn note(&self, connection: &str, until: DateTime<Utc>, reason: &str) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let noted = Instant::now();
        let reason: Arc<str> = Arc::from(reason);
        entries
            .entry(connection.to_owned())
            .and_modify(|entry| {
                entry.until = entry.until.max(until);
                entry.noted = noted;
                entry.unrecorded = Some(reason.clone());
            })
            .or_insert(Entry {
                until,
                noted,
                unrecorded: Some(reason),
            });
        self.any.store(true, Ordering::Release);
    }

    /// Notes that PostgreSQL holds the connection's pause until `until`
    /// (its answer to recording it): recorded, unless a longer one was
    /// noted meanwhile.
    fn recorded(&self, connection: &str, until: DateTime<Utc>) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let noted = Instant::now();
        entries
            .entry(connection.to_owned())
            .and_modify(|entry| {
                if entry.until <= until {
                    entry.unrecorded = None;
                }
                entry.until = entry.until.max(until);
                entry.noted = noted;
            })
            .or_insert(Entry {
                until,
                noted,
                unrecorded: None,
            });
        self.any.store(true, Ordering::Release);
    }

    /// The pauses not recorded yet that have not ended at `now`:
    /// connection, end, reason.
    fn unrecorded(&self, now: DateTime<Utc>) -> Vec<(String, DateTime<Utc>, Arc<str>)> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .iter()
            .filter(|(_, entry)| entry.until > now)
            .filter_map(|(connection, entry)| {
                let reason = entry.unrecorded.clone()?;
                Some((connection.clone(), entry.until, reason))
            })
            .collect()
    }

    /// Replaces the copy with the table's rows as read from `read_at`,
    /// keeping what this process noted since and what it has not recorded
    /// yet (until its end at `now`).
    fn replace(&self, rows: Vec<(String, DateTime<Utc>)>, read_at: Instant, now: DateTime<Utc>) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let mut fresh: HashMap<String, Entry> = rows
            .into_iter()
            .map(|(connection, until)| {
                let entry = Entry {
                    until,
                    noted: read_at,
                    unrecorded: None,
                };
                (connection, entry)
            })
            .collect();
        for (connection, entry) in entries.iter() {
            let unrecorded = entry.unrecorded.is_some() && entry.until > now;
            if entry.noted > read_at || unrecorded {
                fresh
                    .entry(connection.clone())
                    .and_modify(|known| {
                        if entry.until > known.until {
                            known.until = entry.until;
                            known.unrecorded = entry.unrecorded.clone();
                        }
                    })
                    .or_insert_with(|| entry.clone());
            }
        }
        *entries = fresh;
        self.any.store(!entries.is_empty(), Ordering::Release);
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
        self.pauses.note(connection, until, reason);
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
        self.pauses.recorded(connection, until);
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
        for (connection, until, reason) in self.pauses.unrecorded(Utc::now()) {
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
        self.pauses.replace(rows, read_at, Utc::now());
        Ok(paused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("in range")
    }

    #[test]
    fn a_pause_holds_until_its_end_and_only_for_its_connection() {
        let pauses = Pauses::default();
        assert_eq!(pauses.until("onebox", at(0)), None);
        pauses.recorded("onebox", at(60));
        assert_eq!(pauses.until("onebox", at(0)), Some(at(60)));
        assert_eq!(pauses.until("onebox", at(60)), None, "over at its end");
        assert_eq!(pauses.until("konnek", at(0)), None);
        pauses.recorded("onebox", at(30));
        assert_eq!(
            pauses.until("onebox", at(0)),
            Some(at(60)),
            "the longer wins"
        );
    }

    #[test]
    fn a_refresh_takes_the_table_but_keeps_what_was_noted_after_its_read() {
        let pauses = Pauses::default();
        pauses.recorded("lifted", at(60));
        let read_at = Instant::now() + Duration::from_millis(1);
        std::thread::sleep(Duration::from_millis(5));
        pauses.recorded("noted-meanwhile", at(90));
        pauses.replace(vec![("other-worker".into(), at(120))], read_at, at(0));
        assert_eq!(pauses.until("lifted", at(0)), None, "gone from the table");
        assert_eq!(pauses.until("noted-meanwhile", at(0)), Some(at(90)));
        assert_eq!(pauses.until("other-worker", at(0)), Some(at(120)));
        pauses.replace(Vec::new(), Instant::now(), at(0));
        assert_eq!(pauses.until("other-worker", at(0)), None);
        assert!(!pauses.any.load(Ordering::Relaxed));
    }

    #[test]
    fn a_pause_not_recorded_is_kept_until_its_end_and_recorded_later() {
        let pauses = Pauses::default();
        pauses.note("onebox", at(60), "time limit reached");
        // Refreshes that read a table without it keep it, and list it to
        // be recorded, until its end.
        pauses.replace(Vec::new(), Instant::now(), at(0));
        assert_eq!(pauses.until("onebox", at(10)), Some(at(60)));
        let unrecorded = pauses.unrecorded(at(10));
        assert_eq!(unrecorded.len(), 1);
        assert_eq!(
            (unrecorded[0].0.as_str(), unrecorded[0].1),
            ("onebox", at(60))
        );
        assert_eq!(&*unrecorded[0].2, "time limit reached");
        pauses.replace(vec![("konnek".into(), at(30))], Instant::now(), at(20));
        assert_eq!(pauses.until("onebox", at(20)), Some(at(60)));
        assert_eq!(pauses.until("konnek", at(20)), Some(at(30)));
        // Once recorded, the table decides again.
        pauses.recorded("onebox", at(60));
        assert!(pauses.unrecorded(at(20)).is_empty());
        pauses.replace(Vec::new(), Instant::now(), at(20));
        assert_eq!(pauses.until("onebox", at(20)), None);
        // One that ended unrecorded is dropped.
        pauses.note("late", at(30), "quota");
        assert!(pauses.unrecorded(at(30)).is_empty());
        pauses.replace(Vec::new(), Instant::now(), at(31));
        assert_eq!(pauses.until("late", at(0)), None);
    }

    #[test]
    fn a_pause_recorded_shorter_than_one_noted_since_stays_unrecorded() {
        let pauses = Pauses::default();
        pauses.note("onebox", at(60), "first");
        pauses.note("onebox", at(90), "second");
        pauses.recorded("onebox", at(60)); // the first one's answer
        assert_eq!(pauses.until("onebox", at(0)), Some(at(90)));
        assert_eq!(pauses.unrecorded(at(0)).len(), 1);
    }
}
