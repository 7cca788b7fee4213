//! Input and timing that used to hold a worker: text PostgreSQL cannot
//! store, one bad row in a set, a write whose answer was lost, a resend
//! delivered twice, a stored command that cannot be read.

use crate::helpers::*;
use herald::domain::RetryPolicy;
use herald::domain::{AttemptOutcome, AttemptRecord, Outcome};
use herald::storage::AcceptOutcome;
use herald::tools::simulator::Step;
use lapin::BasicProperties;
use lapin::options::{BasicGetOptions, BasicPublishOptions};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

#[tokio::test]
async fn sends_with_nul_are_dead_lettered_and_the_worker_keeps_going() {
    let app = spawn_app().await;
    let with = |id: Uuid, to: &str, change: &dyn Fn(&mut serde_json::Value)| {
        let mut command = send(id, to);
        change(&mut command);
        command
    };
    let bad: Vec<(Uuid, &str, serde_json::Value)> = vec![
        {
            let id = Uuid::new_v4();
            let c = with(id, "628111000700", &|c| {
                c["message"]["text"] = json!("before\u{0}after")
            });
            (id, "message.text", c)
        },
        {
            let id = Uuid::new_v4();
            let c = with(id, "628111000701", &|c| {
                c["metadata"] = json!({"tenant": "ac\u{0}me"})
            });
            (id, "metadata.tenant", c)
        },
        {
            let id = Uuid::new_v4();
            let c = with(id, "628111000702", &|c| {
                c["metadata"] = json!({"ten\u{0}ant": "acme"})
            });
            (id, "metadata", c)
        },
        {
            let id = Uuid::new_v4();
            let c = with(id, "628111000703", &|c| {
                c["group"] = json!({"id": "g\u{0}1", "order": 0})
            });
            (id, "group.id", c)
        },
        {
            let id = Uuid::new_v4();
            let c = with(id, "628111000704", &|c| {
                c["message"]["extra"] = json!({"note": "x\u{0}"})
            });
            (id, "message.extra.note", c)
        },
        {
            let id = Uuid::new_v4();
            let c = with(id, "628111000705", &|c| {
                c["connection"] = json!("no\u{0}where")
            });
            (id, "connection", c)
        },
    ];
    // Valid sends in the same burst, between the bad ones.
    let mut good = Vec::new();
    for (i, (_, _, command)) in bad.iter().enumerate() {
        app.publish(command).await;
        let id = Uuid::new_v4();
        app.publish(&send(id, &format!("62811100071{i}"))).await;
        good.push(id);
    }
    for id in &good {
        app.wait_for_status(*id, "success").await;
    }
    let mut errors = Vec::new();
    for _ in &bad {
        let (_, error) = app.next_dead_letter().await;
        errors.push(error);
    }
    for (id, field, _) in &bad {
        let d = app.wait_for_status(*id, "failed").await;
        let reason = d.fail_reason.expect("a reason");
        assert!(reason.contains("U+0000"), "{reason}");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("U+0000") && e.contains(field)),
            "{field}: {errors:?}"
        );
    }
    // The worker keeps consuming.
    let after = Uuid::new_v4();
    app.publish(&send(after, "628111000720")).await;
    app.wait_for_status(after, "success").await;
    assert_eq!(app.sim.requests().len(), good.len() + 1);
}

#[tokio::test]
async fn a_providers_answer_that_cannot_be_stored_still_lands() {
    let app = spawn_app_with(Options {
        sending_lease: "6s",
        http_timeout: "1s",
        ..Options::default()
    })
    .await;
    let (nul_id, long_id, refused, busy) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    app.sim.script(
        "628111000730",
        vec![Step::OkWithId {
            remote_id: "m\u{0}1".into(),
        }],
    );
    app.sim.script(
        "628111000731",
        vec![Step::OkWithId {
            remote_id: "m".repeat(3000),
        }],
    );
    app.sim.script(
        "628111000732",
        vec![Step::MetaFalse {
            code: 400,
            message: "bad\u{0}request".into(),
        }],
    );
    app.sim.script(
        "628111000733",
        vec![Step::MetaFalse {
            code: 503,
            message: "busy\u{0}now".into(),
        }],
    );
    app.publish(&send(nul_id, "628111000730")).await;
    app.publish(&send(long_id, "628111000731")).await;
    app.publish(&send(refused, "628111000732")).await;
    app.publish(&send(busy, "628111000733")).await;

    for id in [nul_id, long_id] {
        let d = app.wait_for_status(id, "success").await;
        assert_eq!(d.remote_id, None, "an id that cannot be stored is not kept");
    }
    let d = app.wait_for_status(refused, "failed").await;
    let reason = d.fail_reason.expect("reason");
    assert!(
        reason.contains("bad") && !reason.contains('\u{0}'),
        "{reason}"
    );
    app.wait_for_status(busy, "success").await;
    let attempts = app.attempts(busy).await;
    assert_eq!(attempts.len(), 2);
    let error = attempts[0].error.clone().expect("error");
    assert!(
        error.contains("busy") && !error.contains('\u{0}'),
        "{error}"
    );

    // Landed: nothing is left in `sending` for the lease to send again.
    for id in [nul_id, long_id, refused] {
        assert_eq!(app.sim.sends_of(&id.to_string()), 1, "{id}");
        assert_eq!(app.attempts(id).await.len(), 1, "{id}");
    }
    assert_eq!(app.sim.sends_of(&busy.to_string()), 2);
}

#[tokio::test]
async fn one_bad_row_does_not_fail_the_rest_of_its_set() {
    let app = spawn_app_without_worker().await;
    let (accepts, outcomes) =
        herald::worker::writer::batchers(&app.store, Duration::from_secs(30), Default::default());
    let (good, bad) = (Uuid::new_v4(), Uuid::new_v4());
    let mut unstorable = (*send_command(bad, "628111000740")).clone();
    unstorable.message.text = Some("a\u{0}b".into());
    let answers = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(
            accepts.call(send_command(good, "628111000741"), Uuid::new_v4(), true),
            accepts.call(Arc::new(unstorable), Uuid::new_v4(), true),
        )
    })
    .await
    .expect("the set is answered, not retried for ever");
    let claim = match answers.0 {
        Ok(AcceptOutcome::Claimed(claim)) if claim.id == good => claim,
        other => panic!("the good send is claimed: {other:?}"),
    };
    let error = answers.1.expect_err("the bad row gets its own error");
    assert!(error.to_string().contains("database"), "{error}");
    assert_eq!(app.delivery(good).await.expect("row").status, "sending");
    assert!(app.delivery(bad).await.is_none());

    // Outcomes: one the table refuses (a provider status out of range) is
    // stored without what the provider said; the other lands as it is.
    let other = Uuid::new_v4();
    let Some(AcceptOutcome::Claimed(other_claim)) = app
        .store
        .accept_sends(&[send_command(other, "628111000742")], chrono::Utc::now())
        .await
        .expect("accept")
        .into_iter()
        .next()
    else {
        panic!("not claimed")
    };
    let now = chrono::Utc::now();
    let success = |provider_status, remote_id: &str| Outcome {
        provider_status: Some(provider_status),
        remote_id: Some(remote_id.into()),
        ..Outcome::delivered(AttemptRecord {
            started_at: now,
            finished_at: now,
            http_status: Some(200),
            outcome: AttemptOutcome::Success,
            error: None,
        })
    };
    let recorded = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(
            outcomes.call(Arc::new(((*claim).clone(), success(1, "r-good")))),
            outcomes.call(Arc::new(((*other_claim).clone(), success(9, "r-bad")))),
        )
    })
    .await
    .expect("the set is answered");
    assert!(matches!(recorded.0, Ok(Some(_))), "{:?}", recorded.0);
    assert!(matches!(recorded.1, Ok(Some(_))), "{:?}", recorded.1);
    let d = app.delivery(good).await.expect("row");
    assert_eq!(
        (d.status.as_str(), d.remote_id.as_deref()),
        ("success", Some("r-good"))
    );
    let d = app.delivery(other).await.expect("row");
    assert_eq!(
        (d.status.as_str(), d.remote_id.as_deref()),
        ("success", None)
    );
    assert_eq!(d.provider_status, None);
    assert_eq!(app.attempts(other).await.len(), 1);
}

/// Makes the first insert into `table` take `secs` seconds before it
/// commits, on this test's own database.
const SLOW_COMMIT: f64 = 3.6;

async fn delay_first_insert(app: &TestApp, table: &str, secs: f64) {
    app.run_sql(&[
        "CREATE TABLE slept (n int)".to_owned(),
        format!(
            "CREATE FUNCTION sleep_once() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN \
               IF NOT EXISTS (SELECT 1 FROM slept) THEN \
                 INSERT INTO slept VALUES (1); \
                 PERFORM pg_sleep({secs}); \
               END IF; \
               RETURN NULL; \
             END $$"
        ),
        format!(
            "CREATE TRIGGER sleep_once AFTER INSERT ON {table} \
             FOR EACH ROW EXECUTE FUNCTION sleep_once()"
        ),
    ])
    .await;
}

async fn slept(app: &TestApp) -> bool {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM slept")
        .fetch_one(&app.store.pool)
        .await
        .expect("read slept")
        == 1
}

/// A short lease: a set may wait 3 s; the trigger makes the first one take
/// 3.6 s (see [`SLOW_COMMIT`]), so it times out and is retried while it is
/// still running, and then commits, 2.4 s before the lease would end.
fn slow_commit_options() -> Options {
    Options {
        sending_lease: "6s",
        http_timeout: "1s",
        ..Options::default()
    }
}

#[tokio::test]
async fn an_accept_whose_answer_was_lost_is_still_delivered_once() {
    let app = spawn_app_with(Options {
        max_attempts: 1,
        ..slow_commit_options()
    })
    .await;
    delay_first_insert(&app, "deliveries", SLOW_COMMIT).await;
    let id = Uuid::new_v4();
    app.publish(&send(id, "628111000750")).await;
    let d = app.wait_for_status(id, "success").await;
    assert!(slept(&app).await, "the accept was delayed");
    assert_eq!(d.attempts, 1);
    assert_eq!(app.sim.sends_of(&id.to_string()), 1);
    assert_eq!(app.attempts(id).await.len(), 1);
}

#[tokio::test]
async fn an_outcome_whose_answer_was_lost_lands_once() {
    let app = spawn_app_with(slow_commit_options()).await;
    delay_first_insert(&app, "delivery_attempts", SLOW_COMMIT).await;
    let id = Uuid::new_v4();
    app.publish(&send(id, "628111000760")).await;
    app.wait_for_status(id, "success").await;
    assert!(slept(&app).await, "the outcome was delayed");
    // One set runs at a time: once a later send is done, the retried
    // outcome's set has finished too.
    let later = Uuid::new_v4();
    app.publish(&send(later, "628111000761")).await;
    app.wait_for_status(later, "success").await;
    assert_eq!(app.sim.sends_of(&id.to_string()), 1);
    let attempts = app.attempts(id).await;
    assert_eq!(outcomes(&attempts), vec![("success".into(), Some(200))]);
}

/// Publishes `body`, with an AMQP `message_id` where one is given.
async fn publish_with_message_id(app: &TestApp, body: &[u8], message_id: Option<&str>) {
    let channel = app.amqp.create_channel().await.expect("channel");
    let mut properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2);
    if let Some(message_id) = message_id {
        properties = properties.with_message_id(message_id.into());
    }
    channel
        .basic_publish(
            app.config.amqp.exchange.as_str().into(),
            app.config.amqp.routing_key.as_str().into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    herald::queue::close_channel(&channel, "published").await;
}

/// A delivered send, then a resend of it, applied and its round finished.
async fn resent_once(app: &TestApp, to: &str, resend: &str, message_id: Option<&str>) -> Uuid {
    let id: Uuid = serde_json::from_str::<serde_json::Value>(resend).expect("json")["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("id");
    app.publish(&send(id, to)).await;
    app.wait_for_status(id, "success").await;
    publish_with_message_id(app, resend.as_bytes(), message_id).await;
    eventually(20, "the resend's round to finish", || async {
        app.delivery(id)
            .await
            .filter(|d| d.resends == 1 && d.status == "success")
    })
    .await;
    assert_eq!(konnek_calls(app, id), 2);
    id
}

/// The same resend again, as RabbitMQ hands out a message whose ack was
/// lost: taken, not acked, and given back with `redelivered` set.
async fn redeliver(app: &mut TestApp, body: &[u8], message_id: Option<&str>) {
    app.stop_worker().await;
    publish_with_message_id(app, body, message_id).await;
    let channel = app.amqp.create_channel().await.expect("channel");
    let taken = eventually(10, "the resend in the queue", || {
        let channel = channel.clone();
        let queue = app.config.amqp.queue.clone();
        async move {
            channel
                .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
                .await
                .expect("basic_get")
        }
    })
    .await;
    assert_eq!(taken.data, body);
    herald::queue::close_channel(&channel, "given back unacked").await;
    app.start_worker().await;
    settle(app).await;
}

#[tokio::test]
async fn a_redelivered_resend_starts_no_second_round() {
    let mut app = spawn_app().await;
    // Keyed by its message_id, and, without one, by its body.
    for (to, message_id) in [
        ("628111000770", Some(Uuid::new_v4().to_string())),
        ("628111000771", None),
    ] {
        let id = Uuid::new_v4();
        let resend = json!({"type": "resend", "id": id, "reason": "asked"}).to_string();
        resent_once(&app, to, &resend, message_id.as_deref()).await;
        redeliver(&mut app, resend.as_bytes(), message_id.as_deref()).await;
        let d = app.delivery(id).await.expect("row");
        assert_eq!(d.resends, 1, "no second round ({message_id:?})");
        assert_eq!(d.status, "success");
        assert_eq!(konnek_calls(&app, id), 2);
        app.start_worker().await;
    }
}

#[tokio::test]
async fn the_same_resend_published_again_is_a_new_resend() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let resend = json!({"type": "resend", "id": id}).to_string();
    resent_once(&app, "628111000772", &resend, None).await;
    // Not a redelivery, and no message_id: an operator asking again.
    publish_with_message_id(&app, resend.as_bytes(), None).await;
    eventually(20, "the second round to finish", || async {
        app.delivery(id)
            .await
            .filter(|d| d.resends == 2 && d.status == "success")
    })
    .await;
    assert_eq!(konnek_calls(&app, id), 3);
}

#[tokio::test]
async fn a_stored_command_that_cannot_be_read_fails_alone() {
    let app = spawn_app_without_worker().await;
    let (good, bad) = (Uuid::new_v4(), Uuid::new_v4());
    let command = serde_json::to_value(&*send_command(good, "628111000780")).expect("json");
    for (id, command) in [(good, command), (bad, json!({"bogus": true}))] {
        sqlx::query(
            "INSERT INTO deliveries (id, connection, status, next_attempt_at, command) \
             VALUES ($1, $2, 'waitForSending', now() - interval '1 second', $3)",
        )
        .bind(id)
        .bind(CONNECTION)
        .bind(command)
        .execute(&app.store.pool)
        .await
        .expect("insert");
    }
    let claimed = app
        .store
        .claim_due(&[CONNECTION], &[10], 10)
        .await
        .expect("the good row is claimed");
    let ids: Vec<Uuid> = claimed.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![good]);
    let d = app.delivery(bad).await.expect("row");
    assert_eq!(d.status, "failed");
    let reason = d.fail_reason.expect("reason");
    assert!(reason.contains("cannot be read"), "{reason}");
}

#[tokio::test]
async fn expiring_waiting_deliveries_is_served_by_an_index() {
    let app = spawn_app_without_worker().await;
    app.run_sql(&[
        "INSERT INTO deliveries (id, connection, status, fail_reason) \
         SELECT gen_random_uuid(), 'c', 'failed', 'x' FROM generate_series(1, 3000)",
        "INSERT INTO deliveries (id, connection, status, next_attempt_at) \
         SELECT gen_random_uuid(), 'c', 'waitForSending', now() + interval '1 hour' \
         FROM generate_series(1, 3000)",
        "INSERT INTO deliveries (id, connection, status, next_attempt_at, expires_at) \
         SELECT gen_random_uuid(), 'c', 'waitForSending', now() + interval '1 hour', \
             now() + interval '2 hours' FROM generate_series(1, 5)",
        "ANALYZE deliveries",
    ])
    .await;
    let plan = expiry_plan(&app).await;
    assert!(plan.contains("deliveries_expiring"), "{plan}");
}

/// The plan of the sweeper's expiry, in the database behind `app`.
async fn expiry_plan(app: &TestApp) -> String {
    let explain = format!("EXPLAIN {}", *herald::storage::deliveries::EXPIRE_DUE);
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(explain))
        .fetch_all(&app.store.pool)
        .await
        .expect("explain");
    plan.join("\n")
}

/// The statistics PostgreSQL last took saw only settled rows (a busy table
/// between two analyses), and a burst of waiting rows, none of which can
/// expire, arrived since: the expiry, which the sweeper runs several times
/// a second, still reads only the rows that can expire, not every waiting
/// row through the index of due rows (which, with statistics that count no
/// waiting row, the planner used to find as cheap).
#[tokio::test]
async fn expiry_reads_only_expiring_rows_when_waiting_rows_arrived_after_the_statistics() {
    let app = spawn_app_without_worker().await;
    app.run_sql(&[
        "INSERT INTO deliveries (id, connection, status) \
         SELECT gen_random_uuid(), 'c', 'success' FROM generate_series(1, 20000)",
        "ANALYZE deliveries",
        "INSERT INTO deliveries (id, connection, status, next_attempt_at, wait_reason) \
         SELECT gen_random_uuid(), 'c' || (i % 2), 'waitForSending', \
             now() + i * interval '1 ms', 'rate' FROM generate_series(1, 10000) i",
    ])
    .await;
    let plan = expiry_plan(&app).await;
    assert!(plan.contains("deliveries_expiring"), "{plan}");
    assert!(!plan.contains("deliveries_due_by_connection"), "{plan}");
}

#[tokio::test]
async fn lease_recovery_spreads_the_retries_it_schedules() {
    let app = spawn_app_without_worker().await;
    sqlx::query(
        "INSERT INTO deliveries (id, connection, status, attempts, claimed_at) \
         SELECT gen_random_uuid(), 'c', 'sending', 1, now() - interval '1 hour' \
         FROM generate_series(1, 20)",
    )
    .execute(&app.store.pool)
    .await
    .expect("insert");
    let policy = RetryPolicy {
        max_attempts: 5,
        schedule: vec![Duration::from_secs(60)],
        jitter: 0.5,
    };
    let policy_of = move |_: &str| policy.clone();
    let recovered = app
        .store
        .recover_stale(Duration::from_secs(1), &policy_of, 0.5)
        .await
        .expect("recover");
    assert_eq!(recovered.len(), 20);
    let distinct: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT next_attempt_at) FROM deliveries WHERE status = 'waitForSending'",
    )
    .fetch_one(&app.store.pool)
    .await
    .expect("count");
    assert!(distinct >= 15, "{distinct} distinct due times for 20 rows");
}

#[tokio::test]
async fn a_quota_refusal_worded_with_nul_still_pauses_every_worker() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.sim.script(
        "2000000090",
        vec![Step::MetaFalse {
            code: 401,
            message: "time limit reached\u{0} until 18:00".into(),
        }],
    );
    app.publish(
        &json!({"type": "send", "id": id, "connection": ONEBOX_SHORT_PAUSE, "message": {
        "from": "469218373611012", "to": "2000000090", "method": "DIRECT",
        "conversation_id": "222536", "text": "Your order has shipped"}}),
    )
    .await;
    eventually(20, "the delivery to wait for the quota", || async {
        app.delivery(id)
            .await
            .filter(|d| d.wait_reason.as_deref() == Some("quota"))
    })
    .await;
    let (_, reason) = app
        .pause_of(ONEBOX_SHORT_PAUSE)
        .await
        .expect("the pause is recorded for every worker");
    assert!(
        reason.contains("time limit reached") && !reason.contains('\u{0}'),
        "{reason}"
    );
}
