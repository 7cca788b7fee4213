//! OneBox through the real worker: every answer class the document names,
//! the shared token renewed once for many deliveries, the quota deferral.

use crate::helpers::*;
use herald::tools::simulator::{Received, Step, TIME_LIMIT};
use serde_json::{Value, json};
use uuid::Uuid;

/// A Facebook direct message to `to`, as the document's example 3.
fn direct(id: Uuid, to: &str) -> Value {
    json!({"type": "send", "id": id, "connection": ONEBOX, "message": {
        "from": "469218373611012", "to": to, "method": "DIRECT", "conversation_id": "222536",
        "subject": "Order update", "text": "Your order has shipped"}})
}

fn requests_to(app: &TestApp, to: &str) -> Vec<Received> {
    app.sim
        .requests()
        .into_iter()
        .filter(|r| r.provider == "onebox" && r.body["To"] == to)
        .collect()
}

#[tokio::test]
async fn a_onebox_send_stores_the_remote_id_and_provider_status() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.publish(&direct(id, "389961471775568")).await;

    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.remote_id.as_deref(), Some("75702"), "OneBox's data[0].Id");
    assert_eq!(d.provider_status, Some(1));
    assert_eq!(d.attempts, 1);
    let attempts = app.attempts(id).await;
    assert_eq!(outcomes(&attempts), [("success".into(), Some(200))]);

    let sent = requests_to(&app, "389961471775568");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/api/message");
    let body = &sent[0].body;
    assert_eq!(body["ConnectionId"], 583);
    assert_eq!(body["MethodId"], "DIRECT");
    assert_eq!(body["From"], "469218373611012");
    assert_eq!(body["ConversationId"], 222_536);
    assert_eq!(body["Subject"], "Order update");
    assert_eq!(body["Content"]["BodyText"], "Your order has shipped");
    assert_eq!(body["Content"]["ContentType"], "text/plain");
    assert_eq!(app.sim.onebox_authentications(), 1);
}

#[tokio::test]
async fn a_onebox_5xx_is_retried() {
    let app = spawn_app().await;
    let (id, to) = (Uuid::new_v4(), "1000000002");
    let busy = Step::Http {
        status: 503,
        retry_after: None,
    };
    app.sim.script(to, vec![busy]);
    app.publish(&direct(id, to)).await;

    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.attempts, 2);
    let attempts = app.attempts(id).await;
    assert_eq!(
        outcomes(&attempts),
        [
            ("retryable".into(), Some(503)),
            ("success".into(), Some(200))
        ]
    );
    assert_eq!(requests_to(&app, to).len(), 2);
}

#[tokio::test]
async fn a_onebox_4xx_fails_the_delivery() {
    let app = spawn_app().await;
    let (id, to) = (Uuid::new_v4(), "1000000003");
    let refusal = Step::MetaFalse {
        code: 400,
        message: "To is not a follower".into(),
    };
    app.sim.script(to, vec![refusal]);
    app.publish(&direct(id, to)).await;

    let d = app.wait_for_status(id, "failed").await;
    assert_eq!(
        d.fail_reason.as_deref(),
        Some("OneBox answered HTTP 400: To is not a follower")
    );
    assert_eq!(d.attempts, 1);
    let attempts = app.attempts(id).await;
    assert_eq!(outcomes(&attempts), [("permanent".into(), Some(400))]);
    assert_eq!(requests_to(&app, to).len(), 1);
}

#[tokio::test]
async fn a_onebox_429_waits_for_its_retry_after() {
    let app = spawn_app().await; // the schedule alone would retry after 100 ms
    let (id, to) = (Uuid::new_v4(), "1000000004");
    let slow_down = Step::Http {
        status: 429,
        retry_after: Some(2),
    };
    app.sim.script(to, vec![slow_down]);
    app.publish(&direct(id, to)).await;

    let waiting = app.wait_for_status(id, "waitForSending").await;
    assert_eq!(waiting.wait_reason.as_deref(), Some("retry"));
    let attempts = app.attempts(id).await;
    assert_eq!(outcomes(&attempts), [("retryable".into(), Some(429))]);
    let due = waiting.next_attempt_at.expect("a due time");
    let wait = (due - attempts[0].finished_at).num_milliseconds();
    assert!((1900..=2100).contains(&wait), "waits {wait} ms, not 2 s");
    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.attempts, 2);
}

#[tokio::test]
async fn an_expired_token_is_renewed_and_the_call_repeated_in_the_same_attempt() {
    let app = spawn_app().await;
    let warm = Uuid::new_v4();
    app.publish(&direct(warm, "1000000005")).await;
    app.wait_for_status(warm, "success").await;
    app.sim.expire_onebox_tokens();

    let (id, to) = (Uuid::new_v4(), "1000000006");
    app.publish(&direct(id, to)).await;
    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.attempts, 1, "the repeat used no attempt");
    let attempts = app.attempts(id).await;
    assert_eq!(outcomes(&attempts), [("success".into(), Some(200))]);
    assert_eq!(
        requests_to(&app, to).len(),
        2,
        "refused once, then repeated"
    );
    assert_eq!(app.sim.onebox_authentications(), 2);
}

#[tokio::test]
async fn many_deliveries_meeting_an_expired_token_authenticate_once() {
    let app = spawn_app().await;
    let warm = Uuid::new_v4();
    app.publish(&direct(warm, "1000000100")).await;
    app.wait_for_status(warm, "success").await;
    assert_eq!(app.sim.onebox_authentications(), 1);
    app.sim.expire_onebox_tokens();
    // Slow answers, so that many deliveries are in flight with the expired
    // token before the first refusal comes back.
    app.sim.set_latency(std::time::Duration::from_millis(300));

    let ids: Vec<Uuid> = (0..30).map(|_| Uuid::new_v4()).collect();
    for (i, id) in ids.iter().enumerate() {
        app.publish(&direct(*id, &format!("10000002{i:02}"))).await;
    }
    for id in &ids {
        let d = app.wait_for_status(*id, "success").await;
        assert_eq!(d.attempts, 1, "{id}");
    }
    assert_eq!(
        app.sim.onebox_authentications(),
        2,
        "one renewal for the whole wave"
    );
    let wave = app
        .sim
        .requests()
        .into_iter()
        .filter(|r| {
            r.body["To"]
                .as_str()
                .is_some_and(|to| to.starts_with("10000002"))
        })
        .count();
    let refused = wave - ids.len();
    assert!(refused >= 2, "{refused} deliveries met the expired token");
}

#[tokio::test]
async fn a_closed_quota_defers_the_delivery_without_using_an_attempt() {
    let app = spawn_app().await;
    app.sim.set_onebox_quota(Some(0));
    let (id, to) = (Uuid::new_v4(), "1000000007");
    app.publish(&direct(id, to)).await;

    let d = eventually(20, "the quota deferral", || async {
        app.delivery(id)
            .await
            .filter(|d| d.wait_reason.as_deref() == Some("quota"))
    })
    .await;
    assert_eq!(d.status, "waitForSending");
    assert_eq!(d.attempts, 0, "a deferral gives its attempt back");
    let due = d.next_attempt_at.expect("a due time");
    let pause = (due - chrono::Utc::now()).num_minutes();
    assert!((55..=60).contains(&pause), "deferred {pause} min");
    let attempts = app.attempts(id).await;
    assert_eq!(outcomes(&attempts), [("deferred".into(), Some(401))]);
    let error = attempts[0].error.as_deref().unwrap_or_default();
    assert!(error.contains(TIME_LIMIT), "{error}");
    assert_eq!(
        app.sim.onebox_authentications(),
        1,
        "not taken for an expiry"
    );
}

#[tokio::test]
async fn a_kind_onebox_cannot_carry_fails_without_a_call() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.publish(
        &json!({"type": "send", "id": id, "connection": ONEBOX, "message": {
        "from": "469218373611012", "to": "1000000008", "kind": "location",
        "location": {"latitude": -6.2, "longitude": 106.8}}}),
    )
    .await;
    let d = app.wait_for_status(id, "failed").await;
    let reason = d.fail_reason.unwrap_or_default();
    assert!(
        reason.starts_with("unsupported: OneBox cannot carry a location message"),
        "{reason}"
    );
    assert_eq!(d.attempts, 0);
    assert!(app.attempts(id).await.is_empty());
    assert!(app.sim.requests().is_empty());
    assert_eq!(app.sim.onebox_authentications(), 0);
}

#[tokio::test]
async fn refused_credentials_fail_the_delivery_and_stay_secret() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let mut command = direct(id, "1000000009");
    command["connection"] = json!(ONEBOX_WRONG_PASSWORD);
    app.publish(&command).await;

    let d = app.wait_for_status(id, "failed").await;
    let reason = d.fail_reason.unwrap_or_default();
    assert_eq!(
        reason,
        "OneBox refused the credentials (HTTP 401): Invalid email or password"
    );
    assert!(!reason.contains("not-the-password"));
    assert!(app.sim.requests().is_empty(), "no message call");
}
