//! `herald bench`: deliveries per second of herald against the machine's own
//! ceiling, measured in the same run, with what each delivery costs.
//!
//! 1. The ceiling (`ceiling`): a bare pipeline with no database.
//! 2. herald (`herald`): real `herald worker` processes draining a backlog
//!    published before they start, once per `--workers` count; then a steady
//!    offered rate at 25%, 50% and 75% of the first count's drain rate, for
//!    the latency from publish to `success`.
//!    Before each steady rate, the bare pipeline is offered the same rate,
//!    for the latency this machine gives with no database at all.
//! 3. For each: deliveries per second, CPU seconds per 1,000 deliveries of
//!    herald, PostgreSQL and RabbitMQ, statements, round trips and
//!    transactions per delivery, and the workers' peak RSS.
//!
//! The simulator runs in this process in its fastest mode (no latency, no
//! faults, no request log). The run uses a database of its own, dropped at
//! the end, and fixed `herald.bench.*` quorum queues, purged before each
//! measurement (quorum queues are not made to be created and deleted run
//! after run).

mod ceiling;
mod herald;
pub(super) mod measure;
mod publish;
mod report;
pub(super) mod sql;
pub(super) mod workers;

use crate::config::Config;
use crate::startup::Failure;
use crate::tools::simulator::{self, SimConfig, SimHandle};
use anyhow::Context as _;
use serde::Serialize;
use sql::{BenchDatabase, one_connection};
use std::path::Path;
use uuid::Uuid;
use workers::ConfigFile;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Messages per measurement.
    #[arg(long, default_value_t = 50_000)]
    pub count: usize,
    /// Deliveries in flight per worker (and in the ceiling pipeline). herald's
    /// sets grow with it; the bare pipeline does not depend on it.
    #[arg(long, default_value_t = 1024)]
    pub concurrency: usize,
    /// Unacked commands RabbitMQ pushes ahead, per worker (and ceiling).
    #[arg(long, default_value_t = 1024)]
    pub prefetch: u16,
    /// Worker processes; a list (`1,2,4`) measures the drain once per count.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub workers: Vec<usize>,
    /// How long each steady-rate measurement offers its rate (at most
    /// `--count` messages), after its warm-up.
    #[arg(long, default_value_t = 10)]
    pub steady_seconds: u64,
    /// Seconds of each steady rate offered before its measurement starts,
    /// to a worker started for it; not counted.
    #[arg(long, default_value_t = 3)]
    pub warmup_seconds: u64,
    /// Give the bench's connection limits far above what it reaches
    /// (`rate_per_second` 1,000,000, `daily_quota` a billion, a sending
    /// window open for 23 hours around now): what checking them costs.
    #[arg(long)]
    pub limits: bool,
    /// Queue this many sends of a second connection limited to 5 calls a
    /// second ahead of each backlog drain: the drain's connection's rate
    /// beside a backlog that waits for its rate in the table.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub beside: usize,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Give up on a measurement after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

/// CPU seconds per 1,000 deliveries, per part.
#[derive(Debug, Serialize)]
pub struct Cpu {
    pub herald: Option<f64>,
    pub postgres: Option<f64>,
    pub rabbitmq: Option<f64>,
}

impl Cpu {
    /// Over `count` deliveries: herald's CPU seconds before and after, and
    /// PostgreSQL's and RabbitMQ's from the two snapshots.
    fn between(
        herald: (Option<f64>, Option<f64>),
        before: &measure::CpuSnapshot,
        after: &measure::CpuSnapshot,
        count: usize,
    ) -> Cpu {
        use measure::per_thousand;
        Cpu {
            herald: per_thousand(herald.0, herald.1, count),
            postgres: per_thousand(before.postgres, after.postgres, count),
            rabbitmq: per_thousand(before.rabbitmq, after.rabbitmq, count),
        }
    }
}

/// CPU seconds per 1,000 deliveries of a steady run: the three parts of a
/// drain's, and this process (the publisher and the simulator; for the bare
/// pipeline, the pipeline too, and `herald` is `null`).
#[derive(Debug, Serialize)]
pub struct SteadyCpu {
    #[serde(flatten)]
    pub parts: Cpu,
    pub bench: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub count: usize,
    pub concurrency: usize,
    pub prefetch: u16,
    pub ceiling: ceiling::CeilingReport,
    pub backlog: Vec<herald::DrainReport>,
    pub steady: Vec<herald::SteadyReport>,
    /// The bare pipeline at the same steady rates.
    pub ceiling_steady: Vec<ceiling::SteadyCeiling>,
    /// herald's best drain over the ceiling.
    pub ratio: f64,
    /// The worker count of that best drain.
    pub ratio_workers: usize,
}

const CONNECTION: &str = "bench-konnek";
const STEADY_PERCENTS: [u32; 3] = [25, 50, 75];

/// The providers' simulator on a free port, keeping no log of what it
/// received (a bench's or a soak's millions of requests would pile up).
pub(crate) async fn unlogged_simulator() -> anyhow::Result<SimHandle> {
    let sim = simulator::start(
        "127.0.0.1:0".parse().context("address")?,
        SimConfig::default(),
    )
    .await
    .context("cannot start the simulator")?;
    sim.set_record_limit(0);
    Ok(sim)
}

pub async fn run(config_path: &Path, args: BenchArgs) -> Result<(), Failure> {
    if args.count == 0
        || args.concurrency == 0
        || args.prefetch == 0
        || args.workers.is_empty()
        || args.workers.contains(&0)
        || args.steady_seconds == 0
    {
        return Err(Failure::Usage(
            "--count, --concurrency, --prefetch, --workers and --steady-seconds must be at least 1"
                .into(),
        ));
    }
    let base = Config::load_or_env(config_path)?;
    let sim = unlogged_simulator().await?;
    let database = BenchDatabase::create(&base.database.url).await?;
    let result = measure_all(&base, &database, &sim, &args).await;
    database.drop_it().await;
    sim.shutdown();
    report::print(&result?, args.json)
}

async fn measure_all(
    base: &Config,
    database: &BenchDatabase,
    sim: &SimHandle,
    args: &BenchArgs,
) -> Result<Report, Failure> {
    let config = bench_config(base, &database.url, sim, args)?;
    crate::startup::setup(&config).await?;
    let config_file = ConfigFile::write(&config_text(base, &database.url, sim, args))?;
    let admin = one_connection(&database.admin_url)
        .await
        .context("cannot connect to PostgreSQL")?;
    let progress = |what: &str| {
        if !args.json {
            eprintln!("bench: {what}");
        }
    };
    let bench = herald::Bench {
        config: &config,
        config_file: &config_file.path,
        sim,
        args,
        admin: &admin,
        database: &database.name,
        database_url: &database.url,
    };

    progress(&format!(
        "ceiling: consume → POST → ack, {} messages",
        args.count
    ));
    let ceiling = ceiling::run(&config, sim, args).await?;
    let mut backlog = Vec::with_capacity(args.workers.len());
    for &workers in &args.workers {
        progress(&format!(
            "herald: {} draining a backlog of {} sends",
            processes(workers),
            args.count
        ));
        backlog.push(bench.backlog(workers).await?);
    }
    let (first_workers, max_rate) = (backlog[0].workers, backlog[0].per_second);
    let mut steady = Vec::with_capacity(STEADY_PERCENTS.len());
    let mut ceiling_steady = Vec::with_capacity(STEADY_PERCENTS.len());
    for percent in STEADY_PERCENTS {
        let rate = publish::steady_rate(max_rate, percent);
        progress(&format!(
            "ceiling: {rate:.0}/s ({percent}% of {max_rate:.0}/s), no database"
        ));
        ceiling_steady.push(ceiling::steady(&config, sim, args, percent, rate).await?);
        progress(&format!(
            "herald: {} at {percent}% of {max_rate:.0}/s",
            processes(first_workers)
        ));
        steady.push(bench.steady(first_workers, percent, rate).await?);
    }
    admin.close().await;
    let best = backlog
        .iter()
        .max_by(|a, b| a.per_second.total_cmp(&b.per_second))
        .map_or((first_workers, max_rate), |run| {
            (run.workers, run.per_second)
        });
    Ok(Report {
        count: args.count,
        concurrency: args.concurrency,
        prefetch: args.prefetch,
        ratio: best.1 / ceiling.per_second.max(f64::MIN_POSITIVE),
        ratio_workers: best.0,
        ceiling,
        backlog,
        steady,
        ceiling_steady,
    })
}

/// `1 worker process`, `2 worker processes`.
fn processes(workers: usize) -> String {
    crate::print::count(workers, "worker process", "worker processes")
}

/// The bench's configuration: the base file's URLs, fixed bench queues, and
/// one Konnek connection to the in-process simulator.
fn config_text(base: &Config, db_url: &str, sim: &SimHandle, args: &BenchArgs) -> String {
    format!(
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
{limits}{beside}"#,
        beside = if args.beside > 0 {
            limited_connection(&sim.base_url())
        } else {
            String::new()
        },
        amqp = base.amqp.url,
        prefetch = args.prefetch,
        concurrency = args.concurrency,
        sim = sim.base_url(),
        limits = if args.limits {
            far_limits()
        } else {
            String::new()
        },
    )
}

/// The connection whose backlog `--beside` queues: 5 calls a second.
pub const LIMITED: &str = "bench-limited";

fn limited_connection(sim: &str) -> String {
    format!(
        "\n[[connection]]\nname = \"{LIMITED}\"\nadapter = \"konnek\"\nbase_url = \"{sim}\"\n\
         channel = \"whatsapp\"\nclient_id = \"bench\"\nusername = \"sim-user\"\n\
         password = \"sim-pass\"\n[connection.limits]\nrate_per_second = 5\n"
    )
}

/// Limits the bench never reaches: a rate of 1,000,000/s, a quota of a
/// billion a day, and a window from an hour ago to two hours ago (open for
/// the 23 hours between).
fn far_limits() -> String {
    let now = chrono::Utc::now();
    let opens = (now - chrono::Duration::hours(1)).format("%H:%M");
    let closes = (now - chrono::Duration::hours(2)).format("%H:%M");
    format!(
        "[connection.limits]\nrate_per_second = 1000000\nburst = 1000\n\
         daily_quota = 1000000000\nwindow = \"{opens}-{closes}\"\n"
    )
}

fn bench_config(
    base: &Config,
    db_url: &str,
    sim: &SimHandle,
    args: &BenchArgs,
) -> Result<Config, Failure> {
    Ok(Config::parse(
        &config_text(base, db_url, sim, args),
        &|_| None,
    )?)
}

/// `count` send commands to distinct recipients: their ids and bodies.
fn sends(count: usize) -> (Vec<Uuid>, Vec<Vec<u8>>) {
    sends_of(CONNECTION, count)
}

/// `count` send commands of `connection` to distinct recipients.
fn sends_of(connection: &str, count: usize) -> (Vec<Uuid>, Vec<Vec<u8>>) {
    let ids: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
    let bodies = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            serde_json::json!({
                "type": "send", "id": id, "connection": connection,
                "message": {"to": format!("62811{i:07}"), "text": "Your order has shipped"}
            })
            .to_string()
            .into_bytes()
        })
        .collect();
    (ids, bodies)
}
