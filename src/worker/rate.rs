//! Rates in one worker: the send slots it reserved from each connection's
//! shared GCRA (`storage::rate`) and has not used yet (a [`SlotBook`] per
//! connection), and the admission of a delivery by its connection's rate.
//!
//! A delivery takes a slot before anything else of its call: a near one
//! (at most [`NEAR`] ahead) from the book, or from a reservation (one at a
//! time per connection; its answer lands in the book even after the
//! delivery stopped waiting for it). Without a near slot, the delivery
//! waits in the table ([`rate::deferred`]) and holds no permit. With one, it
//! takes its daily quota, and its adapter's message request waits at the
//! [`Gate`] for the slot's time, checks that it is at most ε late, and
//! leaves; a slot missed is given up and another taken. A slot taken and
//! not used goes back to the book.

use super::context::Context;
pub use super::gate::Gate;
use crate::domain::rate::{self, Gcra, Micros, NEAR, due_before, micros, micros_of};
use crate::domain::slots::SlotBook;
use crate::domain::{Limits, Outcome, WaitReason};
use crate::metrics;
use crate::storage::Store;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Per connection, the slots this worker holds.
#[derive(Default)]
pub struct Rates {
    books: Mutex<HashMap<String, SlotBook>>,
    /// One reservation at a time per connection.
    reserving: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A delivery's send slot.
pub enum Slot {
    /// A near slot, at this time.
    Near(Micros),
    /// None near: the delivery waits in the table until then.
    Far(DateTime<Utc>),
    /// PostgreSQL did not say.
    Unknown(String),
}

/// How long a reservation may wait for PostgreSQL.
const RESERVE_WITHIN: Duration = Duration::from_secs(2);
/// How often a delivery tries again when the slots reserved for it were
/// taken by others, or its slot was missed.
pub(super) const TRIES: usize = 3;

pub(super) fn now_us() -> Micros {
    micros_of(Utc::now())
}

impl Rates {
    fn books(&self) -> MutexGuard<'_, HashMap<String, SlotBook>> {
        self.books.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the book alone can say at `now`: a near slot, or that
    /// PostgreSQL has none near (the delivery waits for the slot it
    /// expects).
    fn known(&self, connection: &str, gcra: &Gcra, now: Micros) -> Option<Slot> {
        let mut books = self.books();
        let book = books.get_mut(connection)?;
        if let Some(at) = book.take(now) {
            return Some(Slot::Near(at));
        }
        book.is_full(now)
            .then(|| Slot::Far(due_before(book.defer(now, gcra.spacing), now)))
    }

    /// A delivery without a near slot: it waits for the slot it expects.
    fn defer(&self, connection: &str, gcra: &Gcra, now: Micros) -> Slot {
        let mut books = self.books();
        let book = books.entry(connection.to_owned()).or_default();
        Slot::Far(due_before(book.defer(now, gcra.spacing), now))
    }

    fn note(&self, connection: &str, reservation: &rate::Reservation, want: u64) {
        let mut books = self.books();
        let book = books.entry(connection.to_owned()).or_default();
        book.add(reservation.run);
        if reservation.run.count < want {
            book.note_full(reservation.next_free);
        }
    }

    /// Keeps a slot taken and not used for another call.
    pub(super) fn give_back(&self, connection: &str, at: Micros) {
        let mut books = self.books();
        books
            .entry(connection.to_owned())
            .or_default()
            .give_back(at);
    }

    fn lock_of(&self, connection: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .reserving
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        locks.entry(connection.to_owned()).or_default().clone()
    }
}

/// A send slot of `connection` for a delivery now.
pub async fn slot(rates: &Arc<Rates>, store: &Store, connection: &str, gcra: Gcra) -> Slot {
    if let Some(known) = rates.known(connection, &gcra, now_us()) {
        return known;
    }
    let lock = rates.lock_of(connection);
    let Ok(_one) = tokio::time::timeout(RESERVE_WITHIN, lock.lock()).await else {
        return Slot::Unknown(format!("another reservation took over {RESERVE_WITHIN:?}"));
    };
    for tried in 0..=TRIES {
        if let Some(known) = rates.known(connection, &gcra, now_us()) {
            return known; // reserved, or found full, by another task meanwhile
        }
        if tried == TRIES {
            break;
        }
        // The reservation runs on its own: slots granted after this call
        // stopped waiting for them are still this worker's to use.
        let want = gcra.block();
        let reserving = tokio::spawn({
            let (rates, store, connection) = (rates.clone(), store.clone(), connection.to_owned());
            async move {
                let granted = store
                    .reserve_rate(&connection, &gcra, want, micros(NEAR))
                    .await;
                if let Ok(reservation) = &granted {
                    rates.note(&connection, reservation, want);
                }
                granted
                    .map(|r| r.run.count)
                    .map_err(|err| crate::error_chain(&err))
            }
        });
        match tokio::time::timeout(RESERVE_WITHIN, reserving).await {
            // None near: whatever the clocks say of the book's note.
            Ok(Ok(Ok(0))) => return rates.defer(connection, &gcra, now_us()),
            Ok(Ok(Ok(_))) => {}
            Ok(Ok(Err(why))) => return Slot::Unknown(why),
            Ok(Err(err)) => return Slot::Unknown(format!("the reservation ended: {err}")),
            Err(_) => return Slot::Unknown(format!("no answer within {RESERVE_WITHIN:?}")),
        }
    }
    Slot::Unknown("the slots reserved were taken by others".into())
}

/// The rate's part of a delivery's admission: where its connection has a
/// rate, the gate its call passes (holding a near slot), or, without a
/// near slot, the outcome it waits in the table with.
pub async fn admit(
    ctx: &Context,
    connection: &str,
    limits: &Limits,
) -> Result<Option<Arc<Gate>>, Outcome> {
    let Some(gcra) = Gcra::of(limits) else {
        return Ok(None);
    };
    match slot(&ctx.rates, &ctx.store, connection, gcra).await {
        Slot::Near(at) => Ok(Some(Arc::new(Gate::new(
            ctx.rates.clone(),
            ctx.store.clone(),
            connection,
            gcra,
            at,
        )))),
        Slot::Far(until) => {
            tracing::debug!(%until, "no send slot of the connection's rate soon; waiting, no call");
            metrics::record_deferral(connection, WaitReason::Rate.as_str());
            Err(rate::deferred(until))
        }
        Slot::Unknown(why) => {
            tracing::warn!(
                "the rate's slots could not be reserved ({why}); trying again shortly, no call"
            );
            let again = Utc::now() + chrono::Duration::seconds(1);
            Err(Outcome::wait(again, Some(WaitReason::Retry)).refunded())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_short_of_its_want_sends_the_next_deliveries_to_wait() {
        let rates = Rates::default();
        let gcra = Gcra::new(5.0, 1, micros(rate::LATENESS));
        let now = now_us();
        // Three slots granted of four asked (0, 220 and 440 ms): PostgreSQL
        // has none more within 500 ms.
        let granted = gcra.reserve(now, now, 4, micros(NEAR));
        assert_eq!(granted.run.count, 3, "{granted:?}");
        rates.note("c", &granted, 4);
        for k in 0..3 {
            let near = rates.known("c", &gcra, now);
            assert!(matches!(near, Some(Slot::Near(at)) if at == granted.run.at(k)));
        }
        let Some(Slot::Far(until)) = rates.known("c", &gcra, now) else {
            panic!("full: no statement, a wait");
        };
        assert_eq!(until, due_before(granted.next_free, now));
        rates.give_back("c", now);
        assert!(matches!(rates.known("c", &gcra, now), Some(Slot::Near(_))));
        assert!(
            rates.known("other", &gcra, now).is_none(),
            "asks PostgreSQL"
        );
    }
}
