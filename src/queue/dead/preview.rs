//! A dead letter's body as `herald dead` shows it: its first characters
//! only (a poison may be megabytes), read as UTF-8 whatever it holds, with
//! control characters escaped so that a body cannot garble a terminal.

/// Characters of a body a preview shows, escapes included.
pub const PREVIEW_CHARS: usize = 80;

/// The first [`PREVIEW_CHARS`] characters of a body, read as UTF-8 (what
/// is not becomes `�`), control characters escaped, `…` where cut.
pub fn preview(body: &[u8]) -> String {
    // Enough bytes for the characters shown, however wide they are.
    let head = &body[..body.len().min(PREVIEW_CHARS * 4 + 4)];
    let mut text = escaped(&String::from_utf8_lossy(head), PREVIEW_CHARS);
    if head.len() < body.len() && !text.ends_with('…') {
        // Cut inside the bytes read: the last character may be half of one.
        text = text.trim_end_matches('\u{FFFD}').to_owned();
        text.push('…');
    }
    text
}

/// `text` with control characters escaped (`\n`, `\t`, `\r`, `\u{0}`),
/// at most `max` characters, cut with `…`.
pub(super) fn escaped(text: &str, max: usize) -> String {
    let mut pieces = Vec::new();
    let mut total = 0;
    for c in text.chars() {
        let piece = match c {
            '\n' => "\\n".to_owned(),
            '\r' => "\\r".to_owned(),
            '\t' => "\\t".to_owned(),
            c if c.is_control() => format!("\\u{{{:x}}}", u32::from(c)),
            c => c.to_string(),
        };
        total += piece.chars().count();
        pieces.push(piece);
        if total > max {
            break;
        }
    }
    if total <= max {
        return pieces.concat();
    }
    let mut out = String::new();
    let mut shown = 0;
    for piece in pieces {
        let width = piece.chars().count();
        if shown + width >= max {
            break;
        }
        out.push_str(&piece);
        shown += width;
    }
    out.push('…');
    out
}
