//! The delivery state machine: `waitForSending → sending → success | failed`.
//!
//! Storage applies these transitions with conditional updates; this module is
//! the single statement of which ones are legal, so that storage, the worker
//! and the operator commands agree.

use std::fmt;
use std::str::FromStr;

/// Where a delivery stands. The strings are the contract's (`deliveries.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    WaitForSending,
    Sending,
    Success,
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::WaitForSending,
        DeliveryStatus::Sending,
        DeliveryStatus::Success,
        DeliveryStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::WaitForSending => "waitForSending",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Success => "success",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, DeliveryStatus::Success | DeliveryStatus::Failed)
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown delivery status {0:?} (expected waitForSending, sending, success or failed)")]
pub struct UnknownStatus(pub String);

impl FromStr for DeliveryStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// What can happen to a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryEvent {
    /// A worker claims a due delivery to call the provider.
    Claim,
    /// The provider accepted the message.
    Delivered,
    /// A retryable failure with attempts left, a deferral, or a lost worker.
    Retry,
    /// A permanent failure, attempts exhausted, expiry, or an unsupported kind.
    Fail,
    /// An operator cancels a delivery that has not been claimed.
    Cancel,
    /// An operator starts a new round of attempts.
    Resend,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a delivery in {from} cannot take {event:?}")]
pub struct InvalidTransition {
    pub from: DeliveryStatus,
    pub event: DeliveryEvent,
}

/// The one place that says which transitions are legal.
pub fn transition(
    from: DeliveryStatus,
    event: DeliveryEvent,
) -> Result<DeliveryStatus, InvalidTransition> {
    use DeliveryEvent as E;
    use DeliveryStatus as S;
    match (from, event) {
        (S::WaitForSending, E::Claim) => Ok(S::Sending),
        (S::WaitForSending, E::Cancel) => Ok(S::Failed),
        // expired or unsupported before any call
        (S::WaitForSending, E::Fail) => Ok(S::Failed),
        (S::Sending, E::Delivered) => Ok(S::Success),
        (S::Sending, E::Retry) => Ok(S::WaitForSending),
        (S::Sending, E::Fail) => Ok(S::Failed),
        (S::Success | S::Failed, E::Resend) => Ok(S::WaitForSending),
        _ => Err(InvalidTransition { from, event }),
    }
}

/// The states from which `event` is legal, for a conditional update that
/// applies it (`WHERE status = ANY(...)`).
pub fn sources(event: DeliveryEvent) -> Vec<&'static str> {
    DeliveryStatus::ALL
        .into_iter()
        .filter(|from| transition(*from, event).is_ok())
        .map(DeliveryStatus::as_str)
        .collect()
}

/// Where `event` takes a delivery, from any state it applies to (the
/// operator's events lead to one state, whatever the state they leave).
pub fn target(event: DeliveryEvent) -> Option<&'static str> {
    DeliveryStatus::ALL
        .into_iter()
        .find_map(|from| transition(from, event).ok())
        .map(DeliveryStatus::as_str)
}

/// Whether `to` can follow `from` through some event.
pub fn can_move(from: DeliveryStatus, to: DeliveryStatus) -> bool {
    use DeliveryEvent as E;
    [
        E::Claim,
        E::Delivered,
        E::Retry,
        E::Fail,
        E::Cancel,
        E::Resend,
    ]
    .into_iter()
    .any(|event| transition(from, event) == Ok(to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryStatus as S;

    #[test]
    fn every_pair_of_states() {
        // (from, to, legal)
        let table = [
            (S::WaitForSending, S::WaitForSending, false),
            (S::WaitForSending, S::Sending, true),
            (S::WaitForSending, S::Success, false),
            (S::WaitForSending, S::Failed, true),
            (S::Sending, S::WaitForSending, true),
            (S::Sending, S::Sending, false),
            (S::Sending, S::Success, true),
            (S::Sending, S::Failed, true),
            (S::Success, S::WaitForSending, true),
            (S::Success, S::Sending, false),
            (S::Success, S::Success, false),
            (S::Success, S::Failed, false),
            (S::Failed, S::WaitForSending, true),
            (S::Failed, S::Sending, false),
            (S::Failed, S::Success, false),
            (S::Failed, S::Failed, false),
        ];
        assert_eq!(table.len(), 16);
        for (from, to, legal) in table {
            assert_eq!(can_move(from, to), legal, "{from} -> {to}");
        }
    }

    #[test]
    fn events_from_each_state() {
        assert_eq!(
            transition(S::WaitForSending, DeliveryEvent::Claim),
            Ok(S::Sending)
        );
        assert_eq!(
            transition(S::Sending, DeliveryEvent::Delivered),
            Ok(S::Success)
        );
        assert_eq!(
            transition(S::Sending, DeliveryEvent::Retry),
            Ok(S::WaitForSending)
        );
        assert_eq!(
            transition(S::Failed, DeliveryEvent::Resend),
            Ok(S::WaitForSending)
        );
        assert!(transition(S::Sending, DeliveryEvent::Cancel).is_err());
        assert!(transition(S::Success, DeliveryEvent::Cancel).is_err());
        assert!(transition(S::Sending, DeliveryEvent::Claim).is_err());
        assert!(transition(S::WaitForSending, DeliveryEvent::Resend).is_err());
    }

    #[test]
    fn an_operator_resends_settled_deliveries_and_cancels_waiting_ones() {
        assert_eq!(sources(DeliveryEvent::Resend), ["success", "failed"]);
        assert_eq!(sources(DeliveryEvent::Cancel), ["waitForSending"]);
        assert_eq!(target(DeliveryEvent::Resend), Some("waitForSending"));
        assert_eq!(target(DeliveryEvent::Cancel), Some("failed"));
    }

    #[test]
    fn status_strings_round_trip() {
        for status in S::ALL {
            assert_eq!(status.as_str().parse::<S>(), Ok(status));
        }
        assert!("Sending".parse::<S>().is_err());
    }
}
