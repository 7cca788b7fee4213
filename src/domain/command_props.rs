//! Property tests of the command parser: whatever bytes arrive (random,
//! a valid command mutated, valid JSON with any value in any field), it
//! never panics and always classifies: a command it keeps is one the rest
//! of herald can trust and PostgreSQL can store, and a refusal says why and
//! keeps the id where one could be read, for the failed row.

use super::*;
use crate::mutation::mutate;
use proptest::prelude::*;
use serde_json::{Value, json};

const KNOWN: &str = "konnek-wa";

fn valid() -> Value {
    json!({
        "type": "send", "id": "7c1e1a52-6f3b-4c9a-9a3e-2f3c7d1b0a11", "connection": KNOWN,
        "message": {"to": "628111", "text": "hi", "kind": "text",
                    "media": {"url": "https://x/y.pdf", "name": "y.pdf"},
                    "buttons": [{"key": "yes", "title": "Yes"}], "extra": {"a": 1}},
        "group": {"id": "g", "order": 0},
        "not_before": "2026-11-21T10:00:00Z", "expires_at": "2026-11-21T12:00:00Z",
        "metadata": {"tenant": "acme"}
    })
}

/// Any JSON value, nested a few levels, with the strings that matter here
/// (NUL, UUIDs, dates, the known connection, the command types).
fn any_json() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        ".{0,12}",
        Just("\u{0}".to_owned()),
        Just("7c1e1a52-6f3b-4c9a-9a3e-2f3c7d1b0a11".to_owned()),
        Just("2026-02-30T25:00:00Z".to_owned()),
        Just("2026-11-21T10:00:00+07:00".to_owned()),
        Just(KNOWN.to_owned()),
        prop_oneof![Just("send"), Just("resend"), Just("cancel")].prop_map(str::to_owned),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text.prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map(".{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The JSON pointers of the valid command's fields, for swapping one out.
const FIELDS: [&str; 16] = [
    "/type",
    "/id",
    "/connection",
    "/message",
    "/message/to",
    "/message/text",
    "/message/kind",
    "/message/media",
    "/message/buttons",
    "/message/extra",
    "/group",
    "/group/order",
    "/not_before",
    "/expires_at",
    "/metadata",
    "/message/media/url",
];

/// Whatever came out, it is a classification herald can act on.
fn check(bytes: &[u8]) {
    match Command::parse(bytes, |c| c == KNOWN) {
        Ok(command) => {
            assert!(bytes.len() <= MAX_COMMAND_BYTES);
            if let Command::Send(send) = &command {
                assert_eq!(send.connection, KNOWN);
                assert!(!send.message.to.trim().is_empty(), "{send:?}");
                assert!(
                    nul_in(
                        &serde_json::to_value(send).expect("serializes"),
                        &mut String::new()
                    )
                    .is_none(),
                    "a kept send PostgreSQL cannot store: {send:?}"
                );
                if let Some(group) = &send.group {
                    assert!(group.order <= MAX_GROUP_ORDER);
                }
            }
            // What herald publishes of it (a replay, a resend) parses back
            // to the same command; a float in `extra` may come back in its
            // last digit, as serde_json reads floats, so the id and the kind
            // are compared.
            let again = command.to_json().to_string();
            let back = Command::parse(again.as_bytes(), |c| c == KNOWN).expect("round trip");
            assert_eq!(back.id(), command.id());
            assert_eq!(back.to_json()["type"], command.to_json()["type"]);
        }
        Err(rejection) => {
            assert!(!rejection.reason.to_string().trim().is_empty());
            let readable_id = serde_json::from_slice::<Value>(bytes)
                .ok()
                .and_then(|v| v.get("id")?.as_str()?.parse::<Uuid>().ok());
            // Where the id can be read, the refusal keeps it (and sometimes
            // where a whole-document read fails: an invalid UTF-8 byte in a
            // field the id's read skips).
            if let Some(id) = readable_id {
                assert_eq!(rejection.id, Some(id), "the id, where it could be read");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_are_classified(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        check(&bytes);
    }

    #[test]
    fn a_mutated_command_is_classified(
        edits in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..8),
    ) {
        check(&mutate(valid().to_string().into_bytes(), &edits));
    }

    #[test]
    fn any_value_in_any_field_is_classified(
        swaps in proptest::collection::vec((0..FIELDS.len(), any_json()), 1..4),
        kind in prop_oneof![Just("send"), Just("resend"), Just("cancel")],
    ) {
        let mut command = valid();
        command["type"] = json!(kind);
        for (field, value) in swaps {
            if let Some(slot) = command.pointer_mut(FIELDS[field]) {
                *slot = value;
            }
        }
        check(command.to_string().as_bytes());
    }
}

#[test]
fn nesting_deeper_than_the_parser_goes_is_refused_not_a_stack_overflow() {
    for depth in [200, 10_000, 500_000] {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        check(deep.as_bytes());
        let nested = format!(
            r#"{{"type":"send","id":"7c1e1a52-6f3b-4c9a-9a3e-2f3c7d1b0a11","connection":"{KNOWN}","message":{{"to":"1","text":"x","extra":{}{}}}}}"#,
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        );
        check(nested.as_bytes());
    }
}
