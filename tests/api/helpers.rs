//! `spawn_app()`: each test gets its own database, its own exchange and queue
//! names, its own simulator and a worker on port 0.

use crate::proxy::Proxy;
use herald::config::Config;
use herald::queue::{self, Publisher};
use herald::startup::{self, RunningWorker};
use herald::storage::Store;
use herald::storage::operator::{AttemptView, DeliveryView};
use herald::tools::simulator::{self, SimConfig, SimHandle};
use lapin::options::{BasicAckOptions, BasicGetOptions};
use serde_json::{Value, json};
use sqlx::Connection as _;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const CONNECTION: &str = "konnek-wa";
/// The `callback_token` of the Konnek and Chatwoot connections.
pub const CALLBACK_TOKEN: &str = "cb-s3cret";
/// A OneBox connection the simulator knows, and one with a wrong password.
pub const ONEBOX: &str = "onebox-fb";
pub const ONEBOX_WRONG_PASSWORD: &str = "onebox-wrong-password";
/// Two more OneBox connections with the same account: one whose quota
/// refusals pause it for 5 s only, and one left alone.
pub const ONEBOX_SHORT_PAUSE: &str = "onebox-short-pause";
pub const ONEBOX_OTHER: &str = "onebox-other";
/// A Chatwoot connection the simulator knows, and one with a wrong token.
pub const CHATWOOT: &str = "chatwoot-99";
pub const CHATWOOT_WRONG_TOKEN: &str = "chatwoot-wrong-token";
/// A Comm100 connection the simulator knows, and one with a wrong token.
pub const COMM100: &str = "comm100-tickets";
pub const COMM100_WRONG_TOKEN: &str = "comm100-wrong-token";
/// A HighQ connection the simulator knows (under an instance path), and
/// one whose refresh token HighQ never issued.
pub const HIGHQ: &str = "highq-acme";
pub const HIGHQ_STALE: &str = "highq-stale";
/// `[secrets] key` of every test's configuration (32 bytes, base64).
pub const TEST_KEY: &str = "dGVzdCBrZXkgb2YgaGVyYWxkJ3Mgc2VhbGVkIHBhaXI=";
/// The agent Comm100 messages are sent as.
pub const COMM100_AGENT: &str = "902f53f4-4acc-4103-8e85-fd20e7678edd";

/// The database the tests create their own databases from.
pub fn admin_url() -> String {
    std::env::var("HERALD_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("HERALD_DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://herald:herald@127.0.0.1:5432/herald".into())
}

pub fn amqp_url() -> String {
    std::env::var("HERALD_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Knobs a test may turn.
#[derive(Clone)]
pub struct Options {
    pub max_attempts: u32,
    pub schedule: &'static str,
    pub http_timeout: &'static str,
    pub sending_lease: &'static str,
    /// `[worker] group_timeout`.
    pub group_timeout: &'static str,
    pub start_worker: bool,
    /// `classic` by default: every test makes its own queues and deletes
    /// them, a churn quorum queues are not made for.
    pub queue_type: &'static str,
    /// Appended to the configuration (more `[[connection]]` tables), with
    /// `{sim_url}` replaced by the simulator's address.
    pub extra_toml: String,
    /// The worker reaches PostgreSQL and RabbitMQ through a [`Proxy`] each
    /// (`app.db_proxy`, `app.amqp_proxy`), so that a test can cut them; the
    /// test's own store and publisher connect directly.
    pub proxied: bool,
    /// `[http] admin_token`: empty, the admin API is off.
    pub admin_token: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_attempts: 3,
            schedule: r#"["100ms", "200ms"]"#,
            http_timeout: "2s",
            sending_lease: "30s",
            group_timeout: "5m",
            start_worker: true,
            queue_type: "classic",
            extra_toml: String::new(),
            proxied: false,
            admin_token: "",
        }
    }
}

pub struct TestApp {
    /// The worker's configuration (through the proxies, when proxied).
    pub config: Config,
    /// The configuration as a file's text, for tests that run the binary.
    pub config_toml: String,
    pub store: Store,
    pub sim: SimHandle,
    pub publisher: Publisher,
    pub amqp: lapin::Connection,
    pub worker: Option<(RunningWorker, CancellationToken)>,
    pub db_proxy: Option<Proxy>,
    pub amqp_proxy: Option<Proxy>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// An app whose worker is not started: the test drives the store, the
/// queue or the binary itself.
pub async fn spawn_app_without_worker() -> TestApp {
    spawn_app_with(Options {
        start_worker: false,
        ..Options::default()
    })
    .await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let sim = simulator::start("127.0.0.1:0".parse().unwrap(), SimConfig::default())
        .await
        .expect("simulator starts");
    let db_name = format!("herald_test_{}", Uuid::new_v4().simple());
    let admin = admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("admin connection (is PostgreSQL running?)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db_name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    conn.close().await.ok();
    let (base, _) = admin.rsplit_once('/').expect("database URL has a path");
    let db_url = format!("{base}/{db_name}");
    let tag = Uuid::new_v4().simple().to_string();
    let config_toml = format!(
        r#"
[database]
url = "{db_url}"
max_connections = 4

[amqp]
url = "{amqp}"
exchange = "test.{tag}"
queue = "test.{tag}.commands"
dead_letter_exchange = "test.{tag}.dead"
dead_letter_queue = "test.{tag}.dead"
prefetch = 32
queue_type = "{queue_type}"

[http]
listen = "127.0.0.1:0"
admin_token = "{admin_token}"

[worker]
concurrency = 16
http_timeout = "{http_timeout}"
shutdown_grace = "10s"
sending_lease = "{lease}"
group_timeout = "{group_timeout}"

[secrets]
key = "{TEST_KEY}"

[defaults.retry]
max_attempts = {max_attempts}
schedule = {schedule}
jitter = 0.0

[[connection]]
name = "{CONNECTION}"
adapter = "konnek"
base_url = "{sim_url}"
callback_token = "{CALLBACK_TOKEN}"
channel = "whatsapp"
client_id = "client-1"
username = "sim-user"
password = "sim-pass"

[[connection]]
name = "{ONEBOX}"
adapter = "onebox"
base_url = "{sim_url}"
email = "sim@onebox.example"
password = "sim-pass"
site_id = "169"
connection_id = 583

[[connection]]
name = "{ONEBOX_WRONG_PASSWORD}"
adapter = "onebox"
base_url = "{sim_url}"
email = "sim@onebox.example"
password = "not-the-password"
site_id = "169"
connection_id = 583

[[connection]]
name = "{ONEBOX_SHORT_PAUSE}"
adapter = "onebox"
base_url = "{sim_url}"
email = "sim@onebox.example"
password = "sim-pass"
site_id = "169"
connection_id = 584

[connection.limits]
quota_pause = "5s"

[[connection]]
name = "{ONEBOX_OTHER}"
adapter = "onebox"
base_url = "{sim_url}"
email = "sim@onebox.example"
password = "sim-pass"
site_id = "169"
connection_id = 585

[[connection]]
name = "{CHATWOOT}"
adapter = "chatwoot"
base_url = "{sim_url}"
callback_token = "{CALLBACK_TOKEN}"
api_access_token = "sim-token"
account_id = 3

[[connection]]
name = "{CHATWOOT_WRONG_TOKEN}"
adapter = "chatwoot"
base_url = "{sim_url}"
api_access_token = "not-the-token"
account_id = 3

[[connection]]
name = "{COMM100}"
adapter = "comm100"
base_url = "{sim_url}"
access_token = "sim-comm100-token"
channel_id = "Email"
sent_by_id = "{COMM100_AGENT}"

[[connection]]
name = "{COMM100_WRONG_TOKEN}"
adapter = "comm100"
base_url = "{sim_url}"
access_token = "not-the-comm100-token"
channel_id = "Email"
sent_by_id = "{COMM100_AGENT}"

[[connection]]
name = "{HIGHQ}"
adapter = "highq"
base_url = "{sim_url}/acme-instance/"
client_id = "sim-client"
client_secret = "sim-secret"
refresh_token = "sim-refresh-0"

[[connection]]
name = "{HIGHQ_STALE}"
adapter = "highq"
base_url = "{sim_url}/acme-instance"
client_id = "sim-client"
client_secret = "sim-secret"
refresh_token = "a-stale-refresh-token"
{extra_toml}
"#,
        amqp = amqp_url(),
        http_timeout = options.http_timeout,
        lease = options.sending_lease,
        group_timeout = options.group_timeout,
        max_attempts = options.max_attempts,
        schedule = options.schedule,
        sim_url = sim.base_url(),
        queue_type = options.queue_type,
        admin_token = options.admin_token,
        extra_toml = options.extra_toml.replace("{sim_url}", &sim.base_url()),
    );
    let mut config = Config::parse(&config_toml, &|_| None).expect("test config is valid");
    herald::cli::setup(&config).await.expect("setup");
    let direct = config.clone();
    let (mut db_proxy, mut amqp_proxy) = (None, None);
    if options.proxied {
        let (proxy, url) = Proxy::for_url(&config.database.url).await;
        config.database.url = url;
        db_proxy = Some(proxy);
        let (proxy, url) = Proxy::for_url(&config.amqp.url).await;
        config.amqp.url = url;
        amqp_proxy = Some(proxy);
    }
    let store = Store::connect(&direct.database)
        .await
        .expect("store")
        .with_keys(direct.secrets.keys.clone());
    let amqp = queue::connect(&direct.amqp.url)
        .await
        .expect("RabbitMQ (is it running?)");
    let publisher = Publisher::open(&amqp, &config.amqp)
        .await
        .expect("publisher");
    let mut app = TestApp {
        config,
        config_toml,
        store,
        sim,
        publisher,
        amqp,
        worker: None,
        db_proxy,
        amqp_proxy,
    };
    if options.start_worker {
        app.start_worker().await;
    }
    app
}

/// A valid send command for `to`.
pub fn send(id: Uuid, to: &str) -> Value {
    json!({"type": "send", "id": id, "connection": CONNECTION,
           "message": {"to": to, "text": "Your order has shipped"}})
}

/// A valid send command for `to` through `connection`, with a new id.
pub fn send_to(connection: &str, to: &str) -> (Uuid, Value) {
    let id = Uuid::new_v4();
    let mut command = send(id, to);
    command["connection"] = json!(connection);
    (id, command)
}

/// A Konnek connection named `name` (with the `callback_token`), as a
/// `[[connection]]` table for [`Options::extra_toml`]: metrics labelled with
/// a name only one test uses count only what that test caused (the metrics
/// recorder is the test binary's, shared by every test).
pub fn konnek_connection(name: &str) -> String {
    format!(
        r#"
[[connection]]
name = "{name}"
adapter = "konnek"
base_url = "{{sim_url}}"
callback_token = "{CALLBACK_TOKEN}"
channel = "whatsapp"
client_id = "client-1"
username = "sim-user"
password = "sim-pass"
"#
    )
}

/// A connection name no other test uses.
pub fn unique_connection(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

/// The value of the metrics line that starts with `series` (a name and its
/// labels, e.g. `herald_attempts_total{connection="x",result="success"}`).
pub fn metric(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
}

/// [`send`] as the worker has it once parsed, for tests that drive the
/// store or the writer themselves.
pub fn send_command(id: Uuid, to: &str) -> std::sync::Arc<herald::domain::SendCommand> {
    let body = send(id, to).to_string();
    match herald::domain::Command::parse(body.as_bytes(), |_| true) {
        Ok(herald::domain::Command::Send(send)) => std::sync::Arc::from(send),
        other => panic!("not a send: {other:?}"),
    }
}

/// Polls `probe` until it returns `Some`, or panics after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

impl TestApp {
    pub async fn start_worker(&mut self) {
        let token = CancellationToken::new();
        let running = startup::start(self.config.clone(), token.clone())
            .await
            .expect("worker starts");
        // `start` returns once HTTP answers; the consumer follows.
        let addr = running.http_addr;
        self.worker = Some((running, token));
        eventually(30, "the worker to be ready", || async move {
            let ready = reqwest::get(format!("http://{addr}/readyz")).await;
            ready.is_ok_and(|r| r.status().is_success()).then_some(())
        })
        .await;
    }

    /// Stops the worker and waits for its drain.
    pub async fn stop_worker(&mut self) {
        if let Some((running, token)) = self.worker.take() {
            token.cancel();
            running
                .handle
                .await
                .expect("worker task")
                .expect("worker stops cleanly");
        }
    }

    /// The proxy between the worker and PostgreSQL (`Options::proxied`).
    pub fn db(&self) -> &Proxy {
        self.db_proxy.as_ref().expect("the app is proxied")
    }

    /// The proxy between the worker and RabbitMQ (`Options::proxied`).
    pub fn broker(&self) -> &Proxy {
        self.amqp_proxy.as_ref().expect("the app is proxied")
    }

    /// Runs statements on the test's own database, in order (test set-up:
    /// triggers that slow or fail a write, rows put in place by hand).
    pub async fn run_sql(&self, statements: &[impl AsRef<str>]) {
        for statement in statements.iter().map(AsRef::as_ref) {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&self.store.pool)
                .await
                .unwrap_or_else(|err| panic!("{statement}: {err}"));
        }
    }

    pub async fn publish(&self, command: &Value) {
        self.publish_raw(command.to_string().as_bytes()).await;
    }

    pub async fn publish_raw(&self, body: &[u8]) {
        self.publisher.publish(body).await.expect("publish");
    }

    pub async fn delivery(&self, id: Uuid) -> Option<DeliveryView> {
        self.store.delivery(id).await.expect("read delivery")
    }

    pub async fn attempts(&self, id: Uuid) -> Vec<AttemptView> {
        self.store.attempts(id).await.expect("read attempts")
    }

    /// Waits until the delivery is in `status`, and returns it.
    /// Waits until the delivery waits for `reason`, and returns it.
    pub async fn wait_for_reason(&self, id: Uuid, reason: &str) -> DeliveryView {
        eventually(30, &format!("{id} to wait for {reason}"), || async {
            self.delivery(id).await.filter(|d| {
                d.status == "waitForSending" && d.wait_reason.as_deref() == Some(reason)
            })
        })
        .await
    }

    pub async fn wait_for_status(&self, id: Uuid, status: &str) -> DeliveryView {
        eventually(20, &format!("{id} to be {status}"), || async {
            self.delivery(id).await.filter(|d| d.status == status)
        })
        .await
    }

    /// Takes the next dead letter: its body and its `x-herald-error`.
    pub async fn next_dead_letter(&self) -> (Vec<u8>, String) {
        let channel = self.amqp.create_channel().await.expect("channel");
        let queue = self.config.amqp.dead_letter_queue.clone();
        eventually(20, "a dead letter", || {
            let channel = channel.clone();
            let queue = queue.clone();
            async move {
                let message = channel
                    .basic_get(queue.as_str().into(), BasicGetOptions::default())
                    .await
                    .expect("basic_get")?;
                message.ack(BasicAckOptions::default()).await.expect("ack");
                let headers = message.properties.headers().clone().unwrap_or_default();
                let error = herald::queue::publisher::header_text(&headers, "x-herald-error")
                    .expect("dead letter has x-herald-error");
                Some((message.data.clone(), error))
            }
        })
        .await
    }

    /// The connection's row in `connection_pauses`: its end and reason.
    pub async fn pause_of(
        &self,
        connection: &str,
    ) -> Option<(chrono::DateTime<chrono::Utc>, String)> {
        sqlx::query_as("SELECT paused_until, reason FROM connection_pauses WHERE connection = $1")
            .bind(connection)
            .fetch_optional(&self.store.pool)
            .await
            .expect("read connection_pauses")
    }

    /// The worker's status-callback URL for a connection.
    pub fn callback_url(&self, connection: &str) -> String {
        let addr = self.worker.as_ref().expect("worker running").0.http_addr;
        format!("http://{addr}/v1/callbacks/{connection}")
    }

    /// The worker's address for `path` (`/v1/deliveries`).
    pub fn http_url(&self, path: &str) -> String {
        let addr = self.worker.as_ref().expect("worker running").0.http_addr;
        format!("http://{addr}{path}")
    }

    /// The worker's metrics page.
    pub async fn metrics(&self) -> String {
        let addr = self.worker.as_ref().expect("worker running").0.http_addr;
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("body")
    }
}

/// Messages ready in the test's command queue.
pub async fn queue_depth(app: &TestApp) -> u32 {
    let channel = app.amqp.create_channel().await.expect("channel");
    let options = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let queue = channel
        .queue_declare(
            app.config.amqp.queue.as_str().into(),
            options,
            Default::default(),
        )
        .await
        .expect("passive declare");
    queue::close_channel(&channel, "depth read").await;
    queue.message_count()
}

/// Waits until every published command was taken, then stops the worker,
/// which drains what it holds. Commands the broker had pushed to the worker
/// that it had not started on when it stopped go back to the queue (the
/// consumer is cancelled first, and a graceful stop does not take on new
/// work): then the worker runs again until they are taken too. An empty
/// queue after a stop means all were handled and acked; a command that came
/// back round after round would be one the worker never acks.
pub async fn settle(app: &mut TestApp) {
    for _round in 0..5 {
        eventually(10, "the queue to be consumed", || async {
            (queue_depth(app).await == 0).then_some(())
        })
        .await;
        app.stop_worker().await;
        if queue_depth(app).await == 0 {
            return;
        }
        app.start_worker().await;
    }
    panic!("commands came back to the queue after five stops: some command is never acked");
}

/// Each test's (classic) exchanges and queues are deleted when it ends, pass
/// or fail, so that the broker does not collect thousands of leftovers.
impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((_, token)) = &self.worker {
            token.cancel();
        }
        let mut amqp = self.config.amqp.clone();
        amqp.url = amqp_url(); // not through a proxy the test may have cut
        if amqp.queue_type != herald::config::QueueType::Classic {
            return; // see topology::delete: quorum queues are left in place
        }
        // Drop cannot await: a small runtime of its own, on a thread of its own.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(connection) = queue::connect(&amqp.url).await {
                    let _ = herald::queue::topology::delete(&connection, &amqp).await;
                    queue::close(&connection, "test done").await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Each attempt's outcome and HTTP status, in order.
pub fn outcomes(attempts: &[AttemptView]) -> Vec<(String, Option<i32>)> {
    attempts
        .iter()
        .map(|a| (a.outcome.clone(), a.http_status))
        .collect()
}

/// The body ids a Konnek delivery is sent under: its own in the first
/// round, one derived from it in each resend's round.
pub fn konnek_ids(id: Uuid) -> Vec<String> {
    let rounds = (1..=5).map(|round| Uuid::new_v5(&id, format!("resend {round}").as_bytes()));
    std::iter::once(id)
        .chain(rounds)
        .map(|id| id.to_string())
        .collect()
}

/// The Konnek calls of delivery `id`, every round's.
pub fn konnek_calls(app: &TestApp, id: Uuid) -> usize {
    konnek_ids(id).iter().map(|key| app.sim.sends_of(key)).sum()
}
