//! What `herald list` and `herald show` print: deliveries and their
//! attempts as a person reads them. The provider status by its name, times
//! in UTC to the second, a reason cut to fit a list's row (`show` prints it
//! whole), and every count with its noun in the right number.

use crate::domain::ProviderStatus;
use crate::print::{self, MISSING};
use crate::storage::operator::{AttemptView, DeliveryView};

/// Characters of a reason a row of `herald list` shows.
const LIST_REASON: usize = 48;

/// The provider status by its name (`Read`); a value off the scale, which
/// herald never stores, as its number.
fn provider(status: Option<i16>) -> String {
    status.map_or_else(
        || MISSING.to_owned(),
        |value| {
            ProviderStatus::new(value.into())
                .map_or_else(|| value.to_string(), |s| s.label().to_owned())
        },
    )
}

/// The table of `herald list`, then how many rows it holds, and where more
/// rows match, the command that prints the next page (`next`).
pub fn list(deliveries: &[DeliveryView], next: Option<&str>) -> String {
    let n = deliveries.len();
    let total = print::count(n, "delivery", "deliveries");
    if n == 0 {
        return total;
    }
    let mut table = print::table(
        &[
            "id",
            "connection",
            "status",
            "provider",
            "attempts",
            "resends",
            "next attempt (UTC)",
            "created (UTC)",
            "reason",
        ],
        &[4, 5],
    );
    for d in deliveries {
        let reason = d.fail_reason.as_deref().or(d.wait_reason.as_deref());
        table.add_row([
            d.id.to_string(),
            d.connection.clone(),
            d.status.clone(),
            provider(d.provider_status),
            d.attempts.to_string(),
            d.resends.to_string(),
            print::or_missing(d.next_attempt_at.map(print::time)),
            print::time(d.created_at),
            print::or_missing(reason.map(|r| print::cut(r, LIST_REASON))),
        ]);
    }
    let more = next.map_or_else(String::new, |next| format!("\nnext page: {next}"));
    format!("{}\n{total}, newest first{more}", print::render(&table))
}

/// What `herald show` prints: the delivery's fields, its attempts, and the
/// command it was given.
pub fn show(delivery: &DeliveryView, attempts: &[AttemptView]) -> String {
    let d = delivery;
    let text = |value: &Option<String>| print::or_missing(value.as_deref().map(print::one_line));
    let mut fields = print::table(&[], &[]);
    for (name, value) in [
        ("delivery", d.id.to_string()),
        ("connection", d.connection.clone()),
        ("status", d.status.clone()),
        ("provider", provider(d.provider_status)),
        ("remote id", text(&d.remote_id)),
        ("attempts", d.attempts.to_string()),
        ("resends", d.resends.to_string()),
        (
            "next attempt (UTC)",
            print::or_missing(d.next_attempt_at.map(print::time)),
        ),
        ("wait reason", text(&d.wait_reason)),
        ("fail reason", text(&d.fail_reason)),
        ("created (UTC)", print::time(d.created_at)),
        ("updated (UTC)", print::time(d.updated_at)),
    ] {
        fields.add_row([name.to_owned(), value]);
    }
    let mut out = print::render(&fields);
    out.push_str(&format!(
        "\n\n{}",
        print::count(attempts.len(), "attempt", "attempts")
    ));
    if !attempts.is_empty() {
        let mut table = print::table(
            &[
                "round",
                "attempt",
                "started (UTC)",
                "finished (UTC)",
                "HTTP",
                "outcome",
                "error",
            ],
            &[0, 1, 4],
        );
        for a in attempts {
            table.add_row([
                a.round.to_string(),
                a.attempt.to_string(),
                print::time(a.started_at),
                print::time(a.finished_at),
                print::or_missing(a.http_status.map(|s| s.to_string())),
                a.outcome.clone(),
                text(&a.error),
            ]);
        }
        out.push_str(&format!("\n{}", print::render(&table)));
    }
    let command = d
        .command
        .as_ref()
        .and_then(|c| serde_json::to_string_pretty(c).ok())
        .unwrap_or_else(|| format!("{MISSING} (the command was rejected)"));
    out.push_str(&format!("\n\ncommand\n{command}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .expect("a time")
    }

    fn delivery(status: &str, provider_status: Option<i16>, reason: Option<&str>) -> DeliveryView {
        DeliveryView {
            id: Uuid::new_v4(),
            connection: "konnek-wa".into(),
            status: status.into(),
            provider_status,
            remote_id: Some("wamid-1".into()),
            attempts: 1,
            resends: 0,
            next_attempt_at: None,
            wait_reason: None,
            fail_reason: reason.map(str::to_owned),
            created_at: at("2026-12-02T21:03:11.5+07:00"),
            updated_at: at("2026-12-02T14:03:12Z"),
            command: Some(serde_json::json!({"type": "send"})),
        }
    }

    #[test]
    fn a_list_names_the_provider_status_and_cuts_long_reasons() {
        let long = "provider said: ".to_owned() + &"x".repeat(80);
        let rows = [
            delivery("success", Some(3), None),
            delivery("failed", Some(-3), Some(&long)),
            delivery("sending", None, None),
        ];
        let text = list(&rows, None);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[2].contains(" Read ") && !lines[2].contains(" 3 "),
            "{text}"
        );
        assert!(lines[3].contains(" Failed "), "{text}");
        assert!(lines[3].contains("provider said: xxx") && lines[3].ends_with("x…"));
        assert!(!text.contains(&long), "{text}");
        assert!(lines[0].contains("created (UTC)"), "{text}");
        assert!(lines[2].ends_with("2026-12-02 14:03:11  –"), "{text}");
        assert_eq!(lines.last(), Some(&"3 deliveries, newest first"));
    }

    #[test]
    fn a_list_counts_one_delivery_and_prints_how_to_see_more() {
        let one = list(
            &[delivery("success", Some(1), None)],
            Some("herald list --limit 1 --cursor abc"),
        );
        assert!(
            one.ends_with(
                "1 delivery, newest first\nnext page: herald list --limit 1 --cursor abc"
            ),
            "{one}"
        );
        assert!(one.contains(" Sent "), "{one}");
        assert_eq!(list(&[], None), "0 deliveries");
    }

    #[test]
    fn show_prints_names_times_and_counted_attempts() {
        let d = delivery("failed", Some(2), Some("blocked\nby the provider"));
        let attempt = |n: i32| AttemptView {
            round: 0,
            attempt: n,
            started_at: at("2026-12-02T14:03:11Z"),
            finished_at: at("2026-12-02T14:03:12Z"),
            http_status: (n == 1).then_some(400),
            outcome: "permanent".into(),
            error: None,
        };
        let text = show(&d, &[attempt(1)]);
        assert!(
            text.contains("Delivered") && text.contains("1 attempt\n"),
            "{text}"
        );
        assert!(text.contains("blocked by the provider"), "{text}");
        let created = text.lines().find(|l| l.contains("created (UTC)"));
        assert!(
            created.is_some_and(|l| l.ends_with(" 2026-12-02 14:03:11")),
            "{text}"
        );
        assert!(!text.contains("+00:00"), "{text}");
        let two = show(&d, &[attempt(1), attempt(2)]);
        assert!(two.contains("2 attempts\n"), "{two}");
        let last_attempt = two
            .lines()
            .find(|l| l.contains("permanent") && l.contains(MISSING));
        assert!(last_attempt.is_some(), "no HTTP status is {MISSING}: {two}");
    }
}
