//! Three worker processes on one queue; mid-run one is killed and one is
//! stopped gracefully: nothing is lost, and no delivery is ever in two
//! provider calls at once (read from the simulator's span of each call).

use super::*;

#[tokio::test]
async fn three_workers_one_killed_one_stopped_lose_nothing_and_never_overlap() {
    let app = spawn_app_without_worker().await;
    app.sim.set_latency(Duration::from_millis(300));
    // Calls end well inside the timeout (no call is cut and made again
    // while the first may still be running); the lease is the shortest
    // that timeout allows, so the killed worker's claims return soon.
    let config = tuned(
        &app.config_toml,
        &[
            ("http_timeout = \"2s\"", "http_timeout = \"1s\""),
            ("sending_lease = \"30s\"", "sending_lease = \"6s\""),
        ],
    );
    let mut killed = WorkerProcess::spawn(&config, "the worker killed");
    let mut stopped = WorkerProcess::spawn(&config, "the worker stopped");
    let mut survivor = WorkerProcess::spawn(&config, "the surviving worker");
    let ids = publish_sends(&app, CONNECTION, "6281150", 800).await;

    eventually(60, "200 answered", || async {
        (app.sim.stats().accepted >= 200).then_some(())
    })
    .await;
    killed.kill();
    let claimed_at_kill: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sending'")
            .fetch_one(&app.store.pool)
            .await
            .expect("count claims");
    eventually(60, "400 answered", || async {
        (app.sim.stats().accepted >= 400).then_some(())
    })
    .await;
    assert_eq!(
        stopped.terminate().await,
        Some(0),
        "a graceful stop exits 0"
    );

    wait_all_success(&app, &ids, 120).await;
    assert!(survivor.running(), "the third worker is still up");
    let calls = calls_by_id(&app.sim.calls(), &ids);
    let (mut repeated, mut timeouts) = (0, 0);
    for id in &ids {
        let made = calls.get(id).map_or(0, Vec::len);
        assert!(made >= 1, "{id} never reached the provider");
        assert_eq!(made, app.sim.sends_of(&id.to_string()), "every call ended");
        repeated += made - 1;
        if made > 1 {
            let attempts = app.attempts(*id).await;
            timeouts += attempts
                .iter()
                .filter(|a| a.error.as_deref().is_some_and(|e| e.contains("timed out")))
                .count();
        }
    }
    assert_never_overlapping(&calls);
    // A call is made again only for a claim held at the kill (the killed
    // worker's are among those counted) or a call cut by its time bound.
    assert!(
        repeated <= claimed_at_kill as usize + timeouts,
        "{repeated} repeated"
    );
    println!(
        "faults::crew: {claimed_at_kill} claims held by the three at the kill, {repeated} calls made again ({timeouts} after a timeout)"
    );
}
