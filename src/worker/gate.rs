//! The gate a delivery's message requests pass (`adapters::gate`): the
//! first at the slot its admission took (see [`super::rate`]), any other
//! (a repeat with a renewed token) at a slot of its own. It waits for the
//! slot's time, checks that the clock is at most ε past it, and lets the
//! request go with nothing in between; a slot missed is given up and
//! another taken, and a request without a near slot is not sent
//! (`ErrorClass::NoSlot`: the delivery waits for the rate).

use super::rate::{Rates, Slot, TRIES, now_us, slot};
use crate::adapters::{ErrorClass, ProviderError, SendGate};
use crate::domain::WaitReason;
use crate::domain::rate::{Gcra, LATENESS, Micros, due_before, may_use, micros, time_of};
use crate::metrics;
use crate::storage::Store;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The gate of one delivery's message requests: the first passes at the
/// slot its admission took, any other (a repeat with a renewed token) at a
/// slot of its own.
pub struct Gate {
    rates: Arc<Rates>,
    store: Store,
    connection: String,
    gcra: Gcra,
    /// The slot taken, until a request uses it.
    slot: Mutex<Option<Micros>>,
}

impl Gate {
    /// The gate of a delivery that took the slot at `at`.
    pub fn new(rates: Arc<Rates>, store: Store, connection: &str, gcra: Gcra, at: Micros) -> Gate {
        Gate {
            rates,
            store,
            connection: connection.to_owned(),
            gcra,
            slot: Mutex::new(Some(at)),
        }
    }

    fn held(&self) -> Option<Micros> {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Waits for the slot's time, before the call starts (its attempt's
    /// time and duration are the request's, not the wait's); the request
    /// still checks its slot at the gate.
    pub async fn ready(&self) {
        let held = *self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(at) = held {
            at_slot(at).await;
        }
    }

    /// Gives the slot back to the book, if no request used it.
    pub fn release(&self) {
        if let Some(at) = self.held() {
            self.rates.give_back(&self.connection, at);
        }
    }

    /// Refuses the request: the delivery waits until `until`.
    fn refuse(&self, until: DateTime<Utc>, why: &str) -> ProviderError {
        tracing::info!(%until, "{why}; no call");
        metrics::record_deferral(&self.connection, WaitReason::Rate.as_str());
        let message = format!("not sent: {why}");
        ProviderError::new(ErrorClass::NoSlot { until }, None, message)
    }

    async fn pass_slot(&self) -> Result<(), ProviderError> {
        for _ in 0..TRIES {
            let at = match self.held() {
                Some(at) => at,
                None => match slot(&self.rates, &self.store, &self.connection, self.gcra).await {
                    Slot::Near(at) => at,
                    Slot::Far(until) => {
                        return Err(
                            self.refuse(until, "no send slot of the connection's rate soon")
                        );
                    }
                    Slot::Unknown(why) => {
                        let again = Utc::now() + chrono::Duration::seconds(1);
                        let why = format!("the rate's slots could not be reserved ({why})");
                        return Err(self.refuse(again, &why));
                    }
                },
            };
            if at_slot(at).await {
                return Ok(());
            }
            tracing::info!(slot = %time_of(at), "a send slot was missed (more than {LATENESS:?} late); taking another");
        }
        let again = due_before(now_us() + self.gcra.spacing, now_us());
        Err(self.refuse(again, "the send slots taken were missed"))
    }
}

impl SendGate for Gate {
    fn pass(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(self.pass_slot())
    }
}

/// Waits for the slot at `at`; whether the clock, read once more as the
/// wait ends, is at most ε past it. Nothing runs after that read before
/// the request leaves.
async fn at_slot(at: Micros) -> bool {
    loop {
        let now = now_us();
        if now >= at {
            return may_use(at, now, micros(LATENESS));
        }
        let ahead = u64::try_from(at - now).unwrap_or(0);
        tokio::time::sleep(Duration::from_micros(ahead)).await;
    }
}
