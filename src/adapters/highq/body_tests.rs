//! The new-conversation body, field by field against the document's JSON
//! form (`providers/highq-new-conversation.txt`), and the checks.

use super::*;
use serde_json::json;

fn message(json: Value) -> Message {
    serde_json::from_value(json).expect("test message parses")
}

/// The document's JSON form, with its placeholders filled: two users, one
/// message with two attachments.
#[test]
fn the_body_is_the_documented_json_form() {
    let example = json!({
      "recipients": {
        "users": {
          "user": [
            { "userid": 1201 },
            { "userid": 1202 }
          ]
        }
      },
      "messages": {
        "message": [
          {
            "html": "<p>Your order has shipped</p>",
            "attachments": {
              "attachment": [
                { "id": "5501" },
                { "id": "5502" }
              ]
            }
          }
        ]
      }
    });
    let m = message(
        json!({"to": "1201, 1202", "html": "<p>Your order has shipped</p>",
        "extra": {"attachments": ["5501", 5502]}}),
    );
    assert_eq!(check(&m), Ok(()));
    let body = request_body(&m);
    assert_eq!(body["recipients"], example["recipients"]);
    assert_eq!(
        body["messages"]["message"][0]["html"],
        example["messages"]["message"][0]["html"]
    );
    assert_eq!(
        body["messages"]["message"][0]["attachments"],
        example["messages"]["message"][0]["attachments"]
    );
    assert_eq!(body, example);
}

#[test]
fn one_recipient_and_plain_text() {
    let m = message(json!({"to": "77", "text": "Tom & Jerry <3\nsee you"}));
    assert_eq!(
        request_body(&m),
        json!({"recipients": {"users": {"user": [{"userid": 77}]}},
               "messages": {"message": [{"html": "Tom &amp; Jerry &lt;3<br/>see you"}]}})
    );
}

#[test]
fn recipients_are_split_on_commas_semicolons_and_spaces() {
    assert_eq!(recipients("1, 2;3  4\n5"), ["1", "2", "3", "4", "5"]);
    assert!(recipients(" , ").is_empty());
}

#[test]
fn check_refuses_what_highq_cannot_carry() {
    let refused = |json: Value, needle: &str| {
        let reason = check(&message(json)).expect_err("refused").0;
        assert!(reason.contains(needle), "{reason:?} lacks {needle:?}");
    };
    refused(
        json!({"to": "1", "kind": "image", "media": {"url": "https://x/a.png"}}),
        "not a image message",
    );
    refused(
        json!({"to": "1", "text": "x", "attachments": [{"name": "f", "url": "https://x/f"}]}),
        "extra.attachments",
    );
    refused(
        json!({"to": "ana@example.com", "text": "x"}),
        "numeric user ids",
    );
    refused(json!({"to": "1, two", "text": "x"}), "numeric user ids");
    refused(json!({"to": "1", "text": " "}), "message.html");
    refused(
        json!({"to": "1", "text": "x", "extra": {"attachments": "5501"}}),
        "extra.attachments",
    );
    refused(
        json!({"to": "1", "text": "x", "extra": {"attachments": [{"id": 1}]}}),
        "extra.attachments",
    );
}
