//! The pauses a provider's quota refusal put on connections, as one
//! worker knows them: the table's rows as last read, and what this worker
//! noted since. A pure book: the storage keeps it behind a lock and feeds it
//! the table and the clock.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Per connection, the end of its pause.
#[derive(Debug, Default, Clone)]
pub struct PauseBook {
    entries: HashMap<String, Entry>,
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

impl PauseBook {
    /// Whether no pause is known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The end of the connection's pause, if it is paused at `now`.
    pub fn until(&self, connection: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.entries
            .get(connection)
            .map(|entry| entry.until)
            .filter(|until| *until > now)
    }

    /// Notes, at `noted`, a pause not recorded in PostgreSQL yet; a longer
    /// one already noted wins.
    pub fn note(&mut self, connection: &str, until: DateTime<Utc>, reason: &str, noted: Instant) {
        let reason: Arc<str> = Arc::from(reason);
        self.entries
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
    }

    /// Notes, at `noted`, that PostgreSQL holds the connection's pause
    /// until `until` (its answer to recording it): recorded, unless a
    /// longer one was noted meanwhile.
    pub fn recorded(&mut self, connection: &str, until: DateTime<Utc>, noted: Instant) {
        self.entries
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
    }

    /// The pauses not recorded yet that have not ended at `now`:
    /// connection, end, reason.
    pub fn unrecorded(&self, now: DateTime<Utc>) -> Vec<(String, DateTime<Utc>, Arc<str>)> {
        self.entries
            .iter()
            .filter(|(_, entry)| entry.until > now)
            .filter_map(|(connection, entry)| {
                let reason = entry.unrecorded.clone()?;
                Some((connection.clone(), entry.until, reason))
            })
            .collect()
    }

    /// Replaces the book with the table's rows as read from `read_at`,
    /// keeping what this process noted since and what it has not recorded
    /// yet (until its end at `now`).
    pub fn replace(
        &mut self,
        rows: Vec<(String, DateTime<Utc>)>,
        read_at: Instant,
        now: DateTime<Utc>,
    ) {
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
        for (connection, entry) in &self.entries {
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
        self.entries = fresh;
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
        let mut pauses = PauseBook::default();
        assert_eq!(pauses.until("onebox", at(0)), None);
        pauses.recorded("onebox", at(60), Instant::now());
        assert_eq!(pauses.until("onebox", at(0)), Some(at(60)));
        assert_eq!(pauses.until("onebox", at(60)), None, "over at its end");
        assert_eq!(pauses.until("konnek", at(0)), None);
        pauses.recorded("onebox", at(30), Instant::now());
        assert_eq!(
            pauses.until("onebox", at(0)),
            Some(at(60)),
            "the longer wins"
        );
    }

    #[test]
    fn a_refresh_takes_the_table_but_keeps_what_was_noted_after_its_read() {
        let mut pauses = PauseBook::default();
        pauses.recorded("lifted", at(60), Instant::now());
        let read_at = Instant::now() + Duration::from_millis(1);
        std::thread::sleep(Duration::from_millis(5));
        pauses.recorded("noted-meanwhile", at(90), Instant::now());
        pauses.replace(vec![("other-worker".into(), at(120))], read_at, at(0));
        assert_eq!(pauses.until("lifted", at(0)), None, "gone from the table");
        assert_eq!(pauses.until("noted-meanwhile", at(0)), Some(at(90)));
        assert_eq!(pauses.until("other-worker", at(0)), Some(at(120)));
        pauses.replace(Vec::new(), Instant::now(), at(0));
        assert_eq!(pauses.until("other-worker", at(0)), None);
        assert!(pauses.is_empty());
    }

    #[test]
    fn a_pause_not_recorded_is_kept_until_its_end_and_recorded_later() {
        let mut pauses = PauseBook::default();
        pauses.note("onebox", at(60), "time limit reached", Instant::now());
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
        pauses.recorded("onebox", at(60), Instant::now());
        assert!(pauses.unrecorded(at(20)).is_empty());
        pauses.replace(Vec::new(), Instant::now(), at(20));
        assert_eq!(pauses.until("onebox", at(20)), None);
        // One that ended unrecorded is dropped.
        pauses.note("late", at(30), "quota", Instant::now());
        assert!(pauses.unrecorded(at(30)).is_empty());
        pauses.replace(Vec::new(), Instant::now(), at(31));
        assert_eq!(pauses.until("late", at(0)), None);
    }

    #[test]
    fn a_pause_recorded_shorter_than_one_noted_since_stays_unrecorded() {
        let mut pauses = PauseBook::default();
        pauses.note("onebox", at(60), "first", Instant::now());
        pauses.note("onebox", at(90), "second", Instant::now());
        pauses.recorded("onebox", at(60), Instant::now()); // the first one's answer
        assert_eq!(pauses.until("onebox", at(0)), Some(at(90)));
        assert_eq!(pauses.unrecorded(at(0)).len(), 1);
    }
}
