//! Every outcome the domain makes is a move of the state machine: random
//! calls, answers, policies, limits and facts, each outcome checked against
//! [`transition`] and against the rules the `deliveries` table enforces.

use super::accept::born;
use super::admit::{Admission, Facts, admit};
use super::call::{ErrorClass, ProviderError, Sent};
use super::decide::{Call, decide};
use super::group::{Member, Standing};
use super::limits::Limits;
use super::lost::lost_claim;
use super::outcome::Outcome;
use super::reasons::AttemptOutcome;
use super::status::{DeliveryEvent, DeliveryStatus, transition};
use super::window::Window;
use super::{Command, ProviderStatus, RetryPolicy, SendCommand};
use chrono::{DateTime, Duration as Span, Utc};
use proptest::prelude::*;
use std::time::Duration;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap_or_default()
}

/// What every outcome of a claimed delivery (in `sending`) must satisfy.
fn lawful(o: &Outcome, now: DateTime<Utc>) -> Result<(), TestCaseError> {
    prop_assert_eq!(transition(DeliveryStatus::Sending, o.event), Ok(o.status));
    prop_assert_ne!(o.status, DeliveryStatus::Sending);
    let waiting = o.status == DeliveryStatus::WaitForSending;
    let failed = o.status == DeliveryStatus::Failed;
    // The table's checks: a failed row has a reason, a waiting row a time.
    prop_assert_eq!(o.fail_reason.is_some(), failed);
    prop_assert_eq!(o.next_attempt_at.is_some(), waiting);
    prop_assert!(o.wait_reason.is_none() || waiting);
    prop_assert!(o.next_attempt_at.is_none_or(|next| next >= now));
    let outcome = o.attempt.as_ref().map(|a| a.outcome);
    prop_assert_eq!(
        outcome == Some(AttemptOutcome::Success),
        o.status == DeliveryStatus::Success
    );
    // An attempt is given back only where none was used.
    if o.refund_attempt {
        prop_assert!(outcome.is_none() || outcome == Some(AttemptOutcome::Deferred));
    }
    if outcome == Some(AttemptOutcome::Deferred) {
        prop_assert!(o.refund_attempt && waiting);
    }
    Ok(())
}

fn class() -> impl Strategy<Value = ErrorClass> {
    prop_oneof![
        Just(ErrorClass::Transient),
        Just(ErrorClass::Permanent),
        proptest::option::of(0u64..100_000).prop_map(|s| ErrorClass::RateLimited {
            retry_after: s.map(Duration::from_secs)
        }),
        Just(ErrorClass::AuthExpired),
        Just(ErrorClass::QuotaClosed),
        Just(ErrorClass::NotSent),
        (-60i64..600).prop_map(|s| ErrorClass::NoSlot { until: at(s) }),
    ]
}

fn answer() -> impl Strategy<Value = Result<Sent, ProviderError>> {
    let sent = (
        200u16..300,
        proptest::option::of("[a-z0-9]{1,8}"),
        proptest::option::of(-3i16..=3),
    )
        .prop_map(|(http_status, remote_id, status)| Sent {
            http_status,
            remote_id,
            provider_status: status.and_then(|s| ProviderStatus::new(i64::from(s))),
        });
    let failed = (
        class(),
        proptest::option::of(100u16..600),
        ".{0,40}",
        proptest::option::of("[a-z]{1,6}"),
    )
        .prop_map(|(class, http, message, remote_id)| {
            ProviderError::new(class, http, message).with_remote_id(remote_id)
        });
    prop_oneof![sent.prop_map(Ok), failed.prop_map(Err)]
}

fn policy() -> impl Strategy<Value = RetryPolicy> {
    (
        1u32..8,
        proptest::collection::vec(0u64..100_000, 1..5),
        0.0f64..0.5,
    )
        .prop_map(|(max_attempts, schedule, jitter)| RetryPolicy {
            max_attempts,
            schedule: schedule.into_iter().map(Duration::from_secs).collect(),
            jitter,
        })
}

fn limits() -> impl Strategy<Value = Limits> {
    let window = proptest::option::of((0u32..24, 0u32..24).prop_filter_map("empty", |(a, b)| {
        Window::parse(&format!("{a:02}:00-{b:02}:00")).ok()
    }));
    (window, 1u64..1_000_000).prop_map(|(window, pause)| Limits {
        window,
        timezone: chrono_tz::Asia::Jakarta,
        quota_pause: Duration::from_secs(pause),
        ..Limits::default()
    })
}

fn member() -> impl Strategy<Value = Member> {
    let status = proptest::sample::select(vec![
        DeliveryStatus::WaitForSending,
        DeliveryStatus::Sending,
        DeliveryStatus::Success,
        DeliveryStatus::Failed,
    ]);
    (
        0u32..4,
        proptest::option::of(status),
        any::<bool>(),
        -600i64..600,
        1u64..600,
    )
        .prop_map(
            |(order, predecessor, earlier_failed, accepted, timeout)| Member {
                order,
                accepted_at: at(accepted),
                standing: Standing {
                    predecessor,
                    earlier_failed: earlier_failed || predecessor == Some(DeliveryStatus::Failed),
                },
                timeout: Duration::from_secs(timeout),
            },
        )
}

fn send(not_before: Option<i64>, expires_at: Option<i64>) -> SendCommand {
    let mut body = serde_json::json!({
        "type": "send", "id": "7f1c2a4e-0000-4000-8000-000000000001", "connection": "c",
        "message": {"kind": "text", "to": "+1", "text": "hi"},
    });
    if let Some(s) = not_before {
        body["not_before"] = serde_json::json!(at(s).to_rfc3339());
    }
    if let Some(s) = expires_at {
        body["expires_at"] = serde_json::json!(at(s).to_rfc3339());
    }
    match Command::parse(body.to_string().as_bytes(), |_| true) {
        Ok(Command::Send(send)) => *send,
        _ => panic!("a valid send"),
    }
}

proptest! {
    #[test]
    fn every_decision_on_an_answer_is_a_legal_move(
        attempt in 1u32..10,
        took in 0i64..120,
        result in answer(),
        policy in policy(),
        limits in limits(),
        unit in 0.0f64..1.0,
    ) {
        let not_sent = matches!(
            &result,
            Err(e) if matches!(e.class, ErrorClass::NotSent | ErrorClass::NoSlot { .. })
        );
        let call = Call { attempt, started_at: at(0), finished_at: at(took), result };
        let o = decide(call, &policy, &limits, unit);
        lawful(&o, at(took))?;
        if not_sent {
            prop_assert!(o.attempt.is_none(), "no call, no attempt row");
        } else {
            prop_assert!(o.attempt.is_some(), "every call keeps its attempt");
        }
    }

    #[test]
    fn every_admission_is_called_or_a_legal_move_without_a_call(
        known: bool, room: bool, unsupported: bool,
        expires in proptest::option::of(-60i64..60),
        paused in proptest::option::of(-60i64..3600),
        limits in limits(),
        group in proptest::option::of(member()),
    ) {
        let facts = Facts {
            limits: &limits,
            now: at(0),
            known,
            room,
            expires_at: expires.map(at),
            unsupported: unsupported.then_some("no images"),
            paused_until: paused.map(at),
            group,
        };
        match admit(facts) {
            Admission::Call => {
                prop_assert!(known && room && !unsupported);
                if let Some(m) = group {
                    prop_assert!(m.order == 0 || m.standing.predecessor == Some(DeliveryStatus::Success));
                }
                prop_assert!(expires.is_none_or(|e| e > 0) && paused.is_none_or(|p| p <= 0));
                prop_assert!(limits.closed_until(at(0)).is_none());
            }
            Admission::Held(_, o) => {
                lawful(&o, at(0))?;
                prop_assert!(o.refund_attempt && o.attempt.is_none());
            }
        }
    }

    #[test]
    fn every_lost_claim_is_a_legal_move(
        attempts in 0u32..10, policy in policy(), unit in 0.0f64..1.0, late in 0i64..600,
    ) {
        let o = lost_claim(&policy, attempts, at(0), at(late), unit);
        lawful(&o, at(late))?;
        prop_assert_eq!(o.attempt.map(|a| a.outcome), Some(AttemptOutcome::Retryable));
    }

    #[test]
    fn every_send_is_born_waiting_or_one_legal_move_from_it(
        not_before in proptest::option::of(-60i64..60),
        expires_at in proptest::option::of(-60i64..60),
        room: bool,
    ) {
        let b = born(&send(not_before, expires_at), at(0), room);
        let waiting = DeliveryStatus::WaitForSending;
        let one_move = [DeliveryEvent::Claim, DeliveryEvent::Fail]
            .into_iter()
            .any(|event| transition(waiting, event) == Ok(b.status));
        prop_assert!(b.status == waiting || one_move);
        prop_assert_eq!(b.fail_reason.is_some(), b.status == DeliveryStatus::Failed);
        prop_assert_eq!(b.next_attempt_at.is_some(), b.status == waiting);
        prop_assert_eq!(b.attempts, i32::from(b.status == DeliveryStatus::Sending));
    }
}

#[test]
fn a_scheduled_retry_never_comes_before_the_answer() {
    let call = Call {
        attempt: 1,
        started_at: at(0),
        finished_at: at(5),
        result: Err(ProviderError::new(ErrorClass::Transient, None, "x")),
    };
    let o = decide(call, &RetryPolicy::default(), &Limits::default(), 0.0);
    assert!(
        o.next_attempt_at
            .is_some_and(|next| next >= at(5) + Span::seconds(3))
    );
}
