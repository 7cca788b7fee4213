//! The ceiling: what this machine allows without a database. Consume from a
//! quorum queue, POST to the simulator, ack, with herald's count, prefetch
//! and concurrency, in this process.

use super::measure::CpuSnapshot;
use super::{BenchArgs, Cpu, sends};
use crate::config::Config;
use crate::queue::{self, Publisher};
use crate::simulator::SimHandle;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Serialize)]
pub struct CeilingReport {
    pub per_second: f64,
    /// `herald` here is the bare pipeline, the simulator included.
    pub cpu_seconds_per_1000: Cpu,
}

pub async fn run(
    config: &Config,
    sim: &SimHandle,
    args: &BenchArgs,
) -> anyhow::Result<CeilingReport> {
    let mut amqp_config = config.amqp.clone();
    amqp_config.exchange = "herald.bench.ceiling".into();
    amqp_config.queue = "herald.bench.ceiling".into();
    let amqp = queue::connect(&amqp_config.url).await?;
    let channel = amqp.create_channel().await?;
    queue::topology::declare(&channel, &amqp_config).await?;
    queue::topology::purge(&amqp_config, &amqp_config.url).await?;
    let (_, bodies) = sends(args.count);
    Publisher::open(&amqp, &amqp_config)
        .await?
        .publish_many(&bodies)
        .await?;
    drop(bodies);

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
    let cpu_before = CpuSnapshot::take();
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
    let per_second = args.count as f64 / started.elapsed().as_secs_f64();
    let cpu_after = CpuSnapshot::take();
    queue::close(&amqp, "bench done").await;
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

/// What the adapter would send, built as cheaply as the bare pipeline can.
fn konnek_body(command: &[u8]) -> serde_json::Value {
    let command: serde_json::Value = serde_json::from_slice(command).unwrap_or_default();
    serde_json::json!({
        "id": command["id"], "reply_id": "", "times": 0, "timestamp": "2026-01-01T00:00:00Z",
        "reply_token": "", "recipient": command["message"]["to"], "type": "text",
        "body": {"text": command["message"]["text"]}
    })
}
