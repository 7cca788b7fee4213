//! When to try a failed delivery again: a pure function of the policy, the
//! attempts made, the failure and the time, tested without a clock.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// The longest a provider's `Retry-After` may push a delivery back.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per round, the first one included.
    pub max_attempts: u32,
    /// Delay after the 1st, 2nd, ... failure; the last entry repeats.
    pub schedule: Vec<Duration>,
    /// Spread of each delay, as a fraction: 0.2 means ±20%.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        let secs = |s| Duration::from_secs(s);
        RetryPolicy {
            max_attempts: 6,
            schedule: vec![secs(5), secs(30), secs(120), secs(600), secs(1800)],
            jitter: 0.2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    RetryAt(DateTime<Utc>),
    GiveUp,
}

impl RetryPolicy {
    /// The delay after the `failures`-th failure (1-based), before jitter.
    pub fn base_delay(&self, failures: u32) -> Duration {
        let index = failures.saturating_sub(1) as usize;
        self.schedule
            .get(index)
            .or(self.schedule.last())
            .copied()
            .unwrap_or(Duration::from_secs(1))
    }

    /// What to do after attempt number `attempts_made` (1-based) failed.
    ///
    /// `retry_after` is the provider's own word (a 429's `Retry-After`): it
    /// replaces the schedule's delay, clamped to [`MAX_RETRY_AFTER`].
    /// `unit_random` is a number in [0, 1) that places the jitter.
    pub fn next_attempt(
        &self,
        attempts_made: u32,
        retry_after: Option<Duration>,
        now: DateTime<Utc>,
        unit_random: f64,
    ) -> RetryDecision {
        if attempts_made >= self.max_attempts {
            return RetryDecision::GiveUp;
        }
        let delay = match retry_after {
            Some(after) => after.min(MAX_RETRY_AFTER),
            None => {
                let base = self.base_delay(attempts_made).as_secs_f64();
                let spread = (unit_random.clamp(0.0, 1.0) * 2.0 - 1.0) * self.jitter;
                Duration::from_secs_f64((base * (1.0 + spread)).max(0.0))
            }
        };
        let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        RetryDecision::RetryAt(now.checked_add_signed(delay).unwrap_or(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn at(secs: f64) -> RetryDecision {
        RetryDecision::RetryAt(now() + chrono::Duration::milliseconds((secs * 1000.0) as i64))
    }

    #[test]
    fn follows_the_schedule_without_jitter() {
        let policy = RetryPolicy {
            jitter: 0.0,
            ..RetryPolicy::default()
        };
        assert_eq!(policy.next_attempt(1, None, now(), 0.5), at(5.0));
        assert_eq!(policy.next_attempt(2, None, now(), 0.5), at(30.0));
        assert_eq!(policy.next_attempt(5, None, now(), 0.5), at(1800.0));
        assert_eq!(
            policy.next_attempt(6, None, now(), 0.5),
            RetryDecision::GiveUp
        );
    }

    #[test]
    fn last_entry_repeats_when_attempts_outnumber_the_schedule() {
        let policy = RetryPolicy {
            max_attempts: 10,
            schedule: vec![Duration::from_secs(1), Duration::from_secs(7)],
            jitter: 0.0,
        };
        assert_eq!(policy.next_attempt(8, None, now(), 0.0), at(7.0));
    }

    #[test]
    fn retry_after_wins_and_is_clamped() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.next_attempt(1, Some(Duration::from_secs(42)), now(), 0.9),
            at(42.0)
        );
        assert_eq!(
            policy.next_attempt(1, Some(Duration::from_secs(86_400)), now(), 0.9),
            at(3600.0)
        );
        assert_eq!(
            policy.next_attempt(6, Some(Duration::from_secs(1)), now(), 0.9),
            RetryDecision::GiveUp
        );
    }

    proptest! {
        #[test]
        fn jitter_stays_within_its_band(attempt in 1u32..6, r in 0.0f64..1.0) {
            let policy = RetryPolicy::default();
            let base = policy.base_delay(attempt).as_secs_f64();
            let RetryDecision::RetryAt(when) = policy.next_attempt(attempt, None, now(), r) else {
                panic!("gave up early");
            };
            let delay = (when - now()).num_milliseconds() as f64 / 1000.0;
            prop_assert!(delay >= base * 0.8 - 0.001 && delay <= base * 1.2 + 0.001);
        }
    }
}
