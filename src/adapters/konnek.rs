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

use super::{
    ChannelAdapter, ErrorClass, Outbound, ProviderError, Sent, Unsupported, classify_status,
    retry_after,
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
        let response = self
            .http
            .post(&self.url)
            .headers(auth.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| ProviderError::from_transport(&e))?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        // Read the whole body, whatever the status: it returns the
        // connection to the pool.
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ProviderError::from_transport(&e))?;
        interpret(status, wait, &bytes)
    }

    /// A provider may echo what it was sent; no error string carries the
    /// credentials.
    fn redact(&self, mut err: ProviderError) -> ProviderError {
        for secret in [&self.settings.password, &self.settings.username] {
            if !secret.is_empty() && err.message.contains(secret.as_str()) {
                err.message = err.message.replace(secret.as_str(), "[redacted]");
            }
        }
        err
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

/// A number, or a string holding one (the document types `code` as a String
/// and shows a number).
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
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

/// The start of a body that is not Konnek's JSON (a proxy's HTML page, say).
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let words: Vec<&str> = text.split_whitespace().collect();
    let flat = words.join(" ");
    match flat.char_indices().nth(100) {
        Some((cut, _)) => format!(": {}...", &flat[..cut]),
        None if flat.is_empty() => String::new(),
        None => format!(": {flat}"),
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
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    const ID: &str = "3c0b1912-0000-4000-8000-000000000001";

    fn message(json: Value) -> Message {
        serde_json::from_value(json).expect("test message parses")
    }

    fn body_of(message: &Message) -> Value {
        let now = DateTime::parse_from_rfc3339("2023-11-10T05:38:08.153Z")
            .expect("test time")
            .with_timezone(&Utc);
        let outbound = Outbound {
            delivery_id: Uuid::parse_str(ID).expect("test id"),
            message,
            attempt: 1,
            resends: 0,
            remote_id: None,
        };
        request_body(outbound, now)
    }

    fn keys(value: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }

    fn adapter() -> KonnekAdapter {
        let settings = KonnekSettings {
            channel: "whatsapp".into(),
            client_id: "abc123".into(),
            username: "user-xyz".into(),
            password: "s3cret-pw".into(),
        };
        KonnekAdapter::new(
            "https://konnek.example/api/",
            settings,
            reqwest::Client::new(),
        )
    }

    #[test]
    fn url_keeps_the_base_as_a_prefix() {
        assert_eq!(
            adapter().url,
            "https://konnek.example/api/whatsapp/send/abc123"
        );
    }

    #[test]
    fn text_body_has_the_documented_envelope() {
        let m = message(json!({"to": "628111", "text": "hello", "reply_to": "75701"}));
        let body = body_of(&m);
        assert_eq!(
            keys(&body),
            [
                "body",
                "id",
                "recipient",
                "reply_id",
                "reply_token",
                "times",
                "timestamp",
                "type"
            ]
        );
        assert_eq!(body["id"], ID);
        assert_eq!(body["reply_id"], "75701");
        assert_eq!(body["times"], 1_699_594_688);
        assert_eq!(body["timestamp"], "2023-11-10T05:38:08.153Z");
        assert_eq!(body["reply_token"], "");
        assert_eq!(body["recipient"], "628111");
        assert_eq!(body["type"], "text");
        assert_eq!(body["body"], json!({"text": "hello"}));
    }

    #[test]
    fn media_kinds_carry_media_and_caption() {
        for kind in ["image", "video", "audio", "document"] {
            let m = message(json!({
                "to": "1", "kind": kind, "text": "caption",
                "media": {"url": "https://x/f.pdf", "name": "f.pdf"}
            }));
            let body = body_of(&m);
            assert_eq!(body["type"], kind);
            assert_eq!(body["reply_id"], "");
            assert_eq!(
                body["body"],
                json!({"text": "caption", "media": {"url": "https://x/f.pdf", "name": "f.pdf"}})
            );
        }
        let m = message(json!({"to": "1", "kind": "image", "media": {"url": "https://x/a.png"}}));
        assert_eq!(
            body_of(&m)["body"],
            json!({"media": {"url": "https://x/a.png"}})
        );
    }

    #[test]
    fn location_body() {
        let m = message(json!({
            "to": "1", "kind": "location", "location": {"latitude": -6.2, "longitude": 106.8}
        }));
        let body = body_of(&m);
        assert_eq!(body["type"], "location");
        assert_eq!(
            body["body"],
            json!({"location": {"latitude": -6.2, "longitude": 106.8}})
        );
    }

    #[test]
    fn buttons_become_button_with_header_and_footer() {
        let m = message(json!({
            "to": "1", "kind": "buttons", "text": "Pick one",
            "buttons": [{"key": "btn1", "title": "Button 1"}, {"key": "btn2", "title": "Button 2"}],
            "extra": {
                "header": {"type": "text", "text": "Hi", "media_url": ""},
                "footer": {"title": "f", "text": "bye"}
            }
        }));
        let body = body_of(&m);
        assert_eq!(body["type"], "button");
        assert_eq!(body["body"]["text"], "Pick one");
        assert_eq!(
            body["body"]["button"],
            json!([{"key": "btn1", "title": "Button 1"}, {"key": "btn2", "title": "Button 2"}])
        );
        assert_eq!(
            body["header"],
            json!({"type": "text", "text": "Hi", "media_url": ""})
        );
        assert_eq!(body["footer"], json!({"title": "f", "text": "bye"}));
        assert!(body["body"].get("media").is_none());
    }

    #[test]
    fn list_comes_from_extra() {
        let list = json!({"title": "Menu", "sections": [{
            "title": "Section 1", "description": "d",
            "actions": [{"key": "a1", "title": "Action 1", "description": "d1"}]
        }]});
        let m =
            message(json!({"to": "1", "kind": "list", "text": "Choose", "extra": {"list": list}}));
        let body = body_of(&m);
        assert_eq!(body["type"], "list");
        assert_eq!(body["body"], json!({"text": "Choose", "list": list}));
        assert!(body.get("list").is_none(), "list is placed, not merged");
    }

    #[test]
    fn other_extra_keys_merge_without_overriding() {
        let m = message(json!({"to": "1", "text": "x", "extra": {
            "reply_token": "tg-1", "priority": "high", "id": "not-mine",
            "body": {"preview_url": true, "text": "not mine either"}
        }}));
        let body = body_of(&m);
        assert_eq!(body["reply_token"], "tg-1");
        assert_eq!(body["priority"], "high");
        assert_eq!(body["id"], ID);
        assert_eq!(body["body"], json!({"text": "x", "preview_url": true}));
    }

    #[test]
    fn check_refuses_what_konnek_cannot_carry() {
        let a = adapter();
        assert!(a.check(&message(json!({"to": "1", "text": "x"}))).is_ok());
        let html = message(json!({"to": "1", "html": "<p>x</p>"}));
        let err = a.check(&html).expect_err("html only");
        assert!(err.0.contains("message.text"), "{err}");
        let list = message(json!({"to": "1", "kind": "list", "text": "x"}));
        let err = a.check(&list).expect_err("list without extra.list");
        assert!(err.0.contains("extra.list"), "{err}");
        let list =
            message(json!({"to": "1", "kind": "list", "text": "x", "extra": {"list": "no"}}));
        assert!(a.check(&list).is_err());
        let list = message(json!({"to": "1", "kind": "list", "extra": {"list": {"title": "t"}}}));
        assert!(a.check(&list).is_ok());
        let image = message(json!({"to": "1", "kind": "image", "text": "x"}));
        assert!(a.check(&image).is_err());
    }

    #[test]
    fn the_documented_sample_response_is_a_send() {
        let body = br#"{"meta":{"status":true,"code":200,"message":"OK","errors":null},
            "data":{"message_id":"3c0b1912-xxx","status":0,"tid":"b3d31d85-xxxx"}}"#;
        let sent = interpret(200, None, body).expect("a send");
        assert_eq!(sent.http_status, 200);
        assert_eq!(sent.remote_id.as_deref(), Some("3c0b1912-xxx"));
        assert_eq!(sent.provider_status, Some(ProviderStatus::PENDING));
    }

    fn meta_false(code: Value) -> Vec<u8> {
        let body = json!({"meta": {"status": false, "code": code, "message": "Bad Request",
            "errors": "recipient is invalid"}, "data": null});
        body.to_string().into_bytes()
    }

    #[test]
    fn meta_status_false_is_classified_by_its_code() {
        let err = interpret(200, None, &meta_false(json!(400))).expect_err("refused");
        assert_eq!(err.class, ErrorClass::Permanent);
        assert_eq!(err.http_status, Some(200));
        assert!(err.message.contains("code 400"), "{}", err.message);
        assert!(err.message.contains("Bad Request; recipient is invalid"));
        let err = interpret(200, None, &meta_false(json!("500"))).expect_err("refused");
        assert_eq!(err.class, ErrorClass::Transient);
        let wait = Some(Duration::from_secs(7));
        let err = interpret(200, wait, &meta_false(json!(429))).expect_err("refused");
        assert_eq!(err.class, ErrorClass::RateLimited { retry_after: wait });
        let err = interpret(200, None, &meta_false(Value::Null)).expect_err("refused");
        assert_eq!(err.class, ErrorClass::Permanent);
    }

    fn with_status(status: i64) -> Vec<u8> {
        let body = json!({"meta": {"status": true, "code": 200, "message": "OK", "errors": null},
            "data": {"message_id": ID, "status": status, "tid": "t"}});
        body.to_string().into_bytes()
    }

    #[test]
    fn negative_provider_statuses_are_not_sends() {
        let err = interpret(200, None, &with_status(-1)).expect_err("unsent");
        assert_eq!(err.class, ErrorClass::Transient);
        assert!(err.message.contains("-1 Unsent"), "{}", err.message);
        for status in [-2, -3] {
            let err = interpret(200, None, &with_status(status)).expect_err("failed");
            assert_eq!(err.class, ErrorClass::Permanent);
        }
        let sent = interpret(200, None, &with_status(3)).expect("read is a send");
        assert_eq!(sent.provider_status, Some(ProviderStatus::READ));
        let sent = interpret(200, None, &with_status(9)).expect("off the scale");
        assert_eq!(sent.provider_status, None);
    }

    #[test]
    fn an_unreadable_success_body_is_retried() {
        let err = interpret(200, None, b"<html>oops</html>").expect_err("unreadable");
        assert_eq!(err.class, ErrorClass::Transient);
        assert_eq!(err.http_status, Some(200));
        let err = interpret(200, None, b"").expect_err("empty");
        assert_eq!(err.class, ErrorClass::Transient);
    }

    #[test]
    fn http_errors_use_the_status() {
        let wait = Some(Duration::from_secs(3));
        let err = interpret(429, wait, b"slow down").expect_err("429");
        assert_eq!(err.class, ErrorClass::RateLimited { retry_after: wait });
        assert_eq!(err.message, "Konnek answered HTTP 429: slow down");
        let err = interpret(503, None, &meta_false(json!(503))).expect_err("503");
        assert_eq!(err.class, ErrorClass::Transient);
        assert!(
            err.message.contains("recipient is invalid"),
            "{}",
            err.message
        );
        let err = interpret(404, None, b"").expect_err("404");
        assert_eq!(err.class, ErrorClass::Permanent);
        assert_eq!(err.message, "Konnek answered HTTP 404");
    }

    #[test]
    fn refused_credentials_fail_at_once() {
        for status in [401, 403] {
            let err = interpret(status, None, &meta_false(json!(status))).expect_err("auth");
            assert_eq!(err.class, ErrorClass::Permanent);
            let expected = format!("Konnek refused the credentials (HTTP {status})");
            assert_eq!(err.message, expected);
        }
    }

    #[test]
    fn credentials_never_reach_an_error() {
        let a = adapter();
        let echoed = interpret(500, None, b"bad auth user-xyz / s3cret-pw").expect_err("500");
        let err = a.redact(echoed);
        assert!(!err.message.contains("s3cret-pw"), "{}", err.message);
        assert!(!err.message.contains("user-xyz"), "{}", err.message);
    }

    #[test]
    fn long_bodies_are_cut() {
        let body = "x".repeat(500);
        let err = interpret(502, None, body.as_bytes()).expect_err("502");
        assert!(err.message.len() < 150, "{}", err.message);
    }
}
