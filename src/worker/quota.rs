//! Daily quotas in one worker: the calls it reserved from PostgreSQL's
//! shared count (`storage::quota`) and has not made yet, per connection.
//! A call takes one; when none is left, the worker reserves the next block
//! (one at a time per connection, so a wave of calls costs one statement);
//! when PostgreSQL grants none, the day's quota is used up, and this
//! worker asks no more that day.

use super::context::Context;
use crate::domain::Limits;
use crate::domain::limits::quota_block;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Per connection, the calls this worker holds for a day.
#[derive(Default)]
pub struct Quotas {
    held: Mutex<HashMap<String, (NaiveDate, u64)>>,
    /// Per connection, the last day PostgreSQL granted no more calls for:
    /// the count only grows, so it stays used up for the day.
    used_up: Mutex<HashMap<String, NaiveDate>>,
    /// One reservation at a time per connection.
    reserving: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Whether a call may be made under the connection's daily quota.
pub enum Quota {
    /// Yes: one call of `day` is taken.
    Granted(NaiveDate),
    /// The day's quota is used up.
    UsedUp,
    /// PostgreSQL did not say.
    Unknown(String),
}

/// How long a reservation may wait for PostgreSQL.
const RESERVE_WITHIN: Duration = Duration::from_secs(2);

impl Quotas {
    fn take_held(&self, connection: &str, day: NaiveDate) -> bool {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        match held.get_mut(connection) {
            Some((d, n)) if *d == day && *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    fn add_held(&self, connection: &str, day: NaiveDate, n: u64) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = held.entry(connection.to_owned()).or_insert((day, 0));
        if entry.0 != day {
            *entry = (day, 0); // a day's calls are not carried into the next
        }
        entry.1 += n;
    }

    fn is_used_up(&self, connection: &str, day: NaiveDate) -> bool {
        let used_up = self.used_up.lock().unwrap_or_else(PoisonError::into_inner);
        used_up.get(connection) == Some(&day)
    }

    fn note_used_up(&self, connection: &str, day: NaiveDate) {
        let mut used_up = self.used_up.lock().unwrap_or_else(PoisonError::into_inner);
        used_up.insert(connection.to_owned(), day);
    }

    /// Gives back a call taken for `day` and not made.
    pub fn give_back(&self, connection: &str, day: NaiveDate) {
        self.add_held(connection, day, 1);
    }

    fn lock_of(&self, connection: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .reserving
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        locks.entry(connection.to_owned()).or_default().clone()
    }
}

/// Takes one call of `connection`'s daily quota at `now`.
pub async fn take(ctx: &Context, connection: &str, limits: &Limits, now: DateTime<Utc>) -> Quota {
    let Some(quota) = limits.daily_quota else {
        return Quota::Granted(limits.quota_day(now));
    };
    let day = limits.quota_day(now);
    let quotas = &ctx.quotas;
    if quotas.take_held(connection, day) {
        return Quota::Granted(day);
    }
    if quotas.is_used_up(connection, day) {
        return Quota::UsedUp;
    }
    let lock = quotas.lock_of(connection);
    let _one = lock.lock().await;
    if quotas.take_held(connection, day) {
        return Quota::Granted(day); // reserved by another task meanwhile
    }
    if quotas.is_used_up(connection, day) {
        return Quota::UsedUp;
    }
    let reserved = tokio::time::timeout(
        RESERVE_WITHIN,
        ctx.store
            .reserve_quota(connection, day, quota, quota_block(quota)),
    )
    .await;
    match reserved {
        Ok(Ok(0)) => {
            quotas.note_used_up(connection, day);
            Quota::UsedUp
        }
        Ok(Ok(granted)) => {
            quotas.add_held(connection, day, granted - 1);
            Quota::Granted(day)
        }
        Ok(Err(err)) => Quota::Unknown(crate::error_chain(&err)),
        Err(_) => Quota::Unknown(format!("no answer within {RESERVE_WITHIN:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("a date")
    }

    #[test]
    fn held_calls_serve_their_own_day_only() {
        let quotas = Quotas::default();
        quotas.add_held("c", day("2026-12-02"), 2);
        assert!(quotas.take_held("c", day("2026-12-02")));
        assert!(
            !quotas.take_held("c", day("2026-12-03")),
            "not carried over"
        );
        assert!(!quotas.take_held("other", day("2026-12-02")));
        quotas.add_held("c", day("2026-12-03"), 1);
        assert!(
            !quotas.take_held("c", day("2026-12-02")),
            "yesterday's are gone"
        );
        assert!(quotas.take_held("c", day("2026-12-03")));
        assert!(!quotas.take_held("c", day("2026-12-03")));
        quotas.give_back("c", day("2026-12-03"));
        assert!(quotas.take_held("c", day("2026-12-03")));
    }

    #[test]
    fn a_used_up_day_stays_used_up_and_the_next_is_asked_again() {
        let quotas = Quotas::default();
        quotas.note_used_up("c", day("2026-12-02"));
        assert!(quotas.is_used_up("c", day("2026-12-02")));
        assert!(!quotas.is_used_up("c", day("2026-12-03")));
        assert!(!quotas.is_used_up("other", day("2026-12-02")));
    }
}
