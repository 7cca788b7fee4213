//! HighQ through the real worker: the documented JSON form under the
//! instance path, JSON and XML answers, every answer class, and the OAuth2
//! pair: refreshed on a 403, stored in PostgreSQL so that a restart keeps
//! it, and refreshed once per wave by all workers together.

use crate::helpers::*;
use herald::tools::simulator::{Received, Step};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn message(id: Uuid, to: &str) -> Value {
    json!({"type": "send", "id": id, "connection": HIGHQ, "message": {
        "to": to, "html": "<p>Your order has shipped</p>"}})
}

fn highq_requests(app: &TestApp) -> Vec<Received> {
    app.sim
        .requests()
        .into_iter()
        .filter(|r| r.provider == "highq")
        .collect()
}

/// The stored pair's refresh token and generation.
async fn stored_pair(app: &TestApp) -> (String, i64) {
    let token = app
        .store
        .stored_token(HIGHQ)
        .await
        .expect("read connection_tokens")
        .expect("the pair is stored");
    (token.refresh_token, token.generation)
}

#[tokio::test]
async fn a_highq_send_uses_the_json_form_under_the_instance_path() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let mut command = message(id, "1201, 1202");
    command["message"]["extra"] = json!({"attachments": ["5501", "5502"]});
    app.publish(&command).await;
    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.remote_id.as_deref(), Some("1160"), "the first messageid");
    assert_eq!(d.provider_status, Some(1));
    assert_eq!(
        outcomes(&app.attempts(id).await),
        [("success".into(), Some(201))]
    );
    let sent = highq_requests(&app);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/acme-instance/api/4/conversations/");
    assert_eq!(
        sent[0].body,
        json!({"recipients": {"users": {"user": [{"userid": 1201}, {"userid": 1202}]}},
               "messages": {"message": [{"html": "<p>Your order has shipped</p>",
                   "attachments": {"attachment": [{"id": "5501"}, {"id": "5502"}]}}]}})
    );
    let header = |name: &str| {
        sent[0]
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("authorization").as_deref(), Some("Bearer hq-at-1"));
    assert_eq!(header("accept").as_deref(), Some("application/json"));
    // No access token was configured: one refresh, kept in PostgreSQL.
    assert_eq!(app.sim.highq_refreshes(), (1, 0));
    assert_eq!(stored_pair(&app).await, ("hq-rt-1".into(), 1));

    // An instance that answers XML whatever it is asked.
    app.sim.set_highq_xml(true);
    let id = Uuid::new_v4();
    app.publish(&message(id, "1203")).await;
    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.remote_id.as_deref(), Some("1161"));
    assert_eq!(app.sim.highq_refreshes(), (1, 0), "the token was reused");
}

#[tokio::test]
async fn an_expired_token_is_refreshed_within_the_attempt_and_survives_a_restart() {
    let mut app = spawn_app().await;
    let first = Uuid::new_v4();
    app.publish(&message(first, "1301")).await;
    app.wait_for_status(first, "success").await;

    app.sim.expire_highq_tokens();
    let second = Uuid::new_v4();
    app.publish(&message(second, "1302")).await;
    let d = app.wait_for_status(second, "success").await;
    assert_eq!(d.attempts, 1, "the refresh used no attempt");
    assert_eq!(
        outcomes(&app.attempts(second).await),
        [("success".into(), Some(201))]
    );
    assert_eq!(app.sim.highq_refreshes(), (2, 0));
    assert_eq!(stored_pair(&app).await, ("hq-rt-2".into(), 2));

    // A new worker process: nothing in memory, and the configuration still
    // names the first refresh token, which HighQ no longer accepts.
    app.stop_worker().await;
    app.sim.expire_highq_tokens();
    app.start_worker().await;
    let third = Uuid::new_v4();
    app.publish(&message(third, "1303")).await;
    let d = app.wait_for_status(third, "success").await;
    assert_eq!(d.attempts, 1);
    assert_eq!(
        app.sim.highq_refreshes(),
        (3, 0),
        "refreshed with the stored token, never the configured one"
    );
    assert_eq!(stored_pair(&app).await, ("hq-rt-3".into(), 3));
}

#[tokio::test]
async fn two_workers_refresh_once_per_wave() {
    let app = spawn_app().await;
    let other = CancellationToken::new();
    let second = herald::startup::start(app.config.clone(), other.clone())
        .await
        .expect("a second worker starts");

    let publish_wave = |n: usize| {
        let app = &app;
        async move {
            let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
            for (i, id) in ids.iter().enumerate() {
                app.publish(&message(*id, &format!("14{i:02}"))).await;
            }
            for id in &ids {
                let d = app.wait_for_status(*id, "success").await;
                assert_eq!(d.attempts, 1);
            }
        }
    };
    publish_wave(20).await;
    assert_eq!(app.sim.highq_refreshes(), (1, 0), "one refresh for both");
    app.sim.expire_highq_tokens();
    publish_wave(20).await;
    assert_eq!(app.sim.highq_refreshes(), (2, 0), "one refresh per wave");
    assert_eq!(stored_pair(&app).await.1, 2);
    let handled = app.sim.stats().accepted;
    assert_eq!(handled, 40);

    other.cancel();
    second
        .handle
        .await
        .expect("worker task")
        .expect("the second worker stops cleanly");
}

#[tokio::test]
async fn highq_errors_are_retried_or_fail_by_class() {
    let app = spawn_app().await;
    let busy = Uuid::new_v4();
    let fault = Step::Http {
        status: 500,
        retry_after: None,
    };
    app.sim.script("1501", vec![fault]);
    app.publish(&message(busy, "1501")).await;
    let slowed = Uuid::new_v4();
    let slow_down = Step::Http {
        status: 429,
        retry_after: Some(1),
    };
    app.sim.script("1502", vec![slow_down]);
    app.publish(&message(slowed, "1502")).await;
    let invalid = Uuid::new_v4();
    let problem = Step::MetaFalse {
        code: 400,
        message: "Problem with parameters".into(),
    };
    app.sim.script("1503", vec![problem]);
    app.publish(&message(invalid, "1503")).await;
    let validation = Uuid::new_v4();
    let failed = Step::MetaFalse {
        code: 403,
        message: "Validation failed".into(),
    };
    app.sim.script("1504", vec![failed]);
    app.publish(&message(validation, "1504")).await;
    let forbidden = Uuid::new_v4();
    let denied = Step::MetaFalse {
        code: 403,
        message: "Access denied".into(),
    };
    app.sim.script("1505", vec![denied.clone(), denied]);
    app.publish(&message(forbidden, "1505")).await;

    let d = app.wait_for_status(busy, "success").await;
    assert_eq!(
        outcomes(&app.attempts(busy).await),
        [
            ("retryable".into(), Some(500)),
            ("success".into(), Some(201))
        ]
    );
    let d2 = app.wait_for_status(slowed, "success").await;
    assert_eq!((d.attempts, d2.attempts), (2, 2));
    let d = app.wait_for_status(invalid, "failed").await;
    assert_eq!(
        d.fail_reason.as_deref(),
        Some("HighQ answered (HTTP 400): Problem with parameters")
    );
    let d = app.wait_for_status(validation, "failed").await;
    assert_eq!(
        d.fail_reason.as_deref(),
        Some("HighQ answered (HTTP 403): Validation failed")
    );
    let d = app.wait_for_status(forbidden, "failed").await;
    assert_eq!(
        d.fail_reason.as_deref(),
        Some("HighQ refused a freshly refreshed access token (HTTP 403): Access denied")
    );
    assert_eq!(
        outcomes(&app.attempts(forbidden).await),
        [("permanent".into(), Some(403))]
    );
}

#[tokio::test]
async fn a_refused_refresh_token_fails_and_stays_secret() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let mut command = message(id, "1601");
    command["connection"] = json!(HIGHQ_STALE);
    app.publish(&command).await;
    let d = app.wait_for_status(id, "failed").await;
    let reason = d.fail_reason.unwrap_or_default();
    assert_eq!(
        reason,
        "HighQ refused the refresh token (HTTP 400): invalid_grant: the refresh token is not valid"
    );
    assert!(!reason.contains("a-stale-refresh-token") && !reason.contains("sim-secret"));
    assert_eq!(app.sim.highq_refreshes(), (0, 1));
    assert!(
        highq_requests(&app).is_empty(),
        "no message call without a token"
    );
}

#[tokio::test]
async fn a_kind_highq_cannot_carry_fails_without_a_call() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.publish(
        &json!({"type": "send", "id": id, "connection": HIGHQ, "message": {
        "to": "1701", "kind": "image", "media": {"url": "https://cdn.example/a.png"}}}),
    )
    .await;
    let d = app.wait_for_status(id, "failed").await;
    let reason = d.fail_reason.unwrap_or_default();
    assert!(reason.starts_with("unsupported: HighQ"), "{reason}");
    assert_eq!(d.attempts, 0);
    assert!(highq_requests(&app).is_empty());
    assert_eq!(app.sim.highq_refreshes(), (0, 0));
}
