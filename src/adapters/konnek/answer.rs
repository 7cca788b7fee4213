//! Konnek's answers: `meta.status` and `meta.code`, `data.status` on the
//! provider's -3..3 scale, and HTTP statuses the format does not describe.

use super::super::answer::integer;
use super::super::text::snippet;
use super::super::{ErrorClass, ProviderError, Sent, classify_status};
use crate::domain::ProviderStatus;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// Konnek's answer, as far as herald reads it.
#[derive(Deserialize)]
struct Reply {
    meta: Meta,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Meta {
    status: bool,
    #[serde(default)]
    code: Value,
    #[serde(default)]
    message: Value,
    #[serde(default)]
    errors: Value,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    message_id: Value,
    #[serde(default)]
    status: Value,
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.trim().to_owned()),
        other => Some(other.to_string()),
    }
}

/// `meta.message` and `meta.errors`, for an error string.
fn detail(meta: &Meta) -> String {
    let parts: Vec<String> = [&meta.message, &meta.errors]
        .into_iter()
        .filter_map(text_of)
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join("; "))
    }
}

/// Classifies Konnek's answer: HTTP status, `Retry-After` and the whole body.
pub fn interpret(status: u16, wait: Option<Duration>, body: &[u8]) -> Result<Sent, ProviderError> {
    if !(200..300).contains(&status) {
        return Err(http_error(status, wait, body));
    }
    let reply: Reply = serde_json::from_slice(body).map_err(|e| {
        // We resend the same `id` on the retry: Konnek's unique message code.
        let what = format!("Konnek answered HTTP {status} with an unreadable body ({e})");
        ProviderError::new(ErrorClass::Transient, Some(status), what)
    })?;
    if !reply.meta.status {
        return Err(refused(status, wait, &reply.meta));
    }
    let (remote_id, value) = match &reply.data {
        Some(data) => (text_of(&data.message_id), integer(&data.status)),
        None => (None, None),
    };
    let provider_status = value.and_then(ProviderStatus::new);
    match provider_status {
        Some(s) if s < ProviderStatus::PENDING => {
            let class = if s == ProviderStatus::UNSENT {
                ErrorClass::Transient
            } else {
                ErrorClass::Permanent
            };
            let what = format!("Konnek accepted the call but reports the message {s}");
            Err(ProviderError::new(class, Some(status), what))
        }
        _ => Ok(Sent {
            http_status: status,
            remote_id,
            provider_status,
        }),
    }
}

/// HTTP 2xx with `meta.status: false`: `meta.code` says what went wrong.
fn refused(status: u16, wait: Option<Duration>, meta: &Meta) -> ProviderError {
    let code = integer(&meta.code).and_then(|c| u16::try_from(c).ok());
    let class = code.map_or(ErrorClass::Permanent, |c| classify_status(c, wait));
    let code_text = code.map_or_else(|| "no code".to_owned(), |c| format!("code {c}"));
    let what = match code {
        Some(401 | 403) => "Konnek refused the credentials",
        _ => "Konnek refused the message",
    };
    let message = format!("{what} ({code_text}){}", detail(meta));
    ProviderError::new(class, Some(status), message)
}

/// A non-2xx answer.
fn http_error(status: u16, wait: Option<Duration>, body: &[u8]) -> ProviderError {
    if matches!(status, 401 | 403) {
        // Static credentials: retrying cannot help.
        let message = format!("Konnek refused the credentials (HTTP {status})");
        return ProviderError::new(ErrorClass::Permanent, Some(status), message);
    }
    let about = match serde_json::from_slice::<Reply>(body) {
        Ok(reply) => detail(&reply.meta),
        Err(_) => snippet(body),
    };
    let message = format!("Konnek answered HTTP {status}{about}");
    ProviderError::new(classify_status(status, wait), Some(status), message)
}
