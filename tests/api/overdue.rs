//! The gauges read from the database: `herald_overdue_seconds`, where a
//! delivery due but not taken shows as overdue on its connection while
//! deliveries due later (a backlog of scheduled sends) do not, however many
//! they are; and `herald_stuck_sending`, a claim older than the lease.

use crate::helpers::*;
use herald::tools::simulator::Step;
use serde_json::json;

#[tokio::test]
async fn a_due_delivery_left_untaken_is_overdue_and_a_scheduled_backlog_is_not() {
    // A connection with room for one call at a time, whose provider takes
    // 9 s to answer the first: the second send waits due behind it.
    let slow = unique_connection("konnek-slow");
    let later = unique_connection("konnek-later");
    let extra = format!(
        "{}\n[connection.limits]\nmax_in_flight = 1\n{}",
        konnek_connection(&slow),
        konnek_connection(&later)
    );
    let app = spawn_app_with(Options {
        extra_toml: extra,
        http_timeout: "12s",
        sending_lease: "60s",
        ..Options::default()
    })
    .await;
    app.sim
        .script("628700000001", vec![Step::Delay { millis: 9000 }]);
    let (first, command) = send_to(&slow, "628700000001");
    app.publish(&command).await;
    app.wait_for_status(first, "sending").await;
    let (second, command) = send_to(&slow, "628700000002");
    app.publish(&command).await;

    // Twenty sends scheduled an hour ahead: waiting, not overdue.
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let mut scheduled_ids = Vec::new();
    for n in 0..20 {
        let (id, mut command) = send_to(&later, &format!("62870001{n:04}"));
        command["not_before"] = json!(in_an_hour);
        app.publish(&command).await;
        scheduled_ids.push(id);
    }

    let overdue =
        |connection: &str| format!("herald_overdue_seconds{{connection=\"{connection}\"}}");
    let scheduled = format!("herald_waiting{{connection=\"{later}\",wait_reason=\"scheduled\"}}");
    let seen = eventually(20, "the second send to show as overdue", || async {
        let metrics = app.metrics().await;
        let late = metric(&metrics, &overdue(&slow))?;
        let waiting = metric(&metrics, &scheduled)?;
        (late >= 1.0 && waiting == 20.0).then_some(metrics)
    })
    .await;
    assert_eq!(
        app.delivery(second).await.map(|d| d.status),
        Some("waitForSending".to_string()),
        "the second send is still not taken"
    );
    assert_eq!(
        metric(&seen, &overdue(&later)),
        Some(0.0),
        "scheduled sends are not overdue: {seen}"
    );

    let stuck = format!("herald_stuck_sending{{connection=\"{later}\"}}");
    assert_eq!(metric(&seen, &stuck), Some(0.0), "{seen}");

    // A claim ten minutes old, as a worker that died would leave it: no
    // sweeper takes claims back in a worker's first lease, so it stays.
    let taken = scheduled_ids[0];
    app.run_sql(&[format!(
        "UPDATE deliveries SET status = 'sending', wait_reason = NULL, \
         claimed_at = now() - interval '10 minutes' WHERE id = '{taken}'"
    )])
    .await;
    eventually(15, "the old claim to show as stuck", || async {
        let metrics = app.metrics().await;
        (metric(&metrics, &stuck) == Some(1.0) && metric(&metrics, &scheduled) == Some(19.0))
            .then_some(())
    })
    .await;

    // Once the first call ends the second is taken and delivered, and the
    // connection is no longer late.
    app.wait_for_status(second, "success").await;
    eventually(15, "the overdue age to fall back to 0", || async {
        let metrics = app.metrics().await;
        (metric(&metrics, &overdue(&slow)) == Some(0.0)).then_some(())
    })
    .await;
}
