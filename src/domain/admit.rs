//! Whether a claimed delivery is called now. Both ways a delivery is
//! claimed (born claimed by the accept, or claimed by the due-sweeper)
//! meet this decision before any call; every rule that may hold a call
//! back (a connection's limits, its pause, its room in this worker) is one
//! check here, in order, and a delivery held back moves at once without a
//! call, using no attempt.

use super::group::{self, Member, Turn};
use super::limits::{self, Limits};
use super::outcome::Outcome;
use super::reasons::{FailReason, WaitReason, prefix};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How long a delivery whose connection this worker does not know waits for
/// a worker that does (a rolling deploy adding a connection).
pub const UNKNOWN_CONNECTION_PAUSE: Duration = Duration::from_secs(60);

/// What the worker knows of a claimed delivery and its connection now.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub now: DateTime<Utc>,
    /// Whether this worker has the connection's adapter.
    pub known: bool,
    /// Whether this worker has room for another call of the connection.
    pub room: bool,
    pub expires_at: Option<DateTime<Utc>>,
    /// Why the adapter cannot carry the message, where it cannot.
    pub unsupported: Option<&'a str>,
    /// The end of the connection's pause by a provider's quota refusal.
    pub paused_until: Option<DateTime<Utc>>,
    /// The connection's limits: its sending window.
    pub limits: &'a Limits,
    /// Its place in an ordered group, and the group's standing.
    pub group: Option<Member>,
}

/// Why a claimed delivery was not called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// No worker here has the connection: it waits for one that does.
    UnknownConnection,
    /// The worker filled up meanwhile: due again at once for any worker.
    NoRoom,
    /// Its `expires_at` passed: it fails.
    Expired,
    /// The adapter cannot carry the message: it fails.
    Unsupported,
    /// The connection is paused by a provider's quota refusal: it waits.
    Paused,
    /// Outside the connection's sending window: it waits for its opening.
    Window,
    /// Not its turn in its ordered group: it waits for its predecessor.
    Group,
    /// A member before it in its group failed: it fails.
    GroupAborted,
    /// Its group's predecessor did not arrive in time: it fails.
    GroupGap,
}

/// The admission decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Call the provider now.
    Call,
    /// No call: the delivery moves to `outcome`.
    Held(Held, Outcome),
}

/// Whether the delivery is called now, and if not, what it becomes.
pub fn admit(facts: Facts<'_>) -> Admission {
    let held = |why, outcome: Outcome| Admission::Held(why, outcome.refunded());
    if !facts.known {
        return held(Held::UnknownConnection, unknown_connection(facts.now));
    }
    if !facts.room {
        return held(Held::NoRoom, Outcome::wait(facts.now, None));
    }
    if facts.expires_at.is_some_and(|at| at <= facts.now) {
        return held(Held::Expired, Outcome::fail(FailReason::Expired.as_str()));
    }
    if let Some(why) = facts.unsupported {
        let reason = format!("{}: {why}", prefix::UNSUPPORTED);
        return held(Held::Unsupported, Outcome::fail(reason));
    }
    if let Some(member) = facts.group {
        match group::turn(member, facts.now) {
            Turn::Go => {}
            Turn::Wait(outcome) => return held(Held::Group, outcome),
            Turn::Aborted(outcome) => return held(Held::GroupAborted, outcome),
            Turn::Gap(outcome) => return held(Held::GroupGap, outcome),
        }
    }
    if let Some(until) = facts.paused_until.filter(|until| *until > facts.now) {
        return held(Held::Paused, limits::paused(until));
    }
    if let Some(opening) = facts.limits.closed_until(facts.now) {
        return held(
            Held::Window,
            Outcome::wait(opening, Some(WaitReason::Window)),
        );
    }
    Admission::Call
}

/// A delivery whose connection this worker does not know, at `now`: it
/// waits [`UNKNOWN_CONNECTION_PAUSE`] for a worker that does, using no attempt.
pub fn unknown_connection(now: DateTime<Utc>) -> Outcome {
    let after = chrono::Duration::from_std(UNKNOWN_CONNECTION_PAUSE).unwrap_or_default();
    Outcome::wait(now + after, Some(WaitReason::Retry)).refunded()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DeliveryStatus;

    static OPEN: std::sync::LazyLock<Limits> = std::sync::LazyLock::new(Limits::default);

    fn facts() -> Facts<'static> {
        Facts {
            limits: &OPEN,
            now: Utc::now(),
            known: true,
            room: true,
            expires_at: None,
            unsupported: None,
            paused_until: None,
            group: None,
        }
    }

    fn held(facts: Facts<'_>) -> (Held, Outcome) {
        match admit(facts) {
            Admission::Held(why, outcome) => (why, outcome),
            Admission::Call => panic!("called"),
        }
    }

    #[test]
    fn a_delivery_with_nothing_against_it_is_called() {
        assert_eq!(admit(facts()), Admission::Call);
        let ended = Facts {
            paused_until: Some(facts().now - chrono::Duration::seconds(1)),
            ..facts()
        };
        assert_eq!(admit(ended), Admission::Call, "a pause that ended");
    }

    #[test]
    fn held_deliveries_make_no_call_and_use_no_attempt() {
        let f = facts();
        let until = f.now + chrono::Duration::minutes(5);
        let cases = [
            Facts { room: false, ..f },
            Facts { known: false, ..f },
            Facts {
                expires_at: Some(f.now),
                ..f
            },
            Facts {
                unsupported: Some("no images"),
                ..f
            },
            Facts {
                paused_until: Some(until),
                ..f
            },
        ];
        let outcomes: Vec<(Held, Outcome)> = cases.into_iter().map(held).collect();
        for (why, o) in &outcomes {
            assert!(o.refund_attempt && o.attempt.is_none(), "{why:?}");
        }
        let [no_room, unknown, expired, unsupported, paused] = &outcomes[..] else {
            panic!("five cases");
        };
        assert_eq!(no_room.0, Held::NoRoom);
        assert_eq!(no_room.1.status, DeliveryStatus::WaitForSending);
        assert_eq!(
            (no_room.1.next_attempt_at, no_room.1.wait_reason),
            (Some(f.now), None)
        );
        assert_eq!(unknown.0, Held::UnknownConnection);
        let minute = f.now + chrono::Duration::seconds(60);
        assert_eq!(unknown.1.next_attempt_at, Some(minute));
        assert_eq!(expired.0, Held::Expired);
        assert_eq!(expired.1.fail_reason.as_deref(), Some("expired"));
        assert_eq!(unsupported.0, Held::Unsupported);
        assert_eq!(
            unsupported.1.fail_reason.as_deref(),
            Some("unsupported: no images")
        );
        assert_eq!(paused.0, Held::Paused);
        assert_eq!(paused.1.next_attempt_at, Some(until));
        assert_eq!(paused.1.wait_reason, Some(WaitReason::Quota));
    }

    #[test]
    fn outside_its_window_a_delivery_waits_for_the_opening_using_no_attempt() {
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let limits = Limits {
            window: Some(crate::domain::window::Window::parse("08:00-17:00").unwrap()),
            timezone: chrono_tz::Asia::Jakarta,
            ..Limits::default()
        };
        // 18:00 in Jakarta (UTC+7): closed until 08:00 there, 01:00 UTC.
        let evening = Facts {
            now: utc("2026-12-02T11:00:00Z"),
            limits: &limits,
            ..facts()
        };
        let (why, o) = held(evening);
        assert_eq!(why, Held::Window);
        assert_eq!(o.next_attempt_at, Some(utc("2026-12-03T01:00:00Z")));
        assert_eq!(o.wait_reason, Some(WaitReason::Window));
        assert!(o.refund_attempt && o.attempt.is_none());
        // 09:00 there: open.
        let morning = Facts {
            now: utc("2026-12-02T02:00:00Z"),
            ..evening
        };
        assert_eq!(admit(morning), Admission::Call);
    }
}
