//! Providers' delivery-status pushes, read into one [`StatusUpdate`].
//!
//! - Konnek (`providers/konnek-incoming-status.md`):
//!   `{"status": {"message_id", "status", ...}}`, `status` on the -3..3
//!   scale; `message_id` is the id herald sent, the delivery id.
//! - Chatwoot: its message object as the create-message answer has it
//!   (`id`, `status` sent / delivered / read / failed), as a webhook sends
//!   it (`"event": "message_updated"` beside the message's keys). Other
//!   events, and a message without a status herald knows, are ignored.

use crate::config::AdapterSettings;
use crate::domain::ProviderStatus;
use serde_json::Value;

/// A provider's later status for one of its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    /// The provider's id for the message (or herald's own, for Konnek).
    pub remote_id: String,
    pub status: ProviderStatus,
}

/// What a callback body says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    Update(StatusUpdate),
    /// A well-formed push that says nothing herald keeps; why.
    Ignored(&'static str),
}

/// A body that is not the provider's push: the text says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// Whether this adapter's provider pushes statuses herald reads.
pub fn takes_callbacks(settings: &AdapterSettings) -> bool {
    matches!(
        settings,
        AdapterSettings::Konnek(_) | AdapterSettings::Chatwoot(_)
    )
}

/// Reads a callback body for a connection of this adapter.
pub fn parse(settings: &AdapterSettings, body: &[u8]) -> Result<Pushed, Malformed> {
    parse_as(settings.adapter(), body)
}

/// Reads a callback body as the push of the adapter named `adapter`.
pub fn parse_as(adapter: &str, body: &[u8]) -> Result<Pushed, Malformed> {
    let json: Value =
        serde_json::from_slice(body).map_err(|_| Malformed("the body is not JSON".into()))?;
    match adapter {
        "konnek" => konnek(&json),
        "chatwoot" => chatwoot(&json),
        _ => Ok(Pushed::Ignored(
            "this provider pushes no statuses herald reads",
        )),
    }
}

fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

fn konnek(json: &Value) -> Result<Pushed, Malformed> {
    let Some(status) = json.get("status").filter(|s| s.is_object()) else {
        return Err(Malformed("Konnek's push has no status object".into()));
    };
    let Some(remote_id) = id_text(status.get("message_id")) else {
        return Err(Malformed("status.message_id is missing".into()));
    };
    let value = match status.get("status") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let Some(status) = value.and_then(ProviderStatus::new) else {
        return Err(Malformed(
            "status.status must be an integer from -3 to 3".into(),
        ));
    };
    Ok(Pushed::Update(StatusUpdate { remote_id, status }))
}

/// Chatwoot's events that carry a message.
const MESSAGE_EVENTS: [&str; 2] = ["message_created", "message_updated"];

fn chatwoot(json: &Value) -> Result<Pushed, Malformed> {
    if !json.is_object() {
        return Err(Malformed("the body is not a JSON object".into()));
    }
    if let Some(event) = json.get("event")
        && !event.as_str().is_some_and(|e| MESSAGE_EVENTS.contains(&e))
    {
        return Ok(Pushed::Ignored("not a message event"));
    }
    let Some(remote_id) = id_text(json.get("id")) else {
        return Err(Malformed("the message id is missing".into()));
    };
    // Webhooks report every message of the account; herald sends outgoing
    // ones only. (Numbers are not read: Chatwoot's own examples disagree
    // on them.)
    if let Some("incoming" | "activity") = json.get("message_type").and_then(Value::as_str) {
        return Ok(Pushed::Ignored("not a message herald sent"));
    }
    let status = match json.get("status").and_then(Value::as_str) {
        Some("sent") => ProviderStatus::SENT,
        Some("delivered") => ProviderStatus::DELIVERED,
        Some("read") => ProviderStatus::READ,
        Some("failed") => ProviderStatus::FAILED,
        _ => return Ok(Pushed::Ignored("no message status herald knows")),
    };
    Ok(Pushed::Update(StatusUpdate { remote_id, status }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ChatwootSettings, KonnekSettings, OneboxSettings};

    fn konnek_settings() -> AdapterSettings {
        AdapterSettings::Konnek(KonnekSettings {
            channel: "whatsapp".into(),
            client_id: "c".into(),
            username: "u".into(),
            password: "p".into(),
        })
    }

    fn chatwoot_settings() -> AdapterSettings {
        AdapterSettings::Chatwoot(ChatwootSettings {
            api_access_token: "t".into(),
            account_id: 1,
        })
    }

    fn update(remote_id: &str, status: ProviderStatus) -> Result<Pushed, Malformed> {
        Ok(Pushed::Update(StatusUpdate {
            remote_id: remote_id.into(),
            status,
        }))
    }

    /// The document's example push.
    #[test]
    fn konnek_push_is_read() {
        let body = br#"{"status": {"message_id": "3c0b1912-aaaa-bbbb-cccc-000000000001",
            "provider_message_id": "wamid.1", "recipient_id": "628111", "status": 2,
            "tid": "t-1", "times": 1700000000, "timestamp": "2023-11-10T12:38:08+07:00"}}"#;
        assert_eq!(
            parse(&konnek_settings(), body),
            update(
                "3c0b1912-aaaa-bbbb-cccc-000000000001",
                ProviderStatus::DELIVERED
            )
        );
        let text = br#"{"status": {"message_id": "m", "status": "-3"}}"#;
        assert_eq!(
            parse(&konnek_settings(), text),
            update("m", ProviderStatus::FAILED)
        );
    }

    #[test]
    fn malformed_konnek_pushes_are_refused() {
        for body in [
            &b"not json"[..],
            br#"{"message_id": "m", "status": 2}"#,
            br#"{"status": 2}"#,
            br#"{"status": {"status": 2}}"#,
            br#"{"status": {"message_id": "", "status": 2}}"#,
            br#"{"status": {"message_id": "m", "status": 4}}"#,
            br#"{"status": {"message_id": "m", "status": "read"}}"#,
            br#"{"status": {"message_id": "m"}}"#,
        ] {
            let result = parse(&konnek_settings(), body);
            assert!(
                result.is_err(),
                "{} gave {result:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn chatwoot_message_statuses_are_read() {
        let body = br#"{"event": "message_updated", "id": 42, "status": "read",
            "message_type": "outgoing", "conversation": {"id": 7}}"#;
        assert_eq!(
            parse(&chatwoot_settings(), body),
            update("42", ProviderStatus::READ)
        );
        let bare = br#"{"id": "42", "status": "delivered"}"#;
        assert_eq!(
            parse(&chatwoot_settings(), bare),
            update("42", ProviderStatus::DELIVERED)
        );
        let ignored = br#"{"event": "conversation_created", "id": 7}"#;
        assert!(matches!(
            parse(&chatwoot_settings(), ignored),
            Ok(Pushed::Ignored(_))
        ));
        // A customer's message (or an activity) is not one herald sent: it
        // is neither applied nor kept for a delivery to come.
        for kind in ["incoming", "activity"] {
            let body = format!(
                r#"{{"event": "message_created", "id": 43, "status": "sent", "message_type": "{kind}"}}"#
            );
            assert!(matches!(
                parse(&chatwoot_settings(), body.as_bytes()),
                Ok(Pushed::Ignored(_))
            ));
        }
        let no_status = br#"{"event": "message_created", "id": 9}"#;
        assert!(matches!(
            parse(&chatwoot_settings(), no_status),
            Ok(Pushed::Ignored(_))
        ));
        for bad in [
            &br#"[1]"#[..],
            br#"{"status": "read"}"#,
            br#"{"id": {}, "status": "read"}"#,
        ] {
            assert!(parse(&chatwoot_settings(), bad).is_err());
        }
    }

    #[test]
    fn only_konnek_and_chatwoot_take_callbacks() {
        assert!(takes_callbacks(&konnek_settings()));
        assert!(takes_callbacks(&chatwoot_settings()));
        let onebox = AdapterSettings::Onebox(OneboxSettings {
            email: "e".into(),
            password: "p".into(),
            site_id: "1".into(),
            connection_id: 1,
        });
        assert!(!takes_callbacks(&onebox));
    }
}
