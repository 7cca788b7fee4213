//! A connection's sending hours, `"06:00-18:00"`, which may wrap midnight.

use chrono::{DateTime, Days, DurationRound, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};

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
    /// skips is taken as the first instant after the jump; a day on which
    /// the jump skips the whole window has no opening.
    pub fn next_opening<Tz: TimeZone>(&self, tz: &Tz, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = now.with_timezone(tz).date_naive();
        for days in 0..4 {
            let Some(day) = today.checked_add_days(Days::new(days)) else {
                break;
            };
            if let Some(at) = local_to_utc(tz, day.and_time(self.start))
                && at > now
                && self.contains(at.with_timezone(tz).time())
            {
                return at;
            }
        }
        now + chrono::Duration::days(1) // out of chrono's range: a day, at least
    }

    /// Where the window is closed at `now` in `tz`: the first instant after
    /// `now` at which it is open. That is its next opening, unless the
    /// clock changes before it and lands inside the window (a clock going
    /// back into the window's hours opens it again).
    pub fn closed_until<Tz: TimeZone>(&self, tz: &Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let open_at = |at: DateTime<Utc>| self.contains(at.with_timezone(tz).time());
        if open_at(now) {
            return None;
        }
        let opening = self.next_opening(tz, now);
        let offset = |at: DateTime<Utc>| tz.offset_from_utc_datetime(&at.naive_utc()).fix();
        if offset(now) == offset(opening) {
            return Some(opening);
        }
        // Windows open at whole local minutes, and every zone's offset is
        // whole minutes: the first whole minute that is open is the opening.
        let minute = chrono::Duration::minutes(1);
        let Ok(whole) = now.duration_trunc(minute) else {
            return Some(opening);
        };
        let mut at = whole + minute;
        while at < opening {
            if open_at(at) {
                return Some(at);
            }
            at += minute;
        }
        Some(opening)
    }
}

/// The instant of a local time; the earlier one where the clock goes back,
/// the first one after the gap where it jumps forward.
pub(super) fn local_to_utc<Tz: TimeZone>(tz: &Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    for minutes in (0..=180).step_by(15) {
        let shifted = local + chrono::Duration::minutes(minutes);
        if let Some(at) = tz.from_local_datetime(&shifted).earliest() {
            return Some(at.with_timezone(&Utc));
        }
    }
    None
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;
