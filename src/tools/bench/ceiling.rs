//! The ceiling: what this machine allows without a database. Consume from a
//! quorum queue, POST to the simulator, ack, with herald's count, prefetch
//! and concurrency, in this process: once draining a backlog (the rate), and
//! once at each of herald's steady rates (the latency the machine itself
//! gives at that rate, with the same publisher).

use super::measure::{self, CpuSnapshot};
use super::publish::{self, SteadyLatency};
use super::{BenchArgs, Cpu, SteadyCpu, sends};
use crate::config::{AmqpConfig, Config};
use crate::queue::{self, Publisher};
use crate::tools::simulator::SimHandle;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Debug, Serialize)]
pub struct CeilingReport {
    pub per_second: f64,
    /// `herald` here is the bare pipeline, the simulator included.
    pub cpu_seconds_per_1000: Cpu,
}

/// The bare pipeline's consumer, on a purged ceiling queue.
struct Pipeline {
    amqp: lapin::Connection,
    amqp_config: AmqpConfig,
    consumer: lapin::Consumer,
    http: reqwest::Client,
    url: String,
}

impl Pipeline {
    /// Declares and purges the ceiling queue, publishes `backlog` to it, and
    /// only then starts consuming.
    async fn open(
        config: &Config,
        sim: &SimHandle,
        args: &BenchArgs,
        backlog: &[Vec<u8>],
    ) -> anyhow::Result<Pipeline> {
        let mut amqp_config = config.amqp.clone();
        amqp_config.exchange = "herald.bench.ceiling".into();
        amqp_config.queue = "herald.bench.ceiling".into();
        let amqp = queue::connect(&amqp_config.url).await?;
        let channel = amqp.create_channel().await?;
        queue::topology::declare(&channel, &amqp_config).await?;
        queue::topology::purge(&amqp_config, &amqp_config.url).await?;
        if !backlog.is_empty() {
            Publisher::open(&amqp, &amqp_config)
                .await?
                .publish_many(backlog)
                .await?;
        }
        channel
            .basic_qos(args.prefetch, BasicQosOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                amqp_config.queue.as_str().into(),
                "bench-ceiling".into(),
                BasicConsumeOptions::default(),
                Default::default(),
            )
            .await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()?;
        let url = format!("{}/whatsapp/send/bench", sim.base_url());
        Ok(Pipeline {
            amqp,
            amqp_config,
            consumer,
            http,
            url,
        })
    }

    /// Consumes `count` commands, each POSTed and acked in a task of its
    /// own, at most `concurrency` at once, giving up at `deadline`; `done`
    /// is told each command's id once it is acked.
    async fn serve(
        &mut self,
        count: usize,
        args: &BenchArgs,
        deadline: Instant,
        done: impl Fn(Option<Uuid>) + Clone + Send + 'static,
    ) -> anyhow::Result<()> {
        let permits = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
        let tasks = tokio_util::task::TaskTracker::new();
        for _ in 0..count {
            let permit = permits.clone().acquire_owned().await?;
            let next = tokio::time::timeout_at(deadline.into(), self.consumer.next()).await;
            let delivery = match next {
                Ok(Some(Ok(delivery))) => delivery,
                _ => anyhow::bail!("the ceiling pipeline stopped receiving"),
            };
            let (http, url, done) = (self.http.clone(), self.url.clone(), done.clone());
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
                done(body["id"].as_str().and_then(|id| Uuid::parse_str(id).ok()));
                drop(permit);
            });
        }
        tasks.close();
        tasks.wait().await;
        Ok(())
    }
}

pub async fn run(
    config: &Config,
    sim: &SimHandle,
    args: &BenchArgs,
) -> anyhow::Result<CeilingReport> {
    let (_, bodies) = sends(args.count);
    let mut pipeline = Pipeline::open(config, sim, args, &bodies).await?;
    drop(bodies);

    let cpu_before = CpuSnapshot::take();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout);
    pipeline.serve(args.count, args, deadline, |_| {}).await?;
    let per_second = args.count as f64 / started.elapsed().as_secs_f64();
    let cpu_after = CpuSnapshot::take();
    queue::close(&pipeline.amqp, "bench done").await;
    Ok(CeilingReport {
        per_second,
        cpu_seconds_per_1000: Cpu::between(
            (cpu_before.own, cpu_after.own),
            &cpu_before,
            &cpu_after,
            args.count,
        ),
    })
}

/// The bare pipeline at a steady offered rate: what this machine's latency
/// is at the rate herald is measured at, with no database.
#[derive(Debug, Serialize)]
pub struct SteadyCeiling {
    /// From due to acked.
    #[serde(flatten)]
    pub latency: SteadyLatency,
    /// `bench` is this process: the pipeline, the publisher and the
    /// simulator; `herald` is `null`.
    pub cpu_seconds_per_1000: SteadyCpu,
}

/// Offers `rate` a second to the bare pipeline: a warm-up of
/// `--warmup-seconds`, then `--steady-seconds` measured (at most `--count`
/// commands), as herald's steady runs are.
pub async fn steady(
    config: &Config,
    sim: &SimHandle,
    args: &BenchArgs,
    percent: u32,
    rate: f64,
) -> anyhow::Result<SteadyCeiling> {
    let (warm, count) = publish::steady_counts(args, rate);
    let mut pipeline = Pipeline::open(config, sim, args, &[]).await?;
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::new(Mutex::new(Vec::with_capacity(warm + count)));
    let record = acked.clone();
    let done = move |id: Option<Uuid>| {
        let at = Utc::now();
        if let Some(id) = id
            && let Ok(mut acked) = record.lock()
        {
            acked.push((id, at));
        }
    };
    let amqp_config = pipeline.amqp_config.clone();
    let mut cpu_before = None;
    let mut at_mark = || cpu_before = Some(CpuSnapshot::take());
    // The publishing takes the warm-up and the measured seconds; the
    // timeout counts from their end, as herald's wait for its successes does.
    let deadline = Instant::now()
        + Duration::from_secs(args.warmup_seconds + args.steady_seconds + args.timeout);
    // A publisher that fails ends the pipeline's wait at once.
    let served = tokio::try_join!(
        publish::publish_at(&amqp_config, rate, warm + count, warm, &mut at_mark),
        pipeline.serve(warm + count, args, deadline, done),
    );
    let cpu_after = CpuSnapshot::take();
    queue::close(&pipeline.amqp, "bench done").await;
    let ((ids, due, published_per_second), ()) = served?;
    let cpu_before = cpu_before.ok_or_else(|| anyhow::anyhow!("the publisher stopped early"))?;
    let acked: HashMap<Uuid, DateTime<Utc>> = acked
        .lock()
        .map_err(|_| anyhow::anyhow!("a pipeline task panicked"))?
        .iter()
        .copied()
        .collect();
    let mut latencies: Vec<f64> = ids[warm..]
        .iter()
        .zip(&due[warm..])
        .filter_map(|(id, due)| {
            acked
                .get(id)
                .map(|at| (*at - *due).as_seconds_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    Ok(SteadyCeiling {
        latency: SteadyLatency::of(percent, rate, published_per_second, count, &latencies),
        cpu_seconds_per_1000: SteadyCpu {
            parts: Cpu::between((None, None), &cpu_before, &cpu_after, count),
            bench: measure::per_thousand(cpu_before.own, cpu_after.own, count),
        },
    })
}

/// A command the pipeline acked, and when.
type Acked = (Uuid, DateTime<Utc>);

/// What the adapter would send, built as cheaply as the bare pipeline can.
fn konnek_body(command: &[u8]) -> serde_json::Value {
    let command: serde_json::Value = serde_json::from_slice(command).unwrap_or_default();
    serde_json::json!({
        "id": command["id"], "reply_id": "", "times": 0, "timestamp": "2026-01-01T00:00:00Z",
        "reply_token": "", "recipient": command["message"]["to"], "type": "text",
        "body": {"text": command["message"]["text"]}
    })
}
