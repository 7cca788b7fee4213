//! A connection's limits (`[connection.limits]`) and what they decide:
//! how long a provider's quota refusal pauses the connection, and what a
//! delivery claimed while it is paused becomes. The checks before each
//! call live in [`super::admit`]; the sending window's arithmetic in
//! [`super::window`].

use super::outcome::Outcome;
use super::reasons::WaitReason;
use super::window::Window;
use chrono::{DateTime, Utc};
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
    fn a_paused_delivery_waits_for_the_pause_using_no_attempt() {
        let until = utc("2026-11-22T06:00:00Z");
        let o = paused(until);
        assert_eq!(o.next_attempt_at, Some(until));
        assert_eq!(o.wait_reason, Some(WaitReason::Quota));
        assert!(o.refund_attempt && o.attempt.is_none());
    }
}
