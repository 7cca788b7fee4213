//! The real Konnek adapter against the simulator: every fault a script can
//! play, classified the way the worker needs it.

use super::tests::{eventually, spawn};
use super::*;
use crate::adapters::konnek::KonnekAdapter;
use crate::adapters::{ChannelAdapter, ErrorClass, Outbound, ProviderError, Sent};
use crate::config::KonnekSettings;
use crate::domain::{Message, ProviderStatus};
use serde_json::json;
use std::time::Instant;
use uuid::Uuid;

const TO: &str = "628111020197";

fn adapter(sim: &SimHandle, password: &str, http: reqwest::Client) -> KonnekAdapter {
    let settings = KonnekSettings {
        channel: "whatsapp".into(),
        client_id: "abc123".into(),
        username: "sim-user".into(),
        password: password.into(),
    };
    KonnekAdapter::new(&sim.base_url(), settings, http)
}

fn text() -> Message {
    serde_json::from_value(json!({"to": TO, "text": "Your order has shipped"})).expect("message")
}

async fn send(adapter: &KonnekAdapter, id: Uuid, message: &Message) -> Result<Sent, ProviderError> {
    let outbound = Outbound {
        delivery_id: id,
        message,
        attempt: 1,
        resends: 0,
        remote_id: None,
        group: None,
    };
    adapter.send(outbound).await
}

#[tokio::test]
async fn a_send_succeeds_with_the_delivery_id() {
    let sim = spawn().await;
    let konnek = adapter(&sim, "sim-pass", reqwest::Client::new());
    let id = Uuid::new_v4();
    let sent = send(&konnek, id, &text()).await.expect("sent");
    assert_eq!(sent.http_status, 200);
    assert_eq!(sent.remote_id, Some(id.to_string()));
    assert_eq!(sent.provider_status, Some(ProviderStatus::SENT));
    let received = sim.requests();
    assert_eq!(received[0].path, "/whatsapp/send/abc123");
    assert_eq!(received[0].body["id"], id.to_string());
    assert_eq!(
        received[0].body["body"],
        json!({"text": "Your order has shipped"})
    );
    assert_eq!(sim.accepted_of(&id.to_string()), 1);
    sim.shutdown();
}

#[tokio::test]
async fn every_kind_passes_the_documented_validation() {
    let sim = spawn().await;
    let konnek = adapter(&sim, "sim-pass", reqwest::Client::new());
    let list = json!({"title": "Menu", "sections": [{"title": "S1", "description": "d",
        "actions": [{"key": "a1", "title": "A1", "description": "d1"}]}]});
    let messages = [
        json!({"to": TO, "text": "hi"}),
        json!({"to": TO, "kind": "image", "media": {"url": "https://x/a.png"}}),
        json!({"to": TO, "kind": "video", "text": "c", "media": {"url": "https://x/a.mp4"}}),
        json!({"to": TO, "kind": "audio", "media": {"url": "https://x/a.ogg"}}),
        json!({"to": TO, "kind": "document", "media": {"url": "https://x/f.pdf", "name": "f.pdf"}}),
        json!({"to": TO, "kind": "location", "location": {"latitude": -6.2, "longitude": 106.8}}),
        json!({"to": TO, "kind": "buttons", "text": "?", "buttons": [{"key": "y", "title": "Yes"}],
            "extra": {"footer": {"title": "t", "text": "f"}}}),
        json!({"to": TO, "kind": "list", "text": "Pick", "extra": {"list": list}}),
    ];
    for value in messages {
        let message: Message = serde_json::from_value(value).expect("message");
        konnek.check(&message).expect("Konnek carries it");
        let sent = send(&konnek, Uuid::new_v4(), &message).await;
        assert!(sent.is_ok(), "{}: {sent:?}", message.kind);
    }
    sim.shutdown();
}

#[tokio::test]
async fn a_503_is_retried_and_the_retry_succeeds() {
    let sim = spawn().await;
    let konnek = adapter(&sim, "sim-pass", reqwest::Client::new());
    sim.script(
        TO,
        vec![Step::Http {
            status: 503,
            retry_after: None,
        }],
    );
    let id = Uuid::new_v4();
    let err = send(&konnek, id, &text()).await.expect_err("503");
    assert_eq!(
        (err.class, err.http_status),
        (ErrorClass::Transient, Some(503))
    );
    send(&konnek, id, &text()).await.expect("the retry is sent");
    let key = id.to_string();
    assert_eq!((sim.sends_of(&key), sim.accepted_of(&key)), (2, 1));
    sim.shutdown();
}

#[tokio::test]
async fn rate_limits_carry_retry_after() {
    let sim = spawn().await;
    let konnek = adapter(&sim, "sim-pass", reqwest::Client::new());
    sim.script(
        TO,
        vec![Step::Http {
            status: 429,
            retry_after: Some(2),
        }],
    );
    let err = send(&konnek, Uuid::new_v4(), &text())
        .await
        .expect_err("429");
    let wait = Some(Duration::from_secs(2));
    assert_eq!(err.class, ErrorClass::RateLimited { retry_after: wait });
    sim.shutdown();
}

#[tokio::test]
async fn meta_false_is_classified_by_code() {
    let sim = spawn().await;
    let konnek = adapter(&sim, "sim-pass", reqwest::Client::new());
    let refusal = |code| Step::MetaFalse {
        code,
        message: "recipient not on WhatsApp".into(),
    };
    sim.script(TO, vec![refusal(400), refusal(500)]);
    let err = send(&konnek, Uuid::new_v4(), &text())
        .await
        .expect_err("400");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(
        err.message.contains("recipient not on WhatsApp"),
        "{}",
        err.message
    );
    let err = send(&konnek, Uuid::new_v4(), &text())
        .await
        .expect_err("500");
    assert_eq!(err.class, ErrorClass::Transient);
    sim.shutdown();
}

#[tokio::test]
async fn negative_provider_statuses_are_not_sends() {
    let sim = spawn().await;
    let konnek = adapter(&sim, "sim-pass", reqwest::Client::new());
    let answer = |provider_status| Step::Ok { provider_status };
    sim.script(TO, vec![answer(-1), answer(-3), answer(0)]);
    let unsent = Uuid::new_v4();
    let err = send(&konnek, unsent, &text()).await.expect_err("-1");
    assert_eq!(err.class, ErrorClass::Transient);
    let err = send(&konnek, Uuid::new_v4(), &text())
        .await
        .expect_err("-3");
    assert_eq!(err.class, ErrorClass::Permanent);
    let sent = send(&konnek, Uuid::new_v4(), &text())
        .await
        .expect("0 Pending");
    assert_eq!(sent.provider_status, Some(ProviderStatus::PENDING));
    assert_eq!(sim.accepted_of(&unsent.to_string()), 0);
    assert_eq!(
        sim.stats(),
        Stats {
            requests: 3,
            accepted: 1
        }
    );
    sim.shutdown();
}

#[tokio::test]
async fn a_hang_times_out_as_transient() {
    let sim = spawn().await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let konnek = adapter(&sim, "sim-pass", http);
    sim.script(TO, vec![Step::Hang]);
    let started = Instant::now();
    let err = send(&konnek, Uuid::new_v4(), &text())
        .await
        .expect_err("timeout");
    assert_eq!(err.class, ErrorClass::Transient);
    assert!(err.message.contains("timed out"), "{}", err.message);
    assert!(started.elapsed() < Duration::from_secs(5));
    sim.shutdown();
}

#[tokio::test]
async fn garbage_and_delays() {
    let sim = spawn().await;
    let konnek = adapter(&sim, "sim-pass", reqwest::Client::new());
    sim.script(TO, vec![Step::Garbage, Step::Delay { millis: 150 }]);
    let err = send(&konnek, Uuid::new_v4(), &text())
        .await
        .expect_err("garbage");
    assert_eq!(
        (err.class, err.http_status),
        (ErrorClass::Transient, Some(200))
    );
    let started = Instant::now();
    send(&konnek, Uuid::new_v4(), &text())
        .await
        .expect("a slow success");
    assert!(started.elapsed() >= Duration::from_millis(150));
    sim.set_latency(Duration::from_millis(100));
    let started = Instant::now();
    send(&konnek, Uuid::new_v4(), &text())
        .await
        .expect("a slow success");
    assert!(started.elapsed() >= Duration::from_millis(100));
    sim.shutdown();
}

#[tokio::test]
async fn bad_credentials_fail_without_leaking_them() {
    let sim = spawn().await;
    let konnek = adapter(&sim, "not-the-password", reqwest::Client::new());
    let err = send(&konnek, Uuid::new_v4(), &text())
        .await
        .expect_err("401");
    assert_eq!(
        (err.class, err.http_status),
        (ErrorClass::Permanent, Some(401))
    );
    assert_eq!(err.message, "Konnek refused the credentials (HTTP 401)");
    sim.shutdown();
}

#[tokio::test]
async fn concurrent_sends_are_each_counted_once() {
    let sim = spawn().await;
    let konnek = std::sync::Arc::new(adapter(&sim, "sim-pass", reqwest::Client::new()));
    let ids: Vec<Uuid> = (0..200).map(|_| Uuid::new_v4()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for &id in &ids {
        let konnek = std::sync::Arc::clone(&konnek);
        tasks.spawn(async move { send(&konnek, id, &text()).await.map(|s| s.remote_id) });
    }
    while let Some(result) = tasks.join_next().await {
        assert!(result.expect("task").is_ok());
    }
    eventually(Duration::from_secs(5), || sim.stats().accepted == 200).await;
    assert!(ids.iter().all(|id| sim.sends_of(&id.to_string()) == 1));
    sim.shutdown();
}

#[tokio::test]
async fn status_callbacks_follow_an_accepted_send_when_switched_on() {
    let sim = spawn().await;
    let konnek = adapter(&sim, "sim-pass", reqwest::Client::new());
    // Switched on over HTTP, pushing to a path of the simulator itself that
    // answers 405: what matters is that every push is made and answered.
    let receiver = format!("{}/_sim/stats", sim.base_url());
    let switched = reqwest::Client::new()
        .post(format!("{}/_sim/konnek/callbacks", sim.base_url()))
        .json(&json!({"url": receiver, "token": "t", "statuses": [3, 2], "interval_millis": 1}))
        .send()
        .await
        .expect("answers");
    assert_eq!(switched.status().as_u16(), 204);
    let id = Uuid::new_v4();
    send(&konnek, id, &text()).await.expect("sent");
    eventually(Duration::from_secs(5), || {
        sim.konnek_callbacks_pushed().len() == 2
    })
    .await;
    let pushed = sim.konnek_callbacks_pushed();
    assert_eq!(pushed.iter().map(|p| p.status).collect::<Vec<_>>(), [3, 2]);
    assert!(pushed.iter().all(|p| p.message_id == id.to_string()));
    assert!(pushed.iter().all(|p| p.answer == Some(405)));

    // A refused send pushes nothing; switched off, nothing more is pushed.
    sim.script(
        TO,
        vec![Step::Ok {
            provider_status: -3,
        }],
    );
    send(&konnek, Uuid::new_v4(), &text())
        .await
        .expect_err("failed");
    sim.set_konnek_callbacks(None);
    // (Whether a send pushes is decided while it is answered.)
    send(&konnek, Uuid::new_v4(), &text()).await.expect("sent");
    assert_eq!(sim.konnek_callbacks_pushed().len(), 2);
    sim.shutdown();
}

#[tokio::test]
async fn each_call_is_logged_with_its_span_even_when_its_caller_goes_away() {
    let sim = spawn().await;
    let (answered, abandoned) = (Uuid::new_v4(), Uuid::new_v4());
    sim.script(TO, vec![Step::Delay { millis: 300 }, Step::Hang]);
    let konnek = adapter(&sim, "sim-pass", reqwest::Client::new());
    send(&konnek, answered, &text()).await.expect("sent");
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(200))
        .build()
        .expect("client");
    let gone = send(&adapter(&sim, "sim-pass", impatient), abandoned, &text()).await;
    assert!(gone.is_err(), "the caller gave up");
    // The hung call ends when its caller's connection closes, not an hour later.
    eventually(std::time::Duration::from_secs(5), || sim.calls().len() == 2).await;
    let calls = sim.calls();
    let span = |id: Uuid| {
        let call = calls
            .iter()
            .find(|c| c.id == id.to_string())
            .expect("logged");
        (call.finished - call.started)
            .to_std()
            .expect("ends after it starts")
    };
    assert!(span(answered) >= std::time::Duration::from_millis(300));
    assert!(span(abandoned) < std::time::Duration::from_secs(2));
    sim.shutdown();
}
