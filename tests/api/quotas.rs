//! Daily quotas, counted in PostgreSQL for every worker: exactly the
//! quota's calls a day, and the rest wait for the next day without a call.

use crate::helpers::*;
use chrono::{Days, TimeZone, Timelike, Utc};
use herald::startup;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A zone whose clock reads about noon now, so that no day ends during a
/// test (`Etc/GMT-5` is UTC+5).
fn noon_zone() -> String {
    match 12 - Utc::now().hour() as i32 {
        0 => "Etc/GMT".to_owned(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

#[tokio::test]
async fn two_workers_share_a_daily_quota_and_make_exactly_its_calls() {
    let connection = unique_connection("konnek-quota");
    let zone_name = noon_zone();
    let zone: chrono_tz::Tz = zone_name.parse().expect("a zone");
    let app = spawn_app_with(Options {
        extra_toml: format!(
            "{}\n[connection.limits]\ndaily_quota = 2\ntimezone = \"{zone_name}\"\n",
            konnek_connection(&connection)
        ),
        ..Options::default()
    })
    .await;
    // A second worker process on the same database and queue.
    let other = CancellationToken::new();
    startup::start(app.config.clone(), other.clone())
        .await
        .expect("second worker starts");

    let sends: Vec<_> = (0..6)
        .map(|i| send_to(&connection, &format!("62811100097{i}")))
        .collect();
    for (_, command) in &sends {
        app.publish(command).await;
    }
    let ids: Vec<Uuid> = sends.iter().map(|(id, _)| *id).collect();
    let settled = eventually(
        30,
        "every send delivered or waiting for the quota",
        || async {
            let mut rows = Vec::new();
            for id in &ids {
                let d = app.delivery(*id).await?;
                let settled = d.status == "success" || d.wait_reason.as_deref() == Some("quota");
                if !settled {
                    return None;
                }
                rows.push(d);
            }
            Some(rows)
        },
    )
    .await;
    let calls: usize = ids.iter().map(|id| app.sim.sends_of(&id.to_string())).sum();
    assert_eq!(calls, 2, "exactly the quota's calls");
    let delivered = settled.iter().filter(|d| d.status == "success").count();
    assert_eq!(delivered, 2);
    let today = Utc::now().with_timezone(&zone).date_naive();
    let midnight = today
        .checked_add_days(Days::new(1))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| zone.from_local_datetime(&d).single())
        .expect("tomorrow")
        .with_timezone(&Utc);
    for d in settled.iter().filter(|d| d.status != "success") {
        assert_eq!(d.status, "waitForSending");
        assert_eq!(
            d.next_attempt_at,
            Some(midnight),
            "the next day's start in {zone_name}"
        );
        assert_eq!(d.attempts, 0, "no attempt used");
        assert!(app.attempts(d.id).await.is_empty(), "no attempt row");
    }
    assert_eq!(
        app.store
            .quota_used(&connection, today)
            .await
            .expect("read"),
        2
    );
    other.cancel();
}

#[tokio::test]
async fn the_days_count_survives_a_restart_of_the_worker() {
    let connection = unique_connection("konnek-quota-restart");
    let zone_name = noon_zone();
    let mut app = spawn_app_with(Options {
        extra_toml: format!(
            "{}\n[connection.limits]\ndaily_quota = 3\ntimezone = \"{zone_name}\"\n",
            konnek_connection(&connection)
        ),
        ..Options::default()
    })
    .await;
    let before: Vec<_> = (0..2)
        .map(|i| send_to(&connection, &format!("62811100098{i}")))
        .collect();
    for (_, command) in &before {
        app.publish(command).await;
    }
    for (id, _) in &before {
        app.wait_for_status(*id, "success").await;
    }
    app.stop_worker().await;
    app.start_worker().await;
    let after: Vec<_> = (0..3)
        .map(|i| send_to(&connection, &format!("62811100099{i}")))
        .collect();
    for (_, command) in &after {
        app.publish(command).await;
    }
    let settled = eventually(30, "the sends after the restart to settle", || async {
        let mut rows = Vec::new();
        for (id, _) in &after {
            let d = app.delivery(*id).await?;
            (d.status == "success" || d.wait_reason.as_deref() == Some("quota")).then_some(())?;
            rows.push(d);
        }
        Some(rows)
    })
    .await;
    let delivered = settled.iter().filter(|d| d.status == "success").count();
    assert_eq!(
        delivered, 1,
        "the restarted worker had one call of the day left"
    );
    let calls: usize = before
        .iter()
        .chain(&after)
        .map(|(id, _)| app.sim.sends_of(&id.to_string()))
        .sum();
    assert_eq!(calls, 3);
}
