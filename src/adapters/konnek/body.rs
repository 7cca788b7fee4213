//! Konnek's request body: a message as `POST {base_url}/{channel}/send/{client_id}`
//! carries it, with the delivery id as the body's `id`.

use super::super::Outbound;
use crate::domain::MessageKind;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// `extra` keys the adapter places itself rather than merging them.
const PLACED_EXTRA: [&str; 5] = ["list", "header", "footer", "reply_token", "body"];

/// Konnek's `type` for a kind.
fn konnek_type(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Buttons => "button",
        other => other.as_str(),
    }
}

/// The request body for one send, as the document describes it; only the
/// `body` keys of the message's kind are present.
/// The body's `id`, Konnek's unique message code, by which it drops a
/// message it holds already: the delivery id in the first round, so that a
/// retry of a call that reached Konnek is not sent twice; in a resend's
/// round, an id of that round's own, derived from the delivery id, so that
/// the resend reaches the recipient again. Retries within a round share it.
pub fn message_id(outbound: &Outbound<'_>) -> String {
    match outbound.resends {
        0 => outbound.delivery_id.hyphenated().to_string(),
        round => {
            let name = format!("resend {round}");
            Uuid::new_v5(&outbound.delivery_id, name.as_bytes())
                .hyphenated()
                .to_string()
        }
    }
}

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
    request.insert("id".into(), message_id(&outbound).into());
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
