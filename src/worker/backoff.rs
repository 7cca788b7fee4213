//! Capped exponential backoff with jitter: reconnecting to PostgreSQL and
//! RabbitMQ, and trying a dead letter again.

use std::time::Duration;

/// The wait before try `n` + 1 after `n` failures in a row: `base` doubled
/// per failure up to `cap`, of which a random half or more (`random` in
/// [0, 1)), so that workers that lost the same server do not come back in
/// step. Never more than `cap`.
pub fn delay(base: Duration, cap: Duration, failures: u32, random: f64) -> Duration {
    let doubled = base.saturating_mul(1u32 << failures.min(20)).min(cap);
    doubled.mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0)).min(cap)
}

/// A backoff that remembers how many tries failed.
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    pub const fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            base,
            cap,
            failures: 0,
        }
    }

    /// Counts one more failure; returns the wait before the next try.
    pub fn failed(&mut self) -> Duration {
        let wait = delay(self.base, self.cap, self.failures, rand::random::<f64>());
        self.failures = self.failures.saturating_add(1);
        wait
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(200);
    const CAP: Duration = Duration::from_secs(10);

    #[test]
    fn the_wait_doubles_per_failure_up_to_the_cap() {
        assert_eq!(delay(BASE, CAP, 0, 1.0), BASE);
        assert_eq!(delay(BASE, CAP, 1, 1.0), BASE * 2);
        assert_eq!(delay(BASE, CAP, 3, 1.0), BASE * 8);
        assert_eq!(delay(BASE, CAP, 10, 1.0), CAP);
        assert_eq!(delay(BASE, CAP, u32::MAX, 1.0), CAP);
    }

    #[test]
    fn the_jitter_takes_between_half_and_all_of_it() {
        assert_eq!(delay(BASE, CAP, 2, 0.0), BASE * 2);
        assert_eq!(delay(BASE, CAP, 30, 0.0), CAP / 2);
        assert_eq!(delay(BASE, CAP, 30, 0.5), CAP.mul_f64(0.75));
        // Out-of-range randomness stays inside the bounds.
        assert_eq!(delay(BASE, CAP, 30, 7.0), CAP);
        assert_eq!(delay(BASE, CAP, 30, -1.0), CAP / 2);
    }

    #[test]
    fn a_backoff_grows_and_starts_again_after_a_reset() {
        let mut backoff = Backoff::new(BASE, CAP);
        let first = backoff.failed();
        assert!(first >= BASE / 2 && first <= BASE, "{first:?}");
        for _ in 0..30 {
            let wait = backoff.failed();
            assert!(wait <= CAP, "{wait:?}");
        }
        assert!(backoff.failed() >= CAP / 2);
        backoff.reset();
        assert!(backoff.failed() <= BASE);
    }
}
