//! The Chatwoot adapter's request bodies and answer classification, checked
//! against `providers/chatwoot-99digital-create-message.txt`.

use super::*;
use serde_json::json;

fn message(json: Value) -> Message {
    serde_json::from_value(json).expect("test message parses")
}

fn adapter(token: &str) -> ChatwootAdapter {
    let settings = ChatwootSettings {
        api_access_token: token.into(),
        account_id: 17,
    };
    ChatwootAdapter::new(
        "https://online.99digital.co.il/",
        settings,
        reqwest::Client::new(),
    )
}

#[test]
fn the_url_has_the_account_and_the_conversation() {
    assert_eq!(
        adapter("t").url("4242"),
        "https://online.99digital.co.il/api/v1/accounts/17/conversations/4242/messages"
    );
    assert!(adapter("bad\ntoken").token.is_none());
}

/// The document's request example, with `content` from the message.
#[test]
fn the_body_is_the_documented_example() {
    let example: Value = serde_json::from_str(
        r#"{
  "content": "string",
  "message_type": "outgoing",
  "private": false,
  "content_type": "text",
  "content_attributes": {}
}"#,
    )
    .expect("the document's JSON");
    let m = message(json!({"to": "contact-1", "text": "string", "conversation_id": "4242"}));
    assert_eq!(request_body(&m), example);
    assert_eq!(check(&m), Ok(()));
}

#[test]
fn extra_sets_the_optional_fields_but_not_content() {
    let m = message(
        json!({"to": "c", "html": "<b>Pick</b> one", "conversation_id": "1",
        "extra": {"private": true, "content_type": "input_select",
                  "content_attributes": {"items": [{"title": "Yes", "value": "yes"}]},
                  "content": "not mine", "message_type": "incoming", "echo_id": "e-1"}}),
    );
    let body = request_body(&m);
    assert_eq!(
        body,
        json!({"content": "Pick one", "message_type": "outgoing", "private": true,
               "content_type": "input_select",
               "content_attributes": {"items": [{"title": "Yes", "value": "yes"}]},
               "echo_id": "e-1"})
    );
    assert_eq!(check(&m), Ok(()));
}

#[test]
fn check_refuses_what_chatwoot_cannot_carry() {
    let refused = |json: Value, needle: &str| {
        let err = check(&message(json)).expect_err("refused");
        assert!(err.0.contains(needle), "{err}");
    };
    refused(json!({"to": "c", "text": "x"}), "conversation_id");
    refused(
        json!({"to": "c", "text": "x", "conversation_id": "12a"}),
        "conversation_id",
    );
    refused(
        json!({"to": "c", "kind": "image", "conversation_id": "1",
               "media": {"url": "https://x/a.png"}}),
        "image",
    );
    refused(
        json!({"to": "c", "kind": "buttons", "conversation_id": "1",
               "buttons": [{"key": "k", "title": "t"}]}),
        "buttons",
    );
    refused(
        json!({"to": "c", "text": "x", "conversation_id": "1",
               "attachments": [{"name": "f", "url": "https://x/f"}]}),
        "files",
    );
    refused(
        json!({"to": "c", "text": " ", "conversation_id": "1"}),
        "content",
    );
    refused(
        json!({"to": "c", "text": "x", "conversation_id": "1", "extra": {"private": "yes"}}),
        "extra.private",
    );
    refused(
        json!({"to": "c", "text": "x", "conversation_id": "1",
               "extra": {"content_type": "article"}}),
        "extra.content_type",
    );
    refused(
        json!({"to": "c", "text": "x", "conversation_id": "1",
               "extra": {"content_attributes": []}}),
        "extra.content_attributes",
    );
}

/// The document's response example, with a real id and each status.
fn answer(id: Value, status: &str) -> Vec<u8> {
    json!({"id": id, "content": "string", "inbox_id": 0, "conversation_id": 0,
        "message_type": 0, "content_type": "text", "status": status,
        "content_attributes": {}, "created_at": 0, "private": false, "source_id": "string",
        "sender": {"id": 0, "name": "string", "type": "user"},
        "created_at_exact": "yyyy-mm-ddThh:mm:ss.sssZ"})
    .to_string()
    .into_bytes()
}

#[test]
fn the_documented_answer_gives_id_and_status() {
    for (status, expected) in [
        ("sent", ProviderStatus::SENT),
        ("delivered", ProviderStatus::DELIVERED),
        ("read", ProviderStatus::READ),
    ] {
        let sent = interpret(200, None, &answer(json!(981), status)).expect("a send");
        assert_eq!(sent.remote_id.as_deref(), Some("981"));
        assert_eq!(sent.provider_status, Some(expected));
        assert_eq!(sent.http_status, 200);
    }
    let sent = interpret(200, None, &answer(json!("m-1"), "queued")).expect("a send");
    assert_eq!(sent.remote_id.as_deref(), Some("m-1"));
    assert_eq!(sent.provider_status, None);
}

#[test]
fn a_failed_status_fails_the_delivery() {
    let err = interpret(200, None, &answer(json!(5), "failed")).expect_err("failed");
    assert_eq!(err.class, ErrorClass::Permanent);
}

#[test]
fn http_errors_use_the_status() {
    let wait = Some(Duration::from_secs(9));
    let err = interpret(429, wait, br#"{"error": "Too many requests"}"#).expect_err("429");
    assert_eq!(err.class, ErrorClass::RateLimited { retry_after: wait });
    assert_eq!(
        err.message,
        "Chatwoot answered (HTTP 429): Too many requests"
    );
    let err = interpret(502, None, b"<html>bad gateway</html>").expect_err("502");
    assert_eq!(err.class, ErrorClass::Transient);
    let err =
        interpret(404, None, br#"{"error": "Resource could not be found"}"#).expect_err("404");
    assert_eq!(err.class, ErrorClass::Permanent);
    let err = interpret(422, None, br#"{"message": "Content can't be blank"}"#).expect_err("422");
    assert_eq!(
        err.message,
        "Chatwoot answered (HTTP 422): Content can't be blank"
    );
    for status in [401, 403] {
        let err =
            interpret(status, None, br#"{"error": "Invalid Access Token"}"#).expect_err("auth");
        assert_eq!(err.class, ErrorClass::Permanent);
        assert!(
            err.message
                .starts_with("Chatwoot refused the api_access_token")
        );
    }
}

#[test]
fn an_unreadable_success_is_retried() {
    let err = interpret(200, None, b"").expect_err("empty");
    assert_eq!(err.class, ErrorClass::Transient);
}
