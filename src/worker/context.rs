//! The handles every stage of the worker shares, in one struct, and what
//! they share: each connection's share of the deliveries in flight, and
//! the retry of database operations until they pass or the worker stops.

use super::batcher::BatchError;
use super::writer::{Accepts, Outcomes};
use crate::adapters::ChannelAdapter;
use crate::config::Config;
use crate::queue::BrokerLink;
use crate::storage::{StorageError, Store};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub struct Context {
    pub config: Arc<Config>,
    pub store: Store,
    /// The hot path's writes go through these, so that the work of many
    /// deliveries shares one statement.
    pub accepts: Accepts,
    pub outcomes: Outcomes,
    pub adapters: HashMap<String, Arc<dyn ChannelAdapter>>,
    /// The current broker connection and dead-letter publisher, which the
    /// supervisor replaces when it reconnects.
    pub broker: Arc<BrokerLink>,
    /// Bounds the deliveries in flight in this process (`worker.concurrency`).
    pub permits: Arc<Semaphore>,
    /// Per connection, its share of this process's deliveries in flight
    /// (see [`share`]): a delivery holds its connection's permit and a
    /// worker permit while it runs.
    pub shares: HashMap<String, Share>,
    /// Every spawned delivery task, so that shutdown can wait for them.
    pub tasks: TaskTracker,
    /// The deliveries recording an outcome: shutdown waits for them even
    /// after its grace, as each gives up at its claim's deadline.
    pub recording: TaskTracker,
    /// Wakes the due-sweeper early (a resend just made something due).
    pub sweep_now: Arc<Notify>,
    pub shutdown: CancellationToken,
    /// The calls this worker reserved of each connection's daily quota.
    pub quotas: Arc<super::quota::Quotas>,
    /// The send slots this worker reserved of each connection's rate.
    pub rates: Arc<super::rate::Rates>,
}

/// What [`Context::with_db_retry`] came to.
#[derive(Debug)]
pub enum Retried<T, E> {
    Done(T),
    /// An error that fails the same way every time: not retried.
    Permanent(E),
    /// The worker stopped first.
    Stopped,
}

/// Whether an error may pass if the operation is tried again.
pub trait Transience {
    fn is_transient(&self) -> bool;
}

impl Transience for StorageError {
    fn is_transient(&self) -> bool {
        StorageError::is_transient(self)
    }
}

impl Transience for BatchError<StorageError> {
    fn is_transient(&self) -> bool {
        match self {
            BatchError::Failed(err) => err.is_transient(),
            BatchError::Stopped => true,
        }
    }
}

/// How many deliveries of `connection` one worker runs at once: its
/// `[connection.limits] max_in_flight`, else the whole `concurrency` where it
/// is the only connection configured, else half of `concurrency` (rounded
/// up), so that one connection whose provider hangs leaves the others
/// room.
pub fn share(config: &Config, connection: &str) -> usize {
    let concurrency = config.worker.concurrency.max(1);
    let limit = config
        .connection(connection)
        .and_then(|c| c.limits.max_in_flight);
    match limit {
        Some(n) => n as usize,
        None if config.connections.len() <= 1 => concurrency,
        None => concurrency.div_ceil(2),
    }
}

/// One connection's share of a worker.
pub struct Share {
    /// Its [`share`] of permits.
    pub permits: Arc<Semaphore>,
    /// Whether sends of it were left due for want of room: a delivery of it
    /// that ends then wakes the sweeper, which claims them at once.
    pub waiting: AtomicBool,
}

impl Share {
    /// A permit of this connection, if it has room now.
    pub fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Gives back `permit`, waking the sweeper when sends of this
    /// connection wait for room.
    pub fn give_back(&self, permit: OwnedSemaphorePermit, sweep_now: &Notify) {
        drop(permit);
        if self.waiting.load(Ordering::Relaxed) {
            sweep_now.notify_one();
        }
    }
}

/// A [`Share`] per configured connection.
pub fn shares(config: &Config) -> HashMap<String, Share> {
    config
        .connections
        .iter()
        .map(|c| {
            let share = Share {
                permits: Arc::new(Semaphore::new(share(config, &c.name))),
                waiting: AtomicBool::new(false),
            };
            (c.name.clone(), share)
        })
        .collect()
}

impl Context {
    /// Runs a database operation until it succeeds, fails in a way that
    /// will fail the same way every time, or the worker stops. While
    /// PostgreSQL is away, the command stays unacked in RabbitMQ and the
    /// claim stays in `sending`: nothing is lost, nothing is sent twice.
    pub async fn with_db_retry<T, E, F, Fut>(&self, what: &str, mut op: F) -> Retried<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::error::Error + Transience,
    {
        let mut delay = Duration::from_millis(100);
        loop {
            match op().await {
                Ok(value) => return Retried::Done(value),
                Err(err) if !err.is_transient() => {
                    tracing::warn!(error = %crate::error_chain(&err), "{what} failed, and would fail again: not retried");
                    return Retried::Permanent(err);
                }
                Err(err) => {
                    tracing::warn!(error = %crate::error_chain(&err), "{what} failed; retrying in {delay:?}");
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return Retried::Stopped,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}
