//! The commands producers publish (contract §3), parsed and validated at the
//! edge. Nothing after [`Command::parse`] sees raw bytes.

use super::message::{InvalidMessage, Message};
use super::reasons::Actor;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The largest command accepted, in bytes.
pub const MAX_COMMAND_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Send(Box<SendCommand>),
    Resend(ResendCommand),
    Cancel(CancelCommand),
}

impl Command {
    pub fn id(&self) -> Uuid {
        match self {
            Command::Send(c) => c.id,
            Command::Resend(c) => c.id,
            Command::Cancel(c) => c.id,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Command::Send(_) => "send",
            Command::Resend(_) => "resend",
            Command::Cancel(_) => "cancel",
        }
    }
}

/// A group member's place: handed to the provider in ascending `order`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    pub id: String,
    pub order: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendCommand {
    pub id: Uuid,
    pub connection: String,
    pub message: Message,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResendCommand {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Requester>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelCommand {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Requester>,
}

impl ResendCommand {
    /// The key (the AMQP `message_id`) herald's own tools publish a resend
    /// of a delivery that has had `resends` rounds under: the delivery and
    /// the round the resend starts. The same resend published twice (a bulk
    /// resend run again, an API call retried) carries one key, and a worker
    /// applies it once.
    pub fn key(id: Uuid, resends: i32) -> String {
        format!("resend {id} round {}", resends.saturating_add(1))
    }
}

/// Who asked for a resend or cancel, as herald's own tools say in the
/// command (`"by": {"via": "cli", "name": "alice"}`), for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    /// `cli` or `api`; anything else is taken for another producer.
    pub via: String,
    /// The operator's name, where given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Requester {
    /// A request through `via` (herald's CLI or API), by `name` where given.
    pub fn new(via: Actor, name: Option<String>) -> Requester {
        Requester {
            via: via.as_str().to_owned(),
            name,
        }
    }

    /// The actor the audit trail records for a command that says `by`.
    pub fn actor(by: Option<&Requester>) -> Actor {
        match by.map(|by| by.via.as_str()) {
            Some("cli") => Actor::Cli,
            Some("api") => Actor::Api,
            _ => Actor::Producer,
        }
    }
}

/// The wire form: a serde enum tagged by `type` (parsing goes type by type,
/// see [`Command::parse`], so that errors name the field).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Wire {
    Send(Box<SendCommand>),
    Resend(ResendCommand),
    Cancel(CancelCommand),
}

/// Why a command was refused; it goes to the dead-letter queue with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error("command is {size} bytes, larger than the 1 MiB limit")]
    TooLarge { size: usize },
    #[error("command is not valid JSON: {0}")]
    Malformed(String),
    #[error("unknown command type {0:?} (expected send, resend or cancel)")]
    UnknownType(String),
    #[error("invalid {kind} command: {detail}")]
    Invalid { kind: String, detail: String },
    #[error("invalid message: {0}")]
    InvalidMessage(#[from] InvalidMessage),
    #[error("unknown connection {0:?}")]
    UnknownConnection(String),
    /// Valid, but PostgreSQL refused to store it (found after the edge).
    #[error("the command cannot be stored: {0}")]
    Unstorable(String),
}

impl RejectReason {
    /// A low-cardinality label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            RejectReason::TooLarge { .. } => "too_large",
            RejectReason::Malformed(_) => "malformed",
            RejectReason::UnknownType(_) => "unknown_type",
            RejectReason::Invalid { .. } | RejectReason::InvalidMessage(_) => "invalid",
            RejectReason::UnknownConnection(_) => "unknown_connection",
            RejectReason::Unstorable(_) => "unstorable",
        }
    }
}

/// A refused command, with whatever could be read of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    /// The command's `type` where it could be read (for metrics), else `unknown`.
    pub command_type: &'static str,
    pub id: Option<Uuid>,
    pub connection: Option<String>,
}

/// The largest `group.order` (PostgreSQL's `integer`).
pub const MAX_GROUP_ORDER: u32 = i32::MAX as u32;

/// Where `value` holds a U+0000 (NUL), in a string or a key, which
/// PostgreSQL's `text` and `jsonb` cannot store: a refusal's detail naming
/// the field (`message.text`, `message.buttons[1].title`). `path` is the
/// path of `value`.
fn nul_in(value: &serde_json::Value, path: &mut String) -> Option<String> {
    const WHY: &str = "contains U+0000 (NUL), which herald cannot store";
    match value {
        serde_json::Value::String(text) if text.contains('\0') => Some(format!(
            "{} {WHY}",
            if path.is_empty() { "the command" } else { path }
        )),
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = nul_in(item, path);
            path.truncate(len);
            found
        }),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                let within = if path.is_empty() {
                    "the command"
                } else {
                    path.as_str()
                };
                return Some(format!("{within}: a key {WHY}"));
            }
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            let found = nul_in(item, path);
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

/// Only the fields that identify a command, read leniently from a bad one.
#[derive(Deserialize)]
struct Skeleton {
    #[serde(rename = "type")]
    kind: Option<serde_json::Value>,
    id: Option<serde_json::Value>,
    connection: Option<serde_json::Value>,
}

impl Command {
    /// Parses and validates one command. `known_connection` says whether a
    /// connection name is configured.
    pub fn parse(
        bytes: &[u8],
        known_connection: impl Fn(&str) -> bool,
    ) -> Result<Command, Rejection> {
        // A huge body is not worth reading just for its id.
        let skeleton: Option<Skeleton> = (bytes.len() <= 16 * MAX_COMMAND_BYTES)
            .then(|| serde_json::from_slice(bytes).ok())
            .flatten();
        let reject = |reason: RejectReason| {
            let skeleton = skeleton.as_ref();
            let text =
                |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str().map(str::to_owned));
            Rejection {
                command_type: match text(skeleton.and_then(|s| s.kind.as_ref())).as_deref() {
                    Some("send") => "send",
                    Some("resend") => "resend",
                    Some("cancel") => "cancel",
                    _ => "unknown",
                },
                id: text(skeleton.and_then(|s| s.id.as_ref()))
                    .and_then(|id| Uuid::parse_str(&id).ok()),
                connection: text(skeleton.and_then(|s| s.connection.as_ref())),
                reason,
            }
        };
        if bytes.len() > MAX_COMMAND_BYTES {
            return Err(reject(RejectReason::TooLarge { size: bytes.len() }));
        }
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| reject(RejectReason::Malformed(e.to_string())))?;
        let kind = match value.get("type") {
            Some(serde_json::Value::String(kind)) => kind.clone(),
            Some(other) => return Err(reject(RejectReason::UnknownType(other.to_string()))),
            None => {
                return Err(reject(RejectReason::Invalid {
                    kind: "unknown".into(),
                    detail: "missing field `type`".into(),
                }));
            }
        };
        if !matches!(kind.as_str(), "send" | "resend" | "cancel") {
            return Err(reject(RejectReason::UnknownType(kind)));
        }
        // Each type's own struct, so that errors carry the field's path.
        fn body<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
            serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                if path == "." || path.is_empty() {
                    e.inner().to_string()
                } else {
                    format!("{path}: {}", e.inner())
                }
            })
        }
        let invalid = |detail| {
            reject(RejectReason::Invalid {
                kind: kind.clone(),
                detail,
            })
        };
        if let Some(detail) = nul_in(&value, &mut String::new()) {
            return Err(invalid(detail));
        }
        match kind.as_str() {
            "send" => {
                let send: SendCommand = body(value).map_err(invalid)?;
                if let Some(group) = &send.group
                    && group.order > MAX_GROUP_ORDER
                {
                    return Err(invalid(format!(
                        "group.order {} is larger than {MAX_GROUP_ORDER}, the largest herald can store",
                        group.order
                    )));
                }
                send.message.validate().map_err(|e| reject(e.into()))?;
                if !known_connection(&send.connection) {
                    return Err(reject(RejectReason::UnknownConnection(send.connection)));
                }
                Ok(Command::Send(Box::new(send)))
            }
            "resend" => Ok(Command::Resend(body(value).map_err(invalid)?)),
            _ => Ok(Command::Cancel(body(value).map_err(invalid)?)),
        }
    }

    /// The wire form of a command, as `herald publish` and the tests produce it.
    pub fn to_json(&self) -> serde_json::Value {
        let wire = match self.clone() {
            Command::Send(c) => Wire::Send(c),
            Command::Resend(c) => Wire::Resend(c),
            Command::Cancel(c) => Wire::Cancel(c),
        };
        serde_json::to_value(wire).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "command_props.rs"]
mod props;
