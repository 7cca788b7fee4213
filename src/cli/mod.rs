//! The command line (contract §1): one binary, one subcommand per job.

mod bulk;
mod bulk_pages;
mod dead;
mod dead_audit;
mod dead_history;
mod dead_purge;
mod dead_view;
mod filters;
mod list;
mod operator;
mod publish;
mod secrets;
mod timeline;
mod view;

use crate::tools::{bench, demo, simulate, soak};

use crate::config::Config;
use crate::startup::stop_on_signal;
pub use crate::startup::{Failure, setup};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The configuration file read when none is named.
const DEFAULT_CONFIG: &str = "herald.toml";

#[derive(Parser, Debug)]
#[command(
    name = "herald",
    version,
    about = "Queue-driven outbound delivery worker"
)]
pub struct Cli {
    /// The configuration file [default: herald.toml]. Without one, `show`
    /// and `list` read the default database (or HERALD_DATABASE_URL), as
    /// the demo does, and `dead` the default RabbitMQ (or HERALD_AMQP_URL).
    #[arg(long, global = true, env = "HERALD_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the database migrations and declare the RabbitMQ topology (idempotent).
    Setup,
    /// Consume commands and deliver; serves /metrics, /healthz and /readyz.
    Worker,
    /// Publish one command, or one per line (JSON lines), from FILE or `-` (stdin).
    Publish { file: String },
    /// Start a new round of attempts for failed or delivered deliveries.
    ///
    /// By ids, or every delivery the filters match (`--status failed` or
    /// `--status success`, with any of the other filters). Published as
    /// `resend` commands through the queue, in confirmed batches; a worker
    /// applies each once, so running the same resend twice resends once.
    /// Try `--dry-run` first.
    Resend(bulk::ResendArgs),
    /// Fail waiting deliveries with `cancelled`, before they are sent.
    ///
    /// By ids, or every waiting delivery the filters match (e.g.
    /// `--connection NAME --wait-reason rate`). Published as `cancel`
    /// commands through the queue; a delivery already sent is left alone.
    Cancel(bulk::Selection),
    /// Print one delivery: its fields, its message, and one timeline of its
    /// attempts and every other change (who, when, why).
    Show(operator::ShowArgs),
    /// Print deliveries, newest first, a page at a time; filter by status,
    /// connection, time, wait reason or group.
    List(list::ListArgs),
    /// List, replay or purge the dead-lettered commands; the history of
    /// replays and purges.
    ///
    /// `list` needs only RabbitMQ: `[amqp]` of the configuration; without
    /// a herald.toml, the default broker (or HERALD_AMQP_URL) and queue
    /// herald.dead. `replay` and `purge` record what they do in PostgreSQL
    /// (`[database]`, or the default database, or HERALD_DATABASE_URL),
    /// and `history` reads it.
    Dead(dead::DeadArgs),
    /// The key the stored provider credentials are sealed with: make one,
    /// or seal every stored credential again with the current key.
    Secrets(secrets::SecretsArgs),
    /// Serve the provider simulator.
    Simulate(simulate::SimulateArgs),
    /// Run the demo: simulator, worker and a batch of sample commands.
    Demo(demo::DemoArgs),
    /// Measure deliveries per second against the machine's ceiling.
    Bench(bench::BenchArgs),
    /// Run workers for a while at a steady rate with faults injected on a
    /// schedule; count what was published, delivered, lost and sent twice.
    Soak(soak::SoakArgs),
}

fn init_logs(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let load = || Config::load(&path);
    // What only reads the database needs no file: without one (none named,
    // and no herald.toml here), the defaults and the URL overrides serve.
    let load_to_read = || {
        if cli.config.is_none() && !path.exists() {
            eprintln!(
                "herald: no {DEFAULT_CONFIG} here; using the default database (127.0.0.1:5432/herald, or HERALD_DATABASE_URL) and RabbitMQ (127.0.0.1:5672, or HERALD_AMQP_URL)"
            );
            return Config::from_env();
        }
        load()
    };
    // The same for what needs only RabbitMQ.
    let load_for_broker = || {
        if cli.config.is_none() && !path.exists() {
            eprintln!(
                "herald: no {DEFAULT_CONFIG} here; using the default RabbitMQ (127.0.0.1:5672, or HERALD_AMQP_URL) and queue herald.dead, and for the record of replays and purges the default database (127.0.0.1:5432/herald, or HERALD_DATABASE_URL)"
            );
            return Config::from_env();
        }
        load()
    };
    match cli.command {
        Command::Setup => {
            init_logs("herald=info");
            setup(&load()?).await?;
            println!("setup done: migrations applied, topology declared");
            Ok(())
        }
        Command::Worker => {
            init_logs("herald=info");
            let config = load()?;
            config.require_secrets_key()?;
            worker(config).await
        }
        Command::Secrets(args) => {
            init_logs("herald=info");
            secrets::run(load, args).await
        }
        Command::Publish { file } => publish::run(&load()?, &file).await,
        Command::Resend(args) => bulk::resend(&load_to_read()?, args).await,
        Command::Cancel(selection) => bulk::cancel(&load_to_read()?, selection).await,
        Command::Show(args) => operator::show(&load_to_read()?, args).await,
        Command::List(args) => list::run(&load_to_read()?, cli.config.as_deref(), args).await,
        Command::Dead(args) => dead::run(&load_for_broker()?, cli.config.as_deref(), args).await,
        Command::Simulate(args) => {
            init_logs("herald=info");
            simulate::run(args).await
        }
        Command::Bench(args) => {
            init_logs("herald=error");
            bench::run(&path, args).await
        }
        Command::Soak(args) => {
            init_logs("herald=error");
            soak::run(&path, args).await
        }
        Command::Demo(args) => {
            // Failures the demo provokes on purpose would garble the progress bar.
            init_logs("herald=error");
            demo::run(&path, args).await
        }
    }
}

async fn worker(config: Config) -> Result<(), Failure> {
    use anyhow::Context as _;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = crate::startup::start(config, shutdown.clone())
        .await
        .context("worker could not start")?;
    let signals = tokio::spawn(stop_on_signal(shutdown));
    let result = running.handle.await.context("worker task failed")?;
    signals.abort();
    result.context("worker stopped")?;
    Ok(())
}

/// Parses a delivery id given on the command line.
/// The store of `config`'s database, for the operator commands.
async fn store(config: &Config) -> Result<crate::storage::Store, Failure> {
    use anyhow::Context as _;
    Ok(crate::storage::Store::connect(&config.database)
        .await
        .context("cannot connect to PostgreSQL")?)
}

fn parse_id(text: &str) -> Result<uuid::Uuid, Failure> {
    uuid::Uuid::parse_str(text.trim())
        .map_err(|_| Failure::Usage(format!("{text:?} is not a delivery id (a UUID)")))
}
