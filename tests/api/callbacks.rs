//! Status callbacks on `POST /v1/callbacks/{connection}` through the real
//! worker: Konnek's pushes from its twin, Chatwoot's message statuses, and
//! every refusal, with `provider_status` never moving backwards.

use crate::helpers::*;
use herald::tools::simulator::{KonnekCallbacks, Step};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

async fn post(url: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the worker answers");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn konnek_push(message_id: &str, status: i64) -> Value {
    json!({"status": {"message_id": message_id, "provider_message_id": "wamid.1",
        "recipient_id": "628111", "status": status, "tid": "t-1",
        "times": 1_700_000_000, "timestamp": "2023-11-10T12:38:08+07:00"}})
}

async fn provider_status(app: &TestApp, id: Uuid) -> Option<i16> {
    app.delivery(id).await.and_then(|d| d.provider_status)
}

#[tokio::test]
async fn konnek_pushes_from_its_twin_move_the_status_only_forward() {
    // A connection of this test's own, so that its metrics are this test's.
    let connection = unique_connection("konnek-pushes");
    let app = spawn_app_with(Options {
        extra_toml: konnek_connection(&connection),
        ..Options::default()
    })
    .await;
    // Read, then Delivered and Sent late, then Read again: Konnek's pushes
    // arrive out of order and more than once.
    app.sim.set_konnek_callbacks(Some(KonnekCallbacks {
        url: app.callback_url(&connection),
        token: Some(CALLBACK_TOKEN.into()),
        statuses: vec![2, 3, 1, 2, 3],
        interval: Duration::from_millis(20),
    }));
    let id = Uuid::new_v4();
    app.sim
        .script("628500", vec![Step::Ok { provider_status: 0 }]);
    let mut command = send(id, "628500");
    command["connection"] = json!(connection);
    app.publish(&command).await;
    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.remote_id.as_deref(), Some(id.to_string().as_str()));
    let pushed = eventually(20, "five pushes answered", || async {
        let pushed = app.sim.konnek_callbacks_pushed();
        (pushed.len() == 5).then_some(pushed)
    })
    .await;
    let answers: Vec<(i16, Option<u16>)> = pushed.iter().map(|p| (p.status, p.answer)).collect();
    assert_eq!(
        answers,
        [
            (2, Some(200)),
            (3, Some(200)),
            (1, Some(200)),
            (2, Some(200)),
            (3, Some(200))
        ]
    );
    assert!(pushed.iter().all(|p| p.message_id == id.to_string()));
    assert_eq!(provider_status(&app, id).await, Some(3), "Read stays Read");
    let metrics = app.metrics().await;
    let count = |result: &str| {
        let series =
            format!("herald_callbacks_total{{connection=\"{connection}\",result=\"{result}\"}}");
        metric(&metrics, &series)
    };
    assert_eq!(count("unchanged"), Some(3.0), "{metrics}");
    assert_eq!(count("updated"), Some(2.0), "{metrics}");
    // The two moves are in the audit trail, by the callback.
    let events = app.store.events(id).await.expect("the audit trail");
    let moves: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.reason.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        moves,
        [
            ("provider_status", "provider status 0 -> 2"),
            ("provider_status", "provider status 2 -> 3")
        ]
    );
    assert!(events.iter().all(|e| e.actor == "callback"));
}

#[tokio::test]
async fn konnek_callbacks_are_refused_without_the_token_or_a_readable_body() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.sim
        .script("628501", vec![Step::Ok { provider_status: 1 }]);
    app.publish(&send(id, "628501")).await;
    app.wait_for_status(id, "success").await;
    let url = app.callback_url(CONNECTION);
    let push = konnek_push(&id.to_string(), 3);

    let (status, _) = post(&url, None, &push).await;
    assert_eq!(status, 401, "no token");
    let (status, body) = post(&url, Some("cb-s3cre"), &push).await;
    assert_eq!(status, 401, "a wrong token");
    assert!(!body.to_string().contains(CALLBACK_TOKEN));
    let (status, _) = post(&format!("{url}?token=wrong"), None, &push).await;
    assert_eq!(status, 401, "a wrong query token");
    for bad in [
        json!({"message_id": id, "status": 3}),
        konnek_push(&id.to_string(), 7),
        json!({"status": {"status": 3}}),
        json!("read"),
    ] {
        let (status, body) = post(&url, Some(CALLBACK_TOKEN), &bad).await;
        assert_eq!(status, 400, "{bad} got {body}");
    }
    let not_json = reqwest::Client::new()
        .post(&url)
        .bearer_auth(CALLBACK_TOKEN)
        .body("{status")
        .send()
        .await
        .expect("answers");
    assert_eq!(not_json.status().as_u16(), 400);
    assert_eq!(provider_status(&app, id).await, Some(1), "nothing changed");

    let other = app.callback_url("no-such-connection");
    assert_eq!(post(&other, Some(CALLBACK_TOKEN), &push).await.0, 404);
    // OneBox sets no callback_token: closed, as to a wrong token.
    assert_eq!(
        post(&app.callback_url(ONEBOX), Some(CALLBACK_TOKEN), &push)
            .await
            .0,
        401
    );
    // Another connection's delivery is not this one's.
    let chatwoot = app.callback_url(CHATWOOT);
    let chatwoot_push = json!({"id": id, "status": "read"});
    assert_eq!(
        post(&chatwoot, Some(CALLBACK_TOKEN), &chatwoot_push)
            .await
            .0,
        202
    );
    let unknown = konnek_push(&Uuid::new_v4().to_string(), 3);
    let (status, body) = post(&url, Some(CALLBACK_TOKEN), &unknown).await;
    assert_eq!((status, body["result"].as_str()), (202, Some("ignored")));
    assert_eq!(
        provider_status(&app, id).await,
        Some(1),
        "still nothing changed"
    );

    let (status, body) = post(&format!("{url}?token={CALLBACK_TOKEN}"), None, &push).await;
    assert_eq!((status, body["result"].as_str()), (200, Some("updated")));
    assert_eq!(provider_status(&app, id).await, Some(3));
}

#[tokio::test]
async fn racing_callbacks_end_at_the_latest_status() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.sim
        .script("628502", vec![Step::Ok { provider_status: 0 }]);
    app.publish(&send(id, "628502")).await;
    app.wait_for_status(id, "success").await;
    let url = app.callback_url(CONNECTION);
    let statuses = [1, 3, 2, 0, 3, 1, 2, 2, -1, 1, 3, 0];
    let pushes = statuses.iter().map(|s| {
        let url = url.clone();
        let push = konnek_push(&id.to_string(), *s);
        async move { post(&url, Some(CALLBACK_TOKEN), &push).await.0 }
    });
    let answers = futures_util::future::join_all(pushes).await;
    assert!(answers.iter().all(|a| *a == 200), "{answers:?}");
    assert_eq!(provider_status(&app, id).await, Some(3));
}

#[tokio::test]
async fn chatwoot_message_statuses_move_forward_only() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.publish(
        &json!({"type": "send", "id": id, "connection": CHATWOOT, "message": {
        "to": "contact-1", "conversation_id": "900", "text": "Your order has shipped"}}),
    )
    .await;
    let d = app.wait_for_status(id, "success").await;
    let remote_id = d.remote_id.expect("Chatwoot's message id");
    assert_eq!(d.provider_status, Some(1));
    let url = app.callback_url(CHATWOOT);
    let update = |status: &str| {
        json!({"event": "message_updated", "id": remote_id.parse::<u64>().unwrap_or(0),
               "status": status, "message_type": "outgoing", "conversation": {"id": 900}})
    };
    let (status, body) = post(&url, Some(CALLBACK_TOKEN), &update("read")).await;
    assert_eq!((status, body["result"].as_str()), (200, Some("updated")));
    assert_eq!(provider_status(&app, id).await, Some(3));
    let (status, body) = post(&url, Some(CALLBACK_TOKEN), &update("delivered")).await;
    assert_eq!((status, body["result"].as_str()), (200, Some("unchanged")));
    assert_eq!(provider_status(&app, id).await, Some(3), "Read stays Read");
    let other_event = json!({"event": "conversation_status_changed", "id": 900});
    assert_eq!(post(&url, Some(CALLBACK_TOKEN), &other_event).await.0, 202);
    assert_eq!(
        post(&url, Some(CALLBACK_TOKEN), &json!({"status": "read"}))
            .await
            .0,
        400
    );
    assert_eq!(post(&url, Some("wrong"), &update("read")).await.0, 401);
}

#[tokio::test]
async fn a_chatwoot_status_that_arrives_before_the_sends_outcome_is_applied() {
    let app = spawn_app().await;
    // Chatwoot answers the send slowly; its message (id 1, the twin's first)
    // is read before herald has stored that id.
    app.sim.script("901", vec![Step::Delay { millis: 1500 }]);
    let id = Uuid::new_v4();
    app.publish(
        &json!({"type": "send", "id": id, "connection": CHATWOOT, "message": {
        "to": "contact-1", "conversation_id": "901", "text": "Your order has shipped"}}),
    )
    .await;
    eventually(10, "Chatwoot to receive the send", || async {
        let sent = app.sim.requests().iter().any(|r| r.provider == "chatwoot");
        sent.then_some(())
    })
    .await;
    let url = app.callback_url(CHATWOOT);
    let read = json!({"event": "message_updated", "id": 1, "status": "read",
        "message_type": "outgoing", "conversation": {"id": 901}});
    let (status, _) = post(&url, Some(CALLBACK_TOKEN), &read).await;
    assert_eq!(status, 202, "no delivery has that message id yet");
    assert!(
        app.delivery(id)
            .await
            .is_some_and(|d| d.status == "sending")
    );

    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.remote_id.as_deref(), Some("1"));
    eventually(10, "the early status to be applied", || async {
        (provider_status(&app, id).await == Some(3)).then_some(())
    })
    .await;
    // Applied once: a later, lower status from the send does not undo it,
    // and the kept callback is gone.
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM early_callbacks")
        .fetch_one(&app.store.pool)
        .await
        .expect("count early_callbacks");
    assert_eq!(kept, 0);
}

/// A pushed message id PostgreSQL cannot store or index (U+0000, or longer
/// than any provider's id) names no delivery: it is accepted and ignored
/// (202), not answered 503 for the provider to push again for ever.
#[tokio::test]
async fn a_pushed_message_id_that_cannot_be_stored_is_ignored() {
    let app = spawn_app().await;
    let url = app.callback_url(CONNECTION);
    for message_id in ["m\u{0}1".to_owned(), "x".repeat(3000)] {
        let (status, body) = post(&url, Some(CALLBACK_TOKEN), &konnek_push(&message_id, 2)).await;
        assert_eq!(status, 202, "{body}");
    }
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM early_callbacks")
        .fetch_one(&app.store.pool)
        .await
        .expect("count early_callbacks");
    assert_eq!(kept, 0);
}

#[tokio::test]
async fn a_known_connection_without_a_callback_token_answers_401_and_an_unknown_one_404() {
    let connection = unique_connection("konnek-no-token");
    let app = spawn_app_with(Options {
        extra_toml: konnek_connection(&connection)
            .replace(&format!("callback_token = \"{CALLBACK_TOKEN}\"\n"), ""),
        ..Options::default()
    })
    .await;
    assert!(
        app.config
            .connections
            .iter()
            .any(|c| c.name == connection && c.callback_token.is_none())
    );
    let (id, command) = send_to(&connection, "628111000310");
    app.publish(&command).await;
    app.wait_for_status(id, "success").await;
    let push = konnek_push(&id.to_string(), 3);
    let url = app.callback_url(&connection);
    for token in [None, Some(CALLBACK_TOKEN), Some("")] {
        let (status, body) = post(&url, token, &push).await;
        assert_eq!(status, 401, "{token:?}: {body}");
        assert_eq!(body["result"], "unauthorized");
    }
    let (status, _) = post(&format!("{url}?token={CALLBACK_TOKEN}"), None, &push).await;
    assert_eq!(status, 401);
    assert_eq!(provider_status(&app, id).await, Some(1), "nothing changed");
    let (status, body) = post(&app.callback_url("no-such-connection"), None, &push).await;
    assert_eq!((status, body["result"].as_str()), (404, Some("unknown")));
    let series =
        format!("herald_callbacks_total{{connection=\"{connection}\",result=\"unauthorized\"}}");
    assert_eq!(metric(&app.metrics().await, &series), Some(4.0));
}
