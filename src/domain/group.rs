//! Ordered groups (contract §3 `group`): the members of a `group.id` reach
//! the provider one by one in ascending `order` (0, 1, 2, … without gaps),
//! each only after its predecessor succeeded.
//!
//! The rows are the group's only state. What decides a member's turn is
//! read from its group's rows when it is claimed ([`Standing`]) and judged
//! here ([`turn`]); a member held back waits with `wait_reason` `group`.
//! Its predecessor's success releases it in the same commit, and a
//! failure aborts the members waiting behind it (`storage::groups`), so no
//! poll stands between one member and the next. The claim's own check
//! covers what arrives late: a member that arrives after its predecessor
//! failed, or whose predecessor never arrives.

use super::outcome::Outcome;
use super::reasons::{FailReason, WaitReason};
use super::status::DeliveryStatus;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What a member's group says of it, read when it is claimed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    /// The status of the member just before it (`order - 1`), if that has
    /// arrived; the best of them where two share the order.
    pub predecessor: Option<DeliveryStatus>,
    /// Whether a member before it failed.
    pub earlier_failed: bool,
}

/// A claimed member: its place, when it arrived, and its group's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub order: u32,
    pub accepted_at: DateTime<Utc>,
    pub standing: Standing,
    /// `[worker] group_timeout`: how long a member waits for a predecessor
    /// that has not arrived.
    pub timeout: Duration,
}

/// Whether a member may be called now.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// Its turn: the first member, or its predecessor succeeded.
    Go,
    /// A member before it failed: it fails with `group_aborted`, no call.
    Aborted(Outcome),
    /// Its predecessor did not arrive within the timeout: `group_gap`.
    Gap(Outcome),
    /// Not its turn yet: it waits with `wait_reason` `group`.
    Wait(Outcome),
}

/// Whether `member` goes now, at `now`.
///
/// A member that waits for a predecessor that has not arrived is due again
/// when the timeout ends, to fail with `group_gap` if it still has not. One
/// whose predecessor is there waits for its release; it is due again a
/// timeout later all the same, in case a release was lost with a worker.
pub fn turn(member: Member, now: DateTime<Utc>) -> Turn {
    let timeout = chrono::Duration::from_std(member.timeout).unwrap_or(chrono::Duration::MAX);
    let standing = member.standing;
    if member.order == 0 {
        return Turn::Go;
    }
    if standing.earlier_failed {
        return Turn::Aborted(Outcome::fail(FailReason::GroupAborted.as_str()).refunded());
    }
    match standing.predecessor {
        Some(DeliveryStatus::Success) => Turn::Go,
        Some(_) => Turn::Wait(wait(now.checked_add_signed(timeout))),
        None => match member.accepted_at.checked_add_signed(timeout) {
            Some(deadline) if deadline > now => Turn::Wait(wait(Some(deadline))),
            _ => Turn::Gap(Outcome::fail(FailReason::GroupGap.as_str()).refunded()),
        },
    }
}

fn wait(until: Option<DateTime<Utc>>) -> Outcome {
    let until = until.unwrap_or(DateTime::<Utc>::MAX_UTC);
    Outcome::wait(until, Some(WaitReason::Group)).refunded()
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryStatus as S;

    const FIVE_MINUTES: Duration = Duration::from_secs(300);

    fn member(order: u32, predecessor: Option<S>, earlier_failed: bool) -> Member {
        Member {
            order,
            accepted_at: "2026-12-02T10:00:00Z".parse().unwrap(),
            standing: Standing {
                predecessor,
                earlier_failed,
            },
            timeout: FIVE_MINUTES,
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_first_member_and_one_whose_predecessor_succeeded_go() {
        let now = at("2026-12-02T10:00:01Z");
        assert_eq!(turn(member(0, None, false), now), Turn::Go);
        assert_eq!(turn(member(3, Some(S::Success), false), now), Turn::Go);
    }

    #[test]
    fn a_member_behind_a_failure_is_aborted_without_a_call() {
        let now = at("2026-12-02T10:00:01Z");
        for predecessor in [None, Some(S::Failed), Some(S::WaitForSending)] {
            let Turn::Aborted(o) = turn(member(2, predecessor, true), now) else {
                panic!("aborted behind a failure ({predecessor:?})");
            };
            assert_eq!(o.status, S::Failed);
            assert_eq!(o.fail_reason.as_deref(), Some("group_aborted"));
            assert!(o.refund_attempt && o.attempt.is_none());
        }
    }

    #[test]
    fn a_member_waits_for_a_missing_predecessor_until_the_timeout_then_fails_with_a_gap() {
        let early = turn(member(1, None, false), at("2026-12-02T10:01:00Z"));
        let Turn::Wait(o) = early else {
            panic!("waits")
        };
        assert_eq!(o.status, S::WaitForSending);
        assert_eq!(o.wait_reason, Some(WaitReason::Group));
        assert_eq!(o.next_attempt_at, Some(at("2026-12-02T10:05:00Z")));
        assert!(o.refund_attempt && o.attempt.is_none());
        let Turn::Gap(o) = turn(member(1, None, false), at("2026-12-02T10:05:00Z")) else {
            panic!("a gap at the timeout");
        };
        assert_eq!(o.fail_reason.as_deref(), Some("group_gap"));
        assert!(o.refund_attempt);
    }

    #[test]
    fn a_member_whose_predecessor_is_there_waits_for_it_however_long_it_takes() {
        let late = at("2026-12-02T11:00:00Z");
        for predecessor in [S::WaitForSending, S::Sending] {
            let Turn::Wait(o) = turn(member(4, Some(predecessor), false), late) else {
                panic!("waits for {predecessor:?}");
            };
            assert_eq!(o.wait_reason, Some(WaitReason::Group));
            assert_eq!(o.next_attempt_at, Some(at("2026-12-02T11:05:00Z")));
        }
    }
}
