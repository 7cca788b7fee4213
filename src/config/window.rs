//! A connection's sending hours, `"06:00-18:00"`, which may wrap midnight.

use chrono::NaiveTime;

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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
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
}
