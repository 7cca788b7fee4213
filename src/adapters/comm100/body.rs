//! The body of Comm100's create-message call, and what Comm100 cannot carry.
//!
//! `ticketId` is the message's `conversation_id`; `sentById`, `sentByType`
//! and `channelId` come from the connection; `type` from the kind (`html`
//! when the message has html); `body` is the html or text, base64 with the
//! document's `data:text/plain;base64,` prefix (the form Comm100's WAF never
//! blocks); `attachments` are the media and the attachments by url;
//! `messageDelivery` asks for delivery (`waitForSending`) and carries the
//! command's group as `groupId` / `orderNum`.

use super::super::Unsupported;
use crate::config::Comm100Settings;
use crate::domain::{GroupRef, Message, MessageKind};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// What precedes a base64 `body`, as the document writes it.
pub const BODY_PREFIX: &str = "data:text/plain;base64,";

/// Groups whose id is not a guid get a stable one from this namespace.
const GROUP_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_0c8e_4a5d_4f0e_9a53_2d1c_7e40_b100);

/// Why Comm100 cannot take this message, if it cannot.
pub fn check(message: &Message) -> Result<(), Unsupported> {
    let refuse = |why: String| Err(Unsupported(why));
    match message.kind {
        MessageKind::Location | MessageKind::Buttons | MessageKind::List => {
            return refuse(format!(
                "Comm100's message document does not say how a {} message is written",
                message.kind
            ));
        }
        _ => {}
    }
    let ticket = message.conversation_id.as_deref().map(str::trim);
    if !ticket.is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())) {
        return refuse(
            "Comm100 needs message.conversation_id (the numeric ticket id, its ticketId)".into(),
        );
    }
    if content(message).is_none() && message.media.is_none() && message.attachments.is_empty() {
        return refuse("Comm100 needs message.text, message.html or a file to send".into());
    }
    if message.attachments.iter().any(|a| a.url.is_none()) {
        return refuse(
            "Comm100 takes attachments by url; an attachment with only content_base64 cannot be sent"
                .into(),
        );
    }
    let extra = &message.extra;
    for key in ["metadata", "messageDelivery"] {
        if extra.get(key).is_some_and(|v| !v.is_object()) {
            return refuse(format!("extra.{key} must be an object"));
        }
    }
    Ok(())
}

/// The html, else the text.
fn content(message: &Message) -> Option<&str> {
    message
        .html
        .as_deref()
        .or(message.text.as_deref())
        .filter(|c| !c.trim().is_empty())
}

/// Comm100's `type` for a message.
fn comm100_type(message: &Message) -> &'static str {
    match message.kind {
        MessageKind::Image => "image",
        MessageKind::Video => "video",
        MessageKind::Audio => "audio",
        MessageKind::Document => "file",
        _ if message.html.is_some() => "html",
        _ => "text",
    }
}

/// An attachment's `type`, from its MIME type.
fn attachment_type(mime: Option<&str>) -> &'static str {
    match mime.and_then(|m| m.split('/').next()) {
        Some("image") => "image",
        Some("video") => "video",
        Some("audio") => "audio",
        _ => "file",
    }
}

/// The last path segment of a url, for a file with no name.
fn name_from_url(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("attachment")
}

fn attachments(message: &Message) -> Vec<Value> {
    let mut list = Vec::with_capacity(message.attachments.len() + 1);
    if let Some(media) = &message.media {
        let kind = match message.kind {
            MessageKind::Image => "image",
            MessageKind::Video => "video",
            MessageKind::Audio => "audio",
            _ => "file",
        };
        let name = media
            .name
            .as_deref()
            .unwrap_or_else(|| name_from_url(&media.url));
        list.push(json!({"name": name, "type": kind, "url": media.url}));
    }
    for attachment in &message.attachments {
        if let Some(url) = &attachment.url {
            let kind = attachment_type(attachment.mime.as_deref());
            list.push(json!({"name": attachment.name, "type": kind, "url": url}));
        }
    }
    list
}

/// `groupId` for a command's group: its id when that is a guid, else a
/// guid derived from it, the same for every member and every worker.
pub fn group_uuid(group: &GroupRef) -> Uuid {
    Uuid::parse_str(group.id.trim())
        .unwrap_or_else(|_| Uuid::new_v5(&GROUP_NAMESPACE, group.id.as_bytes()))
}

/// The create-message body, as the document's example has it.
pub fn request_body(
    settings: &Comm100Settings,
    message: &Message,
    group: Option<&GroupRef>,
) -> Value {
    let extra = &message.extra;
    let mut body = Map::new();
    let ticket = message.conversation_id.as_deref().unwrap_or_default();
    body.insert("ticketId".into(), ticket.trim().into());
    body.insert("sentById".into(), settings.sent_by_id.as_str().into());
    body.insert("sentByType".into(), settings.sent_by_type.as_str().into());
    body.insert("type".into(), comm100_type(message).into());
    let metadata = match extra.get("metadata") {
        Some(Value::Object(object)) => Value::Object(object.clone()),
        _ => Value::Object(Map::new()),
    };
    body.insert("metadata".into(), metadata);
    body.insert("channelId".into(), settings.channel_id.as_str().into());
    if let Some(content) = content(message) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(content);
        body.insert("body".into(), format!("{BODY_PREFIX}{encoded}").into());
    }
    let mut delivery = Map::new();
    delivery.insert("status".into(), "waitForSending".into());
    if let Some(group) = group {
        let id = group_uuid(group).hyphenated().to_string();
        delivery.insert("groupId".into(), id.into());
        delivery.insert("orderNum".into(), group.order.into());
    }
    if let Some(Value::Object(more)) = extra.get("messageDelivery") {
        for (key, value) in more {
            delivery
                .entry(key.as_str())
                .or_insert_with(|| value.clone());
        }
    }
    body.insert("messageDelivery".into(), Value::Object(delivery));
    let files = attachments(message);
    if !files.is_empty() {
        body.insert("attachments".into(), Value::Array(files));
    }
    for (key, value) in extra {
        body.entry(key.as_str()).or_insert_with(|| value.clone());
    }
    Value::Object(body)
}
