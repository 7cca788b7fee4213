//! A connection's sending hours, `"06:00-18:00"`, which may wrap midnight.

use chrono::{DateTime, Days, NaiveDateTime, NaiveTime, TimeZone, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Window {
    pub fn parse(text: &str) -> Result<Window, String> {
        let bad = || format!("window {text:?} is not HH:MM-HH:MM");
        let (start, end) = text.split_once('-').ok_or_else(bad)?;
        let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| bad());
        let window = Window {
            start: time(start)?,
            end: time(end)?,
        };
        if window.start == window.end {
            return Err(format!("window {text:?} is empty"));
        }
        Ok(window)
    }

    /// Whether `time` (local to the connection's time zone) is inside the window.
    pub fn contains(&self, time: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }

    /// The first time after `now` at which the window opens in `tz`: today's
    /// `start` if it is still ahead, else tomorrow's. Whether `now` is inside
    /// the window does not matter: a provider that closed during the window
    /// is closed until its next one. A `start` that a daylight-saving jump
    /// skips is taken as the first instant after the jump.
    pub fn next_opening<Tz: TimeZone>(&self, tz: &Tz, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = now.with_timezone(tz).date_naive();
        for days in 0..3 {
            let Some(day) = today.checked_add_days(Days::new(days)) else {
                break;
            };
            if let Some(at) = local_to_utc(tz, day.and_time(self.start))
                && at > now
            {
                return at;
            }
        }
        now + chrono::Duration::days(1) // out of chrono's range: a day, at least
    }
}

/// The instant of a local time; the earlier one where the clock goes back,
/// the first one after the gap where it jumps forward.
fn local_to_utc<Tz: TimeZone>(tz: &Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    for minutes in (0..=180).step_by(15) {
        let shifted = local + chrono::Duration::minutes(minutes);
        if let Some(at) = tz.from_local_datetime(&shifted).earliest() {
            return Some(at.with_timezone(&Utc));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn day_and_wrapping_windows() {
        let day = Window::parse("06:00-18:00").unwrap();
        assert!(day.contains(t("06:00")) && day.contains(t("17:59")));
        assert!(!day.contains(t("18:00")) && !day.contains(t("05:59")));
        let night = Window::parse("22:00-06:00").unwrap();
        assert!(night.contains(t("23:00")) && night.contains(t("05:00")));
        assert!(!night.contains(t("12:00")));
        assert!(Window::parse("6-18").is_err());
        assert!(Window::parse("25:00-18:00").is_err());
        assert!(Window::parse("06:00-06:00").is_err());
    }

    #[test]
    fn the_next_opening_is_todays_start_if_ahead_else_tomorrows() {
        let day = Window::parse("06:00-18:00").unwrap();
        let utc_tz = chrono_tz::UTC;
        // Before the window: today's opening.
        let at = day.next_opening(&utc_tz, utc("2026-11-21T04:30:00Z"));
        assert_eq!(at, utc("2026-11-21T06:00:00Z"));
        // Inside it (the provider closed early) and after it: tomorrow's.
        let at = day.next_opening(&utc_tz, utc("2026-11-21T10:00:00Z"));
        assert_eq!(at, utc("2026-11-22T06:00:00Z"));
        let at = day.next_opening(&utc_tz, utc("2026-11-21T20:00:00Z"));
        assert_eq!(at, utc("2026-11-22T06:00:00Z"));
        // Exactly at the opening: the next one.
        let at = day.next_opening(&utc_tz, utc("2026-11-21T06:00:00Z"));
        assert_eq!(at, utc("2026-11-22T06:00:00Z"));
    }

    #[test]
    fn the_next_opening_is_in_the_connections_time_zone() {
        // 22:00-06:00 in Jakarta (UTC+7) opens at 15:00 UTC.
        let night = Window::parse("22:00-06:00").unwrap();
        let jakarta = chrono_tz::Asia::Jakarta;
        let at = night.next_opening(&jakarta, utc("2026-11-21T10:00:00Z"));
        assert_eq!(at, utc("2026-11-21T15:00:00Z"));
        // 23:30 in Jakarta is already the next local day's evening to come.
        let at = night.next_opening(&jakarta, utc("2026-11-21T16:30:00Z"));
        assert_eq!(at, utc("2026-11-22T15:00:00Z"));
    }

    #[test]
    fn an_opening_a_daylight_saving_jump_skips_is_just_after_it() {
        // Berlin skips 02:00-03:00 on 2026-03-29: 02:30 does not exist.
        let window = Window::parse("02:30-05:00").unwrap();
        let berlin = chrono_tz::Europe::Berlin;
        let at = window.next_opening(&berlin, utc("2026-03-28T23:00:00Z"));
        assert_eq!(at, utc("2026-03-29T01:00:00Z"), "03:00 CEST");
        // Where the clock goes back (2026-10-25, 02:00-03:00 twice), the first.
        let at = window.next_opening(&berlin, utc("2026-10-24T22:00:00Z"));
        assert_eq!(at, utc("2026-10-25T00:30:00Z"), "02:30 CEST");
    }
}
