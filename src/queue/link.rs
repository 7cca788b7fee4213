//! A worker's link to the broker: the connection its supervisor opened last
//! and the publisher for dead letters on it, replaced on every reconnect,
//! whether the consumer runs on it, and whether dead letters get through.
//! `/readyz` reads it; the tasks that dead-letter take the current
//! publisher from it.

use super::{CONNECT_TIMEOUT, Publisher, QueueError};
use lapin::Connection;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// How long one failed dead letter keeps the worker not ready when nothing
/// since has tried again (another worker may have dead-lettered it).
pub const FAILURE_HOLDS: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct Session {
    connection: Arc<Connection>,
    publisher: Publisher,
}

pub struct BrokerLink {
    session: RwLock<Option<Session>>,
    /// One reopen of the publisher's channel at a time.
    reopening: tokio::sync::Mutex<()>,
    /// Counts the connections attached so far.
    generation: AtomicU64,
    /// Whether the consumer is running; the supervisor sets it.
    consuming: AtomicBool,
    born: Instant,
    /// Failed dead letters since the last one that got through.
    failures: AtomicU32,
    /// When the last of them failed, in milliseconds since `born`.
    failed_at: AtomicU64,
}

impl Default for BrokerLink {
    fn default() -> Self {
        BrokerLink {
            session: RwLock::new(None),
            reopening: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            consuming: AtomicBool::new(false),
            born: Instant::now(),
            failures: AtomicU32::new(0),
            failed_at: AtomicU64::new(0),
        }
    }
}

impl BrokerLink {
    fn current(&self) -> Option<Session> {
        self.session
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes `connection` and `publisher` (one of its channels) the current
    /// ones. Dead letters that failed on an earlier connection (perhaps
    /// because it was going) no longer count: the next one tells.
    pub fn attach(&self, connection: Arc<Connection>, publisher: Publisher) {
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        *self.session.write().unwrap_or_else(PoisonError::into_inner) = Some(Session {
            connection,
            publisher,
        });
    }

    /// Which connection is the current one: a delivery taken on an earlier
    /// one can no longer be acked.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Forgets the current connection (it was lost, or the worker stops).
    pub fn detach(&self) {
        *self.session.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Records whether the consumer is running.
    pub fn set_consuming(&self, consuming: bool) {
        self.consuming.store(consuming, Ordering::Relaxed);
    }

    /// Whether the consumer is running.
    pub fn consuming(&self) -> bool {
        self.consuming.load(Ordering::Relaxed)
    }

    /// Whether the current connection is up.
    pub fn connected(&self) -> bool {
        self.current()
            .is_some_and(|s| s.connection.status().connected())
    }

    /// Whether the publisher's channel is open on a connection that is up.
    pub fn publisher_open(&self) -> bool {
        self.current()
            .is_some_and(|s| s.connection.status().connected() && s.publisher.is_open())
    }

    /// The current publisher, on a new channel if the broker closed the
    /// last one.
    pub async fn publisher(&self) -> Result<Publisher, QueueError> {
        let session = self.current().ok_or(QueueError::NotConnected)?;
        if session.publisher.is_open() {
            return Ok(session.publisher);
        }
        let _one_at_a_time = self.reopening.lock().await;
        // Another task may have reopened it meanwhile, or the link changed.
        let session = self.current().ok_or(QueueError::NotConnected)?;
        if session.publisher.is_open() {
            return Ok(session.publisher);
        }
        if !session.connection.status().connected() {
            return Err(QueueError::NotConnected);
        }
        let reopened = tokio::time::timeout(
            CONNECT_TIMEOUT,
            session.publisher.reopen(&session.connection),
        )
        .await
        .map_err(|_| QueueError::Timeout(CONNECT_TIMEOUT))??;
        let mut current = self.session.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(now) = current.as_mut()
            && Arc::ptr_eq(&now.connection, &session.connection)
        {
            now.publisher = reopened.clone();
        }
        tracing::info!("reopened the RabbitMQ publisher channel");
        Ok(reopened)
    }

    /// Counts a dead letter that did not get through; returns how many
    /// failed in a row.
    pub fn dead_letter_failed(&self) -> u32 {
        let millis = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.failed_at.store(millis.max(1), Ordering::Relaxed);
        self.failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1)
    }

    /// Failed dead letters since the last one that got through.
    pub fn dead_letter_failures(&self) -> u32 {
        self.failures.load(Ordering::Relaxed)
    }

    /// A dead letter got through.
    pub fn dead_letter_sent(&self) {
        self.failures.store(0, Ordering::Relaxed);
    }

    /// Whether dead letters are failing: the last one did not get through,
    /// less than [`FAILURE_HOLDS`] ago.
    pub fn dead_letters_failing(&self) -> bool {
        self.dead_letter_failed_within(FAILURE_HOLDS)
    }

    /// Whether the last dead letter did not get through, less than `span` ago.
    pub fn dead_letter_failed_within(&self, span: Duration) -> bool {
        if self.failures.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let failed_at = Duration::from_millis(self.failed_at.load(Ordering::Relaxed));
        self.born.elapsed().saturating_sub(failed_at) < span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_fail_from_a_failure_until_one_gets_through() {
        let link = BrokerLink::default();
        assert!(!link.dead_letters_failing());
        assert_eq!(link.dead_letter_failed(), 1);
        assert_eq!(link.dead_letter_failed(), 2);
        assert!(link.dead_letters_failing());
        assert!(link.dead_letter_failed_within(Duration::from_secs(1)));
        assert!(!link.dead_letter_failed_within(Duration::ZERO));
        link.dead_letter_sent();
        assert_eq!(link.dead_letter_failures(), 0);
        assert!(!link.dead_letters_failing());
    }

    #[tokio::test]
    async fn without_a_connection_there_is_no_publisher_and_no_broker() {
        let link = BrokerLink::default();
        assert!(!link.connected());
        assert!(!link.consuming());
        assert!(!link.publisher_open());
        assert!(matches!(
            link.publisher().await,
            Err(QueueError::NotConnected)
        ));
        assert_eq!(link.generation(), 0);
    }
}
