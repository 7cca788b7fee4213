//! What a provider's answer means for a delivery: a pure function from the
//! call's result, the connection's retry policy and limits, and the time
//! to the next [`Outcome`].

use super::call::{ErrorClass, ProviderError, Sent};
use super::limits::{self, Limits};
use super::outcome::{AttemptRecord, Outcome};
use super::rate;
use super::reasons::{AttemptOutcome, WaitReason, prefix};
use super::retry::{RetryDecision, RetryPolicy};
use chrono::{DateTime, Utc};

/// The longest `fail_reason` or attempt error kept.
const MAX_REASON: usize = 500;

fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_REASON) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The call as it happened.
pub struct Call {
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub result: Result<Sent, ProviderError>,
}

/// A quota refusal waits until the connection's pause ends (see
/// [`Limits::quota_paused_until`]); the worker pauses the connection
/// until the same time.
pub fn decide(call: Call, policy: &RetryPolicy, limits: &Limits, unit_random: f64) -> Outcome {
    let now = call.finished_at;
    let record = |outcome, http_status, error: Option<String>| AttemptRecord {
        started_at: call.started_at,
        finished_at: call.finished_at,
        http_status,
        outcome,
        error,
    };
    let error = match call.result {
        Ok(sent) => {
            return Outcome {
                provider_status: sent.provider_status.map(|s| s.get()),
                remote_id: sent.remote_id,
                ..Outcome::delivered(record(
                    AttemptOutcome::Success,
                    Some(sent.http_status),
                    None,
                ))
            };
        }
        Err(error) => error,
    };
    if error.class == ErrorClass::NotSent {
        // No provider holds the message: no attempt row, none used, and a
        // fresh claim (with the whole lease ahead of it) at once.
        tracing::info!("not sent: {}", error.message);
        return Outcome::wait(now, Some(WaitReason::Retry)).refunded();
    }
    if let ErrorClass::NoSlot { until } = error.class {
        // Held back by the connection's rate before its request left.
        return rate::deferred(until.max(now));
    }
    let message = clip(&error.message);
    let attempt = record(
        error.class.outcome(),
        error.http_status,
        Some(message.clone()),
    );
    let retry = |retry_after| match policy.next_attempt(call.attempt, retry_after, now, unit_random)
    {
        RetryDecision::RetryAt(at) => Outcome::wait(at, Some(WaitReason::Retry)),
        RetryDecision::GiveUp => {
            Outcome::fail(clip(&format!("{}: {message}", prefix::ATTEMPTS_EXHAUSTED)))
        }
    };
    let outcome = match error.class {
        ErrorClass::Permanent => Outcome::fail(message.clone()),
        ErrorClass::QuotaClosed => limits::paused(limits.quota_paused_until(now)),
        ErrorClass::RateLimited { retry_after } => retry(retry_after),
        ErrorClass::Transient
        | ErrorClass::AuthExpired
        | ErrorClass::NotSent
        | ErrorClass::NoSlot { .. } => retry(None),
    };
    // A message the provider created and holds despite the error: a resend
    // acts on it (Comm100's `:resend`).
    Outcome {
        remote_id: error.remote_id,
        ..outcome.with_attempt(attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeliveryStatus, ProviderStatus};
    use std::time::Duration;

    fn decide(call: Call, policy: &RetryPolicy, unit_random: f64) -> Outcome {
        super::decide(call, policy, &Limits::default(), unit_random)
    }

    fn call(attempt: u32, result: Result<Sent, ProviderError>) -> Call {
        let now = Utc::now();
        Call {
            attempt,
            started_at: now,
            finished_at: now,
            result,
        }
    }

    fn err(class: ErrorClass) -> Result<Sent, ProviderError> {
        Err(ProviderError::new(class, Some(503), "boom"))
    }

    #[test]
    fn success_keeps_the_providers_answer() {
        let sent = Sent {
            http_status: 200,
            remote_id: Some("r1".into()),
            provider_status: Some(ProviderStatus::SENT),
        };
        let o = decide(call(1, Ok(sent)), &RetryPolicy::default(), 0.5);
        assert_eq!(o.status, DeliveryStatus::Success);
        assert_eq!(o.remote_id.as_deref(), Some("r1"));
        assert_eq!(o.provider_status, Some(1));
        assert_eq!(o.attempt.map(|a| a.outcome), Some(AttemptOutcome::Success));
    }

    #[test]
    fn transient_retries_until_attempts_run_out() {
        let policy = RetryPolicy::default();
        let o = decide(call(1, err(ErrorClass::Transient)), &policy, 0.5);
        assert_eq!(o.status, DeliveryStatus::WaitForSending);
        assert_eq!(o.wait_reason, Some(WaitReason::Retry));
        assert!(o.next_attempt_at.is_some());
        let o = decide(call(6, err(ErrorClass::Transient)), &policy, 0.5);
        assert_eq!(o.status, DeliveryStatus::Failed);
        assert!(o.fail_reason.unwrap().starts_with("attempts exhausted"));
        assert_eq!(
            o.attempt.map(|a| a.outcome),
            Some(AttemptOutcome::Retryable)
        );
    }

    #[test]
    fn permanent_fails_at_once() {
        let o = decide(
            call(1, err(ErrorClass::Permanent)),
            &RetryPolicy::default(),
            0.5,
        );
        assert_eq!(o.status, DeliveryStatus::Failed);
        assert_eq!(o.fail_reason.as_deref(), Some("boom"));
        assert_eq!(
            o.attempt.map(|a| a.outcome),
            Some(AttemptOutcome::Permanent)
        );
    }

    #[test]
    fn rate_limit_waits_as_told() {
        let c = call(
            1,
            err(ErrorClass::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
            }),
        );
        let now = c.finished_at;
        let o = decide(c, &RetryPolicy::default(), 0.5);
        assert_eq!(o.next_attempt_at, Some(now + chrono::Duration::seconds(7)));
    }

    #[test]
    fn quota_defers_without_using_an_attempt() {
        let c = call(6, err(ErrorClass::QuotaClosed));
        let now = c.finished_at;
        let o = decide(c, &RetryPolicy::default(), 0.5);
        assert_eq!(o.status, DeliveryStatus::WaitForSending);
        assert_eq!(o.wait_reason, Some(WaitReason::Quota));
        assert!(o.refund_attempt);
        assert_eq!(o.attempt.map(|a| a.outcome), Some(AttemptOutcome::Deferred));
        assert_eq!(o.next_attempt_at, Some(now + chrono::Duration::hours(1)));
    }

    #[test]
    fn quota_waits_for_the_connections_pause() {
        let limits = Limits {
            quota_pause: Duration::from_secs(90),
            ..Limits::default()
        };
        let c = call(1, err(ErrorClass::QuotaClosed));
        let now = c.finished_at;
        let o = super::decide(c, &RetryPolicy::default(), &limits, 0.5);
        assert_eq!(o.next_attempt_at, Some(now + chrono::Duration::seconds(90)));
    }

    #[test]
    fn a_failed_call_keeps_the_message_the_provider_created() {
        let failed = ProviderError::new(ErrorClass::Permanent, Some(201), "failed")
            .with_remote_id(Some("m-1".into()));
        let o = decide(call(1, Err(failed)), &RetryPolicy::default(), 0.5);
        assert_eq!(o.status, DeliveryStatus::Failed);
        assert_eq!(o.remote_id.as_deref(), Some("m-1"));
    }

    #[test]
    fn a_send_cut_short_by_its_budget_waits_again_using_no_attempt() {
        let c = call(3, err(ErrorClass::NotSent));
        let now = c.finished_at;
        let o = decide(c, &RetryPolicy::default(), 0.5);
        assert_eq!(o.status, DeliveryStatus::WaitForSending);
        assert_eq!(o.next_attempt_at, Some(now));
        assert!(o.refund_attempt);
        assert!(o.attempt.is_none(), "no call, no attempt row");
    }

    #[test]
    fn a_request_the_rate_held_back_waits_for_its_slot_using_no_attempt() {
        let c = call(2, err(ErrorClass::NotSent));
        let until = c.finished_at + chrono::Duration::seconds(3);
        let c = Call {
            result: err(ErrorClass::NoSlot { until }),
            ..c
        };
        let o = decide(c, &RetryPolicy::default(), 0.5);
        assert_eq!(o.status, DeliveryStatus::WaitForSending);
        assert_eq!(o.next_attempt_at, Some(until));
        assert_eq!(o.wait_reason, Some(WaitReason::Rate));
        assert!(o.refund_attempt && o.attempt.is_none());
    }

    #[test]
    fn long_reasons_are_clipped() {
        let long = "x".repeat(5000);
        let o = decide(
            call(
                1,
                Err(ProviderError::new(ErrorClass::Permanent, None, long)),
            ),
            &RetryPolicy::default(),
            0.5,
        );
        assert!(o.fail_reason.unwrap().chars().count() <= MAX_REASON + 1);
    }
}
