//! A worker killed (SIGKILL) with hundreds of deliveries in flight: after a
//! restart every delivery succeeds, and the provider saw a message twice
//! only where the dead worker held its claim, at most once more each.

use super::*;
use std::collections::HashSet;

#[tokio::test]
async fn a_worker_killed_with_hundreds_in_flight_loses_nothing_and_repeats_only_those() {
    let app = spawn_app_without_worker().await;
    // A slow provider keeps a whole wave of calls in flight: 300, the
    // connection's half of the worker's permits.
    app.sim.set_latency(Duration::from_secs(3));
    let busy = tuned(
        &app.config_toml,
        &[
            ("concurrency = 16", "concurrency = 600"),
            ("prefetch = 32", "prefetch = 400"),
            ("http_timeout = \"2s\"", "http_timeout = \"10s\""),
            ("sending_lease = \"30s\"", "sending_lease = \"60s\""),
        ],
    );
    let mut first = WorkerProcess::spawn(&busy, "the worker killed");
    let ids = publish_sends(&app, CONNECTION, "6281140", 800).await;
    // Killed once the first wave was answered and the next is in flight.
    eventually(60, "a wave answered and the next in flight", || async {
        let s = app.sim.stats();
        (s.accepted >= 300 && s.requests - s.accepted >= 200).then_some(())
    })
    .await;
    first.kill();
    let at_kill = app.sim.stats();
    // The claims the dead worker held: in flight in herald at the kill
    // (called, answered but not recorded, or about to be called).
    let claimed: HashSet<Uuid> =
        sqlx::query_scalar("SELECT id FROM deliveries WHERE status = 'sending'")
            .fetch_all(&app.store.pool)
            .await
            .expect("read the claims")
            .into_iter()
            .collect();
    let done_at_kill = count_in(&app, &ids, "success").await;
    assert!(
        claimed.len() >= 200,
        "hundreds in flight at the kill: {}",
        claimed.len()
    );

    // Restarted, with a lease short enough to take the claims back soon.
    app.sim.set_latency(Duration::ZERO);
    let quick = tuned(
        &app.config_toml,
        &[
            ("http_timeout = \"2s\"", "http_timeout = \"500ms\""),
            ("sending_lease = \"30s\"", "sending_lease = \"4s\""),
        ],
    );
    let _second = WorkerProcess::spawn(&quick, "the restarted worker");
    wait_all_success(&app, &ids, 90).await;

    // A call is made again where the dead worker held its claim, or where
    // a call was cut by its time bound (300 new connections at once on a
    // loaded machine can take seconds to reach the provider): the provider
    // may have taken it, and herald prefers a repeat to a loss.
    let (mut duplicates, mut after_timeout) = (0, 0);
    for id in &ids {
        let sends = app.sim.sends_of(&id.to_string());
        assert!(sends >= 1, "{id} was never sent");
        if sends == 1 {
            continue;
        }
        let attempts = app.attempts(*id).await;
        let timeouts = attempts
            .iter()
            .filter(|a| a.error.as_deref().is_some_and(|e| e.contains("timed out")))
            .count();
        if claimed.contains(id) {
            assert!(
                sends <= 2 + timeouts,
                "{id}: at most once more: {attempts:?}"
            );
            duplicates += 1;
            after_timeout += sends - 2;
        } else {
            assert!(
                sends <= 1 + timeouts,
                "{id} sent {sends} times, not in flight at the kill: {attempts:?}"
            );
            after_timeout += sends - 1;
        }
    }
    assert!(duplicates <= claimed.len());
    println!(
        "faults::kill: {} of 800 done at the kill; {} claims held by the killed worker, \
         {} calls unanswered at the provider; {duplicates} sent again for the kill, \
         {after_timeout} for a timeout",
        done_at_kill,
        claimed.len(),
        at_kill.requests - at_kill.accepted,
    );
}
