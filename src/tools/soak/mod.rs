//! `herald soak`: `herald worker` processes kept running for a chosen time
//! at a steady rate, with faults injected on a schedule, and every command
//! accounted for at the end.
//!
//! It runs on the bench's machinery: a database of its own (dropped at the
//! end), a configuration file for the real worker binary, the workers as
//! processes (`bench/workers.rs`), and the simulator in this process, which
//! counts the calls each message received. Between the workers and
//! PostgreSQL and RabbitMQ it puts a TCP proxy (`proxy.rs`), which
//! `faults.rs` cuts to take a service away.
//!
//! Every `--report-every` seconds it prints a line (`report.rs`): commands
//! published, delivered, waiting, dead-lettered, duplicate and retried
//! calls, kills, the faults of the interval, and each worker's RSS and
//! open file descriptors. Then it stops publishing, waits for every
//! delivery to settle (until `--drain-seconds`), and accounts for each
//! command the broker confirmed (`tally.rs`): one in no delivery row and
//! not dead-lettered is lost, and so is a `success` the provider never
//! took. Anything lost, and the soak exits non-zero.

mod faults;
mod proxy;
mod publish;
mod report;
mod sql;
mod tally;

use crate::config::Config;
use crate::queue::{self, dead::DeadQueue};
use crate::startup::Failure;
use crate::tools::bench::measure;
use crate::tools::bench::sql::{BenchDatabase, one_connection};
use crate::tools::bench::workers::{ConfigFile, Workers};
use crate::tools::simulator::SimHandle;
use anyhow::Context as _;
use faults::{Log, Stage, Timing};
use proxy::Proxy;
use publish::Book;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tally::{Sample, WorkerSample};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(clap::Args, Debug)]
pub struct SoakArgs {
    /// How long to publish, in minutes (a fraction is allowed).
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Commands per second, spread over the three connections.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Worker processes.
    #[arg(long, default_value_t = 3)]
    pub workers: usize,
    /// Seconds between two faults (kill, PostgreSQL cut, SIGTERM, RabbitMQ
    /// cut, provider outage, in turn).
    #[arg(long, default_value_t = 150)]
    pub fault_every: u64,
    /// How long PostgreSQL or RabbitMQ stays cut off, in seconds.
    #[arg(long, default_value_t = 10)]
    pub cut_seconds: u64,
    /// How long a provider stays down, in seconds.
    #[arg(long, default_value_t = 30)]
    pub outage_seconds: u64,
    /// Seconds between two report lines.
    #[arg(long, default_value_t = 60)]
    pub report_every: u64,
    /// The workers' `sending_lease`, in seconds (at least 6): how long a
    /// killed worker's claims wait before another worker takes them back.
    /// Their `http_timeout` is the most the lease allows.
    #[arg(long, default_value_t = 30)]
    pub lease_seconds: u64,
    /// How long to wait, after publishing stops, for every delivery to
    /// settle.
    #[arg(long, default_value_t = 600)]
    pub drain_seconds: u64,
    /// The names of the soak's exchange and queues (`<prefix>.commands`,
    /// `<prefix>.dead`); purged at the start.
    #[arg(long, default_value = "herald.soak")]
    pub queue_prefix: String,
    /// Print one JSON object at the end (the lines go to stderr).
    #[arg(long)]
    pub json: bool,
}

pub const KONNEK: &str = "soak-konnek";
pub const CHATWOOT: &str = "soak-chatwoot";
pub const KONNEK_2: &str = "soak-konnek-2";
/// The connections, in the order commands rotate over them.
pub const CONNECTIONS: [&str; 3] = [KONNEK, CHATWOOT, KONNEK_2];

pub async fn run(config_path: &Path, args: SoakArgs) -> Result<(), Failure> {
    if !(args.minutes > 0.0 && args.rate > 0.0)
        || args.workers == 0
        || args.fault_every == 0
        || args.report_every == 0
        || args.lease_seconds < 6
    {
        return Err(Failure::Usage(
            "--minutes, --rate, --workers, --fault-every and --report-every must be above 0, \
             --lease-seconds at least 6"
                .into(),
        ));
    }
    let base = Config::load_or_env(config_path)?;
    let sim = crate::tools::bench::unlogged_simulator().await?;
    let database = BenchDatabase::create_as(&base.database.url, "herald_soak").await?;
    // Named, so that what a killed soak leaves behind can be found.
    eprintln!("soak: database {}", database.name);
    // Interrupted, the soak's future is dropped: its workers are killed
    // (`kill_on_drop`) and its configuration file removed; the database is
    // dropped here either way.
    let result = tokio::select! {
        result = soak(&base, &database, &sim, &args) => result,
        () = interrupted() => Err(anyhow::anyhow!("interrupted")),
    };
    database.drop_it().await;
    sim.shutdown();
    let report = result?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("cannot print the report")?
        );
    }
    eprintln!("{}", report::summary(&report));
    if report.accounting.lost_any() {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "{} commands lost, {} marked success with no provider call",
            report.accounting.lost,
            report.accounting.delivered_without_call
        )));
    }
    Ok(())
}

/// SIGINT or SIGTERM.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let int = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = term => {}
        () = int => {}
    }
}

/// What the reporter reads from.
struct Sources<'a> {
    probe: &'a PgPool,
    dead: &'a DeadQueue,
    sim: &'a SimHandle,
    book: &'a Book,
    log: &'a Log,
    start: Instant,
}

async fn soak(
    base: &Config,
    database: &BenchDatabase,
    sim: &SimHandle,
    args: &SoakArgs,
) -> anyhow::Result<report::Report> {
    let (postgres, pg_url) = Proxy::for_url(&database.url).await?;
    let (rabbitmq, amqp_url) = Proxy::for_url(&base.amqp.url).await?;
    let direct = Config::parse(
        &config_text(&database.url, &base.amqp.url, sim, args),
        &|_| None,
    )
    .context("the soak's configuration")?;
    crate::startup::setup(&direct).await?;
    queue::topology::purge(&direct.amqp, &direct.amqp.url).await?;
    let file = ConfigFile::write_as("herald-soak", &config_text(&pg_url, &amqp_url, sim, args))?;
    // Named, as the database is: a killed soak leaves it behind.
    eprintln!("soak: workers' configuration {}", file.path.display());
    let mut workers = Workers::spawn(args.workers, &file.path)?;
    workers
        .wait_for_consumers(&direct.amqp, args.workers)
        .await?;
    let mut stage = Stage {
        workers,
        postgres,
        rabbitmq,
        sim: sim.clone(),
    };
    let probe = one_connection(&database.url).await?;
    let dead = DeadQueue::open(&direct.amqp).await?;
    let book = Arc::new(Book::default());
    let log = Log::default();
    let timing = Timing {
        every: Duration::from_secs(args.fault_every),
        cut: Duration::from_secs(args.cut_seconds),
        outage: Duration::from_secs(args.outage_seconds),
        grace: Duration::from_secs(SHUTDOWN_GRACE + 20),
    };
    let (stop, done, published) = (
        CancellationToken::new(),
        CancellationToken::new(),
        CancellationToken::new(),
    );
    let start = Instant::now();
    let sources = Sources {
        probe: &probe,
        dead: &dead,
        sim,
        book: &book,
        log: &log,
        start,
    };
    if args.json {
        eprintln!("{}", report::header());
    } else {
        println!("{}", report::header());
    }
    let publishing = async {
        let result = publish::publish(&direct.amqp, args.rate, &book, stop.clone()).await;
        published.cancel();
        // A publisher that failed ends the run.
        stop.cancel();
        result
    };
    let conducting = faults::conduct(&mut stage, timing, &log, start, stop.clone(), done.clone());
    let reporting = async {
        let result = report_until_drained(&sources, args, &stop, &published).await;
        stop.cancel();
        done.cancel();
        result
    };
    let (publish_result, (), reported) = tokio::join!(publishing, conducting, reporting);
    let stopped_at = start.elapsed().as_secs_f64();
    let accounting = account(&sources).await;
    stage.workers.stop().await;
    dead.close().await;
    probe.close().await;
    publish_result?;
    let (samples, drained_in_seconds) = reported?;
    let accounting = accounting?;
    let repeats = sim.repeats();
    let seconds = samples
        .iter()
        .map(|s| s.at_seconds)
        .fold(0.0f64, f64::max)
        .min(stopped_at);
    Ok(report::Report {
        rate: args.rate,
        workers: args.workers,
        seconds: seconds.min(args.minutes * 60.0),
        fault_every_seconds: args.fault_every,
        samples,
        events: std::mem::take(
            &mut *log
                .all
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ),
        kills: log.kills.load(Ordering::Relaxed),
        terms: log.terms.load(Ordering::Relaxed),
        cuts: log.cuts.load(Ordering::Relaxed),
        outages: log.outages.load(Ordering::Relaxed),
        unexpected_exits: log.unexpected_exits.load(Ordering::Relaxed),
        drained_in_seconds,
        accounting,
        duplicate_calls: repeats.successes_beyond_first,
        retried_calls: repeats
            .calls_beyond_first
            .saturating_sub(repeats.successes_beyond_first),
        unconfirmed: book
            .unconfirmed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len() as u64,
    })
}

/// The workers' `shutdown_grace`, in seconds.
const SHUTDOWN_GRACE: u64 = 10;

/// A line every `--report-every` while publishing (for `--minutes`) and
/// while draining; returns the samples and how long the drain took.
async fn report_until_drained(
    sources: &Sources<'_>,
    args: &SoakArgs,
    stop: &CancellationToken,
    published: &CancellationToken,
) -> anyhow::Result<(Vec<Sample>, Option<f64>)> {
    let every = Duration::from_secs(args.report_every);
    let end = sources.start + Duration::from_secs_f64(args.minutes * 60.0);
    let mut samples = Vec::new();
    let mut next = sources.start + every;
    while Instant::now() < end && !stop.is_cancelled() {
        let wake = next.min(end);
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = stop.cancelled() => {}
        }
        if Instant::now() >= next {
            samples.push(emit(sources, args).await?);
            next += every;
        }
    }
    stop.cancel();
    published.cancelled().await;
    let stopped = Instant::now();
    let deadline = stopped + Duration::from_secs(args.drain_seconds);
    let drained = loop {
        let counts = sql::counts(sources.probe).await?;
        let dead = u64::from(sources.dead.count().await.unwrap_or(0));
        let settled = counts.waiting == 0
            && counts.sending == 0
            && counts.rows() as u64 + dead >= sources.book.confirmed();
        if settled {
            break Some(stopped.elapsed().as_secs_f64());
        }
        if Instant::now() >= deadline {
            break None;
        }
        if Instant::now() >= next {
            samples.push(emit(sources, args).await?);
            next += every;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    samples.push(emit(sources, args).await?);
    Ok((samples, drained))
}

/// Takes a sample and prints its line.
async fn emit(sources: &Sources<'_>, args: &SoakArgs) -> anyhow::Result<Sample> {
    let sample = sample(sources).await?;
    let line = report::line(&sample);
    if args.json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
    Ok(sample)
}

async fn sample(sources: &Sources<'_>) -> anyhow::Result<Sample> {
    let published = sources.book.confirmed();
    let counts = sql::counts(sources.probe).await?;
    // Unreadable for a moment (a broker busy), it is shown as 0 rather
    // than ending the run.
    let dead_lettered = sources.dead.count().await.unwrap_or(0);
    let repeats = sources.sim.repeats();
    let workers = sources
        .log
        .pids()
        .into_iter()
        .enumerate()
        .map(|(slot, pid)| WorkerSample {
            slot,
            pid,
            rss_mb: pid.and_then(measure::rss_mb),
            open_fds: pid.and_then(measure::open_fds),
        })
        .collect();
    Ok(Sample {
        at_seconds: sources.start.elapsed().as_secs_f64(),
        published,
        delivered: counts.success,
        waiting: counts.waiting,
        sending: counts.sending,
        failed: counts.failed,
        dead_lettered,
        not_taken_in: (published as i64 - counts.rows() - i64::from(dead_lettered)).max(0),
        duplicate_calls: repeats.successes_beyond_first,
        retried_calls: repeats
            .calls_beyond_first
            .saturating_sub(repeats.successes_beyond_first),
        kills: sources.log.kills.load(Ordering::Relaxed),
        database_mb: sql::size_mb(sources.probe).await.ok(),
        faults: sources.log.take_pending(),
        workers,
    })
}

/// Every confirmed command against the delivery rows, the dead letters and
/// what the simulator received.
async fn account(sources: &Sources<'_>) -> anyhow::Result<tally::Accounting> {
    let published: Vec<publish::Sent> = sources
        .book
        .confirmed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let rows = sql::standings(sources.probe).await?;
    let letters = sources.dead.list(usize::MAX).await?;
    let dead: HashSet<Uuid> = letters
        .letters
        .iter()
        .filter_map(|l| l.id.as_deref().and_then(|id| Uuid::parse_str(id).ok()))
        .collect();
    let keys: HashMap<Uuid, String> = published.iter().map(|s| (s.id, s.key())).collect();
    let ids: Vec<Uuid> = published.iter().map(|s| s.id).collect();
    let sim = sources.sim;
    let reached = |id: &Uuid| {
        keys.get(id)
            .is_some_and(|key| sim.accepted_of(key) + sim.duplicates_of(key) > 0)
    };
    Ok(tally::account(&ids, &rows, &dead, &reached))
}

/// The soak's configuration: its database and broker (direct, or through
/// the proxies), its queues, short timeouts so that a killed worker's
/// claims come back within the run, retries that outlast a provider's
/// outage, and the three connections to the in-process simulator.
fn config_text(db_url: &str, amqp_url: &str, sim: &SimHandle, args: &SoakArgs) -> String {
    let lease = args.lease_seconds as f64;
    // The longest call the lease allows: it must hold two calls and the
    // outcome's reserve (`min(lease / 2, 20s) + 1s`).
    let http_timeout = ((lease - (lease / 2.0).min(20.0) - 1.0) / 2.0)
        .floor()
        .max(1.0);
    let prefix = &args.queue_prefix;
    let sim = sim.base_url();
    format!(
        r#"
[database]
url = "{db_url}"
max_connections = 8
[amqp]
url = "{amqp_url}"
exchange = "{prefix}"
queue = "{prefix}.commands"
dead_letter_exchange = "{prefix}.dead"
dead_letter_queue = "{prefix}.dead"
prefetch = 256
[http]
listen = "127.0.0.1:0"
[worker]
concurrency = 256
http_timeout = "{http_timeout}s"
sending_lease = "{lease}s"
shutdown_grace = "{SHUTDOWN_GRACE}s"
[defaults.retry]
max_attempts = 30
schedule = ["1s", "2s", "4s", "8s"]
jitter = 0.2
[[connection]]
name = "{KONNEK}"
adapter = "konnek"
base_url = "{sim}"
channel = "whatsapp"
client_id = "soak"
username = "sim-user"
password = "sim-pass"
[[connection]]
name = "{CHATWOOT}"
adapter = "chatwoot"
base_url = "{sim}"
api_access_token = "sim-token"
account_id = 1
[[connection]]
name = "{KONNEK_2}"
adapter = "konnek"
base_url = "{sim}"
channel = "telegram"
client_id = "soak-2"
username = "sim-user"
password = "sim-pass"
"#
    )
}
