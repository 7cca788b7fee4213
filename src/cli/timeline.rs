//! The timeline `herald show` prints: a delivery's acceptance, its calls
//! (attempt rows) and every other change (its audit trail), merged in the
//! order they happened, one line each.

use crate::print::{self, MISSING};
use crate::storage::events::EventView;
use crate::storage::operator::{AttemptView, DeliveryView};
use chrono::{DateTime, Utc};

/// Characters of an error or reason a timeline line shows.
const DETAIL: usize = 72;

/// One line of the timeline, before it is printed.
struct Line {
    at: DateTime<Utc>,
    what: String,
    status: String,
    detail: String,
    by: String,
}

fn attempt_line(a: &AttemptView) -> Line {
    let what = match a.round {
        0 => format!("attempt {}", a.attempt),
        round => format!("attempt {} (resend {round})", a.attempt),
    };
    let took = (a.finished_at - a.started_at).num_milliseconds().max(0);
    let mut detail = match a.http_status {
        Some(status) => format!("HTTP {status}, {took} ms"),
        None => format!("no HTTP answer, {took} ms"),
    };
    if let Some(error) = &a.error {
        detail.push_str(&format!(
            ": {}",
            print::cut(&print::one_line(error), DETAIL)
        ));
    }
    Line {
        at: a.started_at,
        what,
        status: a.outcome.clone(),
        detail,
        by: "worker".to_owned(),
    }
}

fn event_line(e: &EventView) -> Line {
    let status = match (&e.from_status, &e.to_status) {
        (Some(from), Some(to)) if from == to => to.clone(),
        (Some(from), Some(to)) => format!("{from} → {to}"),
        (None, Some(to)) => to.clone(),
        _ => MISSING.to_owned(),
    };
    let mut detail = e
        .reason
        .as_deref()
        .map(|r| print::cut(&print::one_line(r), DETAIL))
        .unwrap_or_default();
    if let Some(until) = e.until {
        if !detail.is_empty() {
            detail.push_str(", ");
        }
        detail.push_str(&format!("until {}", print::time(until)));
    }
    let by = match &e.operator {
        Some(name) => format!("{} ({})", e.actor, print::one_line(name)),
        None => e.actor.clone(),
    };
    Line {
        at: e.at,
        what: e.kind.replace('_', " "),
        status,
        detail: if detail.is_empty() {
            MISSING.to_owned()
        } else {
            detail
        },
        by,
    }
}

/// The timeline of `delivery`: accepted, then its attempts and events by
/// time (an event and an attempt at the same instant in the order written).
pub fn timeline(delivery: &DeliveryView, attempts: &[AttemptView], events: &[EventView]) -> String {
    let mut lines = vec![Line {
        at: delivery.created_at,
        what: "accepted".to_owned(),
        status: MISSING.to_owned(),
        detail: MISSING.to_owned(),
        by: MISSING.to_owned(),
    }];
    lines.extend(attempts.iter().map(attempt_line));
    lines.extend(events.iter().map(event_line));
    lines[1..].sort_by_key(|line| line.at);
    let mut table = print::table(&["time (UTC)", "what", "status", "detail", "by"], &[]);
    for line in lines {
        table.add_row([
            print::time(line.at),
            line.what,
            line.status,
            line.detail,
            line.by,
        ]);
    }
    print::render(&table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("a time")
    }

    #[test]
    fn attempts_and_events_merge_by_time_with_who_and_why() {
        let delivery = DeliveryView {
            id: Uuid::new_v4(),
            connection: "konnek-wa".into(),
            status: "success".into(),
            provider_status: Some(1),
            remote_id: None,
            attempts: 1,
            resends: 1,
            next_attempt_at: None,
            wait_reason: None,
            fail_reason: None,
            created_at: at("2026-12-02T14:00:00Z"),
            updated_at: at("2026-12-02T14:10:00Z"),
            command: None,
        };
        let attempt =
            |round, started: &str, status, outcome: &str, error: Option<&str>| AttemptView {
                round,
                attempt: 1,
                started_at: at(started),
                finished_at: at(started) + chrono::Duration::milliseconds(120),
                http_status: status,
                outcome: outcome.into(),
                error: error.map(str::to_owned),
            };
        let attempts = [
            attempt(
                0,
                "2026-12-02T14:00:01Z",
                Some(400),
                "permanent",
                Some("bad\nnumber"),
            ),
            attempt(1, "2026-12-02T14:09:00Z", Some(200), "success", None),
        ];
        let event = |time: &str, kind: &str, from: &str, to: &str, actor: &str| EventView {
            at: at(time),
            kind: kind.into(),
            from_status: Some(from.into()),
            to_status: Some(to.into()),
            reason: Some("fixed the number".into()),
            until: None,
            actor: actor.into(),
            operator: Some("alice".into()),
        };
        let events = [event(
            "2026-12-02T14:08:00Z",
            "resent",
            "failed",
            "waitForSending",
            "cli",
        )];
        let text = timeline(&delivery, &attempts, &events);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].trim_start().starts_with("time (UTC)"), "{text}");
        assert!(lines[2].contains("accepted"), "{text}");
        assert!(
            lines[3].contains("attempt 1 ") && lines[3].contains("HTTP 400, 120 ms: bad number"),
            "{text}"
        );
        assert!(
            lines[4].contains("resent")
                && lines[4].contains("failed → waitForSending")
                && lines[4].contains("fixed the number")
                && lines[4].ends_with("cli (alice)"),
            "{text}"
        );
        assert!(lines[5].contains("attempt 1 (resend 1)"), "{text}");
    }
}
