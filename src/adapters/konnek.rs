//! Konnek (Sprint Asia): `POST {base_url}/{channel}/send/{client_id}`, with
//! static credentials in the `Auth-username` / `Auth-password` headers
//! (`providers/konnek-send-message.txt`).
//!
//! The body's `id` is the delivery id. Konnek keeps it as the message's
//! unique code, so a retry after an unclear answer carries the same `id`, and
//! its status callbacks name the delivery directly.
//!
//! Kinds map to Konnek's `type` as themselves, except `buttons` → `button`.
//! `extra` keys: `list` (Konnek's list object, required for kind `list`),
//! `header` and `footer` (top-level objects for button/list messages),
//! `reply_token` (Telegram replies). Every other key is added to the top level
//! of the request where the format names no such field; an object under
//! `body` is merged into `body` the same way.
//!
//! Answers: 2xx with `meta.status: true` is a send, unless `data.status` is
//! negative (-1 Unsent: retry; -2/-3: fail). 2xx with `meta.status: false` is
//! classified by `meta.code`. Other statuses by [`classify_status`]; 401/403
//! fail at once, since the credentials are static.

use super::answer::integer;
use super::text::{redacted, snippet};
use super::{
    ChannelAdapter, ErrorClass, Outbound, ProviderError, Sent, Unsupported, classify_status,
    exchange,
};
use crate::config::KonnekSettings;
use crate::domain::{Message, MessageKind, ProviderStatus};
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::time::Duration;

/// `extra` keys the adapter places itself rather than merging them.
const PLACED_EXTRA: [&str; 5] = ["list", "header", "footer", "reply_token", "body"];

pub struct KonnekAdapter {
    url: String,
    /// `None` when a credential cannot be an HTTP header value.
    auth: Option<HeaderMap>,
    settings: KonnekSettings,
    http: reqwest::Client,
}

impl KonnekAdapter {
    pub fn new(base_url: &str, settings: KonnekSettings, http: reqwest::Client) -> Self {
        let url = format!(
            "{}/{}/send/{}",
            base_url.trim_end_matches('/'),
            settings.channel,
            settings.client_id
        );
        KonnekAdapter {
            url,
            auth: auth_headers(&settings),
            settings,
            http,
        }
    }

    async fn call(&self, outbound: Outbound<'_>) -> Result<Sent, ProviderError> {
        let Some(auth) = &self.auth else {
            return Err(ProviderError::new(
                ErrorClass::Permanent,
                None,
                "the Konnek username or password is not a valid HTTP header value",
            ));
        };
        let body = request_body(outbound, Utc::now());
        exchange(
            self.http.post(&self.url).headers(auth.clone()).json(&body),
            interpret,
        )
        .await
    }

    /// A provider may echo what it was sent; no error string carries the
    /// credentials.
    fn redact(&self, err: ProviderError) -> ProviderError {
        let secrets = [self.settings.password.expose(), &self.settings.username];
        redacted(err, secrets)
    }
}

fn auth_headers(settings: &KonnekSettings) -> Option<HeaderMap> {
    let mut username = HeaderValue::from_str(&settings.username).ok()?;
    let mut password = HeaderValue::from_str(&settings.password).ok()?;
    username.set_sensitive(true);
    password.set_sensitive(true);
    let mut headers = HeaderMap::with_capacity(2);
    headers.insert(HeaderName::from_static("auth-username"), username);
    headers.insert(HeaderName::from_static("auth-password"), password);
    Some(headers)
}

impl ChannelAdapter for KonnekAdapter {
    fn adapter(&self) -> &'static str {
        "konnek"
    }

    fn check(&self, message: &Message) -> Result<(), Unsupported> {
        let missing = |what: &str| {
            Err(Unsupported(format!(
                "Konnek needs {what} for a {} message",
                message.kind
            )))
        };
        match message.kind {
            MessageKind::Text if message.text.as_deref().is_none_or(|t| t.trim().is_empty()) => {
                missing("message.text (it carries no html)")
            }
            kind if kind.is_media() && message.media.is_none() => missing("message.media"),
            MessageKind::Location if message.location.is_none() => missing("message.location"),
            MessageKind::Buttons if message.buttons.as_ref().is_none_or(Vec::is_empty) => {
                missing("message.buttons")
            }
            MessageKind::List if !matches!(message.extra.get("list"), Some(Value::Object(_))) => {
                missing("extra.list (an object with title and sections)")
            }
            _ => Ok(()),
        }
    }

    fn send<'a>(&'a self, outbound: Outbound<'a>) -> BoxFuture<'a, Result<Sent, ProviderError>> {
        Box::pin(async move { self.call(outbound).await.map_err(|e| self.redact(e)) })
    }
}

/// Konnek's `type` for a kind.
fn konnek_type(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Buttons => "button",
        other => other.as_str(),
    }
}

/// The request body for one send, as the document describes it; only the
/// `body` keys of the message's kind are present.
pub fn request_body(outbound: Outbound<'_>, now: DateTime<Utc>) -> Value {
    let message = outbound.message;
    let extra = &message.extra;
    let mut body = Map::new();
    if let Some(text) = &message.text {
        body.insert("text".into(), text.as_str().into());
    }
    match message.kind {
        kind if kind.is_media() => {
            if let Some(media) = &message.media {
                let mut object = Map::new();
                object.insert("url".into(), media.url.as_str().into());
                if let Some(name) = &media.name {
                    object.insert("name".into(), name.as_str().into());
                }
                body.insert("media".into(), object.into());
            }
        }
        MessageKind::Location => {
            if let Some(location) = message.location {
                let object = serde_json::json!({
                    "latitude": location.latitude,
                    "longitude": location.longitude,
                });
                body.insert("location".into(), object);
            }
        }
        MessageKind::Buttons => {
            let buttons = message.buttons.as_deref().unwrap_or_default();
            let buttons = buttons
                .iter()
                .map(|b| serde_json::json!({ "key": b.key, "title": b.title }))
                .collect();
            body.insert("button".into(), Value::Array(buttons));
        }
        MessageKind::List => {
            if let Some(list) = extra.get("list") {
                body.insert("list".into(), list.clone());
            }
        }
        _ => {}
    }
    if let Some(Value::Object(more)) = extra.get("body") {
        for (key, value) in more {
            body.entry(key.as_str()).or_insert_with(|| value.clone());
        }
    }

    let reply_token = match extra.get("reply_token") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(token)) => token.clone(),
        Some(other) => other.to_string(),
    };
    let mut request = Map::new();
    let id = outbound.delivery_id.hyphenated().to_string();
    request.insert("id".into(), id.into());
    let reply_id = message.reply_to.as_deref().unwrap_or_default();
    request.insert("reply_id".into(), reply_id.into());
    request.insert("times".into(), now.timestamp().into());
    let timestamp = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    request.insert("timestamp".into(), timestamp.into());
    request.insert("reply_token".into(), reply_token.into());
    request.insert("recipient".into(), message.to.as_str().into());
    request.insert("type".into(), konnek_type(message.kind).into());
    request.insert("body".into(), body.into());
    for key in ["header", "footer"] {
        if let Some(value) = extra.get(key) {
            request.insert(key.into(), value.clone());
        }
    }
    for (key, value) in extra {
        if !PLACED_EXTRA.contains(&key.as_str()) {
            request.entry(key.as_str()).or_insert_with(|| value.clone());
        }
    }
    Value::Object(request)
}

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
fn interpret(status: u16, wait: Option<Duration>, body: &[u8]) -> Result<Sent, ProviderError> {
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

#[cfg(test)]
#[path = "konnek_tests.rs"]
mod tests;
