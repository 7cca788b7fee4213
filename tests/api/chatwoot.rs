//! Chatwoot through the real worker: the documented request and answer, and
//! every answer class a static-token provider has.

use crate::helpers::*;
use herald::tools::simulator::{Received, Step};
use serde_json::{Value, json};
use uuid::Uuid;

fn reply(id: Uuid, conversation: &str) -> Value {
    json!({"type": "send", "id": id, "connection": CHATWOOT, "message": {
        "to": "contact-1", "conversation_id": conversation, "text": "Your order has shipped"}})
}

fn requests_in(app: &TestApp, conversation: &str) -> Vec<Received> {
    let path = format!("/api/v1/accounts/3/conversations/{conversation}/messages");
    app.sim
        .requests()
        .into_iter()
        .filter(|r| r.provider == "chatwoot" && r.path == path)
        .collect()
}

#[tokio::test]
async fn a_chatwoot_send_stores_the_message_id_and_its_status() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.publish(&reply(id, "101")).await;
    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.remote_id.as_deref(), Some("1"), "the answer's id");
    assert_eq!(d.provider_status, Some(1), "status sent");
    assert_eq!(d.attempts, 1);
    assert_eq!(
        outcomes(&app.attempts(id).await),
        [("success".into(), Some(200))]
    );
    let sent = requests_in(&app, "101");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].body,
        json!({"content": "Your order has shipped", "message_type": "outgoing",
               "private": false, "content_type": "text", "content_attributes": {}})
    );
    let token = sent[0]
        .headers
        .iter()
        .find(|(n, _)| n == "api_access_token");
    assert_eq!(token.map(|(_, v)| v.as_str()), Some("sim-token"));

    // A server that answers "delivered" and an input_select from extra.
    app.sim.script("102", vec![Step::Ok { provider_status: 2 }]);
    let id = Uuid::new_v4();
    let mut command = reply(id, "102");
    command["message"]["extra"] = json!({"private": true, "content_type": "input_select",
        "content_attributes": {"items": [{"title": "Yes", "value": "yes"}]}});
    app.publish(&command).await;
    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.remote_id.as_deref(), Some("2"));
    assert_eq!(d.provider_status, Some(2));
    let body = &requests_in(&app, "102")[0].body;
    assert_eq!(body["private"], true);
    assert_eq!(body["content_type"], "input_select");
    assert_eq!(body["content_attributes"]["items"][0]["value"], "yes");
}

#[tokio::test]
async fn a_chatwoot_5xx_is_retried() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let busy = Step::Http {
        status: 502,
        retry_after: None,
    };
    app.sim.script("201", vec![busy]);
    app.publish(&reply(id, "201")).await;
    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.attempts, 2);
    assert_eq!(
        outcomes(&app.attempts(id).await),
        [
            ("retryable".into(), Some(502)),
            ("success".into(), Some(200))
        ]
    );
    assert_eq!(requests_in(&app, "201").len(), 2);
}

#[tokio::test]
async fn a_chatwoot_4xx_fails_the_delivery() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let refusal = Step::MetaFalse {
        code: 404,
        message: "Resource could not be found".into(),
    };
    app.sim.script("301", vec![refusal]);
    app.publish(&reply(id, "301")).await;
    let d = app.wait_for_status(id, "failed").await;
    assert_eq!(
        d.fail_reason.as_deref(),
        Some("Chatwoot answered (HTTP 404): Resource could not be found")
    );
    assert_eq!(d.attempts, 1);
    assert_eq!(
        outcomes(&app.attempts(id).await),
        [("permanent".into(), Some(404))]
    );
}

#[tokio::test]
async fn a_chatwoot_429_waits_for_its_retry_after() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let slow_down = Step::Http {
        status: 429,
        retry_after: Some(2),
    };
    app.sim.script("401", vec![slow_down]);
    app.publish(&reply(id, "401")).await;
    let waiting = app.wait_for_status(id, "waitForSending").await;
    let attempts = app.attempts(id).await;
    assert_eq!(outcomes(&attempts), [("retryable".into(), Some(429))]);
    let due = waiting.next_attempt_at.expect("a due time");
    let wait = (due - attempts[0].finished_at).num_milliseconds();
    assert!((1900..=2100).contains(&wait), "waits {wait} ms, not 2 s");
    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.attempts, 2);
}

#[tokio::test]
async fn a_message_chatwoot_reports_failed_fails_the_delivery() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.sim.script(
        "501",
        vec![Step::Ok {
            provider_status: -3,
        }],
    );
    app.publish(&reply(id, "501")).await;
    let d = app.wait_for_status(id, "failed").await;
    assert_eq!(
        d.fail_reason.as_deref(),
        Some("Chatwoot created the message but reports it failed")
    );
    assert_eq!(d.attempts, 1);
}

#[tokio::test]
async fn a_refused_token_fails_at_once_and_stays_secret() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let mut command = reply(id, "601");
    command["connection"] = json!(CHATWOOT_WRONG_TOKEN);
    app.publish(&command).await;
    let d = app.wait_for_status(id, "failed").await;
    let reason = d.fail_reason.unwrap_or_default();
    assert_eq!(
        reason,
        "Chatwoot refused the api_access_token (HTTP 401): Invalid Access Token"
    );
    assert!(!reason.contains("not-the-token"));
    assert_eq!(
        outcomes(&app.attempts(id).await),
        [("permanent".into(), Some(401))]
    );
}

#[tokio::test]
async fn a_message_without_a_conversation_fails_without_a_call() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.publish(&json!({"type": "send", "id": id, "connection": CHATWOOT,
        "message": {"to": "contact-1", "text": "hello"}}))
        .await;
    let d = app.wait_for_status(id, "failed").await;
    let reason = d.fail_reason.unwrap_or_default();
    assert!(reason.contains("message.conversation_id"), "{reason}");
    assert_eq!(d.attempts, 0);
    assert!(app.sim.requests().is_empty());
}
