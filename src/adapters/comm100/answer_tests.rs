//! Comm100's answers, classified, and the URLs of a create and a resend.

use super::*;
use serde_json::json;

fn adapter(site_id: Option<&str>, token: &str) -> Comm100Adapter {
    let settings = Comm100Settings {
        access_token: token.into(),
        site_id: site_id.map(str::to_owned),
        channel_id: "Email".into(),
        sent_by_id: "31cb8d70-b5a6-4faa-b021-62335d6dcf6c".into(),
        sent_by_type: "agent".into(),
    };
    Comm100Adapter::new(
        "https://api15.comm100.io/",
        settings,
        reqwest::Client::new(),
    )
}

#[test]
fn urls_keep_the_base_and_the_site() {
    let plain = adapter(None, "t");
    assert_eq!(
        plain.create_url(),
        "https://api15.comm100.io/v4/ticketing/messages"
    );
    assert_eq!(
        plain
            .resend_url("3b6560d4-0f10-4652-a376-e590936d290e")
            .as_deref(),
        Some(
            "https://api15.comm100.io/v4/ticketing/messages/3b6560d4-0f10-4652-a376-e590936d290e:resend"
        )
    );
    assert_eq!(plain.resend_url("../admin"), None);
    assert_eq!(plain.resend_url(""), None);
    let site = adapter(Some("10000"), "t");
    assert_eq!(
        site.create_url(),
        "https://api15.comm100.io/v4/ticketing/messages?siteId=10000"
    );
    assert!(adapter(None, "bad\ntoken").authorization.is_none());
}

/// The document's response to a create (and to a resend), with the
/// delivery status set to `status`.
fn answer(status: &str) -> Vec<u8> {
    json!({"translatedBody":"","id":"3b6560d4-0f10-4652-a376-e590936d290e","ticketId":"100",
        "sentById":"31cb8d70-b5a6-4faa-b021-62335d6dcf6c","sentByType":"visitor",
        "time":"2021-04-26T10:52:24.336Z","type":"text","metadata":{},"channelId":"Email",
        "body":"data:text/plain;base64,PHA+MTExPC9wPg==","attachments":[],
        "messageDelivery":{"messageId":"3b6560d4-0f10-4652-a376-e590936d290e","status":status,
            "failReason":"something is wrong.","time":"2021-04-26T10:52:24.336Z",
            "groupId":"8c0136f3-9dd3-47f3-be12-81b232c84408","orderNum":0}})
    .to_string()
    .into_bytes()
}

#[test]
fn the_delivery_status_gives_the_provider_status() {
    for (status, expected) in [
        ("success", ProviderStatus::SENT),
        ("waitForSending", ProviderStatus::PENDING),
        ("sending", ProviderStatus::PENDING),
    ] {
        let sent = interpret(201, None, &answer(status)).expect("a send");
        assert_eq!(sent.http_status, 201);
        assert_eq!(
            sent.remote_id.as_deref(),
            Some("3b6560d4-0f10-4652-a376-e590936d290e")
        );
        assert_eq!(sent.provider_status, Some(expected), "{status}");
    }
    let resent = interpret(200, None, &answer("success")).expect("a resend");
    assert_eq!(resent.http_status, 200);
    let unknown = interpret(201, None, &answer("queued")).expect("still a send");
    assert_eq!(unknown.provider_status, None);
    let bare = interpret(201, None, br#"{"id": "abc-1"}"#).expect("a send");
    assert_eq!(
        (bare.remote_id.as_deref(), bare.provider_status),
        (Some("abc-1"), None)
    );
}

#[test]
fn a_failed_delivery_fails_and_keeps_the_message_id() {
    let error = interpret(201, None, &answer("failed")).expect_err("failed");
    assert_eq!(error.class, ErrorClass::Permanent);
    assert_eq!(error.http_status, Some(201));
    assert_eq!(
        error.message,
        "Comm100 holds the message but its delivery failed: something is wrong."
    );
    assert_eq!(
        error.remote_id.as_deref(),
        Some("3b6560d4-0f10-4652-a376-e590936d290e")
    );
}

#[test]
fn http_errors_use_the_status() {
    let error = interpret(401, None, br#"{"message": "invalid token"}"#).expect_err("refused");
    assert_eq!(error.class, ErrorClass::Permanent);
    assert_eq!(
        error.message,
        "Comm100 refused the access token (HTTP 401): invalid token"
    );
    assert_eq!(
        interpret(403, None, b"").expect_err("x").class,
        ErrorClass::Permanent
    );
    let wait = Some(Duration::from_secs(4));
    assert_eq!(
        interpret(429, wait, b"").expect_err("x").class,
        ErrorClass::RateLimited { retry_after: wait }
    );
    assert_eq!(
        interpret(503, None, b"<html>busy</html>")
            .expect_err("x")
            .class,
        ErrorClass::Transient
    );
    let missing = interpret(404, None, br#"{"error": "message not found"}"#).expect_err("x");
    assert_eq!(missing.class, ErrorClass::Permanent);
    assert_eq!(
        missing.message,
        "Comm100 answered (HTTP 404): message not found"
    );
}

#[test]
fn an_unreadable_success_is_retried() {
    let error = interpret(201, None, b"<html>proxy</html>").expect_err("unreadable");
    assert_eq!(error.class, ErrorClass::Transient);
    assert!(error.message.contains("unreadable"), "{}", error.message);
}
