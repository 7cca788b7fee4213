//! The promise under awkward timing: a HighQ pair issued while PostgreSQL
//! fails or while its caller goes away, workers with different
//! configurations, provider answers too large to hold, and status callbacks
//! that arrive before the send's outcome.

use crate::helpers::*;
use herald::adapters::Outbound;
use herald::domain::Message;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

fn highq_message(id: Uuid, to: &str) -> Value {
    json!({"type": "send", "id": id, "connection": HIGHQ, "message": {
        "to": to, "html": "<p>Your order has shipped</p>"}})
}

/// The stored refresh token of a connection.
async fn stored_refresh(app: &TestApp, connection: &str) -> Option<String> {
    app.store
        .stored_token(connection)
        .await
        .expect("read connection_tokens")
        .map(|token| token.refresh_token)
}

/// Makes every UPDATE of `connection_tokens` fail while `failing` holds a
/// row, and the first one fail in any case (a sequence, which a rollback
/// does not undo, counts them).
async fn break_token_saves(app: &TestApp) {
    app.run_sql(&[
        "CREATE SEQUENCE token_updates",
        "CREATE TABLE failing (since timestamptz)",
        "CREATE FUNCTION refuse_token_update() RETURNS trigger AS $$ BEGIN \
             IF nextval('token_updates') = 1 OR EXISTS (SELECT 1 FROM failing) THEN \
                 RAISE EXCEPTION 'injected failure of a token save'; \
             END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_token_update BEFORE UPDATE ON connection_tokens \
             FOR EACH ROW EXECUTE FUNCTION refuse_token_update()",
    ])
    .await;
}

#[tokio::test]
async fn a_highq_pair_whose_save_fails_once_is_not_lost() {
    let app = spawn_app().await;
    break_token_saves(&app).await;
    let first = Uuid::new_v4();
    app.publish(&highq_message(first, "2101")).await;
    app.wait_for_status(first, "success").await;
    assert_eq!(app.sim.highq_refreshes(), (1, 0));
    assert_eq!(
        stored_refresh(&app, HIGHQ).await.as_deref(),
        Some("hq-rt-1"),
        "the pair was saved on a later try"
    );

    // Later deliveries refresh with the saved token, no operator needed.
    app.sim.expire_highq_tokens();
    let second = Uuid::new_v4();
    app.publish(&highq_message(second, "2102")).await;
    let d = app.wait_for_status(second, "success").await;
    assert_eq!(d.attempts, 1);
    assert_eq!(app.sim.highq_refreshes(), (2, 0), "no refresh was refused");
    assert_eq!(
        stored_refresh(&app, HIGHQ).await.as_deref(),
        Some("hq-rt-2")
    );
}

#[tokio::test]
async fn a_highq_pair_kept_in_memory_is_stored_before_the_next_refresh() {
    let app = spawn_app_with(Options {
        max_attempts: 20,
        schedule: r#"["500ms"]"#,
        ..Options::default()
    })
    .await;
    break_token_saves(&app).await;
    app.run_sql(&["INSERT INTO failing VALUES (now())"]).await;
    // Every save fails: the worker keeps the pair and uses it.
    let first = Uuid::new_v4();
    app.publish(&highq_message(first, "2201")).await;
    app.wait_for_status(first, "success").await;
    assert_eq!(
        stored_refresh(&app, HIGHQ).await.as_deref(),
        Some("sim-refresh-0")
    );

    // The access token expires while the pair is still not stored: no
    // refresh is made with the stored (replaced) refresh token; the
    // delivery waits for PostgreSQL.
    app.sim.expire_highq_tokens();
    let second = Uuid::new_v4();
    app.publish(&highq_message(second, "2202")).await;
    let waited = eventually(10, "a retry for want of the stored pair", || async {
        let attempts = app.attempts(second).await;
        attempts.first().cloned()
    })
    .await;
    assert_eq!(waited.outcome, "retryable");
    assert!(
        waited
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("PostgreSQL"),
        "{:?}",
        waited.error
    );
    assert_eq!(
        app.sim.highq_refreshes(),
        (1, 0),
        "no refresh with a stale token"
    );

    // PostgreSQL takes the pair again: it is stored, then refreshed.
    app.run_sql(&["DELETE FROM failing"]).await;
    app.wait_for_status(second, "success").await;
    assert_eq!(app.sim.highq_refreshes(), (2, 0), "no refresh was refused");
    assert_eq!(
        stored_refresh(&app, HIGHQ).await.as_deref(),
        Some("hq-rt-2")
    );
}

#[tokio::test]
async fn a_highq_pair_kept_in_memory_is_stored_once_postgresql_takes_it() {
    let app = spawn_app().await;
    break_token_saves(&app).await;
    app.run_sql(&["INSERT INTO failing VALUES (now())"]).await;
    let first = Uuid::new_v4();
    app.publish(&highq_message(first, "2251")).await;
    app.wait_for_status(first, "success").await;
    // PostgreSQL recovers: the worker stores the kept pair by itself, with
    // no delivery asking, so that other workers read it too.
    app.run_sql(&["DELETE FROM failing"]).await;
    eventually(15, "the kept pair to be stored", || async {
        (stored_refresh(&app, HIGHQ).await.as_deref() == Some("hq-rt-1")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_highq_refresh_whose_caller_is_dropped_is_still_saved() {
    let app = spawn_app().await;
    // An adapter of its own, as a worker holds it, for a caller to drop.
    let connection = app.config.connection(HIGHQ).expect("configured").clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let adapter = herald::adapters::build(&connection, http, &app.store).expect("adapter");
    let message: Message =
        serde_json::from_value(json!({"to": "2301", "html": "<p>hello</p>"})).expect("message");
    let outbound = Outbound {
        delivery_id: Uuid::new_v4(),
        message: &message,
        attempt: 1,
        resends: 0,
        remote_id: None,
        group: None,
    };
    // HighQ takes the refresh at once and answers a second later; the
    // caller is dropped as soon as HighQ has issued the pair.
    app.sim.set_highq_token_delay(Duration::from_secs(1));
    let mut send = adapter.send(outbound);
    let issued = eventually(10, "HighQ to serve the refresh", || async {
        (app.sim.highq_refreshes() == (1, 0)).then_some(())
    });
    tokio::select! {
        _ = &mut send => panic!("the send ended before HighQ answered the refresh"),
        () = issued => {}
    }
    drop(send);
    app.sim.set_highq_token_delay(Duration::ZERO);
    eventually(10, "the issued pair to be saved", || async {
        (stored_refresh(&app, HIGHQ).await.as_deref() == Some("hq-rt-1")).then_some(())
    })
    .await;

    // The worker goes on with that pair.
    app.sim.expire_highq_tokens();
    let id = Uuid::new_v4();
    app.publish(&highq_message(id, "2302")).await;
    app.wait_for_status(id, "success").await;
    assert_eq!(app.sim.highq_refreshes(), (2, 0), "no refresh was refused");
}

#[tokio::test]
async fn workers_configured_with_different_refresh_tokens_keep_the_rotated_pair() {
    let app = spawn_app_without_worker().await;
    let store = &app.store;
    let name = "highq-rollout";
    // The old configuration seeds the row; a refresh rotates it.
    let seeded = store
        .load_token(name, None, "old-config")
        .await
        .expect("load");
    assert_eq!(seeded.refresh_token, "old-config");
    let lock = store.lock_token(name).await.expect("lock");
    lock.save("at-1", "rt-1", None, &[]).await.expect("save");
    // A worker with the new configuration (an operator's re-authorisation)
    // seeds it once, and a refresh rotates that.
    let reseeded = store
        .load_token(name, None, "new-config")
        .await
        .expect("load");
    assert_eq!(reseeded.refresh_token, "new-config");
    let lock = store.lock_token(name).await.expect("lock");
    lock.save("at-2", "rt-2", None, &[]).await.expect("save");
    // Old and new workers now take turns: neither discards the pair.
    for configured in ["old-config", "new-config", "old-config", "new-config"] {
        let loaded = store
            .load_token(name, None, configured)
            .await
            .expect("load");
        assert_eq!(
            loaded.refresh_token, "rt-2",
            "a worker configured with {configured} keeps the rotated pair"
        );
    }
    // A configured token never seen before still starts the row again.
    let fresh = store
        .load_token(name, None, "newest-config")
        .await
        .expect("load");
    assert_eq!(fresh.refresh_token, "newest-config");
}

/// A provider at its own address that answers every request `status` with
/// a body that never ends.
async fn endless_provider(status: u16) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let app = axum::Router::new().fallback(move || async move {
        let chunk = axum::body::Bytes::from(vec![b'x'; 64 * 1024]);
        let endless =
            futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
        let status = axum::http::StatusCode::from_u16(status).expect("a status");
        (status, axum::body::Body::from_stream(endless))
    });
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_provider_answer_is_read_up_to_a_bound() {
    let accepted = endless_provider(200).await;
    let busy = endless_provider(503).await;
    let table = |name: &str, url: &str| konnek_connection(name).replace("{sim_url}", url);
    let app = spawn_app_with(Options {
        max_attempts: 1,
        http_timeout: "5s",
        extra_toml: table("konnek-endless-ok", &accepted) + &table("konnek-endless-busy", &busy),
        ..Options::default()
    })
    .await;
    let (ok, unavailable) = (Uuid::new_v4(), Uuid::new_v4());
    for (id, connection) in [
        (ok, "konnek-endless-ok"),
        (unavailable, "konnek-endless-busy"),
    ] {
        let mut command = send(id, "628111000900");
        command["connection"] = json!(connection);
        app.publish(&command).await;
    }
    for (id, status) in [(ok, 200), (unavailable, 503)] {
        let d = app.wait_for_status(id, "failed").await;
        let attempts = app.attempts(id).await;
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].http_status, Some(status));
        let error = attempts[0].error.clone().unwrap_or_default();
        assert!(error.contains("larger than 1 MiB"), "{error}");
        let took = attempts[0].finished_at - attempts[0].started_at;
        assert!(
            took < chrono::Duration::seconds(4),
            "the read stopped at the bound, not at the timeout: {took}"
        );
        assert!(d.fail_reason.is_some());
    }
}

#[tokio::test]
async fn a_status_for_a_message_id_that_never_appears_is_forgotten() {
    let app = spawn_app_without_worker().await;
    let store = &app.store;
    let status = herald::domain::ProviderStatus::DELIVERED;
    let advanced = store
        .advance_provider_status(CHATWOOT, "4711", status)
        .await
        .expect("callback");
    assert_eq!(advanced, herald::storage::callbacks::Advanced::Unknown);
    let applied = store.apply_early_callbacks().await.expect("apply");
    assert_eq!((applied.matched, applied.forgotten), (0, 0), "kept a while");
    sqlx::query("UPDATE early_callbacks SET received_at = now() - interval '11 minutes'")
        .execute(&store.pool)
        .await
        .expect("age it");
    let applied = store.apply_early_callbacks().await.expect("apply");
    assert_eq!((applied.matched, applied.forgotten), (0, 1));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM early_callbacks")
        .fetch_one(&store.pool)
        .await
        .expect("count");
    assert_eq!(left, 0);
}
