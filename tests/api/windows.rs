//! Sending windows: outside its window a connection's deliveries wait,
//! without a call, for the window's exact opening, while other connections
//! go on; when the window opens, they are sent.

use crate::helpers::*;
use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use serde_json::json;
use uuid::Uuid;

/// A Konnek connection of this test's own whose window, in UTC, opens at
/// `opens` and stays open an hour.
fn windowed(name: &str, opens: DateTime<Utc>) -> String {
    let closes = opens + Span::hours(1);
    format!(
        "{}\n[connection.limits]\nwindow = \"{}-{}\"\ntimezone = \"UTC\"\n",
        konnek_connection(name),
        opens.format("%H:%M"),
        closes.format("%H:%M")
    )
}

#[tokio::test]
async fn outside_its_window_a_connection_waits_without_a_call_and_others_go_on() {
    let closed = unique_connection("konnek-closed");
    let open = unique_connection("konnek-open");
    // Opens two hours from now (today or, past 22:00, tomorrow).
    let opens = (Utc::now() + Span::hours(2))
        .duration_trunc(Span::minutes(1))
        .expect("in range");
    let app = spawn_app_with(Options {
        extra_toml: format!("{}{}", windowed(&closed, opens), konnek_connection(&open)),
        ..Options::default()
    })
    .await;
    let held: Vec<(Uuid, serde_json::Value)> = (0..3)
        .map(|i| send_to(&closed, &format!("62811100095{i}")))
        .collect();
    for (_, command) in &held {
        app.publish(command).await;
    }
    let (beside, command) = send_to(&open, "628111000959");
    app.publish(&command).await;

    app.wait_for_status(beside, "success").await;
    for (id, _) in &held {
        let d = app.wait_for_reason(*id, "window").await;
        assert_eq!(d.status, "waitForSending");
        assert_eq!(d.next_attempt_at, Some(opens), "the window's exact opening");
        assert_eq!(d.attempts, 0, "no attempt used");
        assert!(app.attempts(*id).await.is_empty(), "no attempt row");
        assert_eq!(app.sim.sends_of(&id.to_string()), 0, "no call");
    }
    let metrics = app.metrics().await;
    let deferred = metric(
        &metrics,
        &format!("herald_deferrals_total{{connection=\"{closed}\",reason=\"window\"}}"),
    );
    assert!(deferred.is_some_and(|n| n >= 3.0), "{metrics}");
}

#[tokio::test]
async fn a_window_that_opens_releases_its_deliveries_through_a_restart_of_the_worker() {
    let connection = unique_connection("konnek-opening");
    // A whole minute 15 to 75 seconds ahead: time enough to see the
    // deliveries wait before it.
    let opens = (Utc::now() + Span::seconds(75))
        .duration_trunc(Span::minutes(1))
        .expect("in range");
    let mut app = spawn_app_with(Options {
        extra_toml: windowed(&connection, opens),
        ..Options::default()
    })
    .await;
    let sends: Vec<(Uuid, serde_json::Value)> = (0..2)
        .map(|i| send_to(&connection, &format!("62811100096{i}")))
        .collect();
    for (_, command) in &sends {
        app.publish(command).await;
    }
    for (id, _) in &sends {
        let d = app.wait_for_reason(*id, "window").await;
        assert_eq!(d.next_attempt_at, Some(opens));
    }
    // What waits for the window waits in the table, not in the worker.
    app.stop_worker().await;
    app.start_worker().await;
    for (id, _) in &sends {
        let d = eventually(150, "the window to open and the send to go", || async {
            app.delivery(*id).await.filter(|d| d.status == "success")
        })
        .await;
        assert_eq!(d.attempts, 1, "the deferrals used no attempt");
        let call = app
            .sim
            .requests()
            .into_iter()
            .find(|r| r.body["id"] == json!(id.to_string()))
            .expect("the call");
        assert!(
            call.at >= opens,
            "called at {} before the opening {opens}",
            call.at
        );
        assert_eq!(app.sim.sends_of(&id.to_string()), 1);
    }
}
