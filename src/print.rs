//! How herald prints for a person to read: one table style (no borders, no
//! `|`, numbers right-aligned), times in UTC to the second, one mark for a
//! value that is missing, long text cut with `…`, and counts whose noun
//! agrees with the number. `herald list`, `show`, `resend`, `cancel` and the
//! bench's tables print through it.

use chrono::{DateTime, Utc};
use comfy_table::{CellAlignment, Table};

/// What a cell shows where there is no value.
pub const MISSING: &str = "–";

/// No outer border and no vertical lines: one line under the header.
const STYLE: &str = "     -              ";

/// A table headed by `header` (a `\n` in a name gives it two lines), whose
/// columns numbered in `right` are right-aligned, header included.
pub fn table(header: &[&str], right: &[usize]) -> Table {
    let mut table = Table::new();
    table.load_preset(STYLE);
    if !header.is_empty() {
        table.set_header(header.to_vec());
    }
    align_right(&mut table, right);
    table
}

/// Right-aligns the columns numbered in `right` (those the table has).
pub fn align_right(table: &mut Table, right: &[usize]) {
    for &index in right {
        if let Some(column) = table.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// The table as text, without the padding at the end of its lines.
pub fn render(table: &Table) -> String {
    table.trim_fmt()
}

/// A time as every table shows it, in UTC: `2026-12-02 14:03:11`. The
/// column or field name says `(UTC)`.
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `value`, or [`MISSING`].
pub fn or_missing(value: Option<String>) -> String {
    value.unwrap_or_else(|| MISSING.to_owned())
}

/// `text` on one line (a provider's newlines and other control characters
/// become spaces), cut to at most `max` characters with `…` at the end.
pub fn cut(text: &str, max: usize) -> String {
    let line: String = one_line(text);
    if line.chars().count() <= max {
        return line;
    }
    let kept: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", kept.trim_end())
}

/// `text` with its control characters as spaces, trimmed.
pub fn one_line(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    line.trim().to_owned()
}

/// `n` with the noun that agrees with it: `1 delivery`, `2 deliveries`,
/// `0 deliveries`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The program's name as it was invoked (`./target/release/herald`, or
/// `herald` from the PATH), for hints that must run as printed.
pub fn program() -> String {
    std::env::args_os()
        .next()
        .map_or_else(|| "herald".into(), |p| p.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(0, "delivery", "deliveries"), "0 deliveries");
        assert_eq!(count(1, "delivery", "deliveries"), "1 delivery");
        assert_eq!(count(2, "delivery", "deliveries"), "2 deliveries");
        assert_eq!(count(1, "worker", "workers"), "1 worker");
    }

    #[test]
    fn long_text_is_cut_on_one_line() {
        assert_eq!(cut("quota closed", 20), "quota closed");
        assert_eq!(cut("abcdefghij", 10), "abcdefghij");
        assert_eq!(cut("abcdefghijk", 10), "abcdefghi…");
        assert_eq!(cut("line one\nline two", 40), "line one line two");
        assert_eq!(cut("a b c d e f g", 5), "a b…");
        // Characters, not bytes: a multi-byte character is never split.
        assert_eq!(cut("éééééé", 4), "ééé…");
    }

    #[test]
    fn times_are_utc_to_the_second() {
        let at = DateTime::parse_from_rfc3339("2026-12-02T21:03:11.734+07:00")
            .map(|t| t.with_timezone(&Utc))
            .expect("a time");
        assert_eq!(time(at), "2026-12-02 14:03:11");
    }

    #[test]
    fn tables_have_no_border_and_numbers_on_the_right() {
        let mut table = table(&["name", "count"], &[1]);
        table.add_row(["a", "7"]);
        table.add_row(["longer name", "1234"]);
        table.add_row(["none", MISSING]);
        let text = render(&table);
        assert!(!text.contains('|'), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        // The header, its line, and the three rows, each ending at the
        // right edge of the count column.
        assert_eq!(lines.len(), 5, "{text}");
        let edge = lines[0].chars().count();
        for line in [lines[0], lines[2], lines[3], lines[4]] {
            assert_eq!(line.chars().count(), edge, "{text}");
        }
        assert!(
            lines[2].ends_with(" 7") && lines[4].ends_with(" –"),
            "{text}"
        );
    }
}
