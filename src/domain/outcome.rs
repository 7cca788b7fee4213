//! Where a claimed delivery goes next ([`Outcome`]) and the provider call
//! it keeps ([`AttemptRecord`]). Every outcome starts in `sending` and
//! moves by one event of the state machine: its status is
//! [`transition`]'s answer, never set by hand.

use super::reasons::{AttemptOutcome, EventKind, WaitReason};
use super::status::{DeliveryEvent, DeliveryStatus, transition};
use chrono::{DateTime, Utc};

/// One provider call, as `delivery_attempts` keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub http_status: Option<u16>,
    pub outcome: AttemptOutcome,
    pub error: Option<String>,
}

/// Where a claimed delivery goes next.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// What happened to it: `Delivered`, `Retry` or `Fail`.
    pub event: DeliveryEvent,
    /// Where the event takes a delivery in `sending`.
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why it waits; none for a delivery due at once for want of room.
    pub wait_reason: Option<WaitReason>,
    pub fail_reason: Option<String>,
    pub provider_status: Option<i16>,
    pub remote_id: Option<String>,
    /// No attempt used: the one taken at claim time is given back.
    pub refund_attempt: bool,
    /// The provider call, if one was made.
    pub attempt: Option<AttemptRecord>,
}

impl Outcome {
    fn after(event: DeliveryEvent) -> Outcome {
        Outcome {
            event,
            // Claimed deliveries are in `sending`, which each of the
            // constructors' events leaves (the property test over
            // `decide` and `admit` checks every outcome they make).
            status: transition(DeliveryStatus::Sending, event).unwrap_or(DeliveryStatus::Sending),
            next_attempt_at: None,
            wait_reason: None,
            fail_reason: None,
            provider_status: None,
            remote_id: None,
            refund_attempt: false,
            attempt: None,
        }
    }

    /// The provider took the message.
    pub fn delivered(attempt: AttemptRecord) -> Outcome {
        Outcome {
            attempt: Some(attempt),
            ..Outcome::after(DeliveryEvent::Delivered)
        }
    }

    /// Back to waiting until `until`, for `reason`.
    pub fn wait(until: DateTime<Utc>, reason: Option<WaitReason>) -> Outcome {
        Outcome {
            next_attempt_at: Some(until),
            wait_reason: reason,
            ..Outcome::after(DeliveryEvent::Retry)
        }
    }

    /// Failed for good, for `reason`.
    pub fn fail(reason: impl Into<String>) -> Outcome {
        Outcome {
            fail_reason: Some(reason.into()),
            ..Outcome::after(DeliveryEvent::Fail)
        }
    }

    /// The same, using no attempt: the one taken at claim time is given back.
    pub fn refunded(self) -> Outcome {
        Outcome {
            refund_attempt: true,
            ..self
        }
    }

    /// The same, keeping the call that was made.
    pub fn with_attempt(self, attempt: AttemptRecord) -> Outcome {
        Outcome {
            attempt: Some(attempt),
            ..self
        }
    }

    /// The audit event this outcome records, where no attempt row tells
    /// it: a delivery held back without a call waits or fails.
    pub fn audit(&self) -> Option<EventKind> {
        match (&self.attempt, self.status) {
            (Some(_), _) => None,
            (None, DeliveryStatus::Failed) => Some(EventKind::Failed),
            (None, _) => Some(EventKind::Deferred),
        }
    }
}
