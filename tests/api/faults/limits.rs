//! The limits and ordered groups when a worker process is killed mid-run
//! and its commands are handed out again: the rate rule holds on the
//! provider's arrival times (every call, repeats included), the daily
//! quota is never exceeded, and each group member reaches the provider
//! only after its predecessor's calls ended.

use super::*;
use crate::rates::{arrivals, assert_the_rule, limited};
use serde_json::json;

/// A zone whose clock reads about noon now, so that no quota day ends
/// during the test (`Etc/GMT-5` is UTC+5).
fn noon_zone() -> String {
    use chrono::Timelike;
    match 12 - chrono::Utc::now().hour() as i32 {
        0 => "Etc/GMT".to_owned(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

const RATE: f64 = 5.0;
const BURST: u32 = 1;
const QUOTA: usize = 6;

#[tokio::test]
async fn rate_quota_and_order_hold_through_a_kill() {
    let rated = unique_connection("konnek-rate-kill");
    let quota = unique_connection("konnek-quota-kill");
    let grouped = unique_connection("konnek-groups-kill");
    let mut app = spawn_app_with(Options {
        start_worker: false,
        // The shortest lease 500 ms calls allow: the killed worker's claims
        // come back within seconds.
        http_timeout: "500ms",
        sending_lease: "4s",
        extra_toml: format!(
            "{}{}\n[connection.limits]\ndaily_quota = {QUOTA}\ntimezone = \"{}\"\n{}",
            limited(&rated, RATE, BURST),
            konnek_connection(&quota),
            noon_zone(),
            konnek_connection(&grouped),
        ),
        ..Options::default()
    })
    .await;
    // Calls take a while, so that some are in flight at the kill.
    app.sim.set_latency(Duration::from_millis(100));
    let mut killed = WorkerProcess::spawn(&app.config_toml, "the worker killed");
    app.start_worker().await;

    let rate_ids = publish_sends(&app, &rated, "6281180", 30).await;
    let quota_ids = publish_sends(&app, &quota, "6281181", 2 * QUOTA).await;
    let mut groups = Vec::new();
    for g in 0..5 {
        let members: Vec<(Uuid, serde_json::Value)> = (0..6)
            .map(|order| {
                let (id, mut command) = send_to(&grouped, &format!("628118200{g}{order}"));
                command["group"] = json!({"id": format!("g{g}"), "order": order});
                (id, command)
            })
            .collect();
        for (_, command) in members.iter().rev() {
            app.publish(command).await;
        }
        groups.push(members.into_iter().map(|(id, _)| id).collect::<Vec<_>>());
    }
    eventually(30, "a third of the rated sends delivered", || async {
        (count_in(&app, &rate_ids, "success").await >= 10).then_some(())
    })
    .await;
    killed.kill();

    wait_all_success(&app, &rate_ids, 60).await;
    let group_ids: Vec<Uuid> = groups.iter().flatten().copied().collect();
    wait_all_success(&app, &group_ids, 60).await;
    let at = arrivals(&app, &rate_ids);
    assert!(at.len() >= rate_ids.len(), "every rated send called");
    assert_the_rule(&at, RATE, BURST);

    let settled = eventually(30, "the quota's sends to settle", || async {
        let delivered = count_in(&app, &quota_ids, "success").await;
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM deliveries WHERE id = ANY($1) \
             AND status = 'waitForSending' AND wait_reason = 'quota'",
        )
        .bind(&quota_ids)
        .fetch_one(&app.store.pool)
        .await
        .expect("count waiting");
        (delivered + waiting as usize == quota_ids.len()).then_some(delivered)
    })
    .await;
    let quota_calls: usize = quota_ids
        .iter()
        .map(|id| app.sim.sends_of(&id.to_string()))
        .sum();
    assert!(
        quota_calls <= QUOTA,
        "{quota_calls} calls for a quota of {QUOTA}"
    );
    assert!((1..=QUOTA).contains(&settled), "{settled} delivered");

    let calls = app.sim.calls();
    for members in &groups {
        let by_id = calls_by_id(&calls, members);
        assert_never_overlapping(&by_id);
        for pair in members.windows(2) {
            let before = &by_id[&pair[0]];
            let after = &by_id[&pair[1]];
            let ended = before.iter().map(|c| c.finished).max().expect("a call");
            assert!(
                after[0].started >= ended,
                "member {} called at {} before its predecessor's calls ended at {ended}",
                pair[1],
                after[0].started
            );
        }
    }
    println!(
        "faults::limits: {} rated calls for 30 sends, {quota_calls} quota calls ({settled} delivered), \
         {} group calls for {} members",
        at.len(),
        group_ids
            .iter()
            .map(|id| app.sim.sends_of(&id.to_string()))
            .sum::<usize>(),
        group_ids.len()
    );
}
