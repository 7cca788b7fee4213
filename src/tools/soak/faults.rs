//! The soak's faults, one at a time on a schedule, in a fixed rotation:
//! a worker killed (SIGKILL) and a new one started, PostgreSQL cut off,
//! a worker stopped (SIGTERM) and started again, RabbitMQ cut off, and a
//! provider down (Konnek answering 503, then Chatwoot hanging, in turn).
//!
//! A service is cut off at the proxy between the workers and it: the
//! servers are shared with other runs on the machine and are never
//! stopped. The conductor also watches the workers: one that exits on its
//! own is a finding; it is logged and started again.

use super::proxy::Proxy;
use crate::tools::bench::workers::Workers;
use crate::tools::simulator::{SimHandle, Step};
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Fault {
    Kill,
    CutPostgres,
    Term,
    CutRabbitmq,
    Outage,
}

const ROTATION: [Fault; 5] = [
    Fault::Kill,
    Fault::CutPostgres,
    Fault::Term,
    Fault::CutRabbitmq,
    Fault::Outage,
];

/// The `n`-th fault of a run (from 0).
pub fn nth(n: usize) -> Fault {
    ROTATION[n % ROTATION.len()]
}

/// How often and how long.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub every: Duration,
    pub cut: Duration,
    pub outage: Duration,
    /// How long a stopped worker may take before it is killed.
    pub grace: Duration,
}

/// What the faults did, read by the reporter while they go on.
#[derive(Default)]
pub struct Log {
    /// Events not yet reported.
    pending: Mutex<Vec<String>>,
    /// Every event, with its time since the start.
    pub all: Mutex<Vec<(f64, String)>>,
    pub pids: Mutex<Vec<Option<u32>>>,
    pub kills: AtomicU64,
    pub terms: AtomicU64,
    pub cuts: AtomicU64,
    pub outages: AtomicU64,
    /// Workers that exited without being told to.
    pub unexpected_exits: AtomicU64,
}

impl Log {
    fn note(&self, start: Instant, event: String) {
        let at = start.elapsed().as_secs_f64();
        lock(&self.pending).push(event.clone());
        lock(&self.all).push((at, event));
    }

    /// The events since the last call.
    pub fn take_pending(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.pending))
    }

    pub fn pids(&self) -> Vec<Option<u32>> {
        lock(&self.pids).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the faults act on.
pub struct Stage {
    pub workers: Workers,
    pub postgres: Proxy,
    pub rabbitmq: Proxy,
    pub sim: SimHandle,
}

/// Injects a fault every `timing.every` from `start` until `stop`, then
/// keeps watching the workers until `done` (the drain's end); returns
/// with every service open and every worker running.
pub async fn conduct(
    stage: &mut Stage,
    timing: Timing,
    log: &Log,
    start: Instant,
    stop: CancellationToken,
    done: CancellationToken,
) {
    *lock(&log.pids) = stage.workers.each_pid();
    let mut n = 0;
    let mut next = start + timing.every;
    while !done.is_cancelled() {
        if !stop.is_cancelled() && Instant::now() >= next {
            apply(stage, nth(n), n, timing, log, start, &stop).await;
            n += 1;
            next += timing.every;
        }
        watch(stage, log, start);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = done.cancelled() => {}
        }
    }
}

async fn apply(
    stage: &mut Stage,
    fault: Fault,
    n: usize,
    timing: Timing,
    log: &Log,
    start: Instant,
    stop: &CancellationToken,
) {
    let slots = stage.workers.len().max(1);
    match fault {
        Fault::Kill => {
            let kills = log.kills.fetch_add(1, Ordering::Relaxed) as usize;
            let slot = kills % slots;
            let pid = stage.workers.each_pid().get(slot).copied().flatten();
            let killed = stage.workers.kill_one(slot).await;
            let started = stage.workers.restart(slot);
            log.note(
                start,
                format!(
                    "SIGKILL w{slot} (pid {}){}{}",
                    show(pid),
                    failed(&killed),
                    failed(&started)
                ),
            );
        }
        Fault::Term => {
            let terms = log.terms.fetch_add(1, Ordering::Relaxed) as usize;
            // A different slot from the kills'.
            let slot = (terms + 1) % slots;
            let pid = stage.workers.each_pid().get(slot).copied().flatten();
            let began = Instant::now();
            let stopped = stage.workers.stop_one(slot, timing.grace).await;
            let took = began.elapsed().as_secs_f64();
            let started = stage.workers.restart(slot);
            let how = match stopped {
                Ok(status) => format!("{status}"),
                Err(err) => format!("not stopped: {err:#}"),
            };
            log.note(
                start,
                format!(
                    "SIGTERM w{slot} (pid {}): {how} after {took:.1}s{}",
                    show(pid),
                    failed(&started)
                ),
            );
        }
        Fault::CutPostgres | Fault::CutRabbitmq => {
            log.cuts.fetch_add(1, Ordering::Relaxed);
            let (proxy, name) = if fault == Fault::CutPostgres {
                (&stage.postgres, "PostgreSQL")
            } else {
                (&stage.rabbitmq, "RabbitMQ")
            };
            log.note(start, format!("{name} cut {}s", timing.cut.as_secs()));
            proxy.cut();
            hold(stage, log, start, timing.cut, stop).await;
            let proxy = if fault == Fault::CutPostgres {
                &stage.postgres
            } else {
                &stage.rabbitmq
            };
            proxy.restore();
        }
        Fault::Outage => {
            log.outages.fetch_add(1, Ordering::Relaxed);
            // Every other outage a 503, else a hang (cut by the workers'
            // http_timeout), each on another provider.
            let (provider, step, how) = if (n / ROTATION.len()).is_multiple_of(2) {
                let step = Step::Http {
                    status: 503,
                    retry_after: None,
                };
                ("konnek", step, "503")
            } else {
                ("chatwoot", Step::Hang, "hang")
            };
            log.note(
                start,
                format!("{provider} {how} {}s", timing.outage.as_secs()),
            );
            stage.sim.set_outage(provider, Some(step));
            hold(stage, log, start, timing.outage, stop).await;
            stage.sim.set_outage(provider, None);
        }
    }
    *lock(&log.pids) = stage.workers.each_pid();
}

/// Waits `length` (less if the run stops), watching the workers.
async fn hold(
    stage: &mut Stage,
    log: &Log,
    start: Instant,
    length: Duration,
    stop: &CancellationToken,
) {
    let until = Instant::now() + length;
    while Instant::now() < until && !stop.is_cancelled() {
        watch(stage, log, start);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.cancelled() => {}
        }
    }
}

/// Starts again a worker that exited on its own, and logs it.
fn watch(stage: &mut Stage, log: &Log, start: Instant) {
    for (slot, status) in stage.workers.exited() {
        log.unexpected_exits.fetch_add(1, Ordering::Relaxed);
        let started = stage.workers.restart(slot);
        log.note(
            start,
            format!(
                "w{slot} exited on its own ({status}), started again{}",
                failed(&started)
            ),
        );
        *lock(&log.pids) = stage.workers.each_pid();
    }
}

fn show(pid: Option<u32>) -> String {
    pid.map_or_else(|| "?".to_owned(), |p| p.to_string())
}

fn failed<T>(result: &anyhow::Result<T>) -> String {
    match result {
        Ok(_) => String::new(),
        Err(err) => format!(" [failed: {err:#}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_rotate_through_every_kind() {
        let first: Vec<Fault> = (0..5).map(nth).collect();
        assert_eq!(first, ROTATION.to_vec());
        assert_eq!(nth(5), Fault::Kill);
        assert_eq!(nth(9), Fault::Outage);
    }
}
