//! Small text helpers the adapters share: a plain-text rendering of HTML for
//! providers that want both, the start of an unreadable answer for an error
//! string, and the redaction that keeps secrets out of every error.

use super::ProviderError;

/// The text of an HTML fragment: tags dropped, the common entities decoded,
/// whitespace collapsed. Good enough for a provider's plain-text alternative;
/// not an HTML parser.
pub fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if in_tag => {}
            c => text.push(c),
        }
    }
    let decoded = decode_entities(&text);
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The start of a body that is not the provider's JSON (a proxy's HTML
/// page, say), as `": ..."` for an error string; empty for an empty body.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let words: Vec<&str> = text.split_whitespace().collect();
    let flat = words.join(" ");
    match flat.char_indices().nth(100) {
        // Cut between words: a word cut in two may be the first half of a
        // secret the provider echoed, which the redaction of whole secrets
        // would not find. A first word longer than the bound goes whole.
        Some((cut, _)) => {
            let head = match flat[cut..].starts_with(' ') {
                true => &flat[..cut],
                false => flat[..cut].rsplit_once(' ').map_or("", |(head, _)| head),
            };
            format!(": {head}...")
        }
        None if flat.is_empty() => String::new(),
        None => format!(": {flat}"),
    }
}

/// `message` with every non-empty `secret` replaced by `[redacted]`.
fn redact<'a>(message: &mut String, secrets: impl IntoIterator<Item = &'a str>) {
    for secret in secrets {
        if !secret.is_empty() && message.contains(secret) {
            *message = message.replace(secret, "[redacted]");
        }
    }
}

/// `error` without `secrets` in its message: what an adapter's `send` hands
/// back, even where a provider echoes what it was sent.
pub fn redacted<'a>(
    mut error: ProviderError,
    secrets: impl IntoIterator<Item = &'a str>,
) -> ProviderError {
    redact(&mut error.message, secrets);
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_plain_text() {
        assert_eq!(html_to_text("Hello <html></html>"), "Hello");
        assert_eq!(
            html_to_text("<p>Tom &amp; Jerry</p><p>&lt;3&nbsp;you</p>"),
            "Tom & Jerry <3 you"
        );
        assert_eq!(html_to_text("plain"), "plain");
        assert_eq!(html_to_text(""), "");
    }

    #[test]
    fn snippets_are_short_and_flat() {
        assert_eq!(snippet(b""), "");
        assert_eq!(snippet(b"<b>bad\n gateway</b>"), ": <b>bad gateway</b>");
        assert!(snippet("y".repeat(400).as_bytes()).len() < 110);
    }

    #[test]
    fn a_snippet_never_keeps_half_a_secret() {
        let secret = "LEAK-s3cret-value";
        for pad in 80..100 {
            let body = format!("{} {secret} tail", "y".repeat(pad));
            let mut message = snippet(body.as_bytes());
            redact(&mut message, [secret]);
            assert!(!message.contains("LEAK"), "{message}");
        }
        let long = format!("{secret}{}", "z".repeat(200));
        assert_eq!(snippet(long.as_bytes()), ": ...");
    }

    #[test]
    fn secrets_are_replaced() {
        let mut message = "user u1 pw hunter2".to_owned();
        redact(&mut message, ["hunter2", "", "u1"]);
        assert_eq!(message, "user [redacted] pw [redacted]");
    }
}
