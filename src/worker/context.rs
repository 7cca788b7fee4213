//! The handles every stage of the worker shares, in one struct.

use crate::adapters::ChannelAdapter;
use crate::config::Config;
use crate::queue::Publisher;
use crate::storage::Store;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub struct Context {
    pub config: Arc<Config>,
    pub store: Store,
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
