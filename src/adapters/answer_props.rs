//! Property tests of every adapter's answer parsers (the send's answer, the
//! token endpoints', the status callbacks): whatever a provider, a proxy or
//! a broken network sends back (random bytes, a documented answer mutated,
//! valid JSON with any value under the documented keys), they never panic
//! and always classify: a success only for a 2xx that is not a negative
//! provider status, else an error with a class and a message of bounded
//! length.

use super::{ErrorClass, ProviderError, Sent};
use super::{callback, chatwoot, comm100, highq, konnek, onebox};
use crate::config::AdapterSettings;
use crate::mutation::mutate;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::time::Duration;

type Interpret = fn(u16, Option<Duration>, &[u8]) -> Result<Sent, ProviderError>;

/// Each adapter's send-answer parser, with answers shaped as its document
/// shows them (the seeds that mutations start from).
fn parsers() -> Vec<(&'static str, Interpret, Vec<Value>)> {
    vec![
        (
            "konnek",
            konnek::interpret,
            vec![
                json!({"meta": {"status": true, "code": 200, "message": "OK"},
                   "data": {"message_id": "m-1", "status": 1, "tid": "t"}}),
                json!({"meta": {"status": false, "code": 400, "message": "bad", "errors": "x"}, "data": null}),
            ],
        ),
        (
            "onebox",
            onebox::interpret,
            vec![
                json!({"limit": "1", "offset": 0, "count": 1, "data": [{"Id": 9, "Status": 1}]}),
                json!({"_meta": {"status": "ERROR", "count": 1},
                   "records": {"errorCode": 401, "userMessage": "time limit reached"}}),
            ],
        ),
        (
            "chatwoot",
            chatwoot::interpret,
            vec![
                json!({"id": 42, "content": "hi", "status": "sent", "message_type": 1}),
                json!({"error": "conversation not found"}),
            ],
        ),
        (
            "comm100",
            comm100::interpret,
            vec![
                json!({"id": "3b6560d4-0f10-4652-a376-e590936d290e", "ticketId": "100",
                   "messageDelivery": {"status": "success"}}),
                json!({"code": 400, "message": "ticket not found"}),
            ],
        ),
        (
            "highq",
            highq::interpret,
            vec![
                json!({"conversationid": 43, "messages": {"message": [{"messageid": 1160}]}}),
                json!({"error": {"ref": "a2", "summary": "Access denied"}}),
            ],
        ),
    ]
}

/// Any JSON value a few levels deep, with the documented keys likely.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop_oneof![
            Just("meta"),
            Just("data"),
            Just("status"),
            Just("message_id"),
            Just("code"),
            Just("message"),
            Just("errors"),
            Just("id"),
            Just("Id"),
            Just("_meta"),
            Just("records"),
            Just("errorCode"),
            Just("userMessage"),
            Just("error"),
            Just("messageDelivery"),
            Just("conversationid"),
            Just("messages"),
            Just("messageid"),
            Just("access_token"),
            Just("refresh_token"),
            Just("expires_in"),
            Just("token"),
            Just("response_code"),
            Just("summary"),
        ]
        .prop_map(str::to_owned),
        ".{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("success".to_owned()),
            Just("failed".to_owned()),
            Just("-3".to_owned()),
            Just("200".to_owned()),
            Just("Expired token".to_owned()),
            ".{0,10}",
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        200u16..=204,
        400u16..=404,
        Just(429u16),
        500u16..=504,
        0u16..1000
    ]
}

fn wait() -> impl Strategy<Value = Option<Duration>> {
    proptest::option::of((0u64..100_000).prop_map(Duration::from_millis))
}

/// The longest error message an answer may produce: provider text is cut
/// to a snippet, so a megabyte answer never becomes a megabyte of error.
const LONGEST_MESSAGE: usize = 1000;

/// The classification is one herald can act on.
fn check(name: &str, status: u16, answer: Result<Sent, ProviderError>) {
    match answer {
        Ok(sent) => {
            assert!(
                (200..300).contains(&status),
                "{name}: a success at HTTP {status}"
            );
            assert_eq!(sent.http_status, status, "{name}");
            if let Some(provider_status) = sent.provider_status {
                assert!(
                    provider_status.get() >= 0,
                    "{name}: a success with {provider_status:?}"
                );
            }
        }
        Err(error) => {
            assert!(
                !error.message.trim().is_empty(),
                "{name}: an error without words"
            );
            assert!(
                error.message.chars().count() <= LONGEST_MESSAGE,
                "{name}: an error of {} characters",
                error.message.chars().count()
            );
            assert!(
                !matches!(error.class, ErrorClass::NotSent | ErrorClass::NoSlot { .. }),
                "{name}: herald's own classes are not a provider's answer"
            );
        }
    }
}

fn check_all(status: u16, wait: Option<Duration>, body: &[u8]) {
    for (name, interpret, _) in parsers() {
        check(name, status, interpret(status, wait, body));
    }
    // The token endpoints: a token only from a 2xx, else a classified error.
    match onebox::interpret_token(status, wait, body) {
        Ok(_) => assert!((200..300).contains(&status), "onebox token at {status}"),
        Err(error) => check("onebox token", status, Err(error)),
    }
    match highq::interpret_token(status, wait, body) {
        Ok(issued) => {
            assert!((200..300).contains(&status), "highq token at {status}");
            assert!(!issued.access_token.is_empty());
        }
        Err(error) => check("highq token", status, Err(error)),
    }
    // Status callbacks: read or refused with a reason, never a panic.
    for settings in callback_settings() {
        if let Err(malformed) = callback::parse(&settings, body) {
            assert!(!malformed.0.is_empty());
        }
    }
}

fn callback_settings() -> Vec<AdapterSettings> {
    let settings = |adapter: &str, extra: &str| {
        let text = format!(
            "[[connection]]\nname = \"c\"\nadapter = \"{adapter}\"\nbase_url = \"http://x\"\n{extra}"
        );
        let config = crate::config::Config::parse(&text, &|_| None).expect("config");
        config.connections[0].settings.clone()
    };
    vec![
        settings(
            "konnek",
            "channel = \"w\"\nclient_id = \"c\"\nusername = \"u\"\npassword = \"p\"\n",
        ),
        settings("chatwoot", "api_access_token = \"t\"\naccount_id = 1\n"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_bytes_are_classified(
        status in status(), wait in wait(),
        body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        check_all(status, wait, &body);
    }

    #[test]
    fn a_mutated_documented_answer_is_classified(
        status in status(), wait in wait(), seed in 0usize..10,
        edits in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..6),
    ) {
        let seeds: Vec<Value> = parsers().into_iter().flat_map(|(_, _, seeds)| seeds).collect();
        let body = mutate(seeds[seed % seeds.len()].to_string().into_bytes(), &edits);
        check_all(status, wait, &body);
    }

    #[test]
    fn any_json_is_classified(status in status(), wait in wait(), body in any_json()) {
        check_all(status, wait, body.to_string().as_bytes());
    }
}

#[test]
fn a_long_or_deep_answer_is_classified() {
    let long = format!("{{\"error\": \"{}\"}}", "x".repeat(1 << 20));
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for body in [long.as_bytes(), deep.as_bytes(), b"", b"\0\0\0"] {
        for status in [200, 201, 400, 401, 403, 429, 500, 503] {
            check_all(status, None, body);
        }
    }
}
