//! `herald demo`: the simulator, a worker and a batch of sample commands on
//! the local PostgreSQL and RabbitMQ, with a progress bar and a summary.
//!
//! It uses the database of the configuration (or the default URL) and queues
//! of its own (`herald.demo.*`, purged at the start); its deliveries stay in
//! the database under the connection `demo-konnek` for `herald list` to show.

use super::Failure;
use crate::config::{AdapterSettings, Config, ConnectionConfig, KonnekSettings, LimitsConfig};
use crate::domain::RetryPolicy;
use crate::simulator::{self, SimConfig, Step};
use anyhow::Context as _;
use comfy_table::Table;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// How many sample commands to publish.
    #[arg(long, default_value_t = 2000)]
    pub count: usize,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

const CONNECTION: &str = "demo-konnek";

/// The demo's configuration: the file's database and broker if there is a
/// file, else the defaults (both overridable by HERALD_DATABASE_URL / HERALD_AMQP_URL).
fn demo_config(path: &Path, sim_url: &str) -> Result<Config, Failure> {
    let mut config = if path.exists() {
        Config::load(path)?
    } else {
        Config::parse("", &|name| std::env::var(name).ok())?
    };
    // Fixed names, reused run after run: quorum queues are not made to be
    // created and deleted all day. Leftovers of an earlier run are purged.
    config.amqp.exchange = "herald.demo".into();
    config.amqp.queue = "herald.demo.commands".into();
    config.amqp.dead_letter_exchange = "herald.demo.dead".into();
    config.amqp.dead_letter_queue = "herald.demo.dead".into();
    config.http.listen = "127.0.0.1:0".into();
    config.worker.concurrency = 128;
    config.worker.shutdown_grace = Duration::from_secs(5);
    let ms = Duration::from_millis;
    config.retry = RetryPolicy {
        max_attempts: 4,
        schedule: vec![ms(200), ms(500), ms(1000)],
        jitter: 0.1,
    };
    config.connections = vec![ConnectionConfig {
        name: CONNECTION.into(),
        base_url: sim_url.into(),
        callback_token: None,
        retry: config.retry.clone(),
        limits: LimitsConfig::default(),
        settings: AdapterSettings::Konnek(KonnekSettings {
            channel: "whatsapp".into(),
            client_id: "demo".into(),
            username: "sim-user".into(),
            password: "sim-pass".into(),
        }),
    }];
    Ok(config)
}

/// One sample command; every 20th recipient meets a scripted fault.
fn sample(i: usize) -> (Uuid, String, serde_json::Value) {
    let id = Uuid::new_v4();
    let to = format!("62811{i:07}");
    let message = match i % 4 {
        0 => json!({"to": to, "text": format!("Your order #{i} has shipped"), "kind": "text"}),
        1 => json!({"to": to, "text": "Your invoice", "kind": "document",
                    "media": {"url": format!("https://files.example/invoice-{i}.pdf"), "name": "invoice.pdf"}}),
        2 => {
            json!({"to": to, "kind": "location", "location": {"latitude": -6.2, "longitude": 106.8}})
        }
        _ => json!({"to": to, "text": "Was this helpful?", "kind": "buttons",
                    "buttons": [{"key": "yes", "title": "Yes"}, {"key": "no", "title": "No"}]}),
    };
    let command = json!({"type": "send", "id": id, "connection": CONNECTION, "message": message});
    (id, to, command)
}

fn faults(i: usize) -> Option<Vec<Step>> {
    match i % 20 {
        3 => Some(vec![Step::Http {
            status: 503,
            retry_after: None,
        }]),
        7 => Some(vec![
            Step::MetaFalse {
                code: 500,
                message: "upstream busy".into(),
            },
            Step::Http {
                status: 502,
                retry_after: None,
            },
        ]),
        11 => Some(vec![Step::Http {
            status: 429,
            retry_after: Some(1),
        }]),
        17 if i % 40 == 17 => Some(vec![Step::MetaFalse {
            code: 400,
            message: "recipient not on WhatsApp".into(),
        }]),
        _ => None,
    }
}

pub async fn run(config_path: &Path, args: DemoArgs) -> Result<(), Failure> {
    if args.count == 0 {
        return Err(Failure::Usage("--count must be at least 1".into()));
    }
    let sim = simulator::start(
        "127.0.0.1:0".parse().context("address")?,
        SimConfig::default(),
    )
    .await
    .context("cannot start the simulator")?;
    let config = demo_config(config_path, &sim.base_url())?;
    println!(
        "herald demo: {} commands through Konnek's simulator at {}",
        args.count,
        sim.base_url()
    );
    super::setup(&config).await?;

    let samples: Vec<_> = (0..args.count).map(sample).collect();
    for (i, (_, to, _)) in samples.iter().enumerate() {
        if let Some(steps) = faults(i) {
            sim.script(to, steps);
        }
    }
    let ids: Vec<Uuid> = samples.iter().map(|(id, _, _)| *id).collect();
    let bodies: Vec<Vec<u8>> = samples
        .iter()
        .map(|(_, _, c)| c.to_string().into_bytes())
        .collect();

    crate::queue::topology::purge(&config.amqp, &config.amqp.url)
        .await
        .context("purging the demo queues")?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let worker = crate::worker::start(config.clone(), shutdown.clone())
        .await
        .context("worker could not start")?;
    let amqp = crate::queue::connect(&config.amqp.url)
        .await
        .context("cannot connect to RabbitMQ")?;
    let publisher = crate::queue::Publisher::open(&amqp, &config.amqp)
        .await
        .context("channel")?;
    let store = crate::storage::Store::connect(&config.database)
        .await
        .context("database")?;

    let started = Instant::now();
    publisher
        .publish_many(&bodies)
        .await
        .context("publishing failed")?;
    let published_in = started.elapsed();

    let bar = indicatif::ProgressBar::new(args.count as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} settled  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let counts = loop {
        let counts = store
            .status_counts_of(&ids)
            .await
            .context("reading progress")?;
        let settled = counts.success + counts.failed;
        bar.set_position(settled);
        bar.set_message(format!(
            "{} delivered, {} failed, {} waiting",
            counts.success, counts.failed, counts.waiting
        ));
        if settled as usize >= args.count || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let elapsed = started.elapsed();
    bar.finish();

    shutdown.cancel();
    let _ = worker.handle.await;
    let attempts = store
        .attempt_counts_of(&ids)
        .await
        .context("reading attempts")?;
    crate::queue::topology::delete(&amqp, &config.amqp)
        .await
        .ok();
    crate::queue::close(&amqp, "demo done").await;
    sim.shutdown();

    let mut table = Table::new();
    table.set_header(["", "count"]);
    let rate = counts.success as f64 / elapsed.as_secs_f64().max(0.001);
    let rows = [
        ("commands published", args.count.to_string()),
        ("delivered (success)", counts.success.to_string()),
        ("failed (permanent)", counts.failed.to_string()),
        (
            "still waiting",
            (args.count as u64 - counts.success - counts.failed).to_string(),
        ),
        ("provider calls", attempts.total.to_string()),
        ("retried calls", attempts.retryable.to_string()),
        ("delivered after a retry", attempts.recovered.to_string()),
        ("publish time", format!("{:.2?}", published_in)),
        ("total time", format!("{:.2?}", elapsed)),
        ("deliveries per second", format!("{rate:.0}")),
    ];
    for (name, value) in rows {
        table.add_row([name.to_owned(), value]);
    }
    println!("{table}");
    println!("inspect them: herald list --connection {CONNECTION}");
    if counts.success + counts.failed < args.count as u64 {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "not every delivery settled within {}s",
            args.timeout
        )));
    }
    Ok(())
}
