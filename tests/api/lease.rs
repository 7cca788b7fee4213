//! A claim is never taken back while its worker is alive and working on
//! it: the whole delivery fits in the sending lease (and the configuration
//! is refused where it cannot), the sweeper claims only what can start,
//! an outage of PostgreSQL longer than the lease does not resend, a
//! shutdown records what finished, a pause survives a failed recording,
//! and one hung connection leaves the others their share of the worker.

use crate::helpers::*;
use crate::proxy::Proxy;
use herald::config::Config;
use herald::startup;
use herald::tools::simulator::{Received, Step, TIME_LIMIT};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn onebox(connection: &str, id: Uuid, to: &str) -> Value {
    json!({"type": "send", "id": id, "connection": connection, "message": {
        "from": "469218373611012", "to": to, "method": "DIRECT", "conversation_id": "222536",
        "text": "Your order has shipped"}})
}

fn konnek(connection: &str, id: Uuid, to: &str) -> Value {
    json!({"type": "send", "id": id, "connection": connection,
           "message": {"to": to, "text": "Your order has shipped"}})
}

fn onebox_posts_to(app: &TestApp, to: &str) -> Vec<Received> {
    app.sim
        .requests()
        .into_iter()
        .filter(|r| r.provider == "onebox" && r.path == "/api/message" && r.body["To"] == to)
        .collect()
}

async fn count_sending(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sending'")
        .fetch_one(&app.store.pool)
        .await
        .expect("count sending")
}

#[tokio::test]
async fn a_lease_shorter_than_a_whole_delivery_is_refused_and_a_slow_onebox_send_posts_once() {
    // A OneBox delivery may authenticate and then post, each bounded by
    // http_timeout, and must still record its outcome inside the lease.
    let mut app = spawn_app_with(Options {
        http_timeout: "2s",
        sending_lease: "30s",
        start_worker: false,
        ..Options::default()
    })
    .await;
    let short = app
        .config_toml
        .replace("sending_lease = \"30s\"", "sending_lease = \"2500ms\"");
    let err = Config::parse(&short, &|_| None).expect_err("a 2.5 s lease for 2 s calls");
    let text = err.to_string();
    assert!(text.contains("worker.sending_lease"), "{text}");
    assert!(
        text.contains("http_timeout"),
        "says what it must exceed: {text}"
    );

    let dir = std::env::temp_dir().join(format!("herald-lease-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("herald.toml");
    std::fs::write(&path, &short).expect("write config");
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--config", path.to_str().expect("utf-8"), "worker"])
        .output()
        .expect("run herald");
    std::fs::remove_dir_all(dir).ok();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("worker.sending_lease"), "{stderr}");

    // The shortest lease that fits (10 s) is accepted; with a lease near
    // it, a provider slow enough that its token call and its send do not
    // fit in 2.5 s gets one authentication and one post.
    let shortest = short.replace("sending_lease = \"2500ms\"", "sending_lease = \"10s\"");
    Config::parse(&shortest, &|_| None).expect("the shortest lease that fits");
    let fitting = short.replace("sending_lease = \"2500ms\"", "sending_lease = \"11s\"");
    app.config = Config::parse(&fitting, &|_| None).expect("a lease that fits");
    app.sim.set_latency(Duration::from_millis(1500));
    app.start_worker().await;
    let (id, to) = (Uuid::new_v4(), "3100000001");
    app.publish(&onebox(ONEBOX, id, to)).await;
    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.attempts, 1);
    assert_eq!(onebox_posts_to(&app, to).len(), 1, "one POST");
    assert_eq!(app.sim.onebox_authentications(), 1);
    // Nothing takes it back later either.
    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.attempts, 1);
}

#[tokio::test]
async fn the_sweeper_claims_only_what_can_start_now() {
    let mut app = spawn_app_with(Options {
        start_worker: false,
        ..Options::default()
    })
    .await;
    let concurrency = 4;
    app.config.worker.concurrency = concurrency;
    // In this test's own database, a claim by the sweeper takes half a
    // second a row (accepts and outcomes are not slowed), so that fresh
    // sends arrive while a sweep claims.
    app.run_sql(&[
        "CREATE FUNCTION slow_claim() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$",
        "CREATE TRIGGER slow_claim BEFORE UPDATE ON deliveries FOR EACH ROW \
         WHEN (OLD.status = 'waitForSending' AND NEW.status = 'sending') \
         EXECUTE FUNCTION slow_claim()",
    ])
    .await;
    app.start_worker().await;

    // Three retries fall due while the worker has room for them.
    let mut ids = Vec::new();
    for i in 0..3 {
        let (id, to) = (Uuid::new_v4(), format!("32000000{i:02}"));
        let busy = Step::Http {
            status: 503,
            retry_after: None,
        };
        app.sim
            .script(&to, vec![busy, Step::Delay { millis: 1500 }]);
        app.publish(&send(id, &to)).await;
        ids.push(id);
    }
    eventually(10, "a sweep to be claiming", || async {
        let claiming: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'active' AND query LIKE 'UPDATE deliveries d SET status = ''sending''%'",
        )
        .fetch_one(&app.store.pool)
        .await
        .expect("pg_stat_activity");
        (claiming > 0).then_some(())
    })
    .await;
    // Fresh slow sends arrive while it claims.
    for i in 0..4 {
        let (id, to) = (Uuid::new_v4(), format!("32000001{i:02}"));
        app.sim.script(&to, vec![Step::Delay { millis: 1500 }]);
        app.publish(&send(id, &to)).await;
        ids.push(id);
    }
    let mut most = 0;

    // No row sits in `sending` without a permit behind it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        most = most.max(count_sending(&app).await);
        let done: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM deliveries WHERE status = 'success' AND id = ANY($1)",
        )
        .bind(&ids)
        .fetch_one(&app.store.pool)
        .await
        .expect("count success");
        if done == ids.len() as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {done} of {} delivered",
            ids.len()
        );
    }
    assert!(
        most <= concurrency as i64,
        "{most} deliveries were in `sending` with {concurrency} permits"
    );
}

/// A second worker on the app's database and queue, through a proxy of its own.
async fn second_worker(app: &TestApp, direct_db: &str) -> (Proxy, CancellationToken) {
    let (proxy, url) = Proxy::for_url(direct_db).await;
    let mut config = app.config.clone();
    config.database.url = url;
    let token = CancellationToken::new();
    startup::start(config, token.clone())
        .await
        .expect("second worker starts");
    (proxy, token)
}

#[tokio::test]
async fn an_outage_of_postgresql_longer_than_the_lease_does_not_resend() {
    let app = spawn_app_with(Options {
        proxied: true,
        http_timeout: "500ms",
        sending_lease: "5s",
        ..Options::default()
    })
    .await;
    let direct_db = Config::parse(&app.config_toml, &|_| None)
        .expect("config")
        .database
        .url;
    let (other_db, other) = second_worker(&app, &direct_db).await;
    let db = app.db();

    let (id, to) = (Uuid::new_v4(), "3300000001");
    app.sim.script(to, vec![Step::Delay { millis: 300 }]);
    app.publish(&send(id, to)).await;
    eventually(10, "the call to be in flight", || async {
        (app.sim.sends_of(&id.to_string()) == 1).then_some(())
    })
    .await;
    // PostgreSQL goes away for both workers, longer than the lease.
    db.blackhole();
    other_db.blackhole();
    eventually(10, "the call to be answered", || async {
        (app.sim.accepted_of(&id.to_string()) == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(7)).await; // the outage
    db.restore();
    other_db.restore();

    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.attempts, 1);
    // Well past another lease: nobody took it back and sent it again.
    let settled = Instant::now() + Duration::from_secs(8);
    while Instant::now() < settled {
        assert_eq!(app.sim.sends_of(&id.to_string()), 1, "sent twice");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = app.delivery(id).await.expect("row");
    assert_eq!((d.status.as_str(), d.attempts), ("success", 1));
    other.cancel();
}

#[tokio::test]
async fn a_shutdown_records_the_outcome_of_a_finished_call() {
    let mut app = spawn_app_with(Options {
        proxied: true,
        start_worker: false,
        ..Options::default()
    })
    .await;
    app.config.worker.shutdown_grace = Duration::from_secs(1);
    app.start_worker().await;
    let (id, to) = (Uuid::new_v4(), "3400000001");
    app.sim.script(to, vec![Step::Delay { millis: 500 }]);
    app.publish(&send(id, to)).await;
    eventually(10, "the call to be in flight", || async {
        (app.sim.sends_of(&id.to_string()) == 1).then_some(())
    })
    .await;
    let db = app.db_proxy.as_ref().expect("the app is proxied");
    db.blackhole();
    eventually(10, "the call to be answered", || async {
        (app.sim.accepted_of(&id.to_string()) == 1).then_some(())
    })
    .await;
    // The outcome cannot be written; the worker is told to stop, and the
    // database comes back after the grace has run out.
    let (running, token) = app.worker.take().expect("worker");
    token.cancel();
    tokio::time::sleep(Duration::from_secs(2)).await; // past the 1 s grace
    db.restore();
    tokio::time::timeout(Duration::from_secs(40), running.handle)
        .await
        .expect("the worker stops within the lease")
        .expect("worker task")
        .expect("worker stops cleanly");
    let d = app.delivery(id).await.expect("row");
    assert_eq!(d.status, "success", "the finished call was recorded");
    assert_eq!(app.sim.sends_of(&id.to_string()), 1);
}

#[tokio::test]
async fn a_pause_whose_recording_failed_is_kept_and_recorded_later() {
    let app = spawn_app_with(Options {
        proxied: true,
        ..Options::default()
    })
    .await;
    app.sim.set_onebox_quota(Some(0));
    app.sim.set_latency(Duration::from_millis(500));
    let first = Uuid::new_v4();
    app.publish(&onebox(ONEBOX, first, "3500000001")).await;
    eventually(10, "the refused call to be in flight", || async {
        (!onebox_posts_to(&app, "3500000001").is_empty()).then_some(())
    })
    .await;
    // The refusal arrives while PostgreSQL refuses connections, for longer
    // than the pool waits for one: recording the pause fails.
    let db = app.db();
    db.sever();
    tokio::time::sleep(Duration::from_secs(11)).await; // the outage
    db.restore();
    // The pause (an hour: nothing else refuses meanwhile) is recorded once
    // PostgreSQL is back, and holds in this worker meanwhile.
    let (_, reason) = eventually(5, "the pause to be recorded", || async {
        app.pause_of(ONEBOX).await
    })
    .await;
    assert!(reason.contains(TIME_LIMIT), "{reason}");
    app.sim.set_onebox_quota(None);
    app.sim.set_latency(Duration::ZERO);
    let second = Uuid::new_v4();
    app.publish(&onebox(ONEBOX, second, "3500000002")).await;
    let waiting = eventually(10, "the second send to wait for the pause", || async {
        app.delivery(second)
            .await
            .filter(|d| d.status == "waitForSending" && d.wait_reason.as_deref() == Some("quota"))
    })
    .await;
    assert_eq!(waiting.attempts, 0);
    assert!(onebox_posts_to(&app, "3500000002").is_empty(), "no call");
}

#[tokio::test]
async fn one_hung_connection_leaves_the_others_their_share() {
    let app = spawn_app_with(Options {
        http_timeout: "5s",
        extra_toml: r#"
[[connection]]
name = "konnek-other"
adapter = "konnek"
base_url = "{sim_url}"
channel = "whatsapp"
client_id = "client-1"
username = "sim-user"
password = "sim-pass"
"#
        .into(),
        ..Options::default()
    })
    .await;
    let hung_to = "3600000001";
    app.sim.script(hung_to, vec![Step::Hang; 60]);
    let hung: Vec<Uuid> = (0..60).map(|_| Uuid::new_v4()).collect();
    for id in &hung {
        app.publish(&konnek(CONNECTION, *id, hung_to)).await;
    }
    let started = Instant::now();
    let others: Vec<Uuid> = (0..40).map(|_| Uuid::new_v4()).collect();
    for (i, id) in others.iter().enumerate() {
        app.publish(&konnek("konnek-other", *id, &format!("36000001{i:02}")))
            .await;
    }
    for id in &others {
        app.wait_for_status(*id, "success").await;
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "the other connection waited {took:?} for the hung one's 5 s timeout"
    );
    for id in &hung {
        let d = app.delivery(*id).await.expect("row");
        assert_ne!(d.status, "success");
    }
}

/// A sweep whose claim outlasts the time the sweeper waits for it must not
/// leave the rows it claimed in `sending` with nobody sending them: the
/// statement is cut in PostgreSQL too, so its claims roll back and the next
/// sweep takes them. Otherwise they would wait a lease, and recovery would
/// write down a "lost" call that was never made, using an attempt.
#[tokio::test]
async fn a_sweep_claim_that_outlasts_its_bound_leaves_no_orphaned_claims() {
    let app = spawn_app_with(Options {
        sending_lease: "10s", // the sweeper waits 2.5 s for a claim, cut at 1.25 s
        schedule: r#"["200ms"]"#,
        ..Options::default()
    })
    .await;
    // The first claim of the sweeper (a retry falling due) takes 6 s.
    app.run_sql(&[
        // A sequence, not a table: its count survives the claim's rollback.
        "CREATE SEQUENCE slow_once",
        "CREATE FUNCTION slow_claim() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN \
              IF nextval('slow_once') = 1 THEN PERFORM pg_sleep(6); END IF; \
              RETURN NEW; \
            END $$",
        "CREATE TRIGGER slow_claim BEFORE UPDATE ON deliveries FOR EACH ROW \
         WHEN (OLD.status = 'waitForSending' AND NEW.status = 'sending') \
         EXECUTE FUNCTION slow_claim()",
    ])
    .await;
    let (id, to) = (Uuid::new_v4(), "3200000300");
    app.sim.script(
        to,
        vec![Step::Http {
            status: 503,
            retry_after: None,
        }],
    );
    app.publish(&send(id, to)).await;
    let d = eventually(40, "the retry to be delivered", || async {
        app.delivery(id).await.filter(|d| d.status == "success")
    })
    .await;
    let slowed: bool = sqlx::query_scalar("SELECT is_called FROM slow_once")
        .fetch_one(&app.store.pool)
        .await
        .expect("slow_once");
    assert!(slowed, "the sweep's claim was slowed");
    assert_eq!(
        outcomes(&app.attempts(id).await),
        vec![
            ("retryable".into(), Some(503)),
            ("success".into(), Some(200))
        ],
        "no lost call was written down for a call never made"
    );
    assert_eq!(d.attempts, 2);
}
