//! Ordered groups: members reach the provider one by one in ascending
//! `order`, each after its predecessor succeeded, whatever order they
//! arrive in and however many workers run; a failure aborts the members
//! behind it, a missing predecessor fails its successor with a gap, and a
//! stuck group holds up no other.

use crate::helpers::*;
use herald::startup;
use herald::storage::operator::AttemptView;
use herald::tools::simulator::Step;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A send of `connection` to `to`, member `order` of `group`.
fn member(connection: &str, group: &str, order: u32, to: &str) -> (Uuid, Value) {
    let (id, mut command) = send_to(connection, to);
    command["group"] = json!({"id": group, "order": order});
    (id, command)
}

/// A group of `n` members, each to its own recipient (`to` and the order).
fn members(connection: &str, group: &str, n: u32, to: &str) -> Vec<(Uuid, Value)> {
    (0..n)
        .map(|order| member(connection, group, order, &format!("{to}{order}")))
        .collect()
}

/// The ids in the order the simulator received their calls (in any round).
fn arrivals(app: &TestApp, ids: &[Uuid]) -> Vec<Uuid> {
    let ids: Vec<(Uuid, String)> = ids
        .iter()
        .flat_map(|id| konnek_ids(*id).into_iter().map(|key| (*id, key)))
        .collect();
    app.sim
        .requests()
        .iter()
        .filter_map(|r| {
            let body = r.body.to_string();
            ids.iter()
                .find(|(_, text)| body.contains(text.as_str()))
                .map(|(id, _)| *id)
        })
        .collect()
}

/// Every member's calls came after its predecessor's successful call ended.
async fn each_after_its_predecessor(app: &TestApp, ids: &[Uuid]) {
    let mut before: Option<AttemptView> = None;
    for (order, id) in ids.iter().enumerate() {
        let attempts = app.attempts(*id).await;
        let first = attempts.first().expect("a call");
        if let Some(success) = &before {
            assert!(
                first.started_at >= success.finished_at,
                "member {order} was called at {} before its predecessor's success at {}",
                first.started_at,
                success.finished_at
            );
        }
        before = attempts.into_iter().find(|a| a.outcome == "success");
    }
}

async fn wait_all(app: &TestApp, ids: &[Uuid], status: &str) {
    for id in ids {
        app.wait_for_status(*id, status).await;
    }
}

#[tokio::test]
async fn members_reach_the_provider_in_order_whatever_order_they_arrive_in_with_two_workers() {
    let connection = unique_connection("konnek-groups");
    let app = spawn_app_with(Options {
        extra_toml: konnek_connection(&connection),
        ..Options::default()
    })
    .await;
    let other = CancellationToken::new();
    startup::start(app.config.clone(), other.clone())
        .await
        .expect("second worker starts");

    let reversed = members(&connection, "reversed", 6, "62811100060");
    let shuffled = members(&connection, "shuffled", 6, "62811100061");
    for (_, command) in reversed.iter().rev() {
        app.publish(command).await;
    }
    for i in [3, 0, 5, 1, 4, 2] {
        app.publish(&shuffled[i].1).await;
    }
    for group in [&reversed, &shuffled] {
        let ids: Vec<Uuid> = group.iter().map(|(id, _)| *id).collect();
        wait_all(&app, &ids, "success").await;
        assert_eq!(arrivals(&app, &ids), ids, "one call each, in order");
        each_after_its_predecessor(&app, &ids).await;
        for id in &ids {
            let d = app.delivery(*id).await.expect("a delivery");
            assert_eq!(d.attempts, 1, "waiting for the group used no attempt");
        }
    }
    let series = format!("herald_deferrals_total{{connection=\"{connection}\",reason=\"group\"}}");
    let deferred = metric(&app.metrics().await, &series).unwrap_or(0.0);
    assert!(
        deferred >= 1.0,
        "members that came early waited: {deferred}"
    );
    other.cancel();
}

#[tokio::test]
async fn a_failed_member_aborts_those_behind_it_even_late_ones_and_a_resend_continues_the_group() {
    let app = spawn_app().await;
    let group = members(CONNECTION, "aborted", 5, "62811100062");
    let ids: Vec<Uuid> = group.iter().map(|(id, _)| *id).collect();
    app.sim.script(
        "628111000621",
        vec![Step::MetaFalse {
            code: 400,
            message: "invalid recipient".into(),
        }],
    );
    for (_, command) in &group[..4] {
        app.publish(command).await;
    }
    app.wait_for_status(ids[0], "success").await;
    let failed = app.wait_for_status(ids[1], "failed").await;
    assert_ne!(failed.fail_reason.as_deref(), Some("group_aborted"));
    for id in &ids[2..4] {
        let d = app.wait_for_status(*id, "failed").await;
        assert_eq!(d.fail_reason.as_deref(), Some("group_aborted"));
    }
    // A member that arrives after the failure is aborted too.
    app.publish(&group[4].1).await;
    let late = app.wait_for_status(ids[4], "failed").await;
    assert_eq!(late.fail_reason.as_deref(), Some("group_aborted"));
    for id in &ids[2..] {
        assert_eq!(app.sim.sends_of(&id.to_string()), 0, "no call for {id}");
        assert!(app.attempts(*id).await.is_empty());
    }

    // Resending the member that failed puts the aborted ones back in line.
    app.publish(&json!({"type": "resend", "id": ids[1]})).await;
    wait_all(&app, &ids, "success").await;
    let resent: Vec<Uuid> = arrivals(&app, &ids);
    assert_eq!(resent, [ids[0], ids[1], ids[1], ids[2], ids[3], ids[4]]);
    each_after_its_predecessor(&app, &ids[1..]).await;
}

#[tokio::test]
async fn a_member_whose_predecessor_never_arrives_fails_with_a_gap() {
    let app = spawn_app_with(Options {
        group_timeout: "2s",
        ..Options::default()
    })
    .await;
    let group = members(CONNECTION, "gap", 4, "62811100063");
    app.publish(&group[0].1).await;
    app.publish(&group[2].1).await;
    app.wait_for_status(group[0].0, "success").await;
    let waiting = app.wait_for_reason(group[2].0, "group").await;
    assert_eq!(waiting.status, "waitForSending");
    let gap = app.wait_for_status(group[2].0, "failed").await;
    assert_eq!(gap.fail_reason.as_deref(), Some("group_gap"));
    assert!(
        gap.updated_at >= waiting.created_at + chrono::Duration::seconds(2),
        "it waited for the group timeout"
    );
    // The member behind the gap is aborted when it comes.
    app.publish(&group[3].1).await;
    let behind = app.wait_for_status(group[3].0, "failed").await;
    assert_eq!(behind.fail_reason.as_deref(), Some("group_aborted"));
    for (id, _) in &group[2..] {
        assert_eq!(app.sim.sends_of(&id.to_string()), 0);
    }
}

#[tokio::test]
async fn a_retried_member_keeps_its_group_waiting() {
    let app = spawn_app_with(Options {
        schedule: r#"["1s"]"#,
        ..Options::default()
    })
    .await;
    let group = members(CONNECTION, "retried", 4, "62811100064");
    let ids: Vec<Uuid> = group.iter().map(|(id, _)| *id).collect();
    app.sim.script(
        "628111000641",
        vec![Step::Http {
            status: 503,
            retry_after: None,
        }],
    );
    for (_, command) in &group {
        app.publish(command).await;
    }
    wait_all(&app, &ids, "success").await;
    assert_eq!(
        arrivals(&app, &ids),
        [ids[0], ids[1], ids[1], ids[2], ids[3]]
    );
    assert_eq!(
        outcomes(&app.attempts(ids[1]).await),
        [
            ("retryable".to_owned(), Some(503)),
            ("success".to_owned(), Some(200))
        ]
    );
    each_after_its_predecessor(&app, &ids).await;
}

#[tokio::test]
async fn a_stuck_group_holds_up_no_other_group() {
    let connection = unique_connection("konnek-stuck");
    let app = spawn_app_with(Options {
        extra_toml: konnek_connection(&connection),
        ..Options::default()
    })
    .await;
    // Member 1 of the stuck group never comes.
    let stuck = members(&connection, "stuck", 3, "62811100065");
    app.publish(&stuck[0].1).await;
    app.publish(&stuck[2].1).await;
    let mut others = Vec::new();
    for g in 0..20 {
        let group = members(
            &connection,
            &format!("flowing-{g}"),
            3,
            &format!("6281110{g:03}"),
        );
        for (_, command) in group.iter().rev() {
            app.publish(command).await;
        }
        others.push(group);
    }
    for group in &others {
        let ids: Vec<Uuid> = group.iter().map(|(id, _)| *id).collect();
        wait_all(&app, &ids, "success").await;
        assert_eq!(arrivals(&app, &ids), ids);
    }
    app.wait_for_status(stuck[0].0, "success").await;
    let waiting = app.wait_for_reason(stuck[2].0, "group").await;
    assert_eq!(waiting.status, "waitForSending");
    assert_eq!(waiting.attempts, 0);
}

#[tokio::test]
async fn groups_keep_their_order_through_a_worker_restart() {
    let mut app = spawn_app().await;
    app.sim.set_latency(std::time::Duration::from_millis(150));
    let group = members(CONNECTION, "restarted", 8, "62811100066");
    let ids: Vec<Uuid> = group.iter().map(|(id, _)| *id).collect();
    for (_, command) in group.iter().rev() {
        app.publish(command).await;
    }
    app.wait_for_status(ids[2], "success").await;
    app.stop_worker().await;
    app.start_worker().await;
    wait_all(&app, &ids, "success").await;
    assert_eq!(arrivals(&app, &ids), ids, "one call each, in order");
    each_after_its_predecessor(&app, &ids).await;
}

#[tokio::test]
async fn a_cancelled_or_expired_member_aborts_those_behind_it_at_once() {
    let app = spawn_app().await;
    // Member 0 never comes: 1 and 2 wait for their turn.
    let cancelled = members(CONNECTION, "cancelled", 3, "62811100067");
    let expired = members(CONNECTION, "expired", 3, "62811100068");
    let mut soon = expired[1].1.clone();
    soon["expires_at"] = json!((chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339());
    for command in [&cancelled[1].1, &cancelled[2].1, &soon, &expired[2].1] {
        app.publish(command).await;
    }
    for id in [cancelled[1].0, cancelled[2].0, expired[1].0, expired[2].0] {
        app.wait_for_reason(id, "group").await;
    }
    app.publish(&json!({"type": "cancel", "id": cancelled[1].0}))
        .await;
    let d = app.wait_for_status(cancelled[1].0, "failed").await;
    assert_eq!(d.fail_reason.as_deref(), Some("cancelled"));
    let behind = app.wait_for_status(cancelled[2].0, "failed").await;
    assert_eq!(behind.fail_reason.as_deref(), Some("group_aborted"));

    let d = app.wait_for_status(expired[1].0, "failed").await;
    assert_eq!(d.fail_reason.as_deref(), Some("expired"));
    let behind = app.wait_for_status(expired[2].0, "failed").await;
    assert_eq!(behind.fail_reason.as_deref(), Some("group_aborted"));
    assert_eq!(app.sim.stats().requests, 0, "no call");
}
