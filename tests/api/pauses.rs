//! A provider's quota refusal pauses its connection for every worker: the
//! deliveries claimed for it meanwhile wait, without a call, until the
//! pause ends (the next opening of the connection's window, else its
//! `quota_pause`).

use crate::helpers::*;
use chrono::{DateTime, Duration, Timelike, Utc};
use herald::storage::operator::DeliveryView;
use herald::tools::simulator::{Received, TIME_LIMIT};
use serde_json::{Value, json};
use uuid::Uuid;

fn direct(connection: &str, id: Uuid, to: &str) -> Value {
    json!({"type": "send", "id": id, "connection": connection, "message": {
        "from": "469218373611012", "to": to, "method": "DIRECT", "conversation_id": "222536",
        "text": "Your order has shipped"}})
}

fn requests_to(app: &TestApp, to: &str) -> Vec<Received> {
    app.sim
        .requests()
        .into_iter()
        .filter(|r| r.provider == "onebox" && r.body["To"] == to)
        .collect()
}

async fn wait_for_quota(app: &TestApp, id: Uuid) -> DeliveryView {
    app.wait_for_reason(id, "quota").await
}

/// `herald_deferrals_total` of a connection for the reason `quota`.
fn quota_deferrals(metrics: &str, connection: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with("herald_deferrals_total{"))
        .filter(|line| line.contains(&format!("connection=\"{connection}\"")))
        .filter(|line| line.contains("reason=\"quota\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_quota_refusal_pauses_the_connection_until_its_quota_pause_ends() {
    let app = spawn_app().await;
    app.sim.set_onebox_quota(Some(0));
    let first = Uuid::new_v4();
    app.publish(&direct(ONEBOX_SHORT_PAUSE, first, "2000000001"))
        .await;
    let refused = wait_for_quota(&app, first).await;
    assert_eq!(refused.attempts, 0, "a deferral gives its attempt back");
    let attempts = app.attempts(first).await;
    assert_eq!(outcomes(&attempts), [("deferred".into(), Some(401))]);
    let (until, reason) = app
        .pause_of(ONEBOX_SHORT_PAUSE)
        .await
        .expect("the connection is paused");
    assert!(reason.contains(TIME_LIMIT), "{reason}");
    assert_eq!(refused.next_attempt_at, Some(until));
    let pause = (until - attempts[0].finished_at).num_milliseconds();
    assert!((4900..=5100).contains(&pause), "paused {pause} ms, not 5 s");

    // OneBox takes messages again, but herald's pause holds: the next
    // deliveries of this connection wait for its end without a call, while
    // another connection to the same OneBox goes on.
    app.sim.set_onebox_quota(None);
    let later: Vec<(Uuid, String)> = (0..3)
        .map(|i| (Uuid::new_v4(), format!("200000001{i}")))
        .collect();
    for (id, to) in &later {
        app.publish(&direct(ONEBOX_SHORT_PAUSE, *id, to)).await;
    }
    let other = Uuid::new_v4();
    app.publish(&direct(ONEBOX_OTHER, other, "2000000020"))
        .await;
    app.wait_for_status(other, "success").await;
    for (id, _) in &later {
        let d = wait_for_quota(&app, *id).await;
        assert_eq!(d.next_attempt_at, Some(until), "waits for the pause's end");
        assert_eq!(d.attempts, 0);
        assert!(
            app.attempts(*id).await.is_empty(),
            "no call, no attempt row"
        );
    }
    assert_eq!(
        quota_deferrals(&app.metrics().await, ONEBOX_SHORT_PAUSE),
        4.0
    );

    // After the pause, everything is delivered; nothing was called before.
    for (id, _) in &later {
        let d = app.wait_for_status(*id, "success").await;
        assert_eq!(d.attempts, 1);
    }
    let d = app.wait_for_status(first, "success").await;
    assert_eq!(d.attempts, 1);
    assert_eq!(
        outcomes(&app.attempts(first).await),
        [
            ("deferred".into(), Some(401)),
            ("success".into(), Some(200))
        ]
    );
    for (_, to) in &later {
        let calls = requests_to(&app, to);
        assert_eq!(calls.len(), 1, "{to}: one call, after the pause");
        assert!(calls[0].at >= until, "{to} was called during the pause");
    }
}

#[tokio::test]
async fn a_connection_with_a_window_is_paused_until_the_window_opens() {
    // A window open now, since an hour ago, in Jakarta's time: the provider
    // is called, refuses for its quota, and the connection is paused until
    // the window's next opening, tomorrow (outside its window a connection
    // makes no call at all: tests/api/windows.rs).
    let now = Utc::now();
    let jakarta = chrono_tz::Asia::Jakarta;
    let start = (now - Duration::hours(1))
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .expect("a minute");
    let opening = start + Duration::hours(24); // Jakarta keeps no daylight saving
    let local = start.with_timezone(&jakarta);
    let window = format!(
        "{}-{}",
        local.format("%H:%M"),
        (local + Duration::hours(2)).format("%H:%M")
    );
    let extra_toml = format!(
        r#"
[[connection]]
name = "onebox-windowed"
adapter = "onebox"
base_url = "{{sim_url}}"
email = "sim@onebox.example"
password = "sim-pass"
site_id = "169"
connection_id = 586

[connection.limits]
window = "{window}"
timezone = "Asia/Jakarta"
quota_pause = "1m"
"#
    );
    let app = spawn_app_with(Options {
        extra_toml,
        ..Options::default()
    })
    .await;
    app.sim.set_onebox_quota(Some(0));
    let id = Uuid::new_v4();
    app.publish(&direct("onebox-windowed", id, "2000000030"))
        .await;
    let d = wait_for_quota(&app, id).await;
    assert_eq!(
        d.next_attempt_at,
        Some(opening),
        "the window {window} (Jakarta) opens at {opening}, not after quota_pause"
    );
    let (until, _) = app.pause_of("onebox-windowed").await.expect("paused");
    assert_eq!(until, opening);
    // The pause shows in the gauge the alert on long pauses reads (this
    // connection is this test's alone).
    let series = "herald_connection_paused{connection=\"onebox-windowed\"}";
    eventually(
        10,
        "the pause to show in herald_connection_paused",
        || async { (metric(&app.metrics().await, series) == Some(1.0)).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn a_pause_another_worker_recorded_stops_this_workers_calls() {
    let mut app = spawn_app_without_worker().await;
    // Recorded before this worker starts: it reads the pauses first.
    let until = app
        .store
        .pause_connection(
            ONEBOX_OTHER,
            Utc::now() + Duration::hours(1),
            "another worker's",
        )
        .await
        .expect("pause recorded");
    app.start_worker().await;
    let id = Uuid::new_v4();
    app.publish(&direct(ONEBOX_OTHER, id, "2000000040")).await;
    let d = wait_for_quota(&app, id).await;
    assert_eq!(d.next_attempt_at, Some(until));
    assert!(app.attempts(id).await.is_empty());

    // A delivery the sweeper claims (scheduled a moment ahead) waits too.
    let scheduled = Uuid::new_v4();
    let mut command = direct(ONEBOX_OTHER, scheduled, "2000000041");
    command["not_before"] = json!((Utc::now() + Duration::milliseconds(500)).to_rfc3339());
    app.publish(&command).await;
    let d = wait_for_quota(&app, scheduled).await;
    assert_eq!(d.next_attempt_at, Some(until));
    assert!(app.attempts(scheduled).await.is_empty());

    // Recorded while this worker runs: it learns of it within its refresh.
    let until: DateTime<Utc> = app
        .store
        .pause_connection(ONEBOX, Utc::now() + Duration::hours(2), "another worker's")
        .await
        .expect("pause recorded");
    let mut sent = 0;
    let deferred = eventually(10, "the worker to learn of the pause", || {
        sent += 1;
        let (id, to) = (Uuid::new_v4(), format!("20000001{sent:02}"));
        let app = &app;
        async move {
            app.publish(&direct(ONEBOX, id, &to)).await;
            let d = eventually(20, "the delivery to settle", || async {
                app.delivery(id)
                    .await
                    .filter(|d| d.status == "success" || d.wait_reason.as_deref() == Some("quota"))
            })
            .await;
            (d.status == "waitForSending").then_some((d, to))
        }
    })
    .await;
    let (d, to) = deferred;
    assert_eq!(d.next_attempt_at, Some(until));
    assert!(requests_to(&app, &to).is_empty(), "no call for {to}");
    for (name, expected) in [(ONEBOX_OTHER, 1), (ONEBOX, 2)] {
        let (paused_until, _) = app.pause_of(name).await.expect("a row");
        let hours = (paused_until - Utc::now()).num_minutes() as f64 / 60.0;
        assert!((hours - expected as f64).abs() < 0.1, "{name}: {hours} h");
    }
}
