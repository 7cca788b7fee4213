//! The state an accepted `send` starts in. Every send is born waiting, and
//! in the statement that records it moves at most one step of the state
//! machine: to `failed` when it expired before it arrived, to `sending`
//! (claimed by the worker that accepts it) when it is due and that worker
//! has room for its connection.

use super::SendCommand;
use super::reasons::{FailReason, WaitReason};
use super::status::{DeliveryEvent, DeliveryStatus, transition};
use chrono::{DateTime, Utc};

/// A new delivery's row, as the accept writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Born {
    pub status: DeliveryStatus,
    /// 1 when born claimed: the claim takes the round's first attempt.
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub wait_reason: Option<WaitReason>,
    pub fail_reason: Option<FailReason>,
}

/// Where `send` starts when accepted at `now`: failed (expired), waiting
/// (scheduled), claimed, or, where the accepting worker has no room for it,
/// waiting and due at once for a sweeper.
pub fn born(send: &SendCommand, now: DateTime<Utc>, room: bool) -> Born {
    let waiting = DeliveryStatus::WaitForSending;
    let moved = |event| transition(waiting, event).unwrap_or(waiting);
    let expired = send.expires_at.is_some_and(|at| at <= now);
    let scheduled = send.not_before.filter(|at| *at > now);
    let wait = |next_attempt_at, wait_reason| Born {
        status: waiting,
        attempts: 0,
        next_attempt_at,
        wait_reason,
        fail_reason: None,
    };
    if expired {
        Born {
            status: moved(DeliveryEvent::Fail),
            fail_reason: Some(FailReason::Expired),
            ..wait(None, None)
        }
    } else if let Some(at) = scheduled {
        wait(Some(at), Some(WaitReason::Scheduled))
    } else if room {
        Born {
            status: moved(DeliveryEvent::Claim),
            attempts: 1,
            ..wait(None, None)
        }
    } else {
        wait(Some(now), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Command;

    fn send(extra: &str) -> SendCommand {
        let body = format!(
            r#"{{"type":"send","id":"7f1c2a4e-0000-4000-8000-000000000001","connection":"c",
                "message":{{"kind":"text","to":"+1","text":"hi"}}{extra}}}"#
        );
        match Command::parse(body.as_bytes(), |_| true) {
            Ok(Command::Send(send)) => *send,
            _ => panic!("a valid send"),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_due_send_is_born_claimed_where_there_is_room_else_due_for_a_sweeper() {
        let claimed = born(&send(""), now(), true);
        assert_eq!(claimed.status, DeliveryStatus::Sending);
        assert_eq!(claimed.attempts, 1);
        let left = born(&send(""), now(), false);
        assert_eq!(left.status, DeliveryStatus::WaitForSending);
        assert_eq!(
            (left.next_attempt_at, left.wait_reason),
            (Some(now()), None)
        );
    }

    #[test]
    fn expired_and_scheduled_sends_are_never_claimed() {
        let expired = born(
            &send(r#","expires_at":"2026-11-21T09:00:00Z""#),
            now(),
            true,
        );
        assert_eq!(expired.status, DeliveryStatus::Failed);
        assert_eq!(expired.fail_reason, Some(FailReason::Expired));
        let later = born(
            &send(r#","not_before":"2026-11-21T11:00:00Z""#),
            now(),
            true,
        );
        assert_eq!(later.status, DeliveryStatus::WaitForSending);
        assert_eq!(later.wait_reason, Some(WaitReason::Scheduled));
        assert_eq!(later.attempts, 0);
    }
}
