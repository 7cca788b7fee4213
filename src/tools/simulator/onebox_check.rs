//! What the OneBox twin requires of a request, from the documents' tables:
//! the authenticate body, and the message body's mandatory fields and types.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use serde_json::{Map, Value};

/// The `MethodId`s the document lists (besides null).
const METHODS: [&str; 4] = ["DIRECT", "POST", "MENTION", "COMMENT"];
const ROLES: [&str; 4] = ["MSR1", "MSR2", "MSR3", "MSR4"];

pub struct Credentials<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub site_id: &'a Value,
}

/// `email` (string), `password` (string), `siteId` (number or string).
pub fn credentials(body: &Value) -> Result<Credentials<'_>, &'static str> {
    let email = body.get("email").and_then(Value::as_str);
    let password = body.get("password").and_then(Value::as_str);
    let site_id = body
        .get("siteId")
        .filter(|v| v.is_string() || v.is_i64() || v.is_u64());
    match (email, password, site_id) {
        (Some(email), Some(password), Some(site_id)) => Ok(Credentials {
            email,
            password,
            site_id,
        }),
        _ => Err("email and password (strings) and siteId (number or string) are mandatory"),
    }
}

fn string<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

fn filled(object: &Map<String, Value>, key: &str) -> bool {
    string(object, key).is_some_and(|s| !s.trim().is_empty())
}

/// Null, absent, or a string: `Cc`, `Bcc`.
fn optional_string(object: &Map<String, Value>, key: &str) -> bool {
    object.get(key).is_none_or(|v| v.is_null() || v.is_string())
}

/// Null, absent, a number, or a string holding one (the document writes
/// `PreviousId` both ways).
fn optional_id(object: &Map<String, Value>, key: &str) -> bool {
    match object.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.is_i64() || n.is_u64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().is_ok(),
        Some(_) => false,
    }
}

/// E-mail: no `MethodId`, and `To` an address.
fn is_email(object: &Map<String, Value>) -> bool {
    let method = object.get("MethodId").is_none_or(Value::is_null);
    let to = string(object, "To").unwrap_or_default();
    method
        && to
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
}

/// The message body: `Ok` or why it is refused.
pub fn message(headers: &HeaderMap, body: &Value) -> Result<(), String> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err("Content-Type must be application/json".into());
    }
    let Some(object) = body.as_object() else {
        return Err("the body is not a JSON object".into());
    };
    if !object
        .get("ConnectionId")
        .is_some_and(|v| v.is_i64() || v.is_u64())
    {
        return Err("ConnectionId is mandatory (a number)".into());
    }
    match object.get("MethodId") {
        None | Some(Value::Null) => {}
        Some(Value::String(m)) if METHODS.contains(&m.as_str()) => {}
        Some(_) => return Err("MethodId must be null, DIRECT, POST, MENTION or COMMENT".into()),
    }
    if string(object, "Subject").is_none() {
        return Err("Subject is mandatory (a string)".into());
    }
    for key in ["From", "To"] {
        if !filled(object, key) {
            return Err(format!("{key} is mandatory (a string)"));
        }
    }
    for key in ["Cc", "Bcc"] {
        if !optional_string(object, key) {
            return Err(format!("{key} must be a string"));
        }
    }
    for key in ["ConversationId", "PreviousId"] {
        if !optional_id(object, key) {
            return Err(format!("{key} must be a number"));
        }
    }
    let files = attachments(object.get("Attachments"))?;
    users(object.get("Users"), is_email(object))?;
    content(object.get("Content"), files)
}

/// The attachments, checked; how many there are.
fn attachments(value: Option<&Value>) -> Result<usize, String> {
    let list = match value {
        None | Some(Value::Null) => return Ok(0),
        Some(Value::Array(list)) => list,
        Some(_) => return Err("Attachments must be an array".into()),
    };
    for (i, item) in list.iter().enumerate() {
        let bad = |what: &str| Err(format!("Attachments[{i}]: {what}"));
        let Some(item) = item.as_object() else {
            return bad("not an object");
        };
        if string(item, "Description").is_none() {
            return bad("Description is mandatory with a file (a string)");
        }
        let Some(file) = item.get("File").and_then(Value::as_object) else {
            return bad("File is mandatory (an object)");
        };
        if !filled(file, "Name") {
            return bad("File.Name is mandatory with a file (a string)");
        }
        let content = string(file, "Content");
        if !filled(file, "Path") && content.is_none() {
            return bad("File needs a Path (a public url) or a Content (base64)");
        }
        if !filled(file, "Path")
            && let Some(content) = content
            && base64::engine::general_purpose::STANDARD
                .decode(content)
                .is_err()
        {
            return bad("File.Content is not base64");
        }
    }
    Ok(list.len())
}

/// `Users` with `IdentityId`, `Name` and a `RoleId` MSR1-MSR4; mandatory,
/// with a sender and a recipient, for e-mail.
fn users(value: Option<&Value>, email: bool) -> Result<(), String> {
    let list = match value {
        None | Some(Value::Null) if !email => return Ok(()),
        Some(Value::Array(list)) => list.as_slice(),
        _ if email => return Err("Users is mandatory for an e-mail".into()),
        _ => return Err("Users must be an array".into()),
    };
    let mut roles = Vec::with_capacity(list.len());
    for (i, user) in list.iter().enumerate() {
        let Some(user) = user.as_object() else {
            return Err(format!("Users[{i}] is not an object"));
        };
        let role = string(user, "RoleId").filter(|r| ROLES.contains(r));
        match role {
            Some(role) if filled(user, "IdentityId") && string(user, "Name").is_some() => {
                roles.push(role);
            }
            _ => {
                return Err(format!(
                    "Users[{i}] needs IdentityId, Name and a RoleId MSR1-MSR4"
                ));
            }
        }
    }
    if email && !(roles.contains(&"MSR1") && roles.contains(&"MSR2")) {
        return Err("an e-mail's Users need a sender (MSR1) and a recipient (MSR2)".into());
    }
    Ok(())
}

/// `Content` with `Body`, `BodyText`, `ContentType` (text/...) and
/// `Encoding`; the bodies may be empty only when a file is attached.
fn content(value: Option<&Value>, files: usize) -> Result<(), String> {
    let Some(content) = value.and_then(Value::as_object) else {
        return Err("Content is mandatory (an object)".into());
    };
    for key in ["Body", "BodyText"] {
        let ok = match string(content, key) {
            Some(text) => files > 0 || !text.trim().is_empty(),
            None => false,
        };
        if !ok {
            return Err(format!("Content.{key} is mandatory (a string)"));
        }
    }
    if !string(content, "ContentType").is_some_and(|t| t.starts_with("text/")) {
        return Err("Content.ContentType is mandatory (text/html or text/plain)".into());
    }
    if !filled(content, "Encoding") {
        return Err("Content.Encoding is mandatory (a string)".into());
    }
    Ok(())
}
