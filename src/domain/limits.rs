//! A connection's limits (`[connection.limits]`) and what they decide:
//! how long a provider's quota refusal pauses the connection, and what a
//! delivery claimed while it is paused becomes. The checks before each
//! call live in [`super::admit`]; the sending window's arithmetic in
//! [`super::window`].

use super::outcome::Outcome;
use super::reasons::WaitReason;
use super::window::{Window, local_to_utc};
use chrono::{DateTime, Days, NaiveDate, Utc};
use std::time::Duration;

/// How long a connection is paused after a provider's quota refusal when
/// it has no sending window and no `limits.quota_pause`.
pub const DEFAULT_QUOTA_PAUSE: Duration = Duration::from_secs(3600);

/// `[connection.limits]`, as the configuration checked it.
#[derive(Debug, Clone)]
pub struct Limits {
    pub rate_per_second: Option<f64>,
    pub burst: u32,
    pub daily_quota: Option<u64>,
    pub window: Option<Window>,
    pub timezone: chrono_tz::Tz,
    pub max_in_flight: Option<u32>,
    /// The pause after a quota refusal, for a connection without a window.
    pub quota_pause: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            rate_per_second: None,
            burst: 1,
            daily_quota: None,
            window: None,
            timezone: chrono_tz::UTC,
            max_in_flight: None,
            quota_pause: DEFAULT_QUOTA_PAUSE,
        }
    }
}

impl Limits {
    /// Until when a provider's quota refusal at `now` pauses the connection:
    /// the next opening of its sending window, else `now + quota_pause`.
    pub fn quota_paused_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match &self.window {
            Some(window) => window.next_opening(&self.timezone, now),
            None => chrono::Duration::from_std(self.quota_pause)
                .ok()
                .and_then(|pause| now.checked_add_signed(pause))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }
}

impl Limits {
    /// Where the sending window is closed at `now`: its next opening, the
    /// first instant from which it is open again in the connection's zone.
    pub fn closed_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.window.as_ref()?.closed_until(&self.timezone, now)
    }
}

/// The calls one worker reserves at once from a daily quota of `quota`:
/// one under 1,000 (so that the last calls of a small quota go to
/// whichever worker asks first, and the quota is met exactly), a
/// thousandth above, at most 64: what a worker holds unused when the day
/// ends is at most a thousandth of the quota.
pub fn quota_block(quota: u64) -> u64 {
    (quota / 1000).clamp(1, 64)
}

impl Limits {
    /// The calendar day, in the connection's zone, a call at `now` counts in.
    pub fn quota_day(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.timezone).date_naive()
    }

    /// When the day of `now` has used its whole quota: the next day's
    /// start in the connection's zone, or the window's next opening if
    /// that is later.
    pub fn quota_renewed_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let tomorrow = self.quota_day(now).checked_add_days(Days::new(1));
        let midnight = tomorrow
            .and_then(|day| local_to_utc(&self.timezone, day.and_time(chrono::NaiveTime::MIN)))
            .unwrap_or(now + chrono::Duration::days(1));
        self.closed_until(midnight).unwrap_or(midnight)
    }
}

/// A delivery whose connection used its whole daily quota: it waits, with
/// `wait_reason` `quota`, for the next day's quota, using no attempt.
pub fn quota_used_up(limits: &Limits, now: DateTime<Utc>) -> Outcome {
    Outcome::wait(limits.quota_renewed_at(now), Some(WaitReason::Quota)).refunded()
}

/// A delivery whose connection is paused until `until` by a provider's
/// quota refusal: it waits for the pause's end with `wait_reason`
/// `quota`, using no attempt.
pub fn paused(until: DateTime<Utc>) -> Outcome {
    Outcome::wait(until, Some(WaitReason::Quota)).refunded()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_refusal_pauses_until_the_window_opens_else_for_the_quota_pause() {
        let now = utc("2026-11-21T10:00:00Z");
        assert_eq!(
            Limits::default().quota_paused_until(now),
            now + chrono::Duration::hours(1)
        );
        let windowed = Limits {
            window: Some(Window::parse("06:00-18:00").unwrap()),
            ..Limits::default()
        };
        assert_eq!(
            windowed.quota_paused_until(now),
            utc("2026-11-22T06:00:00Z")
        );
    }

    #[test]
    fn a_used_up_quota_renews_at_the_next_local_midnight_or_the_window_after_it() {
        let jakarta = Limits {
            daily_quota: Some(2),
            timezone: chrono_tz::Asia::Jakarta,
            ..Limits::default()
        };
        // 23:30 on the 2nd in Jakarta (UTC+7) counts in the 2nd; the 3rd
        // starts at 17:00 UTC.
        let now = utc("2026-12-02T16:30:00Z");
        assert_eq!(jakarta.quota_day(now).to_string(), "2026-12-02");
        assert_eq!(jakarta.quota_renewed_at(now), utc("2026-12-02T17:00:00Z"));
        let windowed = Limits {
            window: Some(Window::parse("08:00-17:00").unwrap()),
            ..jakarta
        };
        assert_eq!(windowed.quota_renewed_at(now), utc("2026-12-03T01:00:00Z"));
        let o = quota_used_up(&windowed, now);
        assert_eq!(o.wait_reason, Some(WaitReason::Quota));
        assert!(o.refund_attempt && o.attempt.is_none());
    }

    #[test]
    fn small_quotas_are_reserved_a_call_at_a_time() {
        assert_eq!(quota_block(2), 1);
        assert_eq!(quota_block(999), 1);
        assert_eq!(quota_block(10_000), 10);
        assert_eq!(quota_block(1_000_000_000), 64);
    }

    #[test]
    fn a_paused_delivery_waits_for_the_pause_using_no_attempt() {
        let until = utc("2026-11-22T06:00:00Z");
        let o = paused(until);
        assert_eq!(o.next_attempt_at, Some(until));
        assert_eq!(o.wait_reason, Some(WaitReason::Quota));
        assert!(o.refund_attempt && o.attempt.is_none());
    }
}
