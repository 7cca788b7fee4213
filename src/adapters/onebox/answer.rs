//! OneBox's answers, classified (`providers/onebox-message-create.md`,
//! `providers/onebox-authenticate.md`).
//!
//! Both refusals the documents name come as HTTP 401 with the envelope
//! `{"_meta": {"status": "ERROR"}, "records": {"errorCode": 401,
//! "userMessage": ...}}` and can only be told apart by `userMessage`:
//! "Expired token" is [`ErrorClass::AuthExpired`], "time limit reached ..."
//! is [`ErrorClass::QuotaClosed`]. Any other 401 is taken as a token the
//! server no longer knows: auth-expired too, so it is renewed once.

use super::super::answer::{integer, text_of, unreadable};
use super::super::text::snippet;
use super::super::{ErrorClass, ProviderError, Sent, classify_status};
use crate::domain::ProviderStatus;
use serde_json::Value;
use std::time::Duration;

const EXPIRED: &str = "expired token";
const TIME_LIMIT: &str = "time limit reached";

/// The envelope's `userMessage`, or the raw text of a body that is not JSON
/// (the document's own quota sample is not valid JSON).
fn user_message(json: Option<&Value>, body: &[u8]) -> Option<String> {
    match json {
        Some(json) => json
            .pointer("/records/userMessage")
            .and_then(Value::as_str)
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty()),
        None => Some(String::from_utf8_lossy(body).into_owned()),
    }
}

fn is_error_envelope(json: &Value) -> bool {
    json.pointer("/_meta/status")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("ERROR"))
}

/// The two documented refusals, from a 401 or an error envelope.
fn documented(status: u16, message: &str) -> Option<ProviderError> {
    let lower = message.to_ascii_lowercase();
    if lower.contains(TIME_LIMIT) {
        let start = lower.find(TIME_LIMIT).unwrap_or(0);
        let refusal = message[start..]
            .split(['"', '\n'])
            .next()
            .unwrap_or(message);
        let what = format!("OneBox's quota is closed: {}", refusal.trim());
        return Some(ProviderError::new(
            ErrorClass::QuotaClosed,
            Some(status),
            what,
        ));
    }
    if lower.contains(EXPIRED) {
        let what = "OneBox answered \"Expired token\"";
        return Some(ProviderError::new(
            ErrorClass::AuthExpired,
            Some(status),
            what,
        ));
    }
    None
}

/// `records.userMessage`, or the start of the body, as `": ..."`.
fn about(json: Option<&Value>, body: &[u8]) -> String {
    match json.and_then(|j| user_message(Some(j), body)) {
        Some(message) => format!(": {message}"),
        None => snippet(body),
    }
}

/// A refusal of the message call: the HTTP status, or for an error envelope
/// that came with a 2xx, its `errorCode`.
fn refusal(
    status: u16,
    wait: Option<Duration>,
    json: Option<&Value>,
    body: &[u8],
) -> ProviderError {
    if let Some(message) = user_message(json, body)
        && (status == 401 || json.is_some_and(is_error_envelope))
        && let Some(error) = documented(status, &message)
    {
        return error;
    }
    let code = json
        .and_then(|j| j.pointer("/records/errorCode"))
        .and_then(integer)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|_| (200..300).contains(&status))
        .unwrap_or(status);
    let detail = about(json, body);
    if code == 401 {
        let what = format!("OneBox refused the token{detail}");
        return ProviderError::new(ErrorClass::AuthExpired, Some(status), what);
    }
    let what = if code == status {
        format!("OneBox answered HTTP {status}{detail}")
    } else {
        format!("OneBox answered HTTP {status} with error {code}{detail}")
    };
    ProviderError::new(classify_status(code, wait), Some(status), what)
}

/// Classifies the answer to `POST /api/message`. A success echoes the stored
/// message in `data[0]`: its `Id` is the remote id; OneBox's `StatusId`
/// codes are not documented, so a send is `1 Sent`.
pub fn interpret(status: u16, wait: Option<Duration>, body: &[u8]) -> Result<Sent, ProviderError> {
    let json = serde_json::from_slice::<Value>(body).ok();
    if !(200..300).contains(&status) || json.as_ref().is_some_and(is_error_envelope) {
        return Err(refusal(status, wait, json.as_ref(), body));
    }
    let Some(json) = json else {
        // OneBox takes no idempotency key: a retry may store the message
        // twice, which herald prefers to losing it.
        return Err(unreadable("OneBox", status, body));
    };
    let remote_id = json.pointer("/data/0/Id").and_then(text_of);
    Ok(Sent {
        http_status: status,
        remote_id,
        provider_status: Some(ProviderStatus::SENT),
    })
}

/// A token `POST /api/authenticate` issued.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    pub token: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Issued { token: [redacted] }")
    }
}

/// Classifies the answer to `POST /api/authenticate`: HTTP 200 with
/// `response_code` "200" and a `token`. A 4xx or another `response_code`
/// means the credentials were refused, which retrying cannot mend.
pub fn interpret_token(
    status: u16,
    wait: Option<Duration>,
    body: &[u8],
) -> Result<Issued, ProviderError> {
    let json = serde_json::from_slice::<Value>(body).ok();
    if let Some(message) = user_message(json.as_ref(), body)
        && (status == 401 || json.as_ref().is_some_and(is_error_envelope))
        && let Some(error) = documented(status, &message)
        && error.class == ErrorClass::QuotaClosed
    {
        return Err(error);
    }
    let refused = |detail: String| {
        let what = format!("OneBox refused the credentials{detail}");
        Err(ProviderError::new(
            ErrorClass::Permanent,
            Some(status),
            what,
        ))
    };
    if !(200..300).contains(&status) {
        let detail = about(json.as_ref(), body);
        return match classify_status(status, wait) {
            ErrorClass::Permanent => refused(format!(" (HTTP {status}){detail}")),
            class => {
                let what = format!("OneBox's authentication answered HTTP {status}{detail}");
                Err(ProviderError::new(class, Some(status), what))
            }
        };
    }
    let Some(json) = json else {
        return Err(unreadable("OneBox's authentication", status, body));
    };
    let code = json.get("response_code").and_then(integer);
    let token = json.get("token").and_then(Value::as_str).map(str::trim);
    match (code, token) {
        (None | Some(200), Some(token)) if !token.is_empty() => Ok(Issued {
            token: token.to_owned(),
        }),
        (Some(code), _) if code != 200 => {
            let said = json.get("response_status").and_then(text_of);
            let said = said.map(|s| format!(": {s}")).unwrap_or_default();
            refused(format!(" (response_code {code}{said})"))
        }
        _ => {
            let what = "OneBox's authentication answered without a token";
            Err(ProviderError::new(
                ErrorClass::Transient,
                Some(status),
                what,
            ))
        }
    }
}
