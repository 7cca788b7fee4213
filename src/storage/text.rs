//! Text from outside (providers' answers, refused commands) made storable:
//! PostgreSQL's `text` and `jsonb` cannot hold U+0000, and a long value
//! costs every row and index it enters.

use std::borrow::Cow;

/// The longest reason or provider error kept, in bytes.
pub const MAX_TEXT: usize = 2000;
/// The longest provider message id kept, in bytes: `deliveries_remote`
/// indexes it, and an index entry cannot exceed about 2.7 kB.
pub const MAX_REMOTE_ID: usize = 512;

/// `text` without U+0000 (each replaced by U+FFFD) and at most `max` bytes,
/// cut at a character boundary and marked with `…`. Borrowed when already
/// storable.
pub fn storable(text: &str, max: usize) -> Cow<'_, str> {
    let clean: Cow<'_, str> = if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    };
    if clean.len() <= max {
        return clean;
    }
    let mut cut = max.saturating_sub('…'.len_utf8());
    while !clean.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!("{}…", &clean[..cut]))
}

/// A provider's id for a message, if it can be stored as it is. A cut or
/// altered id would name another message, so one that cannot be stored is
/// not kept at all.
pub fn storable_remote_id(id: &str) -> Option<&str> {
    (id.len() <= MAX_REMOTE_ID && !id.contains('\0')).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_replaced_and_length_bounded() {
        assert!(matches!(storable("fine", 10), Cow::Borrowed("fine")));
        assert_eq!(storable("a\0b", 10), "a\u{FFFD}b");
        let long = "é".repeat(100);
        let cut = storable(&long, 51);
        assert!(cut.len() <= 51, "{}", cut.len());
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn a_remote_id_is_kept_whole_or_not_at_all() {
        assert_eq!(storable_remote_id("m-1"), Some("m-1"));
        assert_eq!(storable_remote_id("m\0"), None);
        assert_eq!(storable_remote_id(&"m".repeat(3000)), None);
        assert!(storable_remote_id(&"m".repeat(MAX_REMOTE_ID)).is_some());
    }
}
