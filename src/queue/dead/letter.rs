//! One dead letter as `herald dead` shows it, read from its body and
//! headers alone (no IO): why and when it was dead-lettered, by herald
//! (`x-herald-error`, `x-herald-rejected-at`) or by RabbitMQ itself
//! (`x-death`), the command's `id` and `type` where the body is readable,
//! a short preview, and a handle to name it by. Also the properties a
//! replay publishes it with. Everything here comes from outside: nothing
//! panics on it, and a body is never printed whole.

use super::preview::{escaped, preview};
use crate::queue::publisher::header_text;
use chrono::{DateTime, Utc};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable};
use serde::Serialize;
use uuid::Uuid;

/// Hex digits of a handle.
pub const HANDLE_LEN: usize = 12;

/// A handle as an operator typed it: [`HANDLE_LEN`] hex digits, any case,
/// spaces around; `None` where it is not one.
pub fn parse_handle(text: &str) -> Option<String> {
    let handle = text.trim().to_ascii_lowercase();
    (handle.len() == HANDLE_LEN && handle.chars().all(|c| c.is_ascii_hexdigit())).then_some(handle)
}
/// The longest `id` or `type` kept from a body.
const FIELD_CHARS: usize = 120;
/// The largest body read for its `id` and `type` (a command twice the
/// worker's limit is still read; RabbitMQ may carry far larger ones).
const PEEK_BYTES: usize = 16 * 1024 * 1024;

/// The headers that say a message is dead, and the count of deliveries a
/// quorum queue adds (of the dead-letter queue's reads): a replay leaves
/// them behind.
const DEATH_HEADERS: [&str; 11] = [
    "x-delivery-count",
    "x-herald-error",
    "x-herald-queue",
    "x-herald-rejected-at",
    "x-death",
    "x-first-death-reason",
    "x-first-death-queue",
    "x-first-death-exchange",
    "x-last-death-reason",
    "x-last-death-queue",
    "x-last-death-exchange",
];
/// How many times a command was replayed; a replay counts one more.
pub const REPLAYED: &str = "x-herald-replayed";

/// The namespace of handles (uuid v5, SHA-1).
const HANDLES: Uuid = Uuid::from_u128(0x2c41_9d7e_83a0_4f6b_b1d2_5e8c_0a97_36f4);

/// Who dead-lettered a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// herald refused the command (`x-herald-error`).
    Herald,
    /// RabbitMQ dead-lettered it itself (`x-death`): the delivery limit, a
    /// nack without requeue.
    Rabbitmq,
    /// Neither says: published to the dead-letter exchange by someone else.
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// Names it on the command line: the first hex digits of a hash of its
    /// `message_id`, or where it has none, of its body, reason and time.
    pub handle: String,
    pub source: Source,
    pub reason: Option<String>,
    pub dead_lettered_at: Option<DateTime<Utc>>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<String>,
    pub message_id: Option<String>,
    /// How many times it was replayed before.
    pub replays: u32,
    pub bytes: usize,
    /// The body's first characters, control characters escaped.
    pub preview: String,
    /// The whole hash the handle starts with.
    #[serde(skip)]
    key: Uuid,
}

impl DeadLetter {
    pub fn read(body: &[u8], properties: &BasicProperties) -> DeadLetter {
        let empty = FieldTable::default();
        let headers = properties.headers().as_ref().unwrap_or(&empty);
        let death = last_death(headers);
        let (source, reason) = match header_text(headers, "x-herald-error") {
            Some(error) => (Source::Herald, Some(error)),
            None => match broker_reason(headers, death) {
                Some(reason) => (Source::Rabbitmq, Some(reason)),
                None => (Source::Unknown, None),
            },
        };
        let dead_lettered_at = header_text(headers, "x-herald-rejected-at")
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc))
            .or_else(|| {
                death
                    .and_then(|d| d.inner().get("time"))
                    .and_then(timestamp)
            });
        let message_id = properties
            .message_id()
            .as_ref()
            .map(|m| m.as_str().to_owned());
        let key = match &message_id {
            Some(message_id) => Uuid::new_v5(&HANDLES, message_id.as_bytes()),
            None => {
                let mut named = body.to_vec();
                named.extend_from_slice(reason.as_deref().unwrap_or("").as_bytes());
                named.extend_from_slice(format!("{dead_lettered_at:?}").as_bytes());
                Uuid::new_v5(&HANDLES, &named)
            }
        };
        let (kind, id) = peek(body);
        DeadLetter {
            handle: key.simple().to_string()[..HANDLE_LEN].to_owned(),
            source,
            reason,
            dead_lettered_at,
            kind,
            id,
            message_id,
            replays: headers.inner().get(REPLAYED).map_or(0, count),
            bytes: body.len(),
            preview: preview(body),
            key,
        }
    }

    /// The properties its replay is published with: the original headers
    /// without those that say it is dead, one replay more in
    /// `x-herald-replayed`, persistent JSON, and a `message_id` (its own,
    /// or one made from the handle's hash), so that a replay published
    /// twice is one resend.
    pub fn replay_properties(&self, original: &BasicProperties) -> BasicProperties {
        let mut headers = FieldTable::default();
        if let Some(old) = original.headers() {
            for (name, value) in old.inner() {
                if !DEATH_HEADERS.contains(&name.as_str()) && name.as_str() != REPLAYED {
                    headers.insert(name.clone(), value.clone());
                }
            }
        }
        let replays = i64::from(self.replays).saturating_add(1);
        headers.insert(REPLAYED.into(), AMQPValue::LongLongInt(replays));
        let message_id = self
            .message_id
            .clone()
            .unwrap_or_else(|| self.key.to_string());
        let mut properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_message_id(message_id.into())
            .with_headers(headers);
        if let Some(correlation_id) = original.correlation_id() {
            properties = properties.with_correlation_id(correlation_id.clone());
        }
        if let Some(timestamp) = original.timestamp() {
            properties = properties.with_timestamp(*timestamp);
        }
        if let Some(app_id) = original.app_id() {
            properties = properties.with_app_id(app_id.clone());
        }
        properties
    }
}

/// The most recent entry of `x-death` (RabbitMQ puts it first).
fn last_death(headers: &FieldTable) -> Option<&FieldTable> {
    match headers.inner().get("x-death")? {
        AMQPValue::FieldArray(deaths) => match deaths.as_slice().first()? {
            AMQPValue::FieldTable(death) => Some(death),
            _ => None,
        },
        _ => None,
    }
}

/// RabbitMQ's reason, from `x-death` or `x-first-death-reason`, with the
/// queue it left: `RabbitMQ: delivery_limit, handed out too many times
/// (queue herald.commands)`.
fn broker_reason(headers: &FieldTable, death: Option<&FieldTable>) -> Option<String> {
    let (reason, queue) = match death {
        Some(death) => (header_text(death, "reason")?, header_text(death, "queue")),
        None => (
            header_text(headers, "x-first-death-reason")?,
            header_text(headers, "x-first-death-queue"),
        ),
    };
    let meaning = match reason.as_str() {
        "delivery_limit" => ", handed out too many times",
        "rejected" => ", nacked without requeue",
        "expired" => ", its time to live ran out",
        "maxlen" => ", the queue was full",
        _ => "",
    };
    let queue = queue.map(|q| format!(" (queue {q})")).unwrap_or_default();
    Some(format!("RabbitMQ: {reason}{meaning}{queue}"))
}

fn timestamp(value: &AMQPValue) -> Option<DateTime<Utc>> {
    let seconds = match value {
        AMQPValue::Timestamp(t) => i64::try_from(*t).ok()?,
        AMQPValue::LongLongInt(t) => *t,
        _ => return None,
    };
    DateTime::from_timestamp(seconds, 0)
}

/// A header's number, whatever integer type the publisher chose.
fn count(value: &AMQPValue) -> u32 {
    let n: i64 = match value {
        AMQPValue::Boolean(true) => 1,
        AMQPValue::ShortShortInt(n) => (*n).into(),
        AMQPValue::ShortShortUInt(n) => (*n).into(),
        AMQPValue::ShortInt(n) => (*n).into(),
        AMQPValue::ShortUInt(n) => (*n).into(),
        AMQPValue::LongInt(n) => (*n).into(),
        AMQPValue::LongUInt(n) => (*n).into(),
        AMQPValue::LongLongInt(n) => *n,
        _ => 0,
    };
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// The command's `type` and `id`, where the body is a JSON object of at
/// most [`PEEK_BYTES`].
fn peek(body: &[u8]) -> (Option<String>, Option<String>) {
    #[derive(serde::Deserialize)]
    struct Fields {
        #[serde(default, rename = "type")]
        kind: Option<serde_json::Value>,
        #[serde(default)]
        id: Option<serde_json::Value>,
    }
    if body.len() > PEEK_BYTES {
        return (None, None);
    }
    let Ok(fields) = serde_json::from_slice::<Fields>(body) else {
        return (None, None);
    };
    let text = |value: Option<serde_json::Value>| {
        let text = match value? {
            serde_json::Value::String(s) => s,
            serde_json::Value::Null => return None,
            other => other.to_string(),
        };
        Some(escaped(&text, FIELD_CHARS))
    };
    (text(fields.kind), text(fields.id))
}

#[cfg(test)]
#[path = "letter_tests.rs"]
mod tests;
