//! The command parser: what it accepts, and how it refuses the rest.

use super::*;
use serde_json::json;

const ID: &str = "7c1e1a52-6f3b-4c9a-9a3e-2f3c7d1b0a11";

fn parse(value: serde_json::Value) -> Result<Command, Rejection> {
    Command::parse(value.to_string().as_bytes(), |c| c == "konnek-wa")
}

#[test]
fn a_send_parses() {
    let cmd = parse(json!({
        "type": "send", "id": ID, "connection": "konnek-wa",
        "message": {"to": "628111", "text": "hi"},
        "group": {"id": "g", "order": 0}, "not_before": "2026-11-21T10:00:00Z"
    }))
    .expect("valid");
    let Command::Send(send) = cmd else {
        panic!("not a send")
    };
    assert_eq!(send.id.to_string(), ID);
    assert_eq!(
        send.group,
        Some(GroupRef {
            id: "g".into(),
            order: 0
        })
    );
    assert!(send.not_before.is_some());
}

#[test]
fn resend_and_cancel_parse() {
    assert!(matches!(
        parse(json!({"type": "resend", "id": ID, "reason": "x"})),
        Ok(Command::Resend(_))
    ));
    assert!(matches!(
        parse(json!({"type": "cancel", "id": ID})),
        Ok(Command::Cancel(_))
    ));
}

#[test]
fn who_asked_is_optional_and_kept() {
    let Ok(Command::Resend(resend)) = parse(json!({"type": "resend", "id": ID})) else {
        panic!("a resend without `by` parses as before");
    };
    assert_eq!((resend.reason, resend.by), (None, None));
    let by = json!({"type": "cancel", "id": ID, "by": {"via": "api", "name": "ana"}});
    let Ok(cancel) = parse(by.clone()) else {
        panic!("a cancel with `by` parses");
    };
    assert_eq!(cancel.to_json(), by, "kept on the wire");
    let Command::Cancel(cancel) = cancel else {
        panic!("a cancel");
    };
    assert_eq!(
        Requester::actor(cancel.by.as_ref()),
        crate::domain::Actor::Api
    );
    assert_eq!(Requester::actor(None), crate::domain::Actor::Producer);
    let bare = Command::Resend(ResendCommand {
        id: ID.parse().expect("uuid"),
        reason: None,
        by: None,
    });
    assert_eq!(bare.to_json(), json!({"type": "resend", "id": ID}));
}

#[test]
fn rejections_say_why_and_keep_the_id() {
    let r = parse(json!({"type": "shout", "id": ID})).unwrap_err();
    assert_eq!(r.reason.label(), "unknown_type");
    assert_eq!(r.id.map(|i| i.to_string()).as_deref(), Some(ID));

    let r = parse(json!({"type": "send", "id": ID, "connection": "nope",
                         "message": {"to": "1", "text": "x"}}))
    .unwrap_err();
    assert_eq!(r.reason, RejectReason::UnknownConnection("nope".into()));
    assert_eq!(r.connection.as_deref(), Some("nope"));

    let r = parse(json!({"type": "send", "id": ID, "connection": "konnek-wa",
                         "message": {"text": "x"}}))
    .unwrap_err();
    assert!(r.reason.to_string().contains("message"), "{}", r.reason);

    let r = parse(
        json!({"type": "send", "id": "not-a-uuid", "connection": "konnek-wa",
                         "message": {"to": "1", "text": "x"}}),
    )
    .unwrap_err();
    assert!(r.reason.to_string().contains("id"), "{}", r.reason);
    assert_eq!(r.id, None);
}

#[test]
fn garbage_and_oversize_are_refused() {
    let r = Command::parse(b"{not json", |_| true).unwrap_err();
    assert_eq!(r.reason.label(), "malformed");
    let big = vec![b' '; MAX_COMMAND_BYTES + 1];
    let r = Command::parse(&big, |_| true).unwrap_err();
    assert_eq!(r.reason.label(), "too_large");
}

#[test]
fn wire_form_round_trips() {
    let cmd = parse(json!({"type": "send", "id": ID, "connection": "konnek-wa",
                           "message": {"to": "1", "text": "x"}}))
    .unwrap();
    let again = Command::parse(cmd.to_json().to_string().as_bytes(), |_| true).unwrap();
    assert_eq!(again, cmd);
}

#[test]
fn a_string_with_nul_is_refused_naming_the_field() {
    let base = json!({"type": "send", "id": ID, "connection": "konnek-wa",
                      "message": {"to": "1", "text": "x"}});
    type Change = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "message.text",
            Box::new(|c| c["message"]["text"] = json!("a\u{0}b")),
        ),
        (
            "metadata.tenant",
            Box::new(|c| c["metadata"] = json!({"tenant": "\u{0}"})),
        ),
        (
            "metadata",
            Box::new(|c| c["metadata"] = json!({"t\u{0}": "x"})),
        ),
        (
            "group.id",
            Box::new(|c| c["group"] = json!({"id": "\u{0}", "order": 0})),
        ),
        (
            "message.buttons[1].title",
            Box::new(|c| {
                c["message"]["buttons"] =
                    json!([{"key": "a", "title": "A"}, {"key": "b", "title": "\u{0}"}])
            }),
        ),
        (
            "connection",
            Box::new(|c| c["connection"] = json!("k\u{0}")),
        ),
    ];
    for (field, change) in cases {
        let mut command = base.clone();
        change(&mut command);
        let r = parse(command).expect_err(field);
        let text = r.reason.to_string();
        assert!(
            text.contains("U+0000") && text.contains(field),
            "{field}: {text}"
        );
        assert_eq!(r.id.map(|i| i.to_string()).as_deref(), Some(ID));
    }
    let r = parse(json!({"type": "resend", "id": ID, "reason": "\u{0}"})).unwrap_err();
    assert!(r.reason.to_string().contains("reason"), "{}", r.reason);
}

#[test]
fn a_group_order_beyond_what_is_stored_is_refused() {
    let r = parse(json!({"type": "send", "id": ID, "connection": "konnek-wa",
                         "message": {"to": "1", "text": "x"},
                         "group": {"id": "g", "order": 3_000_000_000u64}}))
    .unwrap_err();
    assert!(r.reason.to_string().contains("group.order"), "{}", r.reason);
    assert!(
        parse(json!({"type": "send", "id": ID, "connection": "konnek-wa",
                         "message": {"to": "1", "text": "x"},
                         "group": {"id": "g", "order": 2_147_483_647u64}}))
        .is_ok()
    );
}
