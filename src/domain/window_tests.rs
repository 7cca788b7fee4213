//! The window's arithmetic: openings in a zone, across its clock changes.

use super::*;
use proptest::prelude::*;

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

/// Days around the clock changes of the zones below, and ordinary days.
const DAYS: [&str; 10] = [
    "2026-03-08", // New York springs forward
    "2026-11-01", // New York falls back
    "2026-03-29", // London springs forward
    "2026-10-25", // London falls back
    "2026-04-05", // Lord Howe falls back half an hour
    "2026-10-04", // Lord Howe springs forward half an hour
    "2026-06-15",
    "2026-12-31",
    "2027-02-28",
    "2026-07-04",
];

fn zone(i: usize) -> chrono_tz::Tz {
    [
        chrono_tz::UTC,
        chrono_tz::America::New_York,
        chrono_tz::Europe::London,
        chrono_tz::Australia::Lord_Howe,
        chrono_tz::Asia::Jakarta,
    ][i % 5]
}

proptest! {
    #[test]
    fn a_closed_window_opens_at_the_first_open_instant_ahead(
        start in 0u32..1440,
        length in 1u32..1440,
        day in 0usize..DAYS.len(),
        second in -86_400i64..2 * 86_400,
        z in 0usize..5,
    ) {
        let hm = |m: u32| format!("{:02}:{:02}", m / 60 % 24, m % 60);
        let window = Window::parse(&format!("{}-{}", hm(start), hm(start + length))).unwrap();
        let tz = zone(z);
        let now = utc(&format!("{}T00:00:00Z", DAYS[day])) + chrono::Duration::seconds(second);
        let open = |at: DateTime<Utc>| window.contains(at.with_timezone(&tz).time());
        match window.closed_until(&tz, now) {
            None => prop_assert!(open(now)),
            Some(opening) => {
                prop_assert!(!open(now));
                prop_assert!(opening > now, "never in the past");
                prop_assert!(open(opening), "never inside a closed span");
                // The first such instant: closed at every minute between,
                // and just before it.
                let mut at = now + chrono::Duration::seconds(1);
                while at < opening {
                    prop_assert!(!open(at), "open at {at} before {opening}");
                    at += chrono::Duration::minutes(1);
                }
                prop_assert!(!open(opening - chrono::Duration::seconds(1)));
            }
        }
    }
}

#[test]
fn a_window_the_clock_skips_opens_the_next_day() {
    // New York skips 02:00-03:00 on 2026-03-08: 02:00-02:45 does not exist.
    let window = Window::parse("02:00-02:45").unwrap();
    let ny = chrono_tz::America::New_York;
    let at = window.closed_until(&ny, utc("2026-03-08T05:00:00Z"));
    assert_eq!(
        at,
        Some(utc("2026-03-09T06:00:00Z")),
        "02:00 EDT the day after"
    );
}

#[test]
fn a_clock_going_back_into_the_window_opens_it() {
    // New York falls back from 02:00 EDT to 01:00 EST on 2026-11-01: a
    // window of 00:00-01:30 closes at 01:30 EDT and opens again at the
    // change, when the clock reads 01:00 once more.
    let window = Window::parse("00:00-01:30").unwrap();
    let ny = chrono_tz::America::New_York;
    let at = window.closed_until(&ny, utc("2026-11-01T05:45:00Z")); // 01:45 EDT
    assert_eq!(at, Some(utc("2026-11-01T06:00:00Z")), "01:00 EST");
}
