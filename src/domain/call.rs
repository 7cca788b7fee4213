//! What a provider call came to, as the adapters classify it: [`Sent`], or
//! a [`ProviderError`] with its [`ErrorClass`]. The decisions
//! ([`super::decide`]) act on the class, never on a provider's text.

use super::ProviderStatus;
use super::reasons::AttemptOutcome;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A provider accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub http_status: u16,
    pub remote_id: Option<String>,
    pub provider_status: Option<ProviderStatus>,
}

/// What a failed call means for its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try again later, by the retry schedule (timeouts, 5xx, network errors).
    Transient,
    /// Trying again cannot help: fail the delivery.
    Permanent,
    /// The provider asked us to slow down; retry after its delay, if it gave one.
    RateLimited { retry_after: Option<Duration> },
    /// The credentials expired; renew them and repeat the call.
    AuthExpired,
    /// The provider's quota or sending hours are closed: defer, using no attempt.
    QuotaClosed,
    /// The message was not sent: the delivery's time ran short before the
    /// send could start (see [`super::budget`]). No provider holds it, so
    /// it waits again at once for a fresh claim, using no attempt.
    NotSent,
    /// The message was not sent: its connection's rate had no send slot
    /// for it soon enough (see [`super::rate`]). No provider holds it; it
    /// waits until `until` with `wait_reason` `rate`, using no attempt.
    NoSlot { until: DateTime<Utc> },
}

impl ErrorClass {
    /// The attempt outcome (`delivery_attempts.outcome`, the metrics'
    /// `result`) of a call that failed this way.
    pub fn outcome(self) -> AttemptOutcome {
        match self {
            ErrorClass::Transient | ErrorClass::RateLimited { .. } | ErrorClass::AuthExpired => {
                AttemptOutcome::Retryable
            }
            ErrorClass::Permanent => AttemptOutcome::Permanent,
            ErrorClass::QuotaClosed | ErrorClass::NotSent | ErrorClass::NoSlot { .. } => {
                AttemptOutcome::Deferred
            }
        }
    }
}

/// A failed provider call. `message` never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub class: ErrorClass,
    pub http_status: Option<u16>,
    pub message: String,
    /// The provider's id of a message it created even though the call
    /// failed (it holds the message, marked failed): kept, so that a resend
    /// can act on that message instead of creating another.
    pub remote_id: Option<String>,
}

impl ProviderError {
    pub fn new(class: ErrorClass, http_status: Option<u16>, message: impl Into<String>) -> Self {
        ProviderError {
            class,
            http_status,
            message: message.into(),
            remote_id: None,
        }
    }

    /// The same error, naming the message the provider created.
    pub fn with_remote_id(mut self, remote_id: Option<String>) -> Self {
        self.remote_id = remote_id;
        self
    }
}
