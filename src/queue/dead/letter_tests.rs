use super::*;
use crate::queue::dead::preview::PREVIEW_CHARS;
use lapin::types::FieldArray;

fn with_headers(pairs: &[(&str, AMQPValue)]) -> BasicProperties {
    let mut headers = FieldTable::default();
    for (name, value) in pairs {
        headers.insert((*name).into(), value.clone());
    }
    BasicProperties::default().with_headers(headers)
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(value.into())
}

#[test]
fn herald_rejections_give_their_reason_time_id_and_type() {
    let body = br#"{"type":"send","id":"6f1c0c8e-0d7a-4a43-9f0e-2f4f1f5b8a10","connection":"x"}"#;
    let properties = with_headers(&[
        ("x-herald-error", text("unknown connection \"x\"")),
        ("x-herald-rejected-at", text("2026-12-02T14:03:11.250Z")),
    ]);
    let letter = DeadLetter::read(body, &properties);
    assert_eq!(letter.source, Source::Herald);
    assert_eq!(letter.reason.as_deref(), Some("unknown connection \"x\""));
    assert_eq!(
        letter.dead_lettered_at.map(|t| t.to_rfc3339()),
        Some("2026-12-02T14:03:11.250+00:00".into())
    );
    assert_eq!(letter.kind.as_deref(), Some("send"));
    assert_eq!(
        letter.id.as_deref(),
        Some("6f1c0c8e-0d7a-4a43-9f0e-2f4f1f5b8a10")
    );
    assert_eq!(letter.handle.len(), HANDLE_LEN);
    assert!(letter.handle.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(letter.replays, 0);
    // The same message read again has the same handle.
    assert_eq!(DeadLetter::read(body, &properties).handle, letter.handle);
}

#[test]
fn rabbitmqs_own_dead_letters_give_the_reason_and_time_of_x_death() {
    let mut death = FieldTable::default();
    death.insert("reason".into(), text("delivery_limit"));
    death.insert("queue".into(), text("herald.commands"));
    death.insert("time".into(), AMQPValue::Timestamp(1_796_220_191));
    let deaths = FieldArray::from(vec![AMQPValue::FieldTable(death)]);
    let properties =
        with_headers(&[("x-death", AMQPValue::FieldArray(deaths))]).with_message_id("m-1".into());
    let letter = DeadLetter::read(b"not json", &properties);
    assert_eq!(letter.source, Source::Rabbitmq);
    let reason = letter.reason.expect("a reason");
    assert!(
        reason.contains("delivery_limit") && reason.contains("herald.commands"),
        "{reason}"
    );
    assert!(letter.dead_lettered_at.is_some());
    assert_eq!((letter.kind, letter.id), (None, None));
    // Only x-first-death-reason: still read.
    let first = with_headers(&[("x-first-death-reason", text("rejected"))]);
    let letter = DeadLetter::read(b"{}", &first);
    assert!(letter.reason.is_some_and(|r| r.contains("rejected")));
    // Nothing at all: no reason, and no panic.
    let letter = DeadLetter::read(b"", &BasicProperties::default());
    assert_eq!((letter.source, letter.reason), (Source::Unknown, None));
    assert_eq!(letter.preview, "");
}

#[test]
fn headers_of_the_wrong_type_are_ignored() {
    let properties = with_headers(&[
        ("x-herald-error", AMQPValue::LongLongInt(7)),
        ("x-death", text("not an array")),
        ("x-herald-rejected-at", text("yesterday")),
        (REPLAYED, text("many")),
    ]);
    let letter = DeadLetter::read(br#"{"type": 5, "id": null}"#, &properties);
    assert_eq!(letter.source, Source::Unknown);
    assert_eq!(letter.dead_lettered_at, None);
    assert_eq!(letter.kind.as_deref(), Some("5"));
    assert_eq!(letter.id, None);
    assert_eq!(letter.replays, 0);
}

#[test]
fn a_preview_is_short_escaped_and_never_the_whole_body() {
    assert_eq!(preview(b"{\"a\":\n1}\t\0"), "{\"a\":\\n1}\\t\\u{0}");
    let poison = vec![b'x'; 2 * 1024 * 1024];
    let shown = preview(&poison);
    assert_eq!(shown.chars().count(), PREVIEW_CHARS);
    assert!(shown.ends_with('…'));
    // Exactly as long as a preview: whole.
    let exact = "y".repeat(PREVIEW_CHARS);
    assert_eq!(preview(exact.as_bytes()), exact);
    // Not UTF-8, and a wide character cut at the byte limit: no panic.
    let mut odd = vec![0xff, 0xfe];
    odd.extend("é".repeat(400).as_bytes());
    let shown = preview(&odd);
    assert!(shown.starts_with("\u{FFFD}\u{FFFD}é") && shown.ends_with('…'));
    assert_eq!(shown.chars().count(), PREVIEW_CHARS);
    // A poison of 2 MiB that is JSON still gives its type and id.
    let mut big = br#"{"type":"send","id":"a","pad":""#.to_vec();
    big.extend(vec![b'p'; 2 * 1024 * 1024]);
    big.extend(br#""}"#);
    let letter = DeadLetter::read(&big, &BasicProperties::default());
    assert_eq!(letter.kind.as_deref(), Some("send"));
    assert_eq!((letter.id.as_deref(), letter.bytes), (Some("a"), big.len()));
    assert_eq!(letter.preview.chars().count(), PREVIEW_CHARS);
}

#[test]
fn a_replay_drops_the_death_headers_and_counts_itself() {
    let properties = with_headers(&[
        ("x-herald-error", text("unknown connection")),
        ("x-herald-queue", text("herald.commands")),
        ("x-herald-rejected-at", text("2026-12-02T14:03:11Z")),
        ("x-first-death-reason", text("rejected")),
        ("x-delivery-count", AMQPValue::LongLongInt(3)),
        ("tenant", text("acme")),
        (REPLAYED, AMQPValue::LongInt(1)),
    ])
    .with_message_id("m-7".into());
    let letter = DeadLetter::read(b"{}", &properties);
    assert_eq!(letter.replays, 1);
    let replay = letter.replay_properties(&properties);
    let headers = replay.headers().clone().expect("headers");
    let names: Vec<&str> = headers.inner().keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["tenant", REPLAYED]);
    assert_eq!(
        headers.inner().get(REPLAYED),
        Some(&AMQPValue::LongLongInt(2))
    );
    assert_eq!(
        replay.message_id().as_ref().map(|m| m.as_str()),
        Some("m-7")
    );
    assert_eq!(replay.delivery_mode(), &Some(2));
    // Without a message_id, one made from the hash: the same for the same
    // dead letter, so that a replay published twice is one.
    let bare = with_headers(&[("x-herald-error", text("bad"))]);
    let letter = DeadLetter::read(b"{}", &bare);
    let made = letter.replay_properties(&bare).message_id().clone();
    assert!(made.as_ref().is_some_and(|m| m.as_str().len() == 36));
    assert_eq!(
        DeadLetter::read(b"{}", &bare)
            .replay_properties(&bare)
            .message_id(),
        &made
    );
}
