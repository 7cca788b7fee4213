//! HighQ's answers, classified: the document's XML sample, its JSON
//! equivalent, its error codes, and the token endpoint's answers.

use super::*;
use crate::domain::ProviderStatus;
use std::time::Duration;

/// The document's response sample.
const XML: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<conversation>
    <conversationid>43</conversationid>
    <messages>
        <message>
            <messageid>1160</messageid>
        </message>
    </messages>
</conversation>"#;

#[test]
fn the_xml_sample_gives_the_message_id() {
    let sent = interpret(201, None, XML.as_bytes()).expect("a send");
    assert_eq!(sent.http_status, 201);
    assert_eq!(sent.remote_id.as_deref(), Some("1160"));
    assert_eq!(sent.provider_status, Some(ProviderStatus::SENT));
}

#[test]
fn the_json_answer_gives_the_message_id() {
    for body in [
        r#"{"conversationid": 43, "messages": {"message": [{"messageid": 1160}]}}"#,
        r#"{"conversationid": "43", "messages": {"message": {"messageid": "1160"}}}"#,
        r#"{"conversation": {"conversationid": 43, "messages": {"message": [{"messageid": 1160}]}}}"#,
    ] {
        let sent = interpret(200, None, body.as_bytes()).expect("a send");
        assert_eq!(sent.remote_id.as_deref(), Some("1160"), "{body}");
    }
    let bare = interpret(201, None, br#"{"conversationid": 43}"#).expect("still a send");
    assert_eq!(bare.remote_id, None);
}

#[test]
fn an_unreadable_success_is_retried() {
    let error = interpret(201, None, b"plain text").expect_err("unreadable");
    assert_eq!(error.class, ErrorClass::Transient);
}

#[test]
fn error_codes_are_classified() {
    let denied = interpret(
        403,
        None,
        b"<error><ref>a1</ref><summary>Access denied</summary></error>",
    )
    .expect_err("expired");
    assert_eq!(denied.class, ErrorClass::AuthExpired);
    assert_eq!(
        denied.message,
        "HighQ refused the access token (HTTP 403): Access denied"
    );
    let json = br#"{"error": {"ref": "a2", "summary": "Access denied"}}"#;
    assert_eq!(
        interpret(401, None, json).expect_err("x").class,
        ErrorClass::AuthExpired
    );
    let invalid = br#"{"error": {"ref": "a3", "summary": "Validation failed: userid 9 unknown"}}"#;
    let error = interpret(403, None, invalid).expect_err("validation");
    assert_eq!(error.class, ErrorClass::Permanent);
    assert_eq!(
        error.message,
        "HighQ answered (HTTP 403): Validation failed: userid 9 unknown"
    );
    let bad = interpret(
        400,
        None,
        b"<error><summary>Problem with parameters</summary></error>",
    )
    .expect_err("400");
    assert_eq!(bad.class, ErrorClass::Permanent);
    assert_eq!(
        bad.message,
        "HighQ answered (HTTP 400): Problem with parameters"
    );
    assert_eq!(
        interpret(500, None, b"").expect_err("x").class,
        ErrorClass::Transient
    );
    let wait = Some(Duration::from_secs(3));
    assert_eq!(
        interpret(429, wait, b"").expect_err("x").class,
        ErrorClass::RateLimited { retry_after: wait }
    );
}

#[test]
fn token_answers_are_classified() {
    let issued = interpret_token(
        200,
        None,
        br#"{"access_token": "at-2", "refresh_token": "rt-2", "expires_in": 18000, "token_type": "bearer"}"#,
    )
    .expect("issued");
    assert_eq!(issued.access_token, "at-2");
    assert_eq!(issued.refresh_token.as_deref(), Some("rt-2"));
    assert_eq!(issued.expires_in, Some(Duration::from_secs(18000)));
    let refused =
        interpret_token(400, None, br#"{"error": "invalid_grant"}"#).expect_err("refused");
    assert_eq!(refused.class, ErrorClass::Permanent);
    assert_eq!(
        refused.message,
        "HighQ refused the refresh token (HTTP 400): invalid_grant"
    );
    assert_eq!(
        interpret_token(503, None, b"").expect_err("x").class,
        ErrorClass::Transient
    );
    assert_eq!(
        interpret_token(200, None, br#"{"token_type": "bearer"}"#)
            .expect_err("x")
            .class,
        ErrorClass::Transient
    );
}
