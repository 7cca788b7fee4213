//! Comm100 through the real worker: the documented request, the resend of
//! a message Comm100 holds, and every answer class a static-token provider
//! has.

use crate::helpers::*;
use herald::tools::simulator::{Received, Step};
use serde_json::{Value, json};
use uuid::Uuid;

fn message(id: Uuid, ticket: &str) -> Value {
    json!({"type": "send", "id": id, "connection": COMM100, "message": {
        "to": "contact-1", "conversation_id": ticket, "text": "Your order has shipped"}})
}

fn comm100_requests(app: &TestApp) -> Vec<Received> {
    app.sim
        .requests()
        .into_iter()
        .filter(|r| r.provider == "comm100")
        .collect()
}

async fn resend_until_done(app: &TestApp, id: Uuid) -> herald::storage::operator::DeliveryView {
    app.publish(&json!({"type": "resend", "id": id})).await;
    eventually(20, "the resend to finish", || async {
        app.delivery(id)
            .await
            .filter(|d| d.resends == 1 && (d.status == "success" || d.status == "failed"))
    })
    .await
}

#[tokio::test]
async fn a_comm100_send_creates_one_message_and_a_resend_resends_it() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let mut command = message(id, "100");
    command["group"] = json!({"id": "bot-reply-42", "order": 0});
    app.publish(&command).await;
    let d = app.wait_for_status(id, "success").await;
    let remote_id = d.remote_id.clone().expect("Comm100's message id");
    assert_eq!(d.provider_status, Some(1), "delivery status success");
    assert_eq!(
        outcomes(&app.attempts(id).await),
        [("success".into(), Some(201))]
    );
    let sent = comm100_requests(&app);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v4/ticketing/messages");
    let body = &sent[0].body;
    assert_eq!(body["ticketId"], "100");
    assert_eq!(body["sentById"], COMM100_AGENT);
    assert_eq!(body["sentByType"], "agent");
    assert_eq!(body["channelId"], "Email");
    assert_eq!(body["type"], "text");
    assert_eq!(body["metadata"], json!({}));
    assert_eq!(
        body["body"],
        "data:text/plain;base64,WW91ciBvcmRlciBoYXMgc2hpcHBlZA=="
    );
    assert_eq!(body["messageDelivery"]["status"], "waitForSending");
    assert_eq!(body["messageDelivery"]["orderNum"], 0);
    let group = body["messageDelivery"]["groupId"].as_str().unwrap_or("");
    assert!(
        Uuid::parse_str(group).is_ok(),
        "groupId {group:?} is a guid"
    );
    let auth = sent[0].headers.iter().find(|(n, _)| n == "authorization");
    assert_eq!(
        auth.map(|(_, v)| v.as_str()),
        Some("Bearer sim-comm100-token")
    );

    // The resend acts on the message Comm100 holds: no second message.
    let d = resend_until_done(&app, id).await;
    assert_eq!(d.status, "success");
    assert_eq!(d.remote_id.as_deref(), Some(remote_id.as_str()));
    assert_eq!(app.sim.comm100_counts(), (1, 1), "one message, resent once");
    let sent = comm100_requests(&app);
    assert_eq!(
        sent[1].path,
        format!("/v4/ticketing/messages/{remote_id}:resend")
    );
    let rounds: Vec<(i32, String)> = app
        .attempts(id)
        .await
        .into_iter()
        .map(|a| (a.round, a.outcome))
        .collect();
    assert_eq!(rounds, [(0, "success".into()), (1, "success".into())]);
}

#[tokio::test]
async fn a_failed_comm100_delivery_keeps_its_message_for_the_resend() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.sim.script(
        "200",
        vec![Step::Ok {
            provider_status: -3,
        }],
    );
    app.publish(&message(id, "200")).await;
    let d = app.wait_for_status(id, "failed").await;
    assert_eq!(
        d.fail_reason.as_deref(),
        Some("Comm100 holds the message but its delivery failed: the channel refused the message")
    );
    assert_eq!(d.attempts, 1);
    let remote_id = d.remote_id.clone().expect("the failed message's id");
    assert_eq!(
        outcomes(&app.attempts(id).await),
        [("permanent".into(), Some(201))]
    );

    let d = resend_until_done(&app, id).await;
    assert_eq!(d.status, "success");
    assert_eq!(d.provider_status, Some(1));
    assert_eq!(d.remote_id.as_deref(), Some(remote_id.as_str()));
    assert_eq!(
        app.sim.comm100_counts(),
        (1, 1),
        "resent, not created again"
    );
}

#[tokio::test]
async fn comm100_errors_are_retried_or_fail_by_class() {
    let app = spawn_app().await;
    // 503, then success: retried.
    let retried = Uuid::new_v4();
    let busy = Step::Http {
        status: 503,
        retry_after: None,
    };
    app.sim.script("301", vec![busy]);
    app.publish(&message(retried, "301")).await;
    // 429 with Retry-After: waits that long.
    let slowed = Uuid::new_v4();
    let slow_down = Step::Http {
        status: 429,
        retry_after: Some(2),
    };
    app.sim.script("302", vec![slow_down]);
    app.publish(&message(slowed, "302")).await;
    // 404: fails at once.
    let refused = Uuid::new_v4();
    let missing = Step::MetaFalse {
        code: 404,
        message: "ticket not found".into(),
    };
    app.sim.script("303", vec![missing]);
    app.publish(&message(refused, "303")).await;
    // A body that is not JSON: retried.
    let garbled = Uuid::new_v4();
    app.sim.script("304", vec![Step::Garbage]);
    app.publish(&message(garbled, "304")).await;

    let d = app.wait_for_status(retried, "success").await;
    assert_eq!(d.attempts, 2);
    assert_eq!(
        outcomes(&app.attempts(retried).await),
        [
            ("retryable".into(), Some(503)),
            ("success".into(), Some(201))
        ]
    );

    let d = app.wait_for_status(refused, "failed").await;
    assert_eq!(
        d.fail_reason.as_deref(),
        Some("Comm100 answered (HTTP 404): ticket not found")
    );
    assert_eq!(
        outcomes(&app.attempts(refused).await),
        [("permanent".into(), Some(404))]
    );

    let d = app.wait_for_status(garbled, "success").await;
    assert_eq!(d.attempts, 2);

    let d = app.wait_for_status(slowed, "success").await;
    assert_eq!(d.attempts, 2);
    let attempts = app.attempts(slowed).await;
    assert_eq!(attempts[0].http_status, Some(429));
    let waited = (attempts[1].started_at - attempts[0].finished_at).num_milliseconds();
    assert!(waited >= 1900, "waited {waited} ms, not the 2 s asked");
}

#[tokio::test]
async fn a_refused_comm100_token_fails_at_once_and_stays_secret() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let mut command = message(id, "401");
    command["connection"] = json!(COMM100_WRONG_TOKEN);
    app.publish(&command).await;
    let d = app.wait_for_status(id, "failed").await;
    let reason = d.fail_reason.unwrap_or_default();
    assert_eq!(
        reason,
        "Comm100 refused the access token (HTTP 401): invalid access token"
    );
    assert!(!reason.contains("not-the-comm100-token"));
    assert_eq!(
        outcomes(&app.attempts(id).await),
        [("permanent".into(), Some(401))]
    );
}

#[tokio::test]
async fn a_kind_comm100_cannot_carry_fails_without_a_call() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.publish(
        &json!({"type": "send", "id": id, "connection": COMM100, "message": {
        "to": "contact-1", "conversation_id": "100", "kind": "location",
        "location": {"latitude": -6.2, "longitude": 106.8}}}),
    )
    .await;
    let d = app.wait_for_status(id, "failed").await;
    let reason = d.fail_reason.unwrap_or_default();
    assert!(
        reason.starts_with("unsupported: ") && reason.contains("location"),
        "{reason}"
    );
    assert_eq!(d.attempts, 0);
    assert!(comm100_requests(&app).is_empty());
}
