//! The broker and the database going away and coming back: the worker stays
//! up, says it is not ready, loses nothing, and consumes again; a dead
//! letter that cannot be published is neither lost nor a stall.

use crate::helpers::*;
use crate::proxy::Proxy;
use herald::queue::topology;
use herald::startup;
use herald::tools::simulator::Step;
use lapin::options::{BasicAckOptions, BasicGetOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use serde_json::json;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// `/readyz`'s status, or `None` when nothing answers within 10 s.
async fn readyz(addr: SocketAddr) -> Option<u16> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .ok()?;
    let response = client.get(format!("http://{addr}/readyz")).send().await;
    response.ok().map(|r| r.status().as_u16())
}

async fn wait_for_readyz(addr: SocketAddr, secs: u64, status: u16) {
    eventually(
        secs,
        &format!("/readyz to answer {status}"),
        || async move { (readyz(addr).await == Some(status)).then_some(()) },
    )
    .await;
}

fn http_addr(app: &TestApp) -> SocketAddr {
    app.worker.as_ref().expect("worker running").0.http_addr
}

fn worker_finished(app: &TestApp) -> bool {
    app.worker
        .as_ref()
        .expect("worker running")
        .0
        .handle
        .is_finished()
}

/// Starts the worker without waiting for it to be ready.
async fn start_unready(app: &mut TestApp) {
    let token = CancellationToken::new();
    let running = startup::start(app.config.clone(), token.clone())
        .await
        .expect("a worker starts while its services are away");
    app.worker = Some((running, token));
}

fn proxied() -> Options {
    Options {
        proxied: true,
        ..Options::default()
    }
}

#[tokio::test]
async fn a_lost_broker_is_reconnected_and_nothing_published_meanwhile_is_lost() {
    let mut app = spawn_app_with(proxied()).await;
    let addr = http_addr(&app);
    let before = Uuid::new_v4();
    app.publish(&send(before, "628111000900")).await;
    app.wait_for_status(before, "success").await;

    app.broker().sever();
    let cut = Instant::now();
    wait_for_readyz(addr, 5, 503).await;
    let during: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    for (i, id) in during.iter().enumerate() {
        app.publish(&send(*id, &format!("62811100091{i}"))).await;
    }
    // Long enough for a worker that gives up on a lost broker to have gone.
    eventually(10, "three seconds of outage", || async {
        (cut.elapsed() > Duration::from_secs(3)).then_some(())
    })
    .await;
    assert!(
        !worker_finished(&app),
        "the worker stays up without its broker"
    );
    assert_eq!(readyz(addr).await, Some(503), "not ready without a broker");
    // The scrape reads readiness as /readyz does (the gauge has no label:
    // it is set and rendered in the same request).
    assert_eq!(metric(&app.metrics().await, "herald_ready "), Some(0.0));

    app.broker().restore();
    wait_for_readyz(addr, 20, 200).await;
    assert_eq!(metric(&app.metrics().await, "herald_ready "), Some(1.0));
    let after = Uuid::new_v4();
    app.publish(&send(after, "628111000920")).await;
    for id in during.iter().chain([&after]) {
        app.wait_for_status(*id, "success").await;
        assert_eq!(app.sim.sends_of(&id.to_string()), 1, "sent once: {id}");
    }
    settle(&mut app).await;
}

#[tokio::test]
async fn a_call_in_flight_when_the_broker_goes_is_finished_recorded_and_sent_once() {
    let mut app = spawn_app_with(proxied()).await;
    let addr = http_addr(&app);
    let id = Uuid::new_v4();
    app.sim
        .script("628111000925", vec![Step::Delay { millis: 1500 }]);
    app.publish(&send(id, "628111000925")).await;
    eventually(20, "the call to be in flight", || async {
        (app.sim.sends_of(&id.to_string()) == 1).then_some(())
    })
    .await;
    app.broker().sever();
    // Recorded while the broker is away: its ack cannot go out.
    app.wait_for_status(id, "success").await;
    assert_eq!(readyz(addr).await, Some(503));

    app.broker().restore();
    wait_for_readyz(addr, 20, 200).await;
    // The broker hands the command out again; it is a duplicate now.
    settle(&mut app).await;
    assert_eq!(app.sim.sends_of(&id.to_string()), 1, "sent once");
    let d = app.delivery(id).await.expect("row");
    assert_eq!((d.status.as_str(), d.attempts), ("success", 1));
}

#[tokio::test]
async fn a_broker_that_goes_silent_is_found_out_and_reconnected() {
    let mut app = spawn_app_with(proxied()).await;
    let addr = http_addr(&app);
    app.broker().blackhole();
    // Heartbeats find a silent broker out: 5 s apart, two missed.
    wait_for_readyz(addr, 20, 503).await;
    let id = Uuid::new_v4();
    app.publish(&send(id, "628111000935")).await;
    assert!(!worker_finished(&app));

    app.broker().restore();
    wait_for_readyz(addr, 30, 200).await;
    app.wait_for_status(id, "success").await;
    settle(&mut app).await;
}

#[tokio::test]
async fn a_worker_started_without_its_broker_waits_for_it() {
    started_while_cut(TestApp::broker, "628111000930").await;
}

#[tokio::test]
async fn a_worker_started_without_its_database_waits_for_it() {
    started_while_cut(TestApp::db, "628111000940").await;
}

/// A worker started while `service` is cut: it stays up and not ready, and
/// once the service is back it becomes ready and delivers what was
/// published meanwhile.
async fn started_while_cut(service: fn(&TestApp) -> &Proxy, to: &str) {
    let mut app = spawn_app_with(Options {
        start_worker: false,
        ..proxied()
    })
    .await;
    service(&app).sever();
    start_unready(&mut app).await;
    let addr = http_addr(&app);
    assert_eq!(readyz(addr).await, Some(503));
    let id = Uuid::new_v4();
    app.publish(&send(id, to)).await;
    assert!(!worker_finished(&app));

    service(&app).restore();
    wait_for_readyz(addr, 20, 200).await;
    app.wait_for_status(id, "success").await;
    settle(&mut app).await;
}

#[tokio::test]
async fn readiness_answers_within_its_bound_while_the_database_hangs() {
    let app = spawn_app_with(proxied()).await;
    let addr = http_addr(&app);
    assert_eq!(readyz(addr).await, Some(200));

    app.db().blackhole();
    for _ in 0..3 {
        let asked = Instant::now();
        let status = readyz(addr).await;
        let took = asked.elapsed();
        assert_eq!(status, Some(503), "not ready while PostgreSQL hangs");
        // A bound on the probe (its own timeout is 1 s), not a speed test.
        assert!(took < Duration::from_millis(1500), "/readyz took {took:?}");
    }

    app.db().restore();
    wait_for_readyz(addr, 20, 200).await;
}

/// Takes every dead letter there is now: (body, x-herald-error).
async fn take_dead_letters(app: &TestApp) -> Vec<(Vec<u8>, String)> {
    let channel = app.amqp.create_channel().await.expect("channel");
    let queue = app.config.amqp.dead_letter_queue.as_str();
    let mut taken = Vec::new();
    while let Some(message) = channel
        .basic_get(queue.into(), BasicGetOptions::default())
        .await
        .expect("basic_get")
    {
        message.ack(BasicAckOptions::default()).await.expect("ack");
        let headers = message.properties.headers().clone().unwrap_or_default();
        let error = herald::queue::publisher::header_text(&headers, "x-herald-error")
            .expect("dead letter has x-herald-error");
        taken.push((message.data.clone(), error));
    }
    herald::queue::close_channel(&channel, "taken").await;
    taken
}

async fn redeclare_topology(app: &TestApp) {
    let channel = app.amqp.create_channel().await.expect("channel");
    topology::declare(&channel, &app.config.amqp)
        .await
        .expect("topology declared again");
    herald::queue::close_channel(&channel, "declared").await;
}

/// Publishes `n` commands of an unknown type, and returns their ids.
async fn publish_bad(app: &TestApp, n: usize) -> HashSet<Uuid> {
    let mut ids = HashSet::new();
    for _ in 0..n {
        let id = Uuid::new_v4();
        app.publish(&json!({"type": "shout", "id": id})).await;
        ids.insert(id);
    }
    ids
}

/// Waits until the dead-letter queue held every one of `ids` (at least
/// once), with its reason.
async fn wait_for_dead_letters(app: &TestApp, ids: &HashSet<Uuid>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = HashSet::new();
    while seen.len() < ids.len() {
        for (body, error) in take_dead_letters(app).await {
            let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON body");
            let id: Uuid = serde_json::from_value(body["id"].clone()).expect("an id");
            assert!(ids.contains(&id), "an unknown dead letter {id}");
            assert!(error.contains("unknown command type"), "{error}");
            // A repeat is allowed: a command put back at the end of the
            // queue on the publisher's channel when a dead letter to the
            // missing exchange closed that channel has an unknown fate (it
            // may have landed), and is handed back too; at least once,
            // never lost, is what this test holds.
            seen.insert(id);
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} bad commands dead-lettered",
            seen.len(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_missing_dead_letter_exchange_neither_loses_bad_commands_nor_stalls_good_ones() {
    let mut app = spawn_app().await;
    let addr = http_addr(&app);
    let channel = app.amqp.create_channel().await.expect("channel");
    channel
        .exchange_delete(
            app.config.amqp.dead_letter_exchange.as_str().into(),
            ExchangeDeleteOptions::default(),
        )
        .await
        .expect("dead-letter exchange deleted");

    // More bad commands than the prefetch (32) and the concurrency (16).
    let bad = publish_bad(&app, 33).await;
    let good: Vec<Uuid> = (0..10).map(|_| Uuid::new_v4()).collect();
    for (i, id) in good.iter().enumerate() {
        app.publish(&send(*id, &format!("62811100095{i}"))).await;
    }
    for id in &good {
        app.wait_for_status(*id, "success").await;
    }
    wait_for_readyz(addr, 10, 503).await;
    // Good commands published while dead-lettering fails are still delivered.
    let later = Uuid::new_v4();
    app.publish(&send(later, "628111000960")).await;
    app.wait_for_status(later, "success").await;
    assert_eq!(readyz(addr).await, Some(503), "dead-lettering still fails");
    assert!(take_dead_letters(&app).await.is_empty());

    redeclare_topology(&app).await;
    wait_for_dead_letters(&app, &bad).await;
    wait_for_readyz(addr, 20, 200).await;
    settle(&mut app).await;
    herald::queue::close_channel(&channel, "done").await;
}

#[tokio::test]
async fn an_unroutable_dead_letter_is_not_dropped() {
    let mut app = spawn_app().await;
    let addr = http_addr(&app);
    let channel = app.amqp.create_channel().await.expect("channel");
    // The exchange stays, but nothing is bound to it.
    channel
        .queue_delete(
            app.config.amqp.dead_letter_queue.as_str().into(),
            QueueDeleteOptions::default(),
        )
        .await
        .expect("dead-letter queue deleted");

    let bad = publish_bad(&app, 3).await;
    let good = Uuid::new_v4();
    app.publish(&send(good, "628111000970")).await;
    app.wait_for_status(good, "success").await;
    wait_for_readyz(addr, 10, 503).await;

    redeclare_topology(&app).await;
    wait_for_dead_letters(&app, &bad).await;
    wait_for_readyz(addr, 20, 200).await;
    settle(&mut app).await;
    herald::queue::close_channel(&channel, "done").await;
}

#[tokio::test]
async fn the_binary_waits_for_a_missing_broker_says_so_and_exits_zero_on_sigterm() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let app = spawn_app_without_worker().await;
    // Nothing listens on port 1.
    let nowhere = "amqp://guest:s3cret@127.0.0.1:1/%2f";
    let config = app.config_toml.replace(&amqp_url(), nowhere);
    assert_ne!(config, app.config_toml, "the broker's URL is in the file");
    let dir = std::env::temp_dir().join(format!("herald-test-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("herald.toml");
    std::fs::write(&path, config).expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--config", path.to_str().expect("utf-8 path"), "worker"])
        .env("RUST_LOG", "herald=warn")
        .env_remove("HERALD_AMQP_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start herald worker");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let waiting = loop {
        if let Ok(line) = seen.recv_timeout(Duration::from_millis(100))
            && line.contains("waiting for RabbitMQ")
        {
            break line;
        }
        assert!(Instant::now() < deadline, "no line says what it waits for");
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the worker exited without its broker"
        );
    };
    assert!(
        waiting.contains("amqp://guest@127.0.0.1:1/%2f") && !waiting.contains("s3cret"),
        "the address without the password: {waiting}"
    );
    assert!(waiting.contains("next try in"), "{waiting}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the worker did not exit");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(status.code(), Some(0), "stopped by SIGTERM: exit 0");
    std::fs::remove_dir_all(dir).ok();
}
