//! PostgreSQL (stopped, or hung), then RabbitMQ, cut for 10 s while
//! commands keep coming, for two workers at once: both stay up, `/readyz` says not ready within its
//! bound and ready again after, and every command published before, during
//! and after the cut is delivered, once.

use super::*;
use crate::proxy::Proxy;
use herald::config::Config;
use herald::startup::{self, RunningWorker};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// How soon `/readyz` must say not ready: its database probe waits 1 s, a
/// lost broker connection is seen at once; plus the watcher's polling.
const NOT_READY_WITHIN: Duration = Duration::from_secs(3);
/// How soon it must be ready again: the supervisor's reconnect backoff is
/// capped at 10 s, plus a connect and a declare.
const READY_AGAIN_WITHIN: Duration = Duration::from_secs(15);
const CUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
enum Service {
    Postgresql,
    Rabbitmq,
}

/// How the service goes away: its connections closed and new ones refused
/// (stopped), or its connections open and silent (hung).
#[derive(Clone, Copy, Debug)]
enum Gone {
    Stopped,
    Hung,
}

#[tokio::test]
async fn postgresql_cut_for_ten_seconds_under_load() {
    cut_under_load(Service::Postgresql, Gone::Stopped).await;
}

#[tokio::test]
async fn postgresql_hung_for_ten_seconds_under_load() {
    cut_under_load(Service::Postgresql, Gone::Hung).await;
}

#[tokio::test]
async fn rabbitmq_cut_for_ten_seconds_under_load() {
    cut_under_load(Service::Rabbitmq, Gone::Stopped).await;
}

/// `/readyz`'s answers, as (when, status); `None` when nothing answered.
type Answers = Arc<Mutex<Vec<(Instant, Option<u16>)>>>;

/// Asks `/readyz` every 50 ms until `stop`.
fn watch_readiness(addr: SocketAddr, stop: CancellationToken) -> Answers {
    let answers: Answers = Arc::default();
    let log = answers.clone();
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .expect("client");
        let mut every = tokio::time::interval(Duration::from_millis(50));
        while !stop.is_cancelled() {
            every.tick().await;
            let asked = client.get(format!("http://{addr}/readyz")).send().await;
            let status = asked.ok().map(|r| r.status().as_u16());
            log.lock().expect("log").push((Instant::now(), status));
        }
    });
    answers
}

/// The first answer `status` at or after `since`, as the time it took.
fn first(answers: &Answers, status: u16, since: Instant) -> Option<Duration> {
    let answers = answers.lock().expect("log");
    answers
        .iter()
        .find(|(at, s)| *at >= since && *s == Some(status))
        .map(|(at, _)| *at - since)
}

/// A second worker on the app's database and queue, through proxies of
/// its own, ready.
async fn second_worker(app: &TestApp) -> (RunningWorker, CancellationToken, Proxy, Proxy) {
    let direct = Config::parse(&app.config_toml, &|_| None).expect("config");
    let (db, db_url) = Proxy::for_url(&direct.database.url).await;
    let (amqp, amqp_url) = Proxy::for_url(&direct.amqp.url).await;
    let mut config = app.config.clone();
    config.database.url = db_url;
    config.amqp.url = amqp_url;
    let token = CancellationToken::new();
    let running = startup::start(config, token.clone())
        .await
        .expect("second worker starts");
    let addr = running.http_addr;
    eventually(30, "the second worker to be ready", || async move {
        let ready = reqwest::get(format!("http://{addr}/readyz")).await;
        ready.is_ok_and(|r| r.status().is_success()).then_some(())
    })
    .await;
    (running, token, db, amqp)
}

/// Publishes five sends every 100 ms for `span`, straight to the real
/// broker (not through a proxy), onto `ids`: 50 a second, confirmed five
/// at a time, so that a loaded broker's confirms do not slow the load.
async fn publish_for(app: &TestApp, span: Duration, ids: &mut Vec<Uuid>) {
    let until = Instant::now() + span;
    let mut every = tokio::time::interval(Duration::from_millis(100));
    while Instant::now() < until {
        every.tick().await;
        let to = format!("628116{:06}", ids.len());
        ids.extend(publish_sends(app, CONNECTION, &to, 5).await);
    }
}

async fn cut_under_load(service: Service, gone: Gone) {
    let app = spawn_app_with(Options {
        proxied: true,
        ..Options::default()
    })
    .await;
    let (second, second_token, second_db, second_amqp) = second_worker(&app).await;
    let proxies = match service {
        Service::Postgresql => [app.db(), &second_db],
        Service::Rabbitmq => [app.broker(), &second_amqp],
    };
    let first_addr = app.worker.as_ref().expect("worker").0.http_addr;
    let stop = CancellationToken::new();
    let watched = [first_addr, second.http_addr].map(|addr| watch_readiness(addr, stop.clone()));

    let mut ids = Vec::new();
    publish_for(&app, Duration::from_secs(2), &mut ids).await;
    let before = ids.len();
    let cut = Instant::now();
    proxies.iter().for_each(|p| match gone {
        Gone::Stopped => p.sever(),
        Gone::Hung => p.blackhole(),
    });
    publish_for(&app, CUT, &mut ids).await;
    let during = ids.len() - before;
    let first_worker = &app.worker.as_ref().expect("worker").0.handle;
    assert!(!first_worker.is_finished(), "the first worker stays up");
    assert!(!second.handle.is_finished(), "the second worker stays up");
    let restored = Instant::now();
    proxies.iter().for_each(|p| p.restore());
    publish_for(&app, Duration::from_secs(2), &mut ids).await;

    let mut figures = Vec::new();
    for (n, answers) in watched.iter().enumerate() {
        let not_ready = first(answers, 503, cut).expect("not ready during the cut");
        assert!(
            not_ready <= NOT_READY_WITHIN,
            "worker {n}: not ready only after {not_ready:?}"
        );
        let ready = eventually(30, "ready again", || async {
            first(answers, 200, restored)
        })
        .await;
        assert!(
            ready <= READY_AGAIN_WITHIN,
            "worker {n}: ready again only after {ready:?}"
        );
        figures.push(format!(
            "not ready after {not_ready:?}, ready again after {ready:?}"
        ));
    }
    wait_all_success(&app, &ids, 60).await;
    for id in &ids {
        assert_eq!(app.sim.sends_of(&id.to_string()), 1, "{id}: sent once");
    }
    assert!(!first_worker.is_finished() && !second.handle.is_finished());
    stop.cancel();
    second_token.cancel();
    println!(
        "faults::outage {service:?} {gone:?}: {} published ({before} before, {during} during), all delivered once; {}",
        ids.len(),
        figures.join("; ")
    );
}
