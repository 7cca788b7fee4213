//! `herald bench`: deliveries per second of herald against the machine's own
//! ceiling, measured in the same run.
//!
//! 1. The ceiling: a bare pipeline with no database (consume from a quorum
//!    queue, POST to the simulator, ack) with the same count, prefetch and
//!    concurrency.
//! 2. herald: the real worker(s) draining a backlog of `send` commands
//!    published before they start, every delivery through `waitForSending →
//!    sending → success` with its attempt row.
//!
//! The simulator runs in-process in its fastest mode (no latency, no faults,
//! no request log). The run uses a database of its own, dropped at the end,
//! and fixed `herald.bench.*` quorum queues, purged at the start (quorum
//! queues are not made to be created and deleted run after run).
//!
//! Not measured yet: latency at offered rates, statements per delivery, CPU
//! per 1,000 deliveries, peak RSS.

use super::Failure;
use crate::config::Config;
use crate::queue::{self, Publisher};
use crate::simulator::{self, SimConfig, SimHandle};
use anyhow::Context as _;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use serde::Serialize;
use sqlx::Connection as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Messages per measurement.
    #[arg(long, default_value_t = 50_000)]
    pub count: usize,
    /// Deliveries in flight per worker (and in the ceiling pipeline).
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 256)]
    pub prefetch: u16,
    /// Worker processes for the herald measurement.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Give up on a measurement after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub count: usize,
    pub concurrency: usize,
    pub prefetch: u16,
    pub workers: usize,
    pub ceiling_per_second: f64,
    pub herald_backlog_per_second: f64,
    pub ratio: f64,
}

const CONNECTION: &str = "bench-konnek";

pub async fn run(config_path: &Path, args: BenchArgs) -> Result<(), Failure> {
    if args.count == 0 || args.concurrency == 0 || args.prefetch == 0 || args.workers == 0 {
        return Err(Failure::Usage(
            "--count, --concurrency, --prefetch and --workers must be at least 1".into(),
        ));
    }
    let sim = simulator::start(
        "127.0.0.1:0".parse().context("address")?,
        SimConfig::default(),
    )
    .await
    .context("cannot start the simulator")?;
    sim.set_record_limit(0);
    let base = if config_path.exists() {
        Config::load(config_path)?
    } else {
        Config::parse("", &|name| std::env::var(name).ok())?
    };
    let database = BenchDatabase::create(&base.database.url).await?;
    let config = bench_config(&base, &database.url, &sim, &args)?;
    super::setup(&config).await?;

    let progress = |what: &str| {
        if !args.json {
            eprintln!("bench: {what}");
        }
    };
    progress(&format!(
        "ceiling: consume → POST → ack, {} messages",
        args.count
    ));
    let ceiling = ceiling(&config, &sim, &args).await;
    progress(&format!(
        "herald: draining a backlog of {} sends with {} worker(s)",
        args.count, args.workers
    ));
    let herald = backlog(&config, &args).await;
    database.drop_it().await;
    sim.shutdown();
    let (ceiling, herald) = (ceiling?, herald?);
    let report = Report {
        count: args.count,
        concurrency: args.concurrency,
        prefetch: args.prefetch,
        workers: args.workers,
        ceiling_per_second: ceiling,
        herald_backlog_per_second: herald,
        ratio: herald / ceiling.max(f64::MIN_POSITIVE),
    };
    print(&report, args.json)
}

fn print(report: &Report, json: bool) -> Result<(), Failure> {
    if json {
        println!(
            "{}",
            serde_json::to_string(report).context("formatting the report")?
        );
        return Ok(());
    }
    let mut table = comfy_table::Table::new();
    table.set_header(["measurement", "deliveries/s"]);
    table.add_row([
        "ceiling (no database)".to_owned(),
        format!("{:.0}", report.ceiling_per_second),
    ]);
    table.add_row([
        format!("herald, backlog drain, {} worker(s)", report.workers),
        format!("{:.0}", report.herald_backlog_per_second),
    ]);
    println!("{table}");
    println!("herald / ceiling: {:.1}%", report.ratio * 100.0);
    Ok(())
}

/// The bench's configuration: the base file's URLs, fixed bench queues, and
/// one Konnek connection to the in-process simulator.
fn bench_config(
    base: &Config,
    db_url: &str,
    sim: &SimHandle,
    args: &BenchArgs,
) -> Result<Config, Failure> {
    let text = format!(
        r#"
[database]
url = "{db_url}"
max_connections = 16
[amqp]
url = "{amqp}"
exchange = "herald.bench"
queue = "herald.bench.commands"
dead_letter_exchange = "herald.bench.dead"
dead_letter_queue = "herald.bench.dead"
prefetch = {prefetch}
[http]
listen = "127.0.0.1:0"
[worker]
concurrency = {concurrency}
[[connection]]
name = "{CONNECTION}"
adapter = "konnek"
base_url = "{sim}"
channel = "whatsapp"
client_id = "bench"
username = "sim-user"
password = "sim-pass"
"#,
        amqp = base.amqp.url,
        prefetch = args.prefetch,
        concurrency = args.concurrency,
        sim = sim.base_url(),
    );
    Ok(Config::parse(&text, &|_| None)?)
}

fn send_body(i: usize) -> Vec<u8> {
    serde_json::json!({
        "type": "send", "id": Uuid::new_v4(), "connection": CONNECTION,
        "message": {"to": format!("62811{i:07}"), "text": "Your order has shipped"}
    })
    .to_string()
    .into_bytes()
}

/// The bare pipeline: what this machine allows without a database.
async fn ceiling(config: &Config, sim: &SimHandle, args: &BenchArgs) -> anyhow::Result<f64> {
    let mut amqp_config = config.amqp.clone();
    amqp_config.exchange = "herald.bench.ceiling".into();
    amqp_config.queue = "herald.bench.ceiling".into();
    let amqp = queue::connect(&amqp_config.url).await?;
    let channel = amqp.create_channel().await?;
    queue::topology::declare(&channel, &amqp_config).await?;
    queue::topology::purge(&amqp_config, &amqp_config.url).await?;
    let bodies: Vec<Vec<u8>> = (0..args.count).map(send_body).collect();
    Publisher::open(&amqp, &amqp_config)
        .await?
        .publish_many(&bodies)
        .await?;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()?;
    let url = format!("{}/whatsapp/send/bench", sim.base_url());
    channel
        .basic_qos(args.prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            amqp_config.queue.as_str().into(),
            "bench-ceiling".into(),
            BasicConsumeOptions::default(),
            Default::default(),
        )
        .await?;
    let permits = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let tasks = tokio_util::task::TaskTracker::new();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout);
    for _ in 0..args.count {
        let permit = permits.clone().acquire_owned().await?;
        let next = tokio::time::timeout_at(deadline.into(), consumer.next()).await;
        let delivery = match next {
            Ok(Some(Ok(delivery))) => delivery,
            _ => anyhow::bail!("the ceiling pipeline stopped receiving"),
        };
        let (http, url) = (http.clone(), url.clone());
        tasks.spawn(async move {
            let body = konnek_body(&delivery.data);
            if let Ok(response) = http
                .post(&url)
                .header("Auth-username", "sim-user")
                .header("Auth-password", "sim-pass")
                .json(&body)
                .send()
                .await
            {
                let _ = response.bytes().await;
            }
            let _ = delivery.ack(BasicAckOptions::default()).await;
            drop(permit);
        });
    }
    tasks.close();
    tasks.wait().await;
    let rate = args.count as f64 / started.elapsed().as_secs_f64();
    queue::close(&amqp, "bench done").await;
    Ok(rate)
}

/// What the adapter would send, built as cheaply as the bare pipeline can.
fn konnek_body(command: &[u8]) -> serde_json::Value {
    let command: serde_json::Value = serde_json::from_slice(command).unwrap_or_default();
    serde_json::json!({
        "id": command["id"], "reply_id": "", "times": 0, "timestamp": "2026-01-01T00:00:00Z",
        "reply_token": "", "recipient": command["message"]["to"], "type": "text",
        "body": {"text": command["message"]["text"]}
    })
}

/// herald draining a backlog published before the workers start.
async fn backlog(config: &Config, args: &BenchArgs) -> anyhow::Result<f64> {
    queue::topology::purge(&config.amqp, &config.amqp.url).await?;
    let amqp = queue::connect(&config.amqp.url).await?;
    let bodies: Vec<Vec<u8>> = (0..args.count).map(send_body).collect();
    Publisher::open(&amqp, &config.amqp)
        .await?
        .publish_many(&bodies)
        .await?;
    queue::close(&amqp, "published").await;
    let store = crate::storage::Store::connect(&config.database).await?;

    let mut workers = Vec::with_capacity(args.workers);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let started = Instant::now();
    for _ in 0..args.workers {
        workers.push(crate::worker::start(config.clone(), shutdown.clone()).await?);
    }
    let deadline = started + Duration::from_secs(args.timeout);
    let result = loop {
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'success'")
                .fetch_one(&store.pool)
                .await?;
        if done as usize >= args.count {
            break Ok(args.count as f64 / started.elapsed().as_secs_f64());
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!(
                "herald delivered {done} of {} before the timeout",
                args.count
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    shutdown.cancel();
    for worker in workers {
        let _ = worker.handle.await;
    }
    store.pool.close().await;
    result
}

/// A database of the bench's own, dropped when it is done.
struct BenchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl BenchDatabase {
    async fn create(admin_url: &str) -> anyhow::Result<BenchDatabase> {
        let name = format!("herald_bench_{}", Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .context("cannot connect to PostgreSQL")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .context("cannot create the bench database (the role needs CREATEDB)")?;
        let _ = conn.close().await;
        let (base, _) = admin_url
            .rsplit_once('/')
            .context("the database URL has no database name")?;
        Ok(BenchDatabase {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    async fn drop_it(&self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin_url).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            if let Err(err) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
            {
                eprintln!("bench: could not drop {}: {err}", self.name);
            }
            let _ = conn.close().await;
        }
    }
}
