//! Bad input at volume: round after round of every kind of poison mixed
//! with valid sends, to the real binary. Every poison is dead-lettered with
//! its reason, every valid send delivered, and the worker's resident memory
//! stays flat from round to round.

use super::*;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use serde_json::json;
use std::collections::HashMap;

const ROUNDS: usize = 8;
const VALID_PER_ROUND: usize = 100;
const COPIES: usize = 3;
/// How much the resident set's median over rounds 6–8 may exceed its
/// median over rounds 2–4. The first round warms the allocator, the pools
/// and the caches up (7 MiB and more); after it, the reading swings by up
/// to 10 MiB from one round to the next, as the allocator keeps or returns
/// the pages of the 2 MiB bodies, which a median of three rides out. What
/// is held across rounds is what leaks: a leak of the 2 MiB bodies alone
/// (6 MiB a round, 24 MiB between the medians) would exceed the margin.
const RSS_MARGIN_KIB: u64 = 12 * 1024;

/// One round's poison: (kind, body, words its `x-herald-error` must hold).
/// Each body carries a fresh marker, so that a dead letter names its poison.
fn poison() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let marker = Uuid::new_v4();
    let valid = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut command = send(Uuid::new_v4(), "6281190000");
        command["metadata"] = json!({"marker": marker.to_string()});
        change(&mut command);
        command.to_string().into_bytes()
    };
    let mut invalid_utf8 = valid(&|_| {});
    let at = invalid_utf8
        .windows(7)
        .position(|w| w == b"shipped")
        .expect("the text");
    invalid_utf8[at..at + 3].copy_from_slice(&[0xff, 0xfe, 0x80]);
    let depth = 100_000;
    let deep = format!("{marker}{}{}", "[".repeat(depth), "]".repeat(depth));
    let deep_extra = format!(
        r#"{{"type":"send","id":"{}","connection":"{CONNECTION}","message":{{"to":"1","text":"{marker}","extra":{}{}}}}}"#,
        Uuid::new_v4(),
        "{\"a\":".repeat(depth),
        "}".repeat(depth)
    );
    vec![
        ("invalid UTF-8", invalid_utf8, "not valid JSON"),
        (
            "U+0000",
            valid(&|c| c["message"]["text"] = json!("a\u{0}b")),
            "U+0000",
        ),
        ("deep nesting", deep.into_bytes(), "not valid JSON"),
        (
            "deep nesting inside",
            deep_extra.into_bytes(),
            "not valid JSON",
        ),
        (
            "2 MiB",
            valid(&|c| c["message"]["text"] = json!("x".repeat(2 << 20))),
            "larger than the 1 MiB limit",
        ),
        (
            "a number for a string",
            valid(&|c| c["message"]["to"] = json!(628111)),
            "message",
        ),
        (
            "a string for an object",
            valid(&|c| c["message"] = json!("hello")),
            "message",
        ),
        (
            "unknown connection",
            valid(&|c| c["connection"] = json!("nowhere")),
            "unknown connection",
        ),
        (
            "a date that is not one",
            valid(&|c| c["not_before"] = json!("tomorrow")),
            "not_before",
        ),
        (
            "the 30th of February",
            valid(&|c| c["expires_at"] = json!("2026-02-30T10:00:00Z")),
            "expires_at",
        ),
        (
            "unknown type",
            valid(&|c| c["type"] = json!("shout")),
            "unknown command type",
        ),
        ("no id", valid(&|c| c["id"] = json!(null)), "id"),
        ("an id not a UUID", valid(&|c| c["id"] = json!("42")), "id"),
        (
            "an order beyond integer",
            valid(&|c| c["group"] = json!({"id": "g", "order": 1u64 << 40})),
            "order",
        ),
        (
            "no content",
            valid(&|c| c["message"] = json!({"to": "1"})),
            "message",
        ),
        (
            "not JSON",
            format!("{marker} hello").into_bytes(),
            "not valid JSON",
        ),
        (
            "a JSON array",
            json!([marker.to_string()]).to_string().into_bytes(),
            "",
        ),
    ]
}

/// Takes dead letters until `expected` of them came: each (body, reason).
async fn take_dead_letters(app: &TestApp, expected: usize) -> Vec<(Vec<u8>, String)> {
    let channel = app.amqp.create_channel().await.expect("channel");
    let queue = app.config.amqp.dead_letter_queue.as_str();
    let mut taken = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while taken.len() < expected {
        assert!(
            Instant::now() < deadline,
            "{} of {expected} dead letters",
            taken.len()
        );
        let got = channel
            .basic_get(queue.into(), BasicGetOptions::default())
            .await
            .expect("basic_get");
        let Some(message) = got else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        message.ack(BasicAckOptions::default()).await.expect("ack");
        let headers = message.properties.headers().clone().unwrap_or_default();
        let error = herald::queue::publisher::header_text(&headers, "x-herald-error")
            .expect("a dead letter has x-herald-error");
        taken.push((message.data.clone(), error));
    }
    herald::queue::close_channel(&channel, "taken").await;
    taken
}

#[tokio::test]
async fn poison_at_volume_is_dead_lettered_and_memory_stays_flat() {
    let app = spawn_app_without_worker().await;
    let mut worker = WorkerProcess::spawn(&app.config_toml, "the poisoned worker");
    let mut rss = Vec::new();
    for round in 0..ROUNDS {
        let mut published: HashMap<Vec<u8>, (&str, &str)> = HashMap::new();
        let mut valid = Vec::new();
        for copy in 0..COPIES {
            for (kind, body, words) in poison() {
                app.publish_raw(&body).await;
                published.insert(body, (kind, words));
            }
            for i in 0..VALID_PER_ROUND / COPIES {
                let id = Uuid::new_v4();
                app.publish(&send(id, &format!("62811910{round}{copy}{i:02}")))
                    .await;
                valid.push(id);
            }
        }
        wait_all_success(&app, &valid, 60).await;
        for (body, error) in take_dead_letters(&app, published.len()).await {
            let (kind, words) = published
                .remove(&body)
                .expect("a dead letter is one of the poison published, once");
            assert!(
                !error.trim().is_empty() && error.contains(words),
                "{kind}: {error}"
            );
        }
        assert!(published.is_empty());
        assert!(worker.running(), "the worker is up after round {round}");
        rss.push(worker.rss_kib());
    }
    let median = |rounds: &[u64]| {
        let mut sorted = rounds.to_vec();
        sorted.sort_unstable();
        sorted[sorted.len() / 2]
    };
    let baseline = median(&rss[1..4]);
    let last = median(&rss[ROUNDS - 3..]);
    assert!(
        last <= baseline + RSS_MARGIN_KIB,
        "resident set grew from {baseline} KiB to {last} KiB: {rss:?}"
    );
    println!("faults::bad_input: RSS per round (KiB): {rss:?}");
}
