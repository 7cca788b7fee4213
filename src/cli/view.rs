//! What `herald list` and `herald show` print: deliveries and their
//! attempts as a person reads them. The provider status by its name, times
//! in UTC to the second, a reason cut to fit a list's row (`show` prints it
//! whole), and every count with its noun in the right number.

use super::timeline;
use crate::domain::ProviderStatus;
use crate::print::{self, MISSING};
use crate::storage::events::EventView;
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

/// Characters of a message's text `herald show` prints.
const SHOW_TEXT: usize = 60;

/// What `herald show` prints: the delivery's fields, a summary of its
/// message (recipients, kind, the start of its text; never a provider's
/// credentials, which no command holds), and its timeline.
pub fn show(delivery: &DeliveryView, attempts: &[AttemptView], events: &[EventView]) -> String {
    let d = delivery;
    let text = |value: &Option<String>| print::or_missing(value.as_deref().map(print::one_line));
    let mut fields = print::table(&[], &[]);
    let mut rows = vec![
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
    ];
    match &d.command {
        Some(command) => rows.extend(summary(command)),
        None => rows.push(("message", format!("{MISSING} (the command was rejected)"))),
    }
    for (name, value) in rows {
        fields.add_row([name.to_owned(), value]);
    }
    format!(
        "{}\n\n{}, {}\n{}",
        print::render(&fields),
        print::count(attempts.len(), "attempt", "attempts"),
        print::count(events.len(), "other change", "other changes"),
        timeline::timeline(d, attempts, events)
    )
}

/// The message of a stored send command, as `show`'s rows.
fn summary(command: &serde_json::Value) -> Vec<(&'static str, String)> {
    let message = &command["message"];
    let words = |value: &serde_json::Value| value.as_str().map(print::one_line);
    let mut rows = Vec::new();
    let kind = words(&message["kind"]).unwrap_or_else(|| "text".to_owned());
    rows.push(("message", kind));
    let mut to = words(&message["to"]).into_iter().collect::<Vec<_>>();
    for copy in ["cc", "bcc"] {
        if let Some(list) = message[copy].as_array() {
            to.extend(
                list.iter()
                    .filter_map(words)
                    .map(|r| format!("{r} ({copy})")),
            );
        }
    }
    if !to.is_empty() {
        rows.push(("to", to.join(", ")));
    }
    for (name, key) in [("subject", "subject"), ("text", "text")] {
        if let Some(value) = words(&message[key]) {
            rows.push((name, print::cut(&value, SHOW_TEXT)));
        }
    }
    if let Some(media) =
        words(&message["media"]["name"]).or_else(|| words(&message["media"]["url"]))
    {
        rows.push(("media", print::cut(&media, SHOW_TEXT)));
    }
    if let (Some(group), Some(order)) = (
        words(&command["group"]["id"]),
        command["group"]["order"].as_u64(),
    ) {
        rows.push(("group", format!("{group}, member {order}")));
    }
    for (name, key) in [("not before", "not_before"), ("expires at", "expires_at")] {
        if let Some(value) = words(&command[key]) {
            rows.push((name, value));
        }
    }
    rows
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
            command: Some(
                serde_json::json!({"type": "send", "message": {"to": "+1", "text": "hi"}}),
            ),
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
        let text = show(&d, &[attempt(1)], &[]);
        assert!(
            text.contains("Delivered") && text.contains("1 attempt, 0 other changes\n"),
            "{text}"
        );
        assert!(text.contains("to   ") && text.contains("+1"), "{text}");
        assert!(text.contains("blocked by the provider"), "{text}");
        let created = text.lines().find(|l| l.contains("created (UTC)"));
        assert!(
            created.is_some_and(|l| l.ends_with(" 2026-12-02 14:03:11")),
            "{text}"
        );
        assert!(!text.contains("+00:00"), "{text}");
        let two = show(&d, &[attempt(1), attempt(2)], &[]);
        assert!(two.contains("2 attempts, 0 other changes\n"), "{two}");
        let last_attempt = two
            .lines()
            .find(|l| l.contains("permanent") && l.contains("no HTTP answer"));
        assert!(last_attempt.is_some(), "{two}");
    }
}
