//! A command in, a provider call out, every state in PostgreSQL.

use crate::helpers::*;
use herald::tools::simulator::Step;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn happy_path_delivers_once_with_every_state_recorded() {
    // A connection of this test's own, so that its metrics are this test's.
    let connection = unique_connection("konnek-happy");
    let app = spawn_app_with(Options {
        extra_toml: konnek_connection(&connection),
        ..Options::default()
    })
    .await;
    let id = Uuid::new_v4();
    let mut command = send(id, "628111000001");
    command["connection"] = json!(connection);
    app.publish(&command).await;

    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.attempts, 1);
    assert_eq!(d.provider_status, Some(1));
    assert_eq!(
        d.remote_id.as_deref(),
        Some(id.to_string().as_str()),
        "Konnek echoes our id as message_id"
    );
    assert_eq!(d.fail_reason, None);
    let attempts = app.attempts(id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "success");
    assert_eq!(attempts[0].http_status, Some(200));

    assert_eq!(app.sim.sends_of(&id.to_string()), 1);
    let request = app
        .sim
        .requests()
        .into_iter()
        .find(|r| r.body["id"] == json!(id.to_string()))
        .expect("request");
    assert_eq!(request.path, "/whatsapp/send/client-1");
    assert_eq!(request.body["recipient"], "628111000001");
    assert_eq!(request.body["type"], "text");
    assert_eq!(request.body["body"]["text"], "Your order has shipped");

    let metrics = app.metrics().await;
    let series = |name: &str, labels: &str| {
        let labels = format!("connection=\"{connection}\"{labels}");
        metric(&metrics, &format!("{name}{{{labels}}}"))
    };
    assert_eq!(
        series("herald_deliveries_total", ",outcome=\"success\""),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        series("herald_deliveries_total", ",outcome=\"failed\""),
        None,
        "{metrics}"
    );
    assert_eq!(
        series("herald_attempts_total", ",result=\"success\""),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        series("herald_attempt_duration_seconds_count", ""),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        series("herald_delivery_latency_seconds_count", ""),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_write_sets_of_the_hot_path_are_measured() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.publish(&send(id, "628111000001")).await;
    app.wait_for_status(id, "success").await;

    // The recorder is the process's, shared with the other tests: only a
    // lower bound holds. This delivery alone wrote an accept and an outcome.
    let metrics = app.metrics().await;
    let sample = |name: &str| {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
    };
    let at_least = |name: &str, floor: f64| match sample(name) {
        Some(value) => assert!(value >= floor, "{name} is {value}, below {floor}"),
        None => panic!("no {name} in {metrics}"),
    };
    at_least("herald_write_set_rows_sum", 2.0);
    at_least("herald_write_set_rows_count", 1.0);
    at_least("herald_write_set_duration_seconds_count", 1.0);
    // Their own buckets: rows up to a full set, seconds from half a
    // millisecond (the default buckets have neither).
    at_least("herald_write_set_rows_bucket{le=\"500\"}", 1.0);
    assert!(
        sample("herald_write_set_duration_seconds_bucket{le=\"0.0005\"}").is_some(),
        "no half-millisecond bucket in {metrics}"
    );
}

#[tokio::test]
async fn a_transient_error_is_retried_then_succeeds() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.sim.script(
        "628111000002",
        vec![Step::Http {
            status: 503,
            retry_after: None,
        }],
    );
    app.publish(&send(id, "628111000002")).await;

    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.attempts, 2);
    let outcomes: Vec<_> = app
        .attempts(id)
        .await
        .into_iter()
        .map(|a| (a.outcome, a.http_status))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("retryable".into(), Some(503)),
            ("success".into(), Some(200))
        ]
    );
    assert_eq!(app.sim.sends_of(&id.to_string()), 2);
}

#[tokio::test]
async fn a_permanent_error_fails_without_retry() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.sim.script(
        "628111000003",
        vec![Step::MetaFalse {
            code: 400,
            message: "recipient not on WhatsApp".into(),
        }],
    );
    app.publish(&send(id, "628111000003")).await;

    let d = app.wait_for_status(id, "failed").await;
    assert!(
        d.fail_reason
            .as_deref()
            .unwrap_or("")
            .contains("recipient not on WhatsApp"),
        "{d:?}"
    );
    assert_eq!(d.attempts, 1);
    let attempts = app.attempts(id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "permanent");
    assert_eq!(app.sim.sends_of(&id.to_string()), 1);
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let app = spawn_app().await; // max_attempts = 3
    let id = Uuid::new_v4();
    let busy = Step::Http {
        status: 503,
        retry_after: None,
    };
    app.sim.script(
        "628111000004",
        vec![busy.clone(), busy.clone(), busy.clone(), busy],
    );
    app.publish(&send(id, "628111000004")).await;

    let d = app.wait_for_status(id, "failed").await;
    assert!(
        d.fail_reason
            .as_deref()
            .unwrap_or("")
            .starts_with("attempts exhausted"),
        "{d:?}"
    );
    assert_eq!(d.attempts, 3);
    let attempts = app.attempts(id).await;
    assert_eq!(attempts.len(), 3);
    assert!(attempts.iter().all(|a| a.outcome == "retryable"));
    assert_eq!(app.sim.sends_of(&id.to_string()), 3);
}

#[tokio::test]
async fn a_duplicate_send_makes_no_second_call_in_flight_or_later() {
    let mut app = spawn_app().await;
    let id = Uuid::new_v4();
    // The first call is slow, so the duplicate arrives while it is in flight.
    app.sim
        .script("628111000005", vec![Step::Delay { millis: 700 }]);
    app.publish(&send(id, "628111000005")).await;
    eventually(10, "the first call to be in flight", || async {
        (app.sim.sends_of(&id.to_string()) == 1).then_some(())
    })
    .await;
    app.publish(&send(id, "628111000005")).await;
    app.wait_for_status(id, "success").await;
    // And once more after it succeeded.
    app.publish(&send(id, "628111000005")).await;

    settle(&mut app).await;
    assert_eq!(app.sim.sends_of(&id.to_string()), 1);
    assert_eq!(app.attempts(id).await.len(), 1);
}

#[tokio::test]
async fn an_expired_command_is_never_sent() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let mut command = send(id, "628111000006");
    command["expires_at"] = json!((chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339());
    app.publish(&command).await;

    let d = app.wait_for_status(id, "failed").await;
    assert_eq!(d.fail_reason.as_deref(), Some("expired"));
    assert_eq!(d.attempts, 0);
    assert_eq!(app.sim.sends_of(&id.to_string()), 0);
}

#[tokio::test]
async fn not_before_holds_the_send_until_its_time() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let not_before = chrono::Utc::now() + chrono::Duration::seconds(2);
    let mut command = send(id, "628111000007");
    command["not_before"] = json!(not_before.to_rfc3339());
    app.publish(&command).await;

    let waiting = app.wait_for_status(id, "waitForSending").await;
    assert_eq!(waiting.wait_reason.as_deref(), Some("scheduled"));
    assert_eq!(app.sim.sends_of(&id.to_string()), 0);
    app.wait_for_status(id, "success").await;
    let request = app
        .sim
        .requests()
        .into_iter()
        .find(|r| r.body["id"] == json!(id.to_string()))
        .expect("sent");
    assert!(
        request.at >= not_before,
        "sent at {} before not_before {not_before}",
        request.at
    );
}

#[tokio::test]
async fn every_kind_reaches_konnek_with_its_type() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"kind": "image", "text": "look", "media": {"url": "https://x/a.png", "name": "a.png"}}),
            "image",
        ),
        (
            json!({"kind": "location", "location": {"latitude": -6.2, "longitude": 106.8}}),
            "location",
        ),
        (
            json!({"kind": "buttons", "text": "ok?", "buttons": [{"key": "y", "title": "Yes"}]}),
            "button",
        ),
    ];
    let mut ids = Vec::new();
    for (i, (fields, _)) in cases.iter().enumerate() {
        let id = Uuid::new_v4();
        let mut message = json!({"to": format!("62811100010{i}")});
        for (k, v) in fields.as_object().expect("object") {
            message[k] = v.clone();
        }
        app.publish(
            &json!({"type": "send", "id": id, "connection": CONNECTION, "message": message}),
        )
        .await;
        ids.push(id);
    }
    for (id, (_, konnek_type)) in ids.iter().zip(cases.iter()) {
        app.wait_for_status(*id, "success").await;
        let request = app
            .sim
            .requests()
            .into_iter()
            .find(|r| r.body["id"] == json!(id.to_string()))
            .expect("sent");
        assert_eq!(request.body["type"], *konnek_type);
    }
}

#[tokio::test]
async fn a_message_the_adapter_cannot_carry_fails_without_a_call() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    // A Konnek list needs its sections in extra.list.
    app.publish(&json!({"type": "send", "id": id, "connection": CONNECTION,
                        "message": {"to": "628111000008", "text": "pick one", "kind": "list"}}))
        .await;
    let d = app.wait_for_status(id, "failed").await;
    assert!(
        d.fail_reason
            .as_deref()
            .unwrap_or("")
            .contains("extra.list"),
        "{d:?}"
    );
    assert_eq!(d.attempts, 0, "no call, no attempt");
    assert!(app.attempts(id).await.is_empty());
    assert_eq!(app.sim.sends_of(&id.to_string()), 0);
}

#[tokio::test]
async fn two_workers_and_doubled_commands_still_send_each_delivery_once() {
    let app = spawn_app().await;
    let stop_second = tokio_util::sync::CancellationToken::new();
    let second = herald::startup::start(app.config.clone(), stop_second.clone())
        .await
        .expect("second worker");
    let ids: Vec<Uuid> = (0..40).map(|_| Uuid::new_v4()).collect();
    for (i, id) in ids.iter().enumerate() {
        let to = format!("62811101{i:04}");
        if i % 4 == 0 {
            // Retries are claimed by whichever worker's sweeper is first.
            app.sim.script(
                &to,
                vec![Step::Http {
                    status: 503,
                    retry_after: None,
                }],
            );
        }
        let command = send(*id, &to);
        app.publish(&command).await;
        app.publish(&command).await;
    }
    for id in &ids {
        app.wait_for_status(*id, "success").await;
    }
    for (i, id) in ids.iter().enumerate() {
        let expected = if i % 4 == 0 { 2 } else { 1 };
        assert_eq!(app.sim.sends_of(&id.to_string()), expected, "delivery {i}");
        assert_eq!(app.sim.accepted_of(&id.to_string()), 1, "delivery {i}");
    }
    stop_second.cancel();
    second
        .handle
        .await
        .expect("worker task")
        .expect("second worker stops cleanly");
}

#[tokio::test]
async fn a_rate_limit_waits_for_the_providers_retry_after() {
    let app = spawn_app().await; // the schedule alone would retry after 100 ms
    let id = Uuid::new_v4();
    app.sim.script(
        "628111000009",
        vec![Step::Http {
            status: 429,
            retry_after: Some(2),
        }],
    );
    app.publish(&send(id, "628111000009")).await;
    let waiting = app.wait_for_status(id, "waitForSending").await;
    let attempts = app.attempts(id).await;
    let (first, due) = (&attempts[0], waiting.next_attempt_at.expect("due time"));
    assert_eq!(
        (first.outcome.as_str(), first.http_status),
        ("retryable", Some(429))
    );
    let wait = (due - first.finished_at).num_milliseconds();
    assert!(
        (1900..=2100).contains(&wait),
        "waits {wait} ms, not the 2 s asked for"
    );
    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.attempts, 2);
}
