//! HighQ's answers: the new conversation's (JSON or XML, as the document's
//! sample) and the token endpoint's.

use super::super::answer::{status_error, text_of, unreadable};
use super::super::text::snippet;
use super::super::{ErrorClass, ProviderError, Sent};
use crate::domain::ProviderStatus;
use serde_json::Value;
use std::time::Duration;

/// A pair from the token endpoint.
pub struct Issued {
    pub access_token: String,
    /// HighQ sends a new one with every access token.
    pub refresh_token: Option<String>,
    pub expires_in: Option<Duration>,
}

/// Never prints the tokens.
impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// The text of the first `<tag>` element of an XML answer.
fn xml_text<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    let text = body[start..end].trim();
    let text = text
        .strip_prefix("<![CDATA[")
        .and_then(|t| t.strip_suffix("]]>"))
        .unwrap_or(text)
        .trim();
    (!text.is_empty()).then_some(text)
}

/// `messages.message[0].messageid` of the JSON answer (`message` may be a
/// list or, as some XML-to-JSON renderings have it, one object; the whole
/// may sit under `conversation`).
fn json_message_id(json: &Value) -> Option<String> {
    let root = json.get("conversation").unwrap_or(json);
    let message = root.get("messages")?.get("message")?;
    let first = match message {
        Value::Array(list) => list.first()?,
        other => other,
    };
    text_of(first.get("messageid")?)
}

fn is_xml(text: &str) -> bool {
    text.trim_start().starts_with('<')
}

/// What an error object says: its `summary` (and `ref`), JSON or XML.
fn detail(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if is_xml(&text) {
        let summary = xml_text(&text, "summary");
        return snippet(summary.map_or(body, str::as_bytes));
    }
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return snippet(body);
    };
    // OAuth2's own form: `error` a code, `error_description` its words.
    if let Some(code) = json.get("error").and_then(Value::as_str) {
        let text = match json.get("error_description").and_then(Value::as_str) {
            Some(words) => format!("{code}: {words}"),
            None => code.to_owned(),
        };
        return snippet(text.as_bytes());
    }
    let error = json.get("error").unwrap_or(&json);
    let said = ["summary", "error_description", "message"]
        .iter()
        .filter_map(|key| error.get(*key).and_then(Value::as_str))
        .find(|s| !s.trim().is_empty());
    snippet(said.map_or(body, str::as_bytes))
}

/// Classifies the answer to a new conversation. A 401 or 403 is an
/// expired access token ("Access denied"), unless it says validation
/// failed.
pub fn interpret(status: u16, wait: Option<Duration>, body: &[u8]) -> Result<Sent, ProviderError> {
    if !(200..300).contains(&status) {
        let about = detail(body);
        let validation = about.to_ascii_lowercase().contains("validation");
        let refused = (matches!(status, 401 | 403) && !validation)
            .then_some((ErrorClass::AuthExpired, "HighQ refused the access token"));
        return Err(status_error(status, wait, refused, "HighQ", &about));
    }
    let text = String::from_utf8_lossy(body);
    let remote_id = if is_xml(&text) {
        xml_text(&text, "conversation").map(|_| xml_text(&text, "messageid").map(str::to_owned))
    } else {
        serde_json::from_slice::<Value>(body)
            .ok()
            .filter(Value::is_object)
            .map(|json| json_message_id(&json))
    };
    let Some(remote_id) = remote_id else {
        // No idempotency key: the retry may start the conversation twice.
        return Err(unreadable("HighQ", status, body));
    };
    Ok(Sent {
        http_status: status,
        remote_id,
        provider_status: Some(ProviderStatus::SENT),
    })
}

/// Classifies the token endpoint's answer to a refresh-token grant.
pub fn interpret_token(
    status: u16,
    wait: Option<Duration>,
    body: &[u8],
) -> Result<Issued, ProviderError> {
    if !(200..300).contains(&status) {
        let refused = matches!(status, 400 | 401 | 403)
            .then_some((ErrorClass::Permanent, "HighQ refused the refresh token"));
        let who = "HighQ's token endpoint";
        return Err(status_error(status, wait, refused, who, &detail(body)));
    }
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |key: &str| {
        json.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let Some(access_token) = text("access_token") else {
        let what = format!("HighQ's token endpoint answered HTTP {status} without an access_token");
        return Err(ProviderError::new(
            ErrorClass::Transient,
            Some(status),
            what,
        ));
    };
    let expires_in = match json.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    Ok(Issued {
        access_token,
        refresh_token: text("refresh_token"),
        expires_in: expires_in.map(Duration::from_secs),
    })
}
