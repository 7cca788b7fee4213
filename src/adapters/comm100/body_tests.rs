//! The create-message body, field by field against the document's sample
//! request (`providers/comm100-ticketing-messages.txt`), and the checks.

use super::*;
use crate::domain::GroupRef;
use base64::Engine as _;
use serde_json::json;
use uuid::Uuid;

fn message(json: Value) -> Message {
    serde_json::from_value(json).expect("test message parses")
}

/// The sender and channel of the document's example.
fn settings() -> Comm100Settings {
    Comm100Settings {
        access_token: "t".into(),
        site_id: None,
        channel_id: "Email".into(),
        sent_by_id: "31cb8d70-b5a6-4faa-b021-62335d6dcf6c".into(),
        sent_by_type: "visitor".into(),
    }
}

/// The document's `POST ticketing/messages` sample request body.
const EXAMPLE: &str = r#"{"translatedBody":"","ticketId":"100","parentId":"ef50cc68-5b88-4405-88f0-84334581246d","sentById":"31cb8d70-b5a6-4faa-b021-62335d6dcf6c","sentByType":"visitor","time":"2021-04-26T10:52:24.336Z","type":"text","metadata":{"channel":{"channelAccount":"b293de41-e8a5-46b5-98dc-f8db9e5e6518","isFromChannelToPlatform":true},"source":{"contactIdentityId":"b293de41-e8a5-46b5-98dc-f8db9e5e6518","conversationId":"1848"},"decoration":{"chat":{"title":"Chat Transcript with 1"},"offlineMessage":{"title":"Chat Transcript with 1"}}},"originalId":"96e7964a-29cb-40d6-8251-4f334b5748bd","channelId":"Email","body":"data:text/plain;base64,PHA+MTExPC9wPg==","ifDisplayInTicketCorrespondences":true,"isOriginalSentToContact":true,"showInlineImage":true,"isRead":true,"isInternal":true,"messageDelivery":{"status":"failed","failReason":"something is wrong.","time":"2021-04-26T10:52:24.336Z","groupId":"8c0136f3-9dd3-47f3-be12-81b232c84408","orderNum":0},"attachments":[{"fileKey":"isqo-ngLG1Vw7Uh0ieeIGXSjVoAX2DhmQKeWmi7","name":"my file","size":10,"type":"file","url":"http://myfile/url"}]}"#;

/// The example rebuilt from a command: the ticket, the text, a group, one
/// attachment, and the fields the contract does not name through `extra`.
#[test]
fn the_body_is_the_documented_example() {
    let example: Value = serde_json::from_str(EXAMPLE).expect("the document's JSON");
    let m = message(json!({
        "to": "contact-1", "conversation_id": "100", "text": "<p>111</p>",
        "attachments": [{"name": "my file", "url": "http://myfile/url"}],
        "extra": {
            "translatedBody": "", "parentId": "ef50cc68-5b88-4405-88f0-84334581246d",
            "time": "2021-04-26T10:52:24.336Z", "metadata": example["metadata"],
            "originalId": "96e7964a-29cb-40d6-8251-4f334b5748bd",
            "ifDisplayInTicketCorrespondences": true, "isOriginalSentToContact": true,
            "showInlineImage": true, "isRead": true, "isInternal": true
        }
    }));
    let group = GroupRef {
        id: "8c0136f3-9dd3-47f3-be12-81b232c84408".into(),
        order: 0,
    };
    assert_eq!(check(&m), Ok(()));
    let body = request_body(&settings(), &m, Some(&group));
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&body), keys(&example), "the same top-level fields");
    for key in keys(&example) {
        if key == "messageDelivery" || key == "attachments" {
            continue;
        }
        assert_eq!(body[&key], example[&key], "field {key}");
    }
    // herald asks Comm100 to deliver: the example's failed delivery (a
    // record of the past) is not what a new message says.
    let delivery = &body["messageDelivery"];
    assert_eq!(delivery["groupId"], example["messageDelivery"]["groupId"]);
    assert_eq!(delivery["orderNum"], example["messageDelivery"]["orderNum"]);
    assert_eq!(delivery["status"], "waitForSending");
    assert_eq!(keys(delivery), ["groupId", "orderNum", "status"]);
    // The file by url; fileKey and size belong to Comm100's file service.
    let file = &example["attachments"][0];
    let sent = &body["attachments"][0];
    for key in ["name", "type", "url"] {
        assert_eq!(sent[key], file[key], "attachment field {key}");
    }
    assert_eq!(body["attachments"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_plain_text_message_has_the_required_fields_only() {
    let m = message(json!({"to": "c", "conversation_id": " 2860 ", "text": "Hello ünïcode"}));
    let mut config = settings();
    config.sent_by_type = "agent".into();
    let body = request_body(&config, &m, None);
    let encoded = base64::engine::general_purpose::STANDARD.encode("Hello ünïcode");
    assert_eq!(
        body,
        json!({"ticketId": "2860", "sentById": "31cb8d70-b5a6-4faa-b021-62335d6dcf6c",
               "sentByType": "agent", "type": "text", "metadata": {}, "channelId": "Email",
               "body": format!("{BODY_PREFIX}{encoded}"),
               "messageDelivery": {"status": "waitForSending"}})
    );
}

#[test]
fn kinds_map_to_types_and_files_to_attachments() {
    let html =
        message(json!({"to": "c", "conversation_id": "1", "html": "<b>hi</b>", "text": "hi"}));
    let body = request_body(&settings(), &html, None);
    assert_eq!(body["type"], "html");
    let encoded = base64::engine::general_purpose::STANDARD.encode("<b>hi</b>");
    assert_eq!(body["body"], format!("{BODY_PREFIX}{encoded}"));

    for (kind, expected) in [
        ("image", "image"),
        ("video", "video"),
        ("audio", "audio"),
        ("document", "file"),
    ] {
        let m = message(json!({"to": "c", "conversation_id": "1", "kind": kind,
            "media": {"url": "https://cdn.example/f/invoice.pdf?sig=1"}}));
        assert_eq!(check(&m), Ok(()), "{kind}");
        let body = request_body(&settings(), &m, None);
        assert_eq!(body["type"], expected, "{kind}");
        assert!(body.get("body").is_none(), "no caption, no body");
        assert_eq!(
            body["attachments"],
            json!([{"name": "invoice.pdf", "type": expected,
                    "url": "https://cdn.example/f/invoice.pdf?sig=1"}])
        );
    }

    let m = message(
        json!({"to": "c", "conversation_id": "1", "text": "see files",
        "attachments": [
            {"name": "a.png", "url": "https://x/a.png", "mime": "image/png"},
            {"name": "b.csv", "url": "https://x/b.csv", "mime": "text/csv"}]}),
    );
    let body = request_body(&settings(), &m, None);
    assert_eq!(
        body["attachments"],
        json!([{"name": "a.png", "type": "image", "url": "https://x/a.png"},
               {"name": "b.csv", "type": "file", "url": "https://x/b.csv"}])
    );
}

#[test]
fn a_group_that_is_not_a_guid_gets_a_stable_one() {
    let group = GroupRef {
        id: "bot-reply-42".into(),
        order: 3,
    };
    let m = message(json!({"to": "c", "conversation_id": "1", "text": "x"}));
    let body = request_body(&settings(), &m, Some(&group));
    let id = body["messageDelivery"]["groupId"]
        .as_str()
        .expect("a string");
    assert!(Uuid::parse_str(id).is_ok(), "{id} is a guid");
    assert_eq!(body["messageDelivery"]["orderNum"], 3);
    let again = request_body(&settings(), &m, Some(&group));
    assert_eq!(
        again["messageDelivery"]["groupId"], id,
        "the same every time"
    );
    let other = GroupRef {
        id: "bot-reply-43".into(),
        order: 0,
    };
    assert_ne!(group_uuid(&other).to_string(), id);
}

#[test]
fn extra_fills_what_herald_left_empty_only() {
    let m = message(json!({"to": "c", "conversation_id": "7", "text": "x",
        "extra": {"ticketId": "999", "type": "webView", "isInternal": false,
                  "messageDelivery": {"status": "failed", "time": "2021-04-26T10:52:24.336Z"}}}));
    let body = request_body(&settings(), &m, None);
    assert_eq!(body["ticketId"], "7");
    assert_eq!(body["type"], "text");
    assert_eq!(body["isInternal"], false);
    assert_eq!(
        body["messageDelivery"],
        json!({"status": "waitForSending", "time": "2021-04-26T10:52:24.336Z"})
    );
}

#[test]
fn check_refuses_what_comm100_cannot_carry() {
    let refused = |json: Value, needle: &str| {
        let reason = check(&message(json)).expect_err("refused").0;
        assert!(reason.contains(needle), "{reason:?} lacks {needle:?}");
    };
    refused(
        json!({"to": "c", "conversation_id": "1", "kind": "location",
               "location": {"latitude": 1.0, "longitude": 2.0}}),
        "location message",
    );
    refused(
        json!({"to": "c", "conversation_id": "1", "kind": "buttons",
               "buttons": [{"key": "y", "title": "Yes"}]}),
        "buttons message",
    );
    refused(
        json!({"to": "c", "conversation_id": "1", "kind": "list", "text": "x"}),
        "list message",
    );
    refused(json!({"to": "c", "text": "x"}), "conversation_id");
    refused(
        json!({"to": "c", "conversation_id": "T-1", "text": "x"}),
        "numeric ticket id",
    );
    refused(
        json!({"to": "c", "conversation_id": "1", "text": "x",
               "attachments": [{"name": "f", "content_base64": "aGk="}]}),
        "by url",
    );
    refused(
        json!({"to": "c", "conversation_id": "1", "text": "x", "extra": {"metadata": 1}}),
        "extra.metadata",
    );
    refused(
        json!({"to": "c", "conversation_id": "1", "text": " "}),
        "message.text",
    );
}
