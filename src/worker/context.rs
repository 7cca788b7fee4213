//! The handles every stage of the worker shares, in one struct.

use super::batcher::Batcher;
use crate::adapters::ChannelAdapter;
use crate::config::Config;
use crate::domain::SendCommand;
use crate::queue::Publisher;
use crate::storage::{AcceptOutcome, Claimed, Outcome, StorageError, Store};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Accepted sends, as sets (see [`Store::accept_sends`]).
pub type Accepts = Batcher<Arc<SendCommand>, AcceptOutcome, StorageError>;
/// Outcomes and attempt rows, as sets (see [`Store::record_outcomes`]).
pub type Outcomes = Batcher<Arc<(Claimed, Outcome)>, Option<DateTime<Utc>>, StorageError>;

/// How many rows one set statement carries at most.
pub const MAX_SET: usize = 500;
/// How many sets (accepts and outcomes together) may be in PostgreSQL at once.
pub const SETS_IN_FLIGHT: usize = 2;

pub struct Context {
    pub config: Arc<Config>,
    pub store: Store,
    /// The hot path's writes go through these, so that the work of many
    /// deliveries shares one statement.
    pub accepts: Accepts,
    pub outcomes: Outcomes,
    pub adapters: HashMap<String, Arc<dyn ChannelAdapter>>,
    pub publisher: Publisher,
    /// Bounds the deliveries in flight in this process (`worker.concurrency`).
    pub permits: Arc<Semaphore>,
    /// Every spawned delivery task, so that shutdown can wait for them.
    pub tasks: TaskTracker,
    /// Wakes the due-sweeper early (a resend just made something due).
    pub sweep_now: Notify,
    pub shutdown: CancellationToken,
    /// Whether the consumer is running, for `/readyz`.
    pub consuming: AtomicBool,
}

/// The two batchers of the hot path, over `store`.
pub fn batchers(store: &Store) -> (Accepts, Outcomes) {
    // Both kinds share the slots: fewer statements at once in PostgreSQL
    // make larger sets, and each set's cost is mostly per statement.
    let slots = Arc::new(Semaphore::new(SETS_IN_FLIGHT));
    let for_accepts = store.clone();
    let accepts = Batcher::spawn_sharing(
        MAX_SET,
        slots.clone(),
        move |commands: Vec<Arc<SendCommand>>| {
            let store = for_accepts.clone();
            async move { store.accept_sends(&commands, Utc::now()).await }
        },
    );
    let for_outcomes = store.clone();
    let outcomes = Batcher::spawn_sharing(
        MAX_SET,
        slots,
        move |items: Vec<Arc<(Claimed, Outcome)>>| {
            let store = for_outcomes.clone();
            async move {
                let pairs: Vec<(&Claimed, &Outcome)> =
                    items.iter().map(|item| (&item.0, &item.1)).collect();
                store.record_outcomes(&pairs).await
            }
        },
    );
    (accepts, outcomes)
}

impl Context {
    pub fn is_consuming(&self) -> bool {
        self.consuming.load(Ordering::Relaxed)
    }

    /// Runs a database operation until it succeeds or the worker stops.
    /// While PostgreSQL is away, the command stays unacked in RabbitMQ and
    /// the claim stays in `sending`: nothing is lost, nothing is sent twice.
    pub async fn with_db_retry<T, E, F, Fut>(&self, what: &str, mut op: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::error::Error,
    {
        let mut delay = Duration::from_millis(100);
        loop {
            match op().await {
                Ok(value) => return Some(value),
                Err(err) => {
                    tracing::warn!(error = %crate::error_chain(&err), "{what} failed; retrying in {delay:?}");
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}
