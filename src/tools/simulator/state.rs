//! State shared by every provider's handlers and the control endpoints: the
//! configuration, the latency, the book (scripts, journal and each twin's
//! own state), and the shutdown signal that ends waits early; and the
//! playing of a scripted step, whose waits that signal ends.

use super::books::{CallbackBook, ChatwootBook, Comm100Book, HighqBook};
use super::config::SimConfig;
use super::journal::{Call, Journal};
use super::onebox_book::OneboxBook;
use super::script::{DEFAULT_PROVIDER_STATUS, HANG, Played, Scripts, Step};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Scripts, journal and the providers' own state under one lock: a request
/// is checked, takes its step and is logged in one short critical section.
#[derive(Debug, Default)]
pub struct Book {
    pub scripts: Scripts,
    pub journal: Journal,
    pub onebox: OneboxBook,
    pub chatwoot: ChatwootBook,
    pub comm100: Comm100Book,
    pub highq: HighqBook,
    /// Konnek's status callbacks: the switch and the pushes made.
    pub callbacks: CallbackBook,
    /// Providers that answer every send with one step, whatever the
    /// scripts say (a provider down for a while: a 503, a hang), by
    /// provider name. Konnek and Chatwoot heed it.
    pub outages: HashMap<String, Step>,
}

impl Book {
    /// Forgets scripts, the journal, the counters and Comm100's messages;
    /// lifts OneBox's quota and hours; switches HighQ's forced XML off.
    pub fn reset(&mut self) {
        self.scripts.clear();
        self.journal.clear();
        self.onebox.reset();
        self.comm100 = Comm100Book::default();
        self.callbacks.pushed.clear();
        self.highq.reset();
        self.outages.clear();
    }

    /// The step every send to `provider` gets while it is down.
    pub fn outage(&self, provider: &str) -> Option<Step> {
        if self.outages.is_empty() {
            return None;
        }
        self.outages.get(provider).cloned()
    }
}

pub struct Shared {
    pub config: SimConfig,
    latency_nanos: AtomicU64,
    book: Mutex<Book>,
    /// The client that pushes status callbacks.
    pub http: reqwest::Client,
    /// Cancelled to stop the server; ends every pending wait.
    pub shutdown: CancellationToken,
    /// Cancelled once the server has stopped.
    pub stopped: CancellationToken,
}

impl Shared {
    pub fn new(config: SimConfig) -> Shared {
        let mut book = Book::default();
        book.onebox.lifetime = config.onebox_token_lifetime;
        book.onebox.hours = config.onebox_hours;
        book.highq = HighqBook::new(&config.highq_refresh_token);
        book.highq.lifetime = config.highq_token_lifetime;
        let shared = Shared {
            latency_nanos: AtomicU64::new(0),
            book: Mutex::new(book),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            shutdown: CancellationToken::new(),
            stopped: CancellationToken::new(),
            config,
        };
        shared.set_latency(shared.config.latency);
        shared
    }

    /// The book; a handler that panicked while holding it left nothing
    /// half-done that matters to a fake, so poisoning is ignored.
    pub fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed))
    }

    pub fn set_latency(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency_nanos.store(nanos, Ordering::Relaxed);
    }

    /// Waits `wait`; false when the simulator is shutting down meanwhile.
    pub async fn pause(&self, wait: Duration) -> bool {
        if wait.is_zero() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => true,
            _ = self.shutdown.cancelled() => false,
        }
    }

    /// Waits as `step` says (a delay, a hang: shutting down ends the wait),
    /// then tells what to answer.
    pub async fn play(&self, step: Step) -> Played {
        let success = Played::Success {
            provider_status: DEFAULT_PROVIDER_STATUS,
        };
        match step {
            Step::Ok { provider_status } => Played::Success { provider_status },
            Step::OkWithId { .. } => success,
            Step::Delay { millis } => {
                if self.pause(Duration::from_millis(millis)).await {
                    success
                } else {
                    Played::Unavailable
                }
            }
            Step::Hang => {
                self.pause(HANG).await;
                Played::Unavailable
            }
            Step::Http {
                status,
                retry_after,
            } => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                Played::Http {
                    status,
                    reason: status.canonical_reason().unwrap_or("Error"),
                    retry_after,
                }
            }
            Step::MetaFalse { code, message } => Played::Refused { code, message },
            Step::Garbage => Played::Garbage,
        }
    }
}

/// A call in progress: logged as a [`Call`] when dropped, which is when its
/// handler returns its answer, or when the server drops the handler because
/// the caller went away (a killed worker's calls end then).
pub struct CallSpan {
    shared: Arc<Shared>,
    id: String,
    started: DateTime<Utc>,
}

impl CallSpan {
    pub fn start(shared: &Arc<Shared>, id: &str, started: DateTime<Utc>) -> CallSpan {
        CallSpan {
            shared: Arc::clone(shared),
            id: id.to_owned(),
            started,
        }
    }
}

impl Drop for CallSpan {
    fn drop(&mut self) {
        let call = Call {
            id: std::mem::take(&mut self.id),
            started: self.started,
            finished: Utc::now(),
        };
        self.shared.book().journal.end_call(call);
    }
}
