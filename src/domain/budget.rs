//! A delivery's time: from its claim until another worker may take the
//! claim back (`sending_lease`), every provider call, every wait and the
//! outcome write must be done.
//!
//! The claim is measured from just before the statement that made it, so
//! the worker's deadline never falls after the moment PostgreSQL's
//! `claimed_at + sending_lease` passes. Of that time, the last
//! [`write_reserve`] is kept for the outcome write. Before that, a provider
//! call is started only if it can end in time: reqwest ends every call
//! within `http_timeout`, so one started later than `http_timeout` before
//! the reserve is not started at all: the delivery waits again at once,
//! using no attempt, for a fresh claim (`ErrorClass::NotSent`). A call is never
//! cut once the provider may have acted on it; only the waits around the
//! calls (a token another task is renewing) are cut, half a second into
//! the reserve (see `worker::deliver`).
//!
//! The lease must leave room for [`FULL_CALLS`] calls (a token request, then
//! the send) plus the reserve: [`min_sending_lease`], checked at start.
//! The rarer third and fourth call of a delivery (a token the provider
//! refused, renewed, then the send again) are made when the time is left,
//! else the next attempt makes them.

use std::time::{Duration, Instant};

/// The calls a delivery must always be able to make in full: a token
/// request (OneBox's `/api/authenticate`, HighQ's refresh) and the send.
pub const FULL_CALLS: u32 = 2;
/// After a set that got no answer within its timeout, the time for the
/// retry that follows (the outcome write backs off at most this long).
pub const WRITE_RETRY: Duration = Duration::from_secs(1);

/// How long one write set may go unanswered: a quarter of the sending
/// lease, at most 10 s (see `worker::writer::Writes`).
pub fn set_timeout(sending_lease: Duration) -> Duration {
    (sending_lease / 4).min(Duration::from_secs(10))
}

/// The end of a delivery's time kept for its outcome write. One set runs
/// at a time, so an outcome may first wait for the set in flight and then
/// run in the next one, each bounded by [`set_timeout`]; then a retry may
/// follow: `2 × set_timeout + 1s`, that is `min(lease / 2, 20s) + 1s`.
pub fn write_reserve(sending_lease: Duration) -> Duration {
    set_timeout(sending_lease) * 2 + WRITE_RETRY
}

/// The time the calls a delivery must always be able to make take at most.
pub fn calls_time(http_timeout: Duration) -> Duration {
    http_timeout * FULL_CALLS
}

/// The shortest `sending_lease` that holds [`FULL_CALLS`] calls of
/// `http_timeout` and the outcome write:
/// `lease >= 2 × http_timeout + min(lease / 2, 20s) + 1s`, that is
/// `2 × (2 × http_timeout + 1s)` while that is at most 40 s, else
/// `2 × http_timeout + 21s`. The defaults (15 s, 60 s) need 51 s.
pub fn min_sending_lease(http_timeout: Duration) -> Duration {
    let calls = calls_time(http_timeout);
    let short = (calls + WRITE_RETRY) * 2;
    if short <= Duration::from_secs(40) {
        short
    } else {
        calls + Duration::from_secs(20) + WRITE_RETRY
    }
}

/// One delivery's clock.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// When another worker may take the claim back, at the earliest.
    pub deadline: Instant,
    /// When every provider call must have ended: the deadline less the
    /// reserve for the outcome write.
    pub calls_end_by: Instant,
    /// What one call may take: `http_timeout`.
    pub call_limit: Duration,
}

impl Budget {
    /// The budget of a claim made by a statement sent at `claimed`.
    pub fn new(claimed: Instant, sending_lease: Duration, http_timeout: Duration) -> Budget {
        let deadline = claimed + sending_lease;
        Budget {
            deadline,
            calls_end_by: deadline
                .checked_sub(write_reserve(sending_lease))
                .unwrap_or(claimed),
            call_limit: http_timeout,
        }
    }

    /// Whether a call started at `now` ends before [`Budget::calls_end_by`].
    pub fn may_start_call(&self, now: Instant) -> bool {
        now + self.call_limit <= self.calls_end_by
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn the_default_lease_holds_a_token_call_a_send_and_the_write() {
        assert_eq!(min_sending_lease(ms(15_000)), ms(51_000));
        assert!(min_sending_lease(ms(15_000)) <= ms(60_000), "defaults pass");
        assert_eq!(min_sending_lease(ms(2_000)), ms(10_000));
        assert_eq!(min_sending_lease(ms(500)), ms(4_000));
        // Where the two forms meet, they agree.
        assert_eq!(min_sending_lease(ms(9_500)), ms(40_000));
        assert_eq!(min_sending_lease(ms(9_600)), ms(40_200));
    }

    #[test]
    fn the_shortest_lease_fits_exactly_two_calls_and_the_reserve() {
        for h in [500, 2_000, 9_500, 9_600, 15_000, 60_000] {
            let http = ms(h);
            let lease = min_sending_lease(http);
            let claimed = Instant::now();
            let budget = Budget::new(claimed, lease, http);
            let second_call = claimed + budget.call_limit;
            assert!(budget.may_start_call(second_call), "h = {h}");
            assert!(
                !budget.may_start_call(second_call + Duration::from_millis(1)),
                "h = {h}"
            );
            assert_eq!(budget.deadline - budget.calls_end_by, write_reserve(lease));
        }
    }

    #[test]
    fn no_call_starts_where_the_lease_is_too_short_for_one() {
        let claimed = Instant::now();
        let budget = Budget::new(claimed, ms(2_500), ms(2_000));
        assert!(!budget.may_start_call(claimed));
    }
}
