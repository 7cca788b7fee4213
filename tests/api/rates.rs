//! Rates, shared in PostgreSQL by every worker: the calls that reach the
//! provider keep `burst + rate × T` over every interval, measured at the
//! simulator; a connection held by its rate waits in the table, without a
//! call or an attempt, and leaves the others their speed.

use crate::helpers::*;
use chrono::{DateTime, Utc};
use herald::domain::rate::{Gcra, LATENESS, Micros, NEAR, micros};
use herald::startup;
use std::collections::HashSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A Konnek connection named `name` limited to `rate` calls a second.
pub fn limited(name: &str, rate: f64, burst: u32) -> String {
    format!(
        "{}\n[connection.limits]\nrate_per_second = {rate}\nburst = {burst}\n",
        konnek_connection(name)
    )
}

/// The times the simulator received the message requests of `ids`.
pub fn arrivals(app: &TestApp, ids: &[Uuid]) -> Vec<DateTime<Utc>> {
    let ids: HashSet<String> = ids.iter().map(Uuid::to_string).collect();
    let mut at: Vec<_> = app
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.body["id"].as_str().is_some_and(|id| ids.contains(id)))
        .map(|r| r.at)
        .collect();
    at.sort_unstable();
    at
}

/// Every window of T seconds that starts at an arrival holds at most
/// `burst + rate × T` of them, for T of 0.1, 0.4, 1, 2 and 5 s.
pub fn assert_the_rule(at: &[DateTime<Utc>], rate: f64, burst: u32) {
    for t in [0.1, 0.4, 1.0, 2.0, 5.0] {
        let span = chrono::Duration::microseconds((t * 1e6) as i64);
        for (i, start) in at.iter().enumerate() {
            let count = at[i..].iter().take_while(|a| **a <= *start + span).count();
            let allowed = f64::from(burst) + rate * t;
            assert!(
                count as f64 <= allowed,
                "{count} calls in {t} s from {start} (at most {allowed}): {at:?}"
            );
        }
    }
}

/// `count` sends of `connection`, published at once.
async fn publish_sends(app: &TestApp, connection: &str, count: usize) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let (id, command) = send_to(connection, &format!("6281110{i:05}"));
        app.publish(&command).await;
        ids.push(id);
    }
    ids
}

/// Two worker processes send `count` messages of a connection limited to
/// `rate` with `burst`: all delivered, each with one attempt, some held in
/// the table by the rate, and the arrivals keep the rule.
async fn two_workers_keep(rate: f64, burst: u32, count: usize) {
    let connection = unique_connection("konnek-rate");
    let app = spawn_app_with(Options {
        extra_toml: limited(&connection, rate, burst),
        ..Options::default()
    })
    .await;
    let other = CancellationToken::new();
    startup::start(app.config.clone(), other.clone())
        .await
        .expect("second worker starts");
    let ids = publish_sends(&app, &connection, count).await;
    eventually(30, "a send waiting in the table for the rate", || async {
        for id in &ids {
            let d = app.delivery(*id).await;
            if d.is_some_and(|d| d.wait_reason.as_deref() == Some("rate")) {
                return Some(());
            }
        }
        None
    })
    .await;
    let secs = 20 + (count as f64 / rate) as u64 * 2;
    eventually(secs, "every send delivered", || async {
        for id in &ids {
            app.delivery(*id).await.filter(|d| d.status == "success")?;
        }
        Some(())
    })
    .await;
    for id in &ids {
        let d = app.delivery(*id).await.expect("a delivery");
        assert_eq!(d.attempts, 1, "deferrals use no attempt");
        assert_eq!(
            app.attempts(*id).await.len(),
            1,
            "one call, one attempt row"
        );
    }
    let at = arrivals(&app, &ids);
    assert_eq!(at.len(), count, "one call each");
    assert_the_rule(&at, rate, burst);
    let series = format!("herald_deferrals_total{{connection=\"{connection}\",reason=\"rate\"}}");
    let deferred = metric(&app.metrics().await, &series).unwrap_or(0.0);
    assert!(deferred > 0.0, "deferrals counted with reason rate");
    other.cancel();
}

#[tokio::test]
async fn two_workers_keep_a_rate_of_five_a_second_with_a_burst_of_one() {
    two_workers_keep(5.0, 1, 24).await;
}

#[tokio::test]
async fn two_workers_keep_a_rate_of_five_a_second_with_a_burst_of_four() {
    two_workers_keep(5.0, 4, 30).await;
}

#[tokio::test]
async fn a_connection_held_by_its_rate_waits_in_the_table_and_slows_no_other() {
    let slow = unique_connection("konnek-rate-slow");
    let open = unique_connection("konnek-open");
    let app = spawn_app_with(Options {
        extra_toml: format!("{}{}", limited(&slow, 2.0, 1), konnek_connection(&open)),
        ..Options::default()
    })
    .await;
    // The slow connection's backlog is ahead in the queue.
    let held = publish_sends(&app, &slow, 300).await;
    let quick = publish_sends(&app, &open, 100).await;
    eventually(
        60,
        "every send of the open connection delivered",
        || async {
            for id in &quick {
                app.delivery(*id).await.filter(|d| d.status == "success")?;
            }
            Some(())
        },
    )
    .await;
    let (mut waiting, mut delivered) = (0, 0);
    for id in &held {
        let d = app.delivery(*id).await.expect("accepted");
        if d.status == "waitForSending" && d.wait_reason.as_deref() == Some("rate") {
            assert!(d.next_attempt_at.is_some());
            assert_eq!(d.attempts, 0, "no attempt used while it waits");
            waiting += 1;
        }
        delivered += usize::from(d.status == "success");
    }
    assert!(
        waiting >= 250,
        "the slow backlog waits in the table: {waiting} of 300 ({delivered} delivered)"
    );
    let calls: usize = held
        .iter()
        .map(|id| app.sim.sends_of(&id.to_string()))
        .sum();
    assert_eq!(calls, delivered, "no call without a delivery");
}

#[tokio::test]
async fn the_rule_holds_across_a_restart_of_the_worker() {
    let connection = unique_connection("konnek-rate-restart");
    let (rate, burst) = (5.0, 2);
    let mut app = spawn_app_with(Options {
        extra_toml: limited(&connection, rate, burst),
        ..Options::default()
    })
    .await;
    let ids = publish_sends(&app, &connection, 20).await;
    eventually(30, "a few sends delivered", || async {
        let mut delivered = 0;
        for id in &ids {
            let d = app.delivery(*id).await;
            delivered += usize::from(d.is_some_and(|d| d.status == "success"));
        }
        (delivered >= 5).then_some(())
    })
    .await;
    app.stop_worker().await;
    app.start_worker().await;
    eventually(40, "every send delivered", || async {
        for id in &ids {
            app.delivery(*id).await.filter(|d| d.status == "success")?;
        }
        Some(())
    })
    .await;
    let at = arrivals(&app, &ids);
    assert_eq!(at.len(), ids.len(), "one call each");
    assert_the_rule(&at, rate, burst);
}

#[tokio::test]
async fn the_reservation_statement_is_the_domains_arithmetic() {
    let app = spawn_app_without_worker().await;
    let gcra = Gcra::new(5.0, 3, micros(LATENESS));
    let mut tat = Micros::MIN; // no row yet
    for want in [2, 2, 5, 1, 3] {
        let got = app
            .store
            .reserve_rate("rate-arithmetic", &gcra, want, micros(NEAR))
            .await
            .expect("reserved");
        let expected = gcra.reserve(tat, got.run.floor, want, micros(NEAR));
        assert_eq!(got, expected, "asked for {want}");
        tat = got.tat;
    }
}

#[tokio::test]
async fn first_reservations_made_at_once_share_one_schedule() {
    let app = spawn_app_without_worker().await;
    let gcra = Gcra::new(5.0, 1, micros(LATENESS));
    let reservations = futures_util::future::join_all(
        (0..8).map(|_| app.store.reserve_rate("rate-first", &gcra, 1, 10_000_000)),
    )
    .await;
    let mut slots: Vec<Micros> = reservations
        .into_iter()
        .map(|r| r.expect("reserved").run.at(0))
        .collect();
    slots.sort_unstable();
    for pair in slots.windows(2) {
        assert!(pair[1] - pair[0] >= gcra.spacing, "{slots:?}");
    }
}
