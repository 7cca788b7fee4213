//! The Konnek adapter's request bodies and answer classification, checked
//! against `providers/konnek-send-message.txt`.

use super::answer::*;
use super::*;
use crate::domain::ProviderStatus;
use chrono::DateTime;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

const ID: &str = "3c0b1912-0000-4000-8000-000000000001";

fn message(json: Value) -> Message {
    serde_json::from_value(json).expect("test message parses")
}

fn body_of(message: &Message) -> Value {
    let now = DateTime::parse_from_rfc3339("2023-11-10T05:38:08.153Z")
        .expect("test time")
        .with_timezone(&Utc);
    let outbound = Outbound {
        delivery_id: Uuid::parse_str(ID).expect("test id"),
        message,
        attempt: 1,
        resends: 0,
        remote_id: None,
        group: None,
    };
    request_body(outbound, now)
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn adapter() -> KonnekAdapter {
    let settings = KonnekSettings {
        channel: "whatsapp".into(),
        client_id: "abc123".into(),
        username: "user-xyz".into(),
        password: "s3cret-pw".into(),
    };
    KonnekAdapter::new(
        "https://konnek.example/api/",
        settings,
        reqwest::Client::new(),
    )
}

#[test]
fn url_keeps_the_base_as_a_prefix() {
    assert_eq!(
        adapter().url,
        "https://konnek.example/api/whatsapp/send/abc123"
    );
}

#[test]
fn text_body_has_the_documented_envelope() {
    let m = message(json!({"to": "628111", "text": "hello", "reply_to": "75701"}));
    let body = body_of(&m);
    assert_eq!(
        keys(&body),
        [
            "body",
            "id",
            "recipient",
            "reply_id",
            "reply_token",
            "times",
            "timestamp",
            "type"
        ]
    );
    assert_eq!(body["id"], ID);
    assert_eq!(body["reply_id"], "75701");
    assert_eq!(body["times"], 1_699_594_688);
    assert_eq!(body["timestamp"], "2023-11-10T05:38:08.153Z");
    assert_eq!(body["reply_token"], "");
    assert_eq!(body["recipient"], "628111");
    assert_eq!(body["type"], "text");
    assert_eq!(body["body"], json!({"text": "hello"}));
}

#[test]
fn media_kinds_carry_media_and_caption() {
    for kind in ["image", "video", "audio", "document"] {
        let m = message(json!({
            "to": "1", "kind": kind, "text": "caption",
            "media": {"url": "https://x/f.pdf", "name": "f.pdf"}
        }));
        let body = body_of(&m);
        assert_eq!(body["type"], kind);
        assert_eq!(body["reply_id"], "");
        assert_eq!(
            body["body"],
            json!({"text": "caption", "media": {"url": "https://x/f.pdf", "name": "f.pdf"}})
        );
    }
    let m = message(json!({"to": "1", "kind": "image", "media": {"url": "https://x/a.png"}}));
    assert_eq!(
        body_of(&m)["body"],
        json!({"media": {"url": "https://x/a.png"}})
    );
}

#[test]
fn location_body() {
    let m = message(json!({
        "to": "1", "kind": "location", "location": {"latitude": -6.2, "longitude": 106.8}
    }));
    let body = body_of(&m);
    assert_eq!(body["type"], "location");
    assert_eq!(
        body["body"],
        json!({"location": {"latitude": -6.2, "longitude": 106.8}})
    );
}

#[test]
fn buttons_become_button_with_header_and_footer() {
    let m = message(json!({
        "to": "1", "kind": "buttons", "text": "Pick one",
        "buttons": [{"key": "btn1", "title": "Button 1"}, {"key": "btn2", "title": "Button 2"}],
        "extra": {
            "header": {"type": "text", "text": "Hi", "media_url": ""},
            "footer": {"title": "f", "text": "bye"}
        }
    }));
    let body = body_of(&m);
    assert_eq!(body["type"], "button");
    assert_eq!(body["body"]["text"], "Pick one");
    assert_eq!(
        body["body"]["button"],
        json!([{"key": "btn1", "title": "Button 1"}, {"key": "btn2", "title": "Button 2"}])
    );
    assert_eq!(
        body["header"],
        json!({"type": "text", "text": "Hi", "media_url": ""})
    );
    assert_eq!(body["footer"], json!({"title": "f", "text": "bye"}));
    assert!(body["body"].get("media").is_none());
}

#[test]
fn list_comes_from_extra() {
    let list = json!({"title": "Menu", "sections": [{
        "title": "Section 1", "description": "d",
        "actions": [{"key": "a1", "title": "Action 1", "description": "d1"}]
    }]});
    let m = message(json!({"to": "1", "kind": "list", "text": "Choose", "extra": {"list": list}}));
    let body = body_of(&m);
    assert_eq!(body["type"], "list");
    assert_eq!(body["body"], json!({"text": "Choose", "list": list}));
    assert!(body.get("list").is_none(), "list is placed, not merged");
}

#[test]
fn other_extra_keys_merge_without_overriding() {
    let m = message(json!({"to": "1", "text": "x", "extra": {
        "reply_token": "tg-1", "priority": "high", "id": "not-mine",
        "body": {"preview_url": true, "text": "not mine either"}
    }}));
    let body = body_of(&m);
    assert_eq!(body["reply_token"], "tg-1");
    assert_eq!(body["priority"], "high");
    assert_eq!(body["id"], ID);
    assert_eq!(body["body"], json!({"text": "x", "preview_url": true}));
}

#[test]
fn check_refuses_what_konnek_cannot_carry() {
    let a = adapter();
    assert!(a.check(&message(json!({"to": "1", "text": "x"}))).is_ok());
    let html = message(json!({"to": "1", "html": "<p>x</p>"}));
    let err = a.check(&html).expect_err("html only");
    assert!(err.0.contains("message.text"), "{err}");
    let list = message(json!({"to": "1", "kind": "list", "text": "x"}));
    let err = a.check(&list).expect_err("list without extra.list");
    assert!(err.0.contains("extra.list"), "{err}");
    let list = message(json!({"to": "1", "kind": "list", "text": "x", "extra": {"list": "no"}}));
    assert!(a.check(&list).is_err());
    let list = message(json!({"to": "1", "kind": "list", "extra": {"list": {"title": "t"}}}));
    assert!(a.check(&list).is_ok());
    let image = message(json!({"to": "1", "kind": "image", "text": "x"}));
    assert!(a.check(&image).is_err());
}

#[test]
fn the_documented_sample_response_is_a_send() {
    let body = br#"{"meta":{"status":true,"code":200,"message":"OK","errors":null},
        "data":{"message_id":"3c0b1912-xxx","status":0,"tid":"b3d31d85-xxxx"}}"#;
    let sent = interpret(200, None, body).expect("a send");
    assert_eq!(sent.http_status, 200);
    assert_eq!(sent.remote_id.as_deref(), Some("3c0b1912-xxx"));
    assert_eq!(sent.provider_status, Some(ProviderStatus::PENDING));
}

fn meta_false(code: Value) -> Vec<u8> {
    let body = json!({"meta": {"status": false, "code": code, "message": "Bad Request",
        "errors": "recipient is invalid"}, "data": null});
    body.to_string().into_bytes()
}

#[test]
fn meta_status_false_is_classified_by_its_code() {
    let err = interpret(200, None, &meta_false(json!(400))).expect_err("refused");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(err.http_status, Some(200));
    assert!(err.message.contains("code 400"), "{}", err.message);
    assert!(err.message.contains("Bad Request; recipient is invalid"));
    let err = interpret(200, None, &meta_false(json!("500"))).expect_err("refused");
    assert_eq!(err.class, ErrorClass::Transient);
    let wait = Some(Duration::from_secs(7));
    let err = interpret(200, wait, &meta_false(json!(429))).expect_err("refused");
    assert_eq!(err.class, ErrorClass::RateLimited { retry_after: wait });
    let err = interpret(200, None, &meta_false(Value::Null)).expect_err("refused");
    assert_eq!(err.class, ErrorClass::Permanent);
}

fn with_status(status: i64) -> Vec<u8> {
    let body = json!({"meta": {"status": true, "code": 200, "message": "OK", "errors": null},
        "data": {"message_id": ID, "status": status, "tid": "t"}});
    body.to_string().into_bytes()
}

#[test]
fn negative_provider_statuses_are_not_sends() {
    let err = interpret(200, None, &with_status(-1)).expect_err("unsent");
    assert_eq!(err.class, ErrorClass::Transient);
    assert!(err.message.contains("-1 Unsent"), "{}", err.message);
    for status in [-2, -3] {
        let err = interpret(200, None, &with_status(status)).expect_err("failed");
        assert_eq!(err.class, ErrorClass::Permanent);
    }
    let sent = interpret(200, None, &with_status(3)).expect("read is a send");
    assert_eq!(sent.provider_status, Some(ProviderStatus::READ));
    let sent = interpret(200, None, &with_status(9)).expect("off the scale");
    assert_eq!(sent.provider_status, None);
}

#[test]
fn an_unreadable_success_body_is_retried() {
    let err = interpret(200, None, b"<html>oops</html>").expect_err("unreadable");
    assert_eq!(err.class, ErrorClass::Transient);
    assert_eq!(err.http_status, Some(200));
    let err = interpret(200, None, b"").expect_err("empty");
    assert_eq!(err.class, ErrorClass::Transient);
}

#[test]
fn http_errors_use_the_status() {
    let wait = Some(Duration::from_secs(3));
    let err = interpret(429, wait, b"slow down").expect_err("429");
    assert_eq!(err.class, ErrorClass::RateLimited { retry_after: wait });
    assert_eq!(err.message, "Konnek answered HTTP 429: slow down");
    let err = interpret(503, None, &meta_false(json!(503))).expect_err("503");
    assert_eq!(err.class, ErrorClass::Transient);
    assert!(
        err.message.contains("recipient is invalid"),
        "{}",
        err.message
    );
    let err = interpret(404, None, b"").expect_err("404");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(err.message, "Konnek answered HTTP 404");
}

#[test]
fn refused_credentials_fail_at_once() {
    for status in [401, 403] {
        let err = interpret(status, None, &meta_false(json!(status))).expect_err("auth");
        assert_eq!(err.class, ErrorClass::Permanent);
        let expected = format!("Konnek refused the credentials (HTTP {status})");
        assert_eq!(err.message, expected);
    }
}

#[test]
fn credentials_never_reach_an_error() {
    let a = adapter();
    let echoed = interpret(500, None, b"bad auth user-xyz / s3cret-pw").expect_err("500");
    let err = a.redact(echoed);
    assert!(!err.message.contains("s3cret-pw"), "{}", err.message);
    assert!(!err.message.contains("user-xyz"), "{}", err.message);
}

#[test]
fn long_bodies_are_cut() {
    let body = "x".repeat(500);
    let err = interpret(502, None, body.as_bytes()).expect_err("502");
    assert!(err.message.len() < 150, "{}", err.message);
}
