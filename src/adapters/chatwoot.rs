//! Chatwoot-compatible servers (99digital):
//! `POST {base_url}/api/v1/accounts/{account_id}/conversations/{conversation_id}/messages`
//! with the `api_access_token` header
//! (`providers/chatwoot-99digital-create-message.txt`).
//!
//! The conversation comes from the message's `conversation_id` (required,
//! numeric); `to` is not sent, the conversation already names its contact.
//! The body is `content` (the text, else the html as text), `message_type`
//! `outgoing`, `private` false, `content_type` `text` and
//! `content_attributes` {}; `extra` may set `private`, `content_type` and
//! `content_attributes`, and adds any other key the body does not have.
//!
//! Answers: 2xx with the message: `id` is the remote id, `status` the
//! provider status (sent 1, delivered 2, read 3; failed -3 fails the
//! delivery). Other statuses by [`classify_status`](super::classify_status);
//! 401/403 fail at once, the token being static.

use super::answer::{detail, status_error, text_of, unreadable};
use super::text::{html_to_text, redacted};
use super::{ChannelAdapter, ErrorClass, Outbound, ProviderError, Sent, Unsupported, exchange};
use crate::config::ChatwootSettings;
use crate::domain::{Message, MessageKind, ProviderStatus};
use futures_util::future::BoxFuture;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value};
use std::time::Duration;

/// `content_type`s the document allows in a request.
pub const CONTENT_TYPES: [&str; 4] = ["text", "input_select", "cards", "form"];

/// Body keys `extra` may not replace.
const OWN_KEYS: [&str; 2] = ["content", "message_type"];

pub struct ChatwootAdapter {
    /// `{base_url}/api/v1/accounts/{account_id}/conversations/`.
    conversations_url: String,
    /// `None` when the token cannot be an HTTP header value.
    token: Option<HeaderValue>,
    settings: ChatwootSettings,
    http: reqwest::Client,
}

impl ChatwootAdapter {
    pub fn new(base_url: &str, settings: ChatwootSettings, http: reqwest::Client) -> Self {
        let conversations_url = format!(
            "{}/api/v1/accounts/{}/conversations/",
            base_url.trim_end_matches('/'),
            settings.account_id
        );
        let token = HeaderValue::from_str(settings.api_access_token.expose())
            .ok()
            .map(|mut value| {
                value.set_sensitive(true);
                value
            });
        ChatwootAdapter {
            conversations_url,
            token,
            settings,
            http,
        }
    }

    /// The create-message URL of a conversation (checked numeric before).
    pub fn url(&self, conversation_id: &str) -> String {
        format!(
            "{}{}/messages",
            self.conversations_url,
            conversation_id.trim()
        )
    }

    async fn call(&self, outbound: Outbound<'_>) -> Result<Sent, ProviderError> {
        let Some(token) = &self.token else {
            let what = "the Chatwoot api_access_token is not a valid HTTP header value";
            return Err(ProviderError::new(ErrorClass::Permanent, None, what));
        };
        let message = outbound.message;
        let conversation = message.conversation_id.as_deref().unwrap_or_default();
        exchange(
            self.http
                .post(self.url(conversation))
                .header(HeaderName::from_static("api_access_token"), token.clone())
                .json(&request_body(message)),
            interpret,
        )
        .await
    }
}

impl ChannelAdapter for ChatwootAdapter {
    fn adapter(&self) -> &'static str {
        "chatwoot"
    }

    fn check(&self, message: &Message) -> Result<(), Unsupported> {
        check(message)
    }

    fn send<'a>(&'a self, outbound: Outbound<'a>) -> BoxFuture<'a, Result<Sent, ProviderError>> {
        Box::pin(async move {
            let result = self.call(outbound).await;
            result.map_err(|e| redacted(e, [self.settings.api_access_token.expose()]))
        })
    }
}

/// Why a Chatwoot server cannot take this message, if it cannot.
pub fn check(message: &Message) -> Result<(), Unsupported> {
    let refuse = |why: &str| Err(Unsupported(why.to_owned()));
    if message.kind != MessageKind::Text {
        return Err(Unsupported(format!(
            "Chatwoot's create-message call carries text only, not a {} message",
            message.kind
        )));
    }
    if !message.attachments.is_empty() || message.media.is_some() {
        return refuse("Chatwoot's JSON create-message call carries no files");
    }
    let conversation = message.conversation_id.as_deref().map(str::trim);
    if !conversation.is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit())) {
        return refuse("Chatwoot needs message.conversation_id (a numeric conversation id)");
    }
    if content(message).trim().is_empty() {
        return refuse("Chatwoot needs message.text or message.html for its content");
    }
    let extra = &message.extra;
    if extra.get("private").is_some_and(|v| !v.is_boolean()) {
        return refuse("extra.private must be true or false");
    }
    if let Some(kind) = extra.get("content_type")
        && !kind.as_str().is_some_and(|k| CONTENT_TYPES.contains(&k))
    {
        return refuse("extra.content_type must be one of text, input_select, cards, form");
    }
    if extra
        .get("content_attributes")
        .is_some_and(|v| !v.is_object())
    {
        return refuse("extra.content_attributes must be an object");
    }
    Ok(())
}

/// `content`: the text, or the html rendered as text.
fn content(message: &Message) -> String {
    match (&message.text, &message.html) {
        (Some(text), _) => text.clone(),
        (None, Some(html)) => html_to_text(html),
        (None, None) => String::new(),
    }
}

/// The request body, as the document's example has it.
pub fn request_body(message: &Message) -> Value {
    let mut body = Map::new();
    body.insert("content".into(), content(message).into());
    body.insert("message_type".into(), "outgoing".into());
    body.insert("private".into(), false.into());
    body.insert("content_type".into(), "text".into());
    body.insert("content_attributes".into(), Value::Object(Map::new()));
    for (key, value) in &message.extra {
        if !OWN_KEYS.contains(&key.as_str()) {
            body.insert(key.clone(), value.clone());
        }
    }
    Value::Object(body)
}

/// The contract's scale for the answer's `status`.
fn provider_status(status: &str) -> Option<ProviderStatus> {
    match status {
        "sent" => Some(ProviderStatus::SENT),
        "delivered" => Some(ProviderStatus::DELIVERED),
        "read" => Some(ProviderStatus::READ),
        "failed" => Some(ProviderStatus::FAILED),
        _ => None,
    }
}

/// Where an error body says what went wrong: Chatwoot servers answer
/// `{"error": ...}`, `{"message": ...}` or `{"errors": [...]}`.
const ERROR_KEYS: [&str; 3] = ["error", "message", "errors"];

/// Classifies the answer: HTTP status, `Retry-After` and the whole body.
pub fn interpret(status: u16, wait: Option<Duration>, body: &[u8]) -> Result<Sent, ProviderError> {
    if !(200..300).contains(&status) {
        // The token is static: a refusal cannot be mended by renewing it.
        let refused = matches!(status, 401 | 403).then_some((
            ErrorClass::Permanent,
            "Chatwoot refused the api_access_token",
        ));
        let about = detail(body, &ERROR_KEYS);
        return Err(status_error(status, wait, refused, "Chatwoot", &about));
    }
    // No idempotency key: a retry may post twice, which herald prefers to
    // losing the message.
    let json: Value =
        serde_json::from_slice(body).map_err(|_| unreadable("Chatwoot", status, body))?;
    let remote_id = json.get("id").and_then(text_of);
    let said = json
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match provider_status(said) {
        Some(ProviderStatus::FAILED) => {
            let what = "Chatwoot created the message but reports it failed";
            Err(ProviderError::new(
                ErrorClass::Permanent,
                Some(status),
                what,
            ))
        }
        provider_status => Ok(Sent {
            http_status: status,
            remote_id,
            provider_status,
        }),
    }
}

#[cfg(test)]
#[path = "chatwoot_tests.rs"]
mod tests;
