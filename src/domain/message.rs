//! The message a `send` command carries (contract §3), validated at the edge.
//!
//! It is stored as JSON in `deliveries.command` and read back by whichever
//! worker claims the delivery, so it serializes to the same shape it is read from.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What the message is, for providers that type their messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    #[default]
    Text,
    Image,
    Video,
    Audio,
    Document,
    Location,
    Buttons,
    List,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Image => "image",
            MessageKind::Video => "video",
            MessageKind::Audio => "audio",
            MessageKind::Document => "document",
            MessageKind::Location => "location",
            MessageKind::Buttons => "buttons",
            MessageKind::List => "list",
        }
    }

    pub fn is_media(self) -> bool {
        matches!(
            self,
            MessageKind::Image | MessageKind::Video | MessageKind::Audio | MessageKind::Document
        )
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Media {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Button {
    pub key: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
}

/// A message as producers describe it; adapters map it to their provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default)]
    pub kind: MessageKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Media>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buttons: Option<Vec<Button>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bcc: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Merged into the provider's request body, for fields this format does not name.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Why a message cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMessage {
    #[error("message.to is empty")]
    EmptyRecipient,
    #[error("message has no content: give at least one of text, html, media, location, buttons")]
    NoContent,
    #[error("message.kind is {kind} but message.{field} is missing")]
    KindWithoutContent {
        kind: MessageKind,
        field: &'static str,
    },
    #[error("message.location is not a valid coordinate")]
    BadLocation,
}

impl Message {
    /// The rules serde's shape cannot say.
    pub fn validate(&self) -> Result<(), InvalidMessage> {
        if self.to.trim().is_empty() {
            return Err(InvalidMessage::EmptyRecipient);
        }
        let has_buttons = self.buttons.as_ref().is_some_and(|b| !b.is_empty());
        if self.text.is_none()
            && self.html.is_none()
            && self.media.is_none()
            && self.location.is_none()
            && !has_buttons
        {
            return Err(InvalidMessage::NoContent);
        }
        let missing = |field| InvalidMessage::KindWithoutContent {
            kind: self.kind,
            field,
        };
        match self.kind {
            kind if kind.is_media() && self.media.is_none() => return Err(missing("media")),
            MessageKind::Location if self.location.is_none() => return Err(missing("location")),
            MessageKind::Buttons if !has_buttons => return Err(missing("buttons")),
            _ => {}
        }
        if let Some(location) = self.location {
            let ok = (-90.0..=90.0).contains(&location.latitude)
                && (-180.0..=180.0).contains(&location.longitude);
            if !ok {
                return Err(InvalidMessage::BadLocation);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(json: serde_json::Value) -> Message {
        serde_json::from_value(json).expect("test message parses")
    }

    #[test]
    fn text_message_is_valid() {
        let m = message(serde_json::json!({"to": "628111", "text": "hi"}));
        assert_eq!(m.kind, MessageKind::Text);
        assert_eq!(m.validate(), Ok(()));
    }

    #[test]
    fn content_is_required() {
        let m = message(serde_json::json!({"to": "628111"}));
        assert_eq!(m.validate(), Err(InvalidMessage::NoContent));
        let m = message(serde_json::json!({"to": "628111", "buttons": []}));
        assert_eq!(m.validate(), Err(InvalidMessage::NoContent));
    }

    #[test]
    fn kind_needs_its_content() {
        let m = message(serde_json::json!({"to": "1", "text": "x", "kind": "image"}));
        assert!(matches!(
            m.validate(),
            Err(InvalidMessage::KindWithoutContent { field: "media", .. })
        ));
        let m = message(serde_json::json!({"to": "1", "text": "x", "kind": "location"}));
        assert!(m.validate().is_err());
    }

    #[test]
    fn bad_coordinates_are_refused() {
        let m = message(serde_json::json!({
            "to": "1", "kind": "location", "location": {"latitude": 91.0, "longitude": 0.0}
        }));
        assert_eq!(m.validate(), Err(InvalidMessage::BadLocation));
    }

    #[test]
    fn round_trips_through_json() {
        let m = message(serde_json::json!({
            "to": "1", "text": "x", "cc": ["a"], "extra": {"k": 1},
            "attachments": [{"name": "f.csv", "url": "https://x/f.csv"}]
        }));
        let back: Message = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
