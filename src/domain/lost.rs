//! What a claim becomes when its worker was lost mid-call (its sending
//! lease ran out): the lost call is a `retryable` attempt, and the delivery
//! waits for its retry or, on its round's last attempt, fails.

use super::outcome::{AttemptRecord, Outcome};
use super::reasons::{AttemptOutcome, WaitReason, prefix};
use super::retry::{RetryDecision, RetryPolicy};
use chrono::{DateTime, Utc};

/// The error the lost call's attempt row keeps.
pub const LOST_CALL: &str =
    "no answer recorded: the worker was lost during the call (sending lease expired)";

/// The outcome of a claim made at `claimed_at` for attempt `attempts` whose
/// worker was lost, taken back at `now`; `unit_random` places its retry's
/// jitter.
pub fn lost_claim(
    policy: &RetryPolicy,
    attempts: u32,
    claimed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    unit_random: f64,
) -> Outcome {
    let attempt = AttemptRecord {
        started_at: claimed_at,
        finished_at: now,
        http_status: None,
        outcome: AttemptOutcome::Retryable,
        error: Some(LOST_CALL.to_owned()),
    };
    let outcome = match policy.next_attempt(attempts, None, now, unit_random) {
        RetryDecision::RetryAt(at) => Outcome::wait(at, Some(WaitReason::Retry)),
        RetryDecision::GiveUp => Outcome::fail(format!(
            "{}: worker lost during the call",
            prefix::ATTEMPTS_EXHAUSTED
        )),
    };
    outcome.with_attempt(attempt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DeliveryStatus;

    #[test]
    fn a_lost_call_is_retried_until_the_rounds_last_attempt() {
        let policy = RetryPolicy::default();
        let now = Utc::now();
        let o = lost_claim(&policy, 1, now, now, 0.5);
        assert_eq!(o.status, DeliveryStatus::WaitForSending);
        assert_eq!(o.wait_reason, Some(WaitReason::Retry));
        assert_eq!(
            o.attempt.map(|a| a.outcome),
            Some(AttemptOutcome::Retryable)
        );
        let o = lost_claim(&policy, policy.max_attempts, now, now, 0.5);
        assert_eq!(o.status, DeliveryStatus::Failed);
        assert_eq!(
            o.fail_reason.as_deref(),
            Some("attempts exhausted: worker lost during the call")
        );
    }
}
