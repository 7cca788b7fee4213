//! Daily quotas in one worker: the calls it reserved from PostgreSQL's
//! shared count (`storage::quota`) and has not made yet, per connection.
//! A call takes one; when none is left, the worker reserves the next block
//! (one at a time per connection, so a wave of calls costs one statement);
//! when PostgreSQL grants none, the day's quota is used up, and this
//! worker asks again only a second later. A reservation whose answer
//! comes late still lands in the book; a call taken and not made is given
//! back to PostgreSQL, for every worker.

use super::context::Context;
use crate::domain::Limits;
use crate::domain::limits::quota_block;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Per connection, the calls this worker holds for a day.
#[derive(Default)]
pub struct Quotas {
    held: Mutex<HashMap<String, (NaiveDate, u64)>>,
    /// Per connection, the last day PostgreSQL granted no more calls for,
    /// and when: for [`USED_UP_FOR`] this worker does not ask again (a
    /// call given back may free one later).
    used_up: Mutex<HashMap<String, (NaiveDate, Instant)>>,
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
/// How long a used-up day is taken as used up without asking again.
const USED_UP_FOR: Duration = Duration::from_secs(1);

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
        if day < entry.0 {
            return; // a past day's call is worth nothing now
        }
        if entry.0 != day {
            *entry = (day, 0); // a day's calls are not carried into the next
        }
        entry.1 += n;
    }

    fn is_used_up(&self, connection: &str, day: NaiveDate) -> bool {
        let used_up = self.used_up.lock().unwrap_or_else(PoisonError::into_inner);
        used_up
            .get(connection)
            .is_some_and(|(d, at)| *d == day && at.elapsed() < USED_UP_FOR)
    }

    /// What the book alone can say: a call held for `day`, or the day
    /// found used up a moment ago.
    fn known(&self, connection: &str, day: NaiveDate) -> Option<Quota> {
        if self.take_held(connection, day) {
            Some(Quota::Granted(day))
        } else if self.is_used_up(connection, day) {
            Some(Quota::UsedUp)
        } else {
            None
        }
    }

    fn note_used_up(&self, connection: &str, day: NaiveDate) {
        let mut used_up = self.used_up.lock().unwrap_or_else(PoisonError::into_inner);
        used_up.insert(connection.to_owned(), (day, Instant::now()));
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
    if let Some(known) = quotas.known(connection, day) {
        return known;
    }
    let lock = quotas.lock_of(connection);
    let Ok(_one) = tokio::time::timeout(RESERVE_WITHIN, lock.lock()).await else {
        return Quota::Unknown(format!("another reservation took over {RESERVE_WITHIN:?}"));
    };
    if let Some(known) = quotas.known(connection, day) {
        return known; // reserved, or found used up, by another task meanwhile
    }
    // The reservation runs on its own: a grant that comes after this call
    // stopped waiting for it is still this worker's to use, never lost.
    let reserving = tokio::spawn({
        let (quotas, store, connection) =
            (ctx.quotas.clone(), ctx.store.clone(), connection.to_owned());
        async move {
            let granted = store
                .reserve_quota(&connection, day, quota, quota_block(quota))
                .await;
            match &granted {
                Ok(0) => quotas.note_used_up(&connection, day),
                Ok(n) => quotas.add_held(&connection, day, *n),
                Err(_) => {}
            }
            granted.map_err(|err| crate::error_chain(&err))
        }
    });
    match tokio::time::timeout(RESERVE_WITHIN, reserving).await {
        Ok(Ok(Ok(_))) if quotas.take_held(connection, day) => Quota::Granted(day),
        Ok(Ok(Ok(0))) => Quota::UsedUp,
        // Granted, and taken by this worker's other calls meanwhile.
        Ok(Ok(Ok(_))) => Quota::Unknown("the calls reserved were taken by others".into()),
        Ok(Ok(Err(why))) => Quota::Unknown(why),
        Ok(Err(err)) => Quota::Unknown(format!("the reservation ended: {err}")),
        Err(_) => Quota::Unknown(format!("no answer within {RESERVE_WITHIN:?}")),
    }
}

/// Gives back to every worker a call taken for `day` and not made.
pub async fn give_back(ctx: &Context, connection: &str, day: NaiveDate) {
    let returned =
        tokio::time::timeout(RESERVE_WITHIN, ctx.store.return_quota(connection, day)).await;
    match returned {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            tracing::warn!(error = %crate::error_chain(&err), "a call of the daily quota not made could not be given back; it counts as made")
        }
        Err(_) => tracing::warn!(
            "giving back a call of the daily quota got no answer within {RESERVE_WITHIN:?}; it may count as made"
        ),
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
        quotas.add_held("c", day("2026-12-03"), 1);
        quotas.add_held("c", day("2026-12-02"), 1); // a late one of yesterday
        assert!(quotas.take_held("c", day("2026-12-03")), "today's kept");
        assert!(!quotas.take_held("c", day("2026-12-02")));
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
