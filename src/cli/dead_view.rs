//! What `herald dead list` and `replay` print: dead letters as a person
//! reads them, through the shared table style of [`crate::print`].

use crate::print;
use crate::queue::dead::{DeadLetter, Listing};

/// Characters of a reason a row shows (`--json` gives it whole).
const ROW_REASON: usize = 60;
/// Characters of an id a row shows.
const ROW_ID: usize = 36;

fn reason(letter: &DeadLetter, max: usize) -> String {
    print::or_missing(letter.reason.as_deref().map(|r| print::cut(r, max)))
}

fn field(value: &Option<String>, max: usize) -> String {
    print::or_missing(value.as_deref().map(|v| print::cut(v, max)))
}

/// The table of `herald dead list`, then how many there are.
pub fn list(listing: &Listing, queue: &str, limit: usize) -> String {
    let shown = listing.letters.len();
    let total = usize::try_from(listing.total).unwrap_or(usize::MAX);
    if shown == 0 {
        return format!("no dead letters in {queue}");
    }
    let mut table = print::table(
        &[
            "handle",
            "dead-lettered (UTC)",
            "type",
            "id",
            "reason",
            "body",
        ],
        &[],
    );
    for letter in &listing.letters {
        table.add_row([
            letter.handle.clone(),
            print::or_missing(letter.dead_lettered_at.map(print::time)),
            field(&letter.kind, 16),
            field(&letter.id, ROW_ID),
            reason(letter, ROW_REASON),
            letter.preview.clone(),
        ]);
    }
    let counted = print::count(total.max(shown), "dead letter", "dead letters");
    let cut = if shown < total {
        format!(
            "; the oldest {shown} shown (--limit {limit}), {} more not",
            total - shown
        )
    } else {
        String::new()
    };
    format!(
        "{}\n{counted} in {queue}, oldest first{cut}; none was taken off the queue",
        print::render(&table)
    )
}

/// One dead letter on one line, for `herald dead replay`.
pub fn line(letter: &DeadLetter) -> String {
    format!(
        "{}  {} {}  (was: {})",
        letter.handle,
        field(&letter.kind, 16),
        field(&letter.id, ROW_ID),
        reason(letter, ROW_REASON),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::print::MISSING;
    use lapin::BasicProperties;
    use lapin::types::{AMQPValue, FieldTable};

    fn letter(body: &str, error: Option<&str>) -> DeadLetter {
        let mut headers = FieldTable::default();
        if let Some(error) = error {
            headers.insert("x-herald-error".into(), AMQPValue::LongString(error.into()));
            headers.insert(
                "x-herald-rejected-at".into(),
                AMQPValue::LongString("2026-12-02T14:03:11.5Z".into()),
            );
        }
        DeadLetter::read(
            body.as_bytes(),
            &BasicProperties::default().with_headers(headers),
        )
    }

    #[test]
    fn a_list_shows_handle_time_reason_and_preview_and_counts_them() {
        let listing = Listing {
            letters: vec![
                letter(
                    r#"{"type":"send","id":"abc","connection":"nowhere"}"#,
                    Some("unknown connection \"nowhere\""),
                ),
                letter("not json\n", None),
            ],
            total: 2,
        };
        let text = list(&listing, "herald.dead", 50);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].trim_start().starts_with("handle") && lines[0].contains("body"),
            "{text}"
        );
        assert!(lines[2].contains("2026-12-02 14:03:11"), "{text}");
        assert!(lines[2].contains(" send ") && lines[2].contains(" abc "));
        assert!(
            lines[2].contains("unknown connection \"nowhere\""),
            "{text}"
        );
        assert!(lines[3].contains(MISSING) && lines[3].ends_with("not json\\n"));
        assert_eq!(
            lines.last(),
            Some(&"2 dead letters in herald.dead, oldest first; none was taken off the queue")
        );
    }

    #[test]
    fn a_list_says_when_the_limit_cut_it_and_when_it_is_empty() {
        let listing = Listing {
            letters: vec![letter("{}", Some("bad"))],
            total: 3,
        };
        let text = list(&listing, "herald.dead", 1);
        assert!(
            text.ends_with(
                "3 dead letters in herald.dead, oldest first; the oldest 1 shown \
                 (--limit 1), 2 more not; none was taken off the queue"
            ),
            "{text}"
        );
        let empty = Listing {
            letters: vec![],
            total: 0,
        };
        assert_eq!(
            list(&empty, "herald.dead", 50),
            "no dead letters in herald.dead"
        );
        let one = line(&letter(r#"{"type":"cancel"}"#, Some("no id")));
        assert!(
            one.contains(" cancel ") && one.ends_with("(was: no id)"),
            "{one}"
        );
    }
}
