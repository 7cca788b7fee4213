//! What herald's steady runs and the bare pipeline's share: the publisher at
//! a steady rate, the sizes of a run, and what it reports of its latency.

use super::measure;
use super::{BenchArgs, sends};
use crate::config::AmqpConfig;
use crate::queue::{self, Publisher};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Publishes `count` sends at `rate` a second, each at its due time,
/// calling `at_mark` when the one numbered `mark` is due. Returns their
/// ids, due times and the rate actually achieved.
pub async fn publish_at(
    amqp_config: &AmqpConfig,
    rate: f64,
    count: usize,
    mark: usize,
    at_mark: &mut dyn FnMut(),
) -> anyhow::Result<(Vec<Uuid>, Vec<DateTime<Utc>>, f64)> {
    let (ids, bodies) = sends(count);
    let bodies = std::sync::Arc::new(bodies);
    let amqp = queue::connect(&amqp_config.url).await?;
    let publisher = Publisher::open(&amqp, amqp_config).await?;
    let (clock, wall) = (Instant::now(), Utc::now());
    let due_of = |i: usize| Duration::from_secs_f64(i as f64 / rate);
    let mut sent = 0;
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Confirms are awaited beside the publishing, as a producer with
    // confirms in flight does, so that a slow confirm does not hold back
    // the commands due after it.
    let mut confirms = tokio::task::JoinSet::new();
    while sent < count {
        ticker.tick().await;
        let elapsed = clock.elapsed();
        let mut upto = sent;
        while upto < count && due_of(upto) <= elapsed {
            if upto == mark {
                at_mark();
            }
            upto += 1;
        }
        if upto > sent {
            let (publisher, bodies, from) = (publisher.clone(), bodies.clone(), sent);
            confirms.spawn(async move { publisher.publish_many(&bodies[from..upto]).await });
            sent = upto;
        }
        while let Some(done) = confirms.try_join_next() {
            done??;
        }
    }
    while let Some(done) = confirms.join_next().await {
        done??;
    }
    let published_per_second = count as f64 / clock.elapsed().as_secs_f64().max(1e-3);
    queue::close(&amqp, "published").await;
    let due = (0..count)
        .map(|i| wall + chrono::Duration::from_std(due_of(i)).unwrap_or_default())
        .collect();
    Ok((ids, due, published_per_second))
}

/// The offered rate of a steady run at `percent` of `max_rate`.
pub fn steady_rate(max_rate: f64, percent: u32) -> f64 {
    (max_rate * f64::from(percent) / 100.0).max(1.0)
}

/// The commands of a steady run at `rate`: its warm-up, then the measured
/// ones (`--steady-seconds` of them, at most `--count`). The warm-up runs at
/// the same rate and is not measured: a worker or pipeline just started
/// opens its connections and fills its caches first.
pub fn steady_counts(args: &BenchArgs, rate: f64) -> (usize, usize) {
    let count = ((rate * args.steady_seconds as f64) as usize).clamp(1, args.count);
    let warm = (rate * args.warmup_seconds as f64) as usize;
    (warm, count)
}

/// A steady run's rate, size and latency from due to done, as both kinds
/// of steady run report them.
#[derive(Debug, Serialize)]
pub struct SteadyLatency {
    pub percent: u32,
    pub offered_per_second: f64,
    /// The rate the bench managed to publish at (it can fall behind).
    pub published_per_second: f64,
    pub count: usize,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl SteadyLatency {
    /// `latencies` sorted, in ms.
    pub fn of(
        percent: u32,
        offered_per_second: f64,
        published_per_second: f64,
        count: usize,
        latencies: &[f64],
    ) -> SteadyLatency {
        SteadyLatency {
            percent,
            offered_per_second,
            published_per_second,
            count,
            p50_ms: measure::quantile(latencies, 0.50),
            p99_ms: measure::quantile(latencies, 0.99),
            max_ms: latencies.last().copied(),
        }
    }
}
