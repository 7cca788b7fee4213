//! `herald demo`: the simulator, a worker and a batch of sample commands for
//! all five providers on the local PostgreSQL and RabbitMQ, with a progress
//! bar and a summary per connection.
//!
//! Scripted faults make the run show retries, token renewals (OneBox's
//! "Expired token", HighQ's 403) and a quota deferral: OneBox's quota closes
//! halfway, its refusal pauses `demo-onebox` for `samples::QUOTA_PAUSE`,
//! the simulator reopens the quota, and the deliveries that waited go out
//! once the pause ends.
//!
//! It uses the database of the configuration (or the default URL) and
//! queues of its own (`herald.demo.*` unless `--queue-prefix` says
//! otherwise, purged at the start; left in place at the end unless they are
//! classic queues); its deliveries stay in the database under the
//! connections `demo-*` for `herald list` to show.

mod samples;
mod summary;

use crate::config::Config;
use crate::domain::RetryPolicy;
use crate::startup::Failure;
use crate::storage::Store;
use crate::tools::simulator::{self, SimConfig, SimHandle};
use anyhow::Context as _;
use std::path::Path;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// How many sample commands to publish (spread over the five providers).
    #[arg(long, default_value_t = 2000)]
    pub count: usize,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// The names of the demo's exchange and queues: PREFIX, PREFIX.commands
    /// and PREFIX.dead.
    #[arg(long, default_value = "herald.demo")]
    pub queue_prefix: String,
}

/// The demo's configuration: the file's database and broker if there is a
/// file, else the defaults (both overridable by HERALD_DATABASE_URL /
/// HERALD_AMQP_URL), with the demo's queues and connections.
fn demo_config(
    path: &Path,
    args: &DemoArgs,
    sim_url: &str,
    highq_refresh_token: &str,
) -> Result<Config, Failure> {
    let mut config = Config::load_or_env(path)?;
    // Fixed names, reused run after run: quorum queues are not made to be
    // created and deleted all day. Leftovers of an earlier run are purged.
    let prefix = &args.queue_prefix;
    config.amqp.exchange = prefix.clone();
    config.amqp.queue = format!("{prefix}.commands");
    config.amqp.dead_letter_exchange = format!("{prefix}.dead");
    config.amqp.dead_letter_queue = format!("{prefix}.dead");
    config.http.listen = "127.0.0.1:0".into();
    config.worker.concurrency = 128;
    config.worker.shutdown_grace = Duration::from_secs(5);
    let ms = Duration::from_millis;
    config.retry = RetryPolicy {
        max_attempts: 4,
        schedule: vec![ms(200), ms(500), ms(1000)],
        jitter: 0.1,
    };
    config.connections = samples::connections(sim_url, &config.retry, highq_refresh_token);
    Ok(config)
}

pub async fn run(config_path: &Path, args: DemoArgs) -> Result<(), Failure> {
    if args.count == 0 {
        return Err(Failure::Usage("--count must be at least 1".into()));
    }
    // A refresh token of this run's own: HighQ's stored pair of an earlier
    // run belongs to a simulator that is gone, and a new configured refresh
    // token starts the stored pair again.
    let highq_refresh_token = format!("demo-refresh-{}", Uuid::new_v4().simple());
    let sim_config = SimConfig {
        highq_refresh_token: highq_refresh_token.clone(),
        ..SimConfig::default()
    };
    let sim = simulator::start("127.0.0.1:0".parse().context("address")?, sim_config)
        .await
        .context("cannot start the simulator")?;
    let config = demo_config(config_path, &args, &sim.base_url(), &highq_refresh_token)?;
    println!(
        "herald demo: {} commands for Konnek, OneBox, Chatwoot, HighQ and Comm100, \
         all served by the simulator at {}",
        args.count,
        sim.base_url()
    );
    crate::startup::setup(&config).await?;
    // HighQ's pair is kept sealed. Without a key of the user's, the demo
    // seals it with a key of this run's own (after setup, so that setup does
    // not try to open an earlier run's pair), and forgets the pair at the
    // end: it belongs to this run's simulator alone.
    let mut config = config;
    let own_key = config.secrets.keys.current().is_none();
    if own_key {
        let key = crate::secrets::Key::parse(&crate::secrets::Key::generate());
        config.secrets.keys = crate::secrets::Keys::new(key, vec![]);
    }

    let samples: Vec<_> = (0..args.count).map(samples::sample).collect();
    for (i, sample) in samples.iter().enumerate() {
        if let Some(steps) = samples::faults(i) {
            sim.script(&sample.recipient, steps);
        }
    }
    let quota = samples::onebox_quota(args.count);
    sim.set_onebox_quota(quota);
    let ids: Vec<Uuid> = samples.iter().map(|s| s.id).collect();
    let bodies: Vec<Vec<u8>> = samples
        .iter()
        .map(|s| s.command.to_string().into_bytes())
        .collect();

    crate::queue::topology::purge(&config.amqp, &config.amqp.url)
        .await
        .context("purging the demo queues")?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let worker = crate::startup::start(config.clone(), shutdown.clone())
        .await
        .context("worker could not start")?;
    let amqp = crate::queue::connect_to(&config.amqp)
        .await
        .context("cannot connect to RabbitMQ")?;
    let publisher = crate::queue::Publisher::open(&amqp, &config.amqp)
        .await
        .context("channel")?;
    let store = Store::connect(&config.database).await.context("database")?;

    let started = Instant::now();
    publisher
        .publish_many(&bodies)
        .await
        .context("publishing failed")?;
    let published_in = started.elapsed();

    let settled = watch(&store, &sim, &ids, args.timeout, quota.is_some()).await?;
    let elapsed = started.elapsed();

    shutdown.cancel();
    let _ = worker.handle.await;
    let figures = store.figures_of(&ids).await.context("reading figures")?;
    if own_key {
        for connection in &config.connections {
            store
                .forget_token(&connection.name)
                .await
                .context("forgetting the demo's HighQ pair")?;
        }
    }
    if config.amqp.queue_type == crate::config::QueueType::Classic {
        // Classic queues may come and go; quorum ones stay for the next run.
        crate::queue::topology::delete(&amqp, &config.amqp)
            .await
            .ok();
    }
    crate::queue::close(&amqp, "demo done").await;

    let table = summary::table(
        &figures,
        |connection| summary::token_refreshes(&sim, connection),
        crate::metrics::deferrals_of,
    );
    sim.shutdown();
    println!("{table}");
    let delivered: u64 = figures.iter().map(|f| f.success).sum();
    let rate = delivered as f64 / elapsed.as_secs_f64().max(0.001);
    println!(
        "{} commands published in {published_in:.2?}; {} settled in {elapsed:.2?} ({rate:.0} deliveries per second)",
        args.count, settled
    );
    println!(
        "retries: calls answered 5xx or 429, tried again by the schedule or Retry-After; \
         token refreshes: tokens renewed after a refusal (OneBox's \"Expired token\", HighQ's 403), \
         beyond the first; deferrals: OneBox's quota refusals and the deliveries its pause held back"
    );
    // The configuration the demo read, where it read one, so that the
    // hint reads the same database.
    let program = match config_path.exists() {
        true => format!(
            "{} --config {}",
            crate::print::program(),
            config_path.display()
        ),
        false => crate::print::program(),
    };
    println!(
        "inspect them: {program} list --connection demo-onebox (or demo-konnek, demo-chatwoot, demo-highq, demo-comm100), then {program} show ID"
    );
    if settled < args.count as u64 {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "not every delivery settled within {}s",
            args.timeout
        )));
    }
    Ok(())
}

/// Shows progress until every delivery settled or `timeout` seconds
/// passed, and reopens OneBox's quota once its refusal paused the
/// connection. Returns how many settled.
async fn watch(
    store: &Store,
    sim: &SimHandle,
    ids: &[Uuid],
    timeout: u64,
    mut quota_closes: bool,
) -> Result<u64, Failure> {
    let bar = indicatif::ProgressBar::new(ids.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} settled  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let settled = loop {
        let counts = store
            .status_counts_of(ids)
            .await
            .context("reading progress")?;
        let settled = counts.success + counts.failed;
        bar.set_position(settled);
        bar.set_message(format!(
            "{} delivered, {} failed, {} waiting",
            counts.success, counts.failed, counts.waiting
        ));
        if quota_closes {
            let pauses = store.current_pauses().await.context("reading pauses")?;
            if let Some((_, until, reason)) = pauses.iter().find(|p| p.0 == samples::ONEBOX) {
                let event = format!(
                    "{}: {reason}; paused until {} by quota_pause, for every worker. \
                     The simulator now reopens OneBox's quota.",
                    samples::ONEBOX,
                    until.format("%H:%M:%S%.3f UTC")
                );
                // A hidden bar (output not a terminal) prints nothing.
                if bar.is_hidden() {
                    println!("{event}");
                } else {
                    bar.println(event);
                }
                sim.set_onebox_quota(None);
                quota_closes = false;
            }
        }
        if settled >= ids.len() as u64 || Instant::now() > deadline {
            break settled;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    bar.finish();
    Ok(settled)
}
