//! herald measured as it runs in production: `herald worker` processes,
//! started from this binary with the bench's configuration, draining a
//! backlog and then serving a steady offered rate.

use super::measure::{self, CpuSnapshot, PgCounters, per_delivery, per_thousand};
use super::publish::SteadyLatency;
use super::sql::{self, one_connection};
use super::workers::Workers;
use super::{BenchArgs, CONNECTION, Cpu, LIMITED, SteadyCpu, sends, sends_of};
use crate::config::Config;
use crate::queue::{self, Publisher};
use crate::tools::simulator::SimHandle;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// Earlier deliveries each measurement starts with (see [`Bench::reset`]).
const HISTORY: i32 = 100_000;
/// Their connection, which the worker never sees.
const HISTORY_CONNECTION: &str = "bench-history";

/// What one measurement needs besides its arguments.
pub struct Bench<'a> {
    pub config: &'a Config,
    pub config_file: &'a Path,
    pub sim: &'a SimHandle,
    pub args: &'a BenchArgs,
    /// The admin database's pool, to read PostgreSQL's counters from.
    pub admin: &'a PgPool,
    /// The measured database's name and URL.
    pub database: &'a str,
    pub database_url: &'a str,
}

#[derive(Debug, Serialize)]
pub struct DrainReport {
    pub workers: usize,
    pub per_second: f64,
    pub statements_per_delivery: Option<f64>,
    pub round_trips_per_delivery: Option<f64>,
    pub transactions_per_delivery: Option<f64>,
    pub cpu_seconds_per_1000: Cpu,
    /// The largest peak RSS of the worker processes, in MB.
    pub peak_rss_mb: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct SteadyReport {
    /// From due to `success`.
    #[serde(flatten)]
    pub latency: SteadyLatency,
    pub workers: usize,
    pub stages: Stages,
    /// Over the measured part (from its first command due until all are
    /// `success`); `herald` is the workers, `bench` this process (the
    /// publisher and the simulator).
    pub cpu_seconds_per_1000: SteadyCpu,
}

/// Where the latency of a steady run goes, stage by stage.
#[derive(Debug, Serialize)]
pub struct Stages {
    /// Due → the accepting statement started: the publisher, RabbitMQ, the
    /// consumer, and the accept's wait for its set.
    pub to_accept: Stage,
    /// → the provider call started: the accepting statement and its commit.
    pub to_call: Stage,
    /// The provider call (the simulator, on loopback).
    pub call: Stage,
    /// → the statement recording `success` started: the outcome's wait for
    /// its set.
    pub to_record: Stage,
}

impl Stages {
    /// The stages in the order a delivery passes them.
    pub fn in_order(&self) -> [&Stage; 4] {
        [&self.to_accept, &self.to_call, &self.call, &self.to_record]
    }
}

#[derive(Debug, Serialize)]
pub struct Stage {
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl Stage {
    fn of(sorted: &[f64]) -> Stage {
        Stage {
            p50_ms: measure::quantile(sorted, 0.50),
            p99_ms: measure::quantile(sorted, 0.99),
        }
    }
}

/// How many of the limited connection's sends may be in a worker's hands
/// at once: at 5 a second, those whose slot is less than a second away.
const NEAR_SLOTS: i64 = 8;

impl Bench<'_> {
    /// herald draining `count` sends published before its workers start.
    pub async fn backlog(&self, workers: usize) -> anyhow::Result<DrainReport> {
        let count = self.args.count;
        self.reset().await?;
        let amqp = queue::connect(&self.config.amqp.url).await?;
        let publisher = Publisher::open(&amqp, &self.config.amqp).await?;
        // With `--beside`, the limited connection's backlog is taken in and
        // waits in the table for its rate before the measured drain starts:
        // its workers run already, and their CPU so far is not counted.
        let mut early: Option<(Workers, Option<f64>)> = None;
        if self.args.beside > 0 {
            let (_, limited) = sends_of(LIMITED, self.args.beside);
            publisher.publish_many(&limited).await?;
            let mut running = Workers::spawn(workers, self.config_file)?;
            self.wait_for_waiting(&mut running, self.args.beside)
                .await?;
            let spent = running.cpu();
            early = Some((running, spent));
        }
        let (_, bodies) = sends(count);
        // Published before the measurement starts, unless workers already
        // run (`--beside`): then they take the backlog as it comes.
        if early.is_none() {
            publisher.publish_many(&bodies).await?;
        }
        let pg_before = PgCounters::settled(self.admin, self.database).await?;
        let cpu_before = CpuSnapshot::take();
        if early.is_some() {
            publisher.publish_many(&bodies).await?;
        }
        queue::close(&amqp, "published").await;
        drop(bodies);
        let (mut running, spent) = match early {
            Some(early) => early,
            None => (Workers::spawn(workers, self.config_file)?, Some(0.0)),
        };
        let probe = self.probe().await?;
        let waited = self.wait_for_success(&probe, &mut running, count).await;
        let (herald_cpu, peak_rss_mb) = (running.cpu(), running.peak_rss_mb());
        running.stop().await;
        let span = self.drain_span(&probe).await;
        let polls = probe.polls.load(Ordering::Relaxed);
        probe.pool.close().await;
        waited?;
        let (first, last) = span?;
        let cpu_after = CpuSnapshot::take();
        let pg_after = PgCounters::settled(self.admin, self.database).await?;
        let seconds = (last - first).as_seconds_f64().max(1e-3);
        Ok(DrainReport {
            workers,
            per_second: count as f64 / seconds,
            statements_per_delivery: per_delivery(
                pg_before.statements,
                pg_after.statements,
                0,
                count,
            ),
            round_trips_per_delivery: per_delivery(
                pg_before.round_trips,
                pg_after.round_trips,
                0,
                count,
            ),
            transactions_per_delivery: per_delivery(
                Some(pg_before.transactions),
                Some(pg_after.transactions),
                polls,
                count,
            ),
            // Their CPU since the measurement started.
            cpu_seconds_per_1000: Cpu::between((spent, herald_cpu), &cpu_before, &cpu_after, count),
            peak_rss_mb,
        })
    }

    /// Latency from publish to `success` at `rate` (`percent` of the
    /// maximum). Each command's clock starts at the moment it was due to be
    /// published, so a publisher that falls behind does not hide the wait.
    pub async fn steady(
        &self,
        workers: usize,
        percent: u32,
        rate: f64,
    ) -> anyhow::Result<SteadyReport> {
        let (warm, count) = super::publish::steady_counts(self.args, rate);
        self.reset().await?;
        let mut running = Workers::spawn(workers, self.config_file)?;
        let ready = running.wait_for_consumers(&self.config.amqp, workers).await;
        if let Err(err) = ready {
            running.stop().await;
            return Err(err);
        }
        let probe = self.probe().await?;
        let mut cpu_before = None;
        let published =
            super::publish::publish_at(&self.config.amqp, rate, warm + count, warm, &mut || {
                cpu_before = Some((CpuSnapshot::take(), running.cpu()));
            })
            .await;
        let waited = match &published {
            Ok(_) => {
                self.wait_for_success(&probe, &mut running, warm + count)
                    .await
            }
            Err(_) => Ok(()),
        };
        let (cpu_after, herald_after) = (CpuSnapshot::take(), running.cpu());
        running.stop().await;
        let (mut ids, mut due, published_per_second) = published?;
        waited?;
        let (cpu_before, herald_before) = cpu_before.context("the publisher stopped early")?;
        ids.drain(..warm);
        due.drain(..warm);
        // One row per delivery: publish to success, and its four stages.
        let rows = sql::latencies(&probe.pool, &ids, &due).await?;
        probe.pool.close().await;
        let column = |pick: fn(&(f64, f64, f64, f64, f64)) -> f64| {
            let mut values: Vec<f64> = rows.iter().map(pick).collect();
            values.sort_by(f64::total_cmp);
            values
        };
        let latencies = column(|r| r.0);
        Ok(SteadyReport {
            latency: SteadyLatency::of(percent, rate, published_per_second, count, &latencies),
            workers,
            stages: Stages {
                to_accept: Stage::of(&column(|r| r.1)),
                to_call: Stage::of(&column(|r| r.2)),
                call: Stage::of(&column(|r| r.3)),
                to_record: Stage::of(&column(|r| r.4)),
            },
            cpu_seconds_per_1000: SteadyCpu {
                parts: Cpu::between(
                    (herald_before, herald_after),
                    &cpu_before,
                    &cpu_after,
                    count,
                ),
                bench: per_thousand(cpu_before.own, cpu_after.own, count),
            },
        })
    }

    /// An empty queue, a quiet simulator, no attempts, and a `deliveries`
    /// table holding only [`HISTORY`] earlier deliveries, vacuumed and
    /// analyzed.
    ///
    /// A production table holds its history, and PostgreSQL plans for it:
    /// an outcome's update finds its row by primary key. On a table just
    /// emptied, the plan a worker's connection caches is a sequential scan
    /// (the cheapest way through ten pages), and it keeps that plan while the
    /// table grows, until autovacuum analyzes it: every set would then scan
    /// the whole table.
    async fn reset(&self) -> anyhow::Result<()> {
        queue::topology::purge(&self.config.amqp, &self.config.amqp.url).await?;
        sql::refill(self.database_url, HISTORY, HISTORY_CONNECTION).await?;
        self.sim.reset();
        Ok(())
    }

    async fn probe(&self) -> anyhow::Result<Probe> {
        let pool = one_connection(self.database_url).await?;
        Ok(Probe {
            pool,
            polls: AtomicI64::new(0),
        })
    }

    /// Waits until `count` deliveries are `success`. The simulator's own
    /// counter is watched first, so that the database is asked only at the end.
    async fn wait_for_success(
        &self,
        probe: &Probe,
        workers: &mut Workers,
        count: usize,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(self.args.timeout);
        loop {
            workers.check_alive()?;
            if self.sim.stats().accepted as usize >= count {
                probe.polls.fetch_add(1, Ordering::Relaxed);
                let done = sql::successes(&probe.pool, CONNECTION).await?;
                if usize::try_from(done).is_ok_and(|done| done >= count) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "herald delivered {} of {count} before the timeout",
                    self.sim.stats().accepted
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the `count` sends of the limited connection are all
    /// recorded and wait for their rate in the table: at most a few are in a
    /// worker's hands (those whose slot is near, claimed up to 500 ms ahead
    /// of it) or due with no reason yet.
    async fn wait_for_waiting(&self, workers: &mut Workers, count: usize) -> anyhow::Result<()> {
        let probe = one_connection(self.database_url).await?;
        let deadline = Instant::now() + Duration::from_secs(self.args.timeout);
        loop {
            workers.check_alive()?;
            let (recorded, unsettled) = sql::recorded_and_unsettled(&probe, LIMITED).await?;
            if recorded >= count as i64 && unsettled <= NEAR_SLOTS {
                probe.close().await;
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "the limited backlog was not taken in before the timeout: \
                     {recorded} of {count} recorded, {unsettled} not yet waiting for their rate"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// From the first command accepted to the last success committed.
    async fn drain_span(&self, probe: &Probe) -> anyhow::Result<(DateTime<Utc>, DateTime<Utc>)> {
        probe.polls.fetch_add(1, Ordering::Relaxed);
        match sql::drain_span(&probe.pool, CONNECTION).await? {
            (Some(first), Some(last)) => Ok((first, last)),
            _ => anyhow::bail!("no delivery was recorded"),
        }
    }
}

/// The bench's connection to the measured database, and how many statements
/// it ran there (they are taken out of the transaction count).
struct Probe {
    pool: PgPool,
    polls: AtomicI64,
}
