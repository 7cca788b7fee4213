//! The body of OneBox's `POST /api/message`, built from a message as
//! `providers/onebox-message-create.md` describes it, and the checks that
//! keep a message OneBox cannot take from being sent at all.

use super::super::Unsupported;
use super::super::text::html_to_text;
use crate::domain::message::Attachment;
use crate::domain::{Message, MessageKind};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The `MethodId`s the document lists (besides null).
pub const METHODS: [&str; 4] = ["DIRECT", "POST", "MENTION", "COMMENT"];

/// The file date format of the document's example (`2020-04-01 00:00:00`).
const FILE_DATE: &str = "%Y-%m-%d %H:%M:%S";

/// An address as a producer may write it: `Name <address>` or `address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox<'a> {
    pub name: Option<&'a str>,
    pub address: &'a str,
}

impl<'a> Mailbox<'a> {
    pub fn parse(text: &'a str) -> Mailbox<'a> {
        let text = text.trim();
        if let Some(open) = text.rfind('<')
            && text.ends_with('>')
        {
            let name = text[..open].trim().trim_matches('"').trim();
            let address = text[open + 1..text.len() - 1].trim();
            return Mailbox {
                name: (!name.is_empty()).then_some(name),
                address,
            };
        }
        Mailbox {
            name: None,
            address: text,
        }
    }

    /// `local@domain.tld`: a Twitter handle (`@name`) or a phone is not one.
    fn is_email(&self) -> bool {
        match self.address.split_once('@') {
            Some((local, domain)) => !local.is_empty() && domain.contains('.'),
            None => false,
        }
    }
}

/// Each address of a comma- or semicolon-separated list.
fn mailboxes(list: &str) -> impl Iterator<Item = Mailbox<'_>> {
    list.split([',', ';'])
        .filter(|part| !part.trim().is_empty())
        .map(Mailbox::parse)
}

/// E-mail when the message has no `method` and `to` is an e-mail address:
/// then OneBox wants `Users`, and `from`/`to`/`cc`/`bcc` may carry names.
pub fn is_email(message: &Message) -> bool {
    message.method.is_none() && mailboxes(&message.to).next().is_some_and(|m| m.is_email())
}

/// `MethodId`: the message's `method`, upper-cased.
fn method(message: &Message) -> Option<String> {
    message.method.as_deref().map(|m| m.trim().to_uppercase())
}

fn number(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

/// Why OneBox cannot take this message, if it cannot.
pub fn check(message: &Message) -> Result<(), Unsupported> {
    let refuse = |why: String| Err(Unsupported(why));
    if !(message.kind == MessageKind::Text || message.kind.is_media()) {
        return refuse(format!(
            "OneBox cannot carry a {} message (it takes text, html and files)",
            message.kind
        ));
    }
    if message.from.as_deref().is_none_or(|f| f.trim().is_empty()) {
        return refuse("OneBox needs message.from (the sender's id on the channel)".into());
    }
    if let Some(m) = method(message)
        && !METHODS.contains(&m.as_str())
    {
        return refuse(format!(
            "OneBox has no method {m:?} (it takes DIRECT, POST, MENTION or COMMENT)"
        ));
    }
    for (field, value) in [
        ("conversation_id", &message.conversation_id),
        ("reply_to", &message.reply_to),
    ] {
        if let Some(value) = value
            && number(value).is_none()
        {
            return refuse(format!(
                "OneBox needs message.{field} to be a numeric id, not {value:?}"
            ));
        }
    }
    let copies = !(message.cc.is_empty() && message.bcc.is_empty());
    if copies && !is_email(message) {
        return refuse("OneBox carries cc and bcc only for e-mail".into());
    }
    for attachment in &message.attachments {
        check_attachment(attachment)?;
    }
    Ok(())
}

fn check_attachment(attachment: &Attachment) -> Result<(), Unsupported> {
    let name = &attachment.name;
    let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    if !present(&attachment.url) && !present(&attachment.content_base64) {
        return Err(Unsupported(format!(
            "attachment {name:?} needs a url or content_base64"
        )));
    }
    if !present(&attachment.url)
        && let Some(content) = &attachment.content_base64
        && base64::engine::general_purpose::STANDARD
            .decode(content.trim())
            .is_err()
    {
        return Err(Unsupported(format!(
            "attachment {name:?}: content_base64 is not base64"
        )));
    }
    Ok(())
}

/// The last path segment of a URL, for a file without a name.
fn file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("attachment")
}

/// One `Attachments` entry: a public `Path` when there is a URL, the
/// base64 `Content` otherwise.
fn attachment(
    name: &str,
    description: Option<&str>,
    url: Option<&str>,
    content: Option<&str>,
    date: &str,
) -> Value {
    let mut file = Map::new();
    file.insert("Date".into(), date.into());
    file.insert("Name".into(), name.into());
    match (url, content) {
        (Some(url), _) => file.insert("Path".into(), url.into()),
        (None, Some(content)) => file.insert("Content".into(), content.trim().into()),
        (None, None) => None,
    };
    // The document makes the description mandatory once there is a file.
    let description = description.unwrap_or(name);
    json!({"Description": description, "File": file})
}

fn attachments(message: &Message, now: DateTime<Utc>) -> Vec<Value> {
    let date = now.format(FILE_DATE).to_string();
    let mut list = Vec::with_capacity(message.attachments.len() + 1);
    if let Some(media) = &message.media {
        let name = media
            .name
            .as_deref()
            .unwrap_or_else(|| file_name(&media.url));
        list.push(attachment(name, None, Some(&media.url), None, &date));
    }
    for a in &message.attachments {
        let url = a.url.as_deref().filter(|u| !u.trim().is_empty());
        let content = a.content_base64.as_deref();
        list.push(attachment(
            &a.name,
            a.description.as_deref(),
            url,
            content,
            &date,
        ));
    }
    list
}

/// `Users` of an e-mail: the sender MSR1, recipients MSR2, cc MSR3, bcc MSR4.
fn users(message: &Message) -> Vec<Value> {
    let user = |m: Mailbox<'_>, role: &str| json!({"IdentityId": m.address, "Name": m.name.unwrap_or(m.address), "RoleId": role});
    let mut list = Vec::new();
    if let Some(from) = &message.from {
        list.push(user(Mailbox::parse(from), "MSR1"));
    }
    list.extend(mailboxes(&message.to).map(|m| user(m, "MSR2")));
    for (addresses, role) in [(&message.cc, "MSR3"), (&message.bcc, "MSR4")] {
        for entry in addresses {
            list.extend(mailboxes(entry).map(|m| user(m, role)));
        }
    }
    list
}

/// The bare addresses of a list, comma-separated (`To`, `Cc`, `Bcc` of an e-mail).
fn addresses<'a>(lists: impl IntoIterator<Item = &'a str>) -> String {
    let all: Vec<&str> = lists
        .into_iter()
        .flat_map(mailboxes)
        .map(|m| m.address)
        .collect();
    all.join(", ")
}

fn content(message: &Message) -> Value {
    let text = message.text.as_deref();
    let html = message.html.as_deref();
    let body = html.or(text).unwrap_or_default();
    let body_text = match (text, html) {
        (Some(text), _) => text.to_owned(),
        (None, Some(html)) => html_to_text(html),
        (None, None) => String::new(),
    };
    let content_type = if html.is_some() {
        "text/html"
    } else {
        "text/plain"
    };
    json!({
        "Body": body,
        "BodyText": body_text,
        "ContentType": content_type,
        "Encoding": "UTF-8",
    })
}

/// The request body for one send. Keys without a value are left out, except
/// `MethodId`, which the document makes mandatory with null as a value.
pub fn request_body(connection_id: i64, message: &Message, now: DateTime<Utc>) -> Value {
    let email = is_email(message);
    let from = message.from.as_deref().unwrap_or_default();
    let mut request = Map::new();
    request.insert("ConnectionId".into(), connection_id.into());
    let mut content = content(message);
    // Mandatory: the message's subject, else its plain text.
    let subject = match &message.subject {
        Some(subject) => Value::from(subject.as_str()),
        None => content["BodyText"].clone(),
    };
    request.insert("Subject".into(), subject);
    request.insert("MethodId".into(), method(message).into());
    if email {
        request.insert("From".into(), Mailbox::parse(from).address.into());
        request.insert("To".into(), addresses([message.to.as_str()]).into());
        for (key, list) in [("Cc", &message.cc), ("Bcc", &message.bcc)] {
            if !list.is_empty() {
                request.insert(
                    key.into(),
                    addresses(list.iter().map(String::as_str)).into(),
                );
            }
        }
    } else {
        request.insert("From".into(), from.trim().into());
        request.insert("To".into(), message.to.trim().into());
    }
    for (key, value) in [
        ("ConversationId", &message.conversation_id),
        ("PreviousId", &message.reply_to),
    ] {
        if let Some(id) = value.as_deref().and_then(number) {
            request.insert(key.into(), id.into());
        }
    }
    request.insert("Attachments".into(), attachments(message, now).into());
    if email {
        request.insert("Users".into(), users(message).into());
    }
    if let (Some(Value::Object(more)), Value::Object(content)) =
        (message.extra.get("Content"), &mut content)
    {
        for (key, value) in more {
            content.entry(key.as_str()).or_insert_with(|| value.clone());
        }
    }
    request.insert("Content".into(), content);
    for (key, value) in &message.extra {
        let slot = request.entry(key.as_str()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = value.clone();
        }
    }
    Value::Object(request)
}
