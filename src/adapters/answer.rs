//! Reading a provider's answer, where providers answer alike: the error of
//! a non-2xx status, what an error body says, an unreadable 2xx, and the
//! ids and numbers answers carry as a number or as text.

use super::text::snippet;
use super::{ErrorClass, ProviderError, classify_status};
use serde_json::Value;
use std::time::Duration;

/// The error of a non-2xx answer, as `"{what} (HTTP {status}){about}"`:
/// `refused` (its class and words) where the provider refused the
/// credentials, else the class [`classify_status`] gives and
/// "`who` answered".
pub fn status_error(
    status: u16,
    wait: Option<Duration>,
    refused: Option<(ErrorClass, &str)>,
    who: &str,
    about: &str,
) -> ProviderError {
    let (class, what) = match refused {
        Some((class, what)) => (class, what.to_owned()),
        None => (classify_status(status, wait), format!("{who} answered")),
    };
    let message = format!("{what} (HTTP {status}){about}");
    ProviderError::new(class, Some(status), message)
}

/// A 2xx whose body cannot be read: transient, though the retry may send
/// the message twice (herald prefers that to losing it).
pub fn unreadable(who: &str, status: u16, body: &[u8]) -> ProviderError {
    let what = format!(
        "{who} answered HTTP {status} with an unreadable body{}",
        snippet(body)
    );
    ProviderError::new(ErrorClass::Transient, Some(status), what)
}

/// What a JSON error body says under the first of `keys` that holds
/// something (a string as itself, anything else as JSON), as `": ..."`;
/// else, or for a body that is not JSON, the start of the body.
pub fn detail(body: &[u8], keys: &[&str]) -> String {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return snippet(body);
    };
    let said = keys
        .iter()
        .filter_map(|key| json.get(*key))
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .find(|s| !s.trim().is_empty());
    snippet(said.as_ref().map_or(body, |text| text.as_bytes()))
}

/// A number, or a non-blank string (trimmed), as text: the ids and reasons
/// answers give either way.
pub fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// A whole number, or a string holding one (documents type codes as text
/// and show numbers).
pub fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_key_that_says_something_is_read() {
        let keys = ["error", "message", "errors"];
        let body = br#"{"error": " ", "message": "blank content", "errors": ["x"]}"#;
        assert_eq!(detail(body, &keys), ": blank content");
        assert_eq!(
            detail(br#"{"errors": ["a", "b"]}"#, &keys),
            r#": ["a","b"]"#
        );
        assert_eq!(detail(br#"{"other": 1}"#, &keys), r#": {"other": 1}"#);
        assert_eq!(
            detail(b"<html>bad gateway</html>", &keys),
            ": <html>bad gateway</html>"
        );
    }

    #[test]
    fn refusals_and_other_statuses_are_worded() {
        let refused = Some((ErrorClass::Permanent, "X refused the token"));
        let error = status_error(401, None, refused, "X", ": no");
        assert_eq!(error.class, ErrorClass::Permanent);
        assert_eq!(error.message, "X refused the token (HTTP 401): no");
        let error = status_error(503, None, None, "X", "");
        assert_eq!(
            (error.class, error.http_status),
            (ErrorClass::Transient, Some(503))
        );
        assert_eq!(error.message, "X answered (HTTP 503)");
    }

    #[test]
    fn ids_and_integers_read_numbers_and_text() {
        assert_eq!(text_of(&json!(" m-1 ")), Some("m-1".into()));
        assert_eq!(text_of(&json!(42)), Some("42".into()));
        assert_eq!(text_of(&json!(" ")), None);
        assert_eq!(text_of(&json!(null)), None);
        assert_eq!(integer(&json!(" -3 ")), Some(-3));
        assert_eq!(integer(&json!(200)), Some(200));
        assert_eq!(integer(&json!(true)), None);
    }
}
