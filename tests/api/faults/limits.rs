//! The limits and ordered groups when a worker process is killed mid-run
//! and its commands are handed out again: the rate rule holds on the
//! provider's arrival times (every call, repeats included), the daily
//! quota is never exceeded, and each group member reaches the provider
//! only after its predecessor's calls ended.

use super::*;
use crate::rates::{arrivals, assert_the_rule, limited};
use herald::tools::simulator::Step;
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
    let zone_name = noon_zone();
    let mut app = spawn_app_with(Options {
        start_worker: false,
        // The shortest lease 2 s calls allow: the killed worker's claims
        // come back within seconds.
        http_timeout: "2s",
        sending_lease: "10s",
        extra_toml: format!(
            "{}{}\n[connection.limits]\ndaily_quota = {QUOTA}\ntimezone = \"{}\"\n{}",
            limited(&rated, RATE, BURST),
            konnek_connection(&quota),
            zone_name,
            konnek_connection(&grouped),
        ),
        ..Options::default()
    })
    .await;
    // Calls take a while, so that some are in flight at the kill.
    app.sim.set_latency(Duration::from_millis(100));
    // One worker takes the commands; once it is killed, another takes
    // back its claims and the commands it had not acked.
    let mut killed = WorkerProcess::spawn(&app.config_toml, "the worker killed");

    let mut groups = Vec::new();
    for g in 0..5 {
        let members: Vec<(Uuid, serde_json::Value)> = (0..6)
            .map(|order| {
                let to = format!("628118200{g}{order}");
                // Slow members: the groups are still under way at the kill.
                app.sim.script(&to, vec![Step::Delay { millis: 300 }]);
                let (id, mut command) = send_to(&grouped, &to);
                command["group"] = json!({"id": format!("g{g}"), "order": order});
                (id, command)
            })
            .collect();
        for (_, command) in members.iter().rev() {
            app.publish(command).await;
        }
        groups.push(members.into_iter().map(|(id, _)| id).collect::<Vec<_>>());
    }
    let rate_ids = publish_sends(&app, &rated, "6281180", 30).await;
    // The quota's calls are slow: in flight at the kill, then made again,
    // each again counted against the day.
    for i in 0..2 * QUOTA {
        let to = format!("6281181{i:05}");
        app.sim.script(&to, vec![Step::Delay { millis: 1500 }]);
    }
    let quota_ids = publish_sends(&app, &quota, "6281181", 2 * QUOTA).await;
    let group_ids: Vec<Uuid> = groups.iter().flatten().copied().collect();
    // Killed once the quota's calls are made (published last, each takes
    // 1.5 s: most are still in flight) and a rated send was made.
    eventually(60, "the rate and the quota under way", || async {
        let rated = count_in(&app, &rate_ids, "success").await;
        let quota_called = quota_ids
            .iter()
            .any(|id| app.sim.sends_of(&id.to_string()) > 0);
        (rated >= 1 && quota_called).then_some(())
    })
    .await;
    killed.kill();
    let quota_in_flight = quota_ids
        .iter()
        .map(|id| id.to_string())
        .filter(|id| app.sim.sends_of(id) > app.sim.accepted_of(id))
        .count();
    let members_at_kill = count_in(&app, &group_ids, "success").await;
    assert!(members_at_kill < group_ids.len(), "the groups were mid-way");
    let claims_at_kill: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sending'")
            .fetch_one(&app.store.pool)
            .await
            .expect("count claims");
    assert!(claims_at_kill >= 1, "the killed worker held claims");
    app.start_worker().await;

    wait_all_success(&app, &rate_ids, 60).await;
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
    // Every call was counted before it was made, the lost ones too: the
    // calls in flight at the kill may have used the whole day, and then
    // their retries wait for the next.
    let zone: chrono_tz::Tz = zone_name.parse().expect("a zone");
    let today = chrono::Utc::now().with_timezone(&zone).date_naive();
    let used = app.store.quota_used(&quota, today).await.expect("read");
    assert!(
        quota_calls as u64 <= used && used <= QUOTA as u64,
        "{quota_calls} calls, {used} counted, for a quota of {QUOTA}"
    );
    assert!(settled <= QUOTA, "{settled} delivered");

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
        "faults::limits: {claims_at_kill} claims, {quota_in_flight} quota calls in flight and {members_at_kill} of 30 members done at the kill; {} rated calls for 30 sends, \
         {quota_calls} quota calls ({used} counted, {settled} delivered), {} group calls for {} members",
        at.len(),
        group_ids
            .iter()
            .map(|id| app.sim.sends_of(&id.to_string()))
            .sum::<usize>(),
        group_ids.len()
    );
}
