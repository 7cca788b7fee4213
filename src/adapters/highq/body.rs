//! The JSON form of HighQ's "New conversation" body, and what HighQ cannot
//! carry.
//!
//! `recipients.users.user[].userid` are the ids in `to` (one or several,
//! separated by commas, semicolons or spaces; numbers, as the document's
//! JSON form writes them unquoted); `messages.message[0].html` is the html,
//! else the text escaped as html; its `attachments.attachment[].id` are the
//! ids in `extra.attachments` (files already in HighQ: the call carries
//! no file).

use super::super::Unsupported;
use crate::domain::{Message, MessageKind};
use serde_json::{Value, json};

/// The user ids in `to`.
pub fn recipients(to: &str) -> Vec<&str> {
    to.split([',', ';', ' ', '\t', '\n'])
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .collect()
}

fn numeric(id: &str) -> bool {
    id.bytes().all(|b| b.is_ascii_digit())
}

/// The attachment ids in `extra.attachments`: strings or numbers.
fn attachment_ids(message: &Message) -> Option<Vec<String>> {
    match message.extra.get("attachments") {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|id| match id {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                Value::Number(n) if n.is_u64() => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(_) => None,
    }
}

/// Why HighQ cannot take this message, if it cannot.
pub fn check(message: &Message) -> Result<(), Unsupported> {
    let refuse = |why: &str| Err(Unsupported(why.to_owned()));
    if message.kind != MessageKind::Text {
        return Err(Unsupported(format!(
            "HighQ's new-conversation call carries an html message, not a {} message",
            message.kind
        )));
    }
    if message.media.is_some() || !message.attachments.is_empty() {
        return refuse(
            "HighQ takes attachments by the id of a file already in HighQ (extra.attachments), not by url or content",
        );
    }
    let ids = recipients(&message.to);
    if ids.is_empty() || !ids.iter().all(|id| numeric(id)) {
        return refuse("HighQ needs message.to to be one or more numeric user ids");
    }
    if html(message).trim().is_empty() {
        return refuse("HighQ needs message.html or message.text for the message's html");
    }
    if attachment_ids(message).is_none() {
        return refuse("extra.attachments must be a list of HighQ attachment ids");
    }
    Ok(())
}

/// The html, else the text escaped as html (line breaks kept).
fn html(message: &Message) -> String {
    if let Some(html) = &message.html {
        return html.clone();
    }
    let text = message.text.as_deref().unwrap_or_default();
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', "<br/>")
}

/// The request body, the document's JSON form.
pub fn request_body(message: &Message) -> Value {
    let users: Vec<Value> = recipients(&message.to)
        .into_iter()
        .map(|id| match id.parse::<u64>() {
            Ok(n) => json!({ "userid": n }),
            Err(_) => json!({ "userid": id }),
        })
        .collect();
    let mut entry = json!({ "html": html(message) });
    let ids = attachment_ids(message).unwrap_or_default();
    if !ids.is_empty() {
        let attachment: Vec<Value> = ids.into_iter().map(|id| json!({ "id": id })).collect();
        entry["attachments"] = json!({ "attachment": attachment });
    }
    json!({
        "recipients": { "users": { "user": users } },
        "messages": { "message": [entry] },
    })
}
