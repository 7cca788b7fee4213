//! The due-sweeper: every worker process runs one. It fails expired waiting
//! deliveries, takes back claims whose worker was lost, and claims due
//! deliveries (retries, `not_before`, resends, sends that found their
//! connection full) as far as this worker can start them now: it takes the
//! permits first, then claims at most that many. No retry lives in memory:
//! a restart loses none. It also reloads the connection pauses other
//! workers recorded, before it claims.
//!
//! A claim is taken back only after this worker has itself reached
//! PostgreSQL for a whole lease (every statement of the sweeps since then
//! answered): after an outage, or at start, every live worker first gets a
//! lease's time to record what it holds.

use super::context::Context;
use super::deliver::deliver;
use super::pauses;
use crate::domain::DeliveryStatus;
use crate::domain::budget::set_timeout;
use crate::metrics;
use crate::storage::Claimed;
use crate::storage::StorageError;
use chrono::Utc;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How often the sweeper looks for due work when nothing wakes it.
pub const TICK: Duration = Duration::from_millis(250);
/// How many deliveries one sweep claims at most.
const BATCH: usize = 500;

pub async fn run(ctx: Arc<Context>) {
    let lease = ctx.config.worker.sending_lease;
    // Lost claims are rare; look for them a few times per lease.
    let recovery_every = (lease / 4).clamp(Duration::from_millis(250), Duration::from_secs(15));
    let mut last_recovery = Instant::now() - recovery_every;
    let mut last_pauses = Instant::now();
    let mut reach = Reach::new(Instant::now());
    let mut batch = BATCH;
    loop {
        // A worker that stops claims nothing more: what is due waits for
        // the next worker, rather than being claimed while this one drains.
        if ctx.shutdown.is_cancelled() {
            return;
        }
        if last_recovery.elapsed() >= recovery_every && reach.for_at_least(lease) {
            last_recovery = Instant::now();
            reach.note(recover(&ctx).await);
        }
        if last_pauses.elapsed() >= pauses::REFRESH_EVERY {
            last_pauses = Instant::now();
            reach.note(pauses::refresh(&ctx).await);
            // Not counted in `reach`: its table, not PostgreSQL's reach,
            // decides how long it takes.
            let within = set_timeout(ctx.config.worker.sending_lease);
            ctx.store.sweep_early_callbacks(within).await;
        }
        reach.note(expire(&ctx).await);
        // A claim PostgreSQL cut for taking too long is tried smaller next
        // time, and grows back once claims pass again.
        let tried = batch;
        let claimed = match claim(&ctx, tried).await {
            Ok(claimed) => {
                batch = (batch * 2).min(BATCH);
                claimed
            }
            Err(()) => {
                reach.note(false);
                batch = (batch / 2).max(1);
                0
            }
        };
        if claimed == tried {
            continue; // more may be due right now
        }
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            _ = ctx.sweep_now.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Since when this worker's statements have all been answered.
#[derive(Debug)]
struct Reach {
    since: Option<Instant>,
}

impl Reach {
    fn new(now: Instant) -> Reach {
        Reach { since: Some(now) }
    }

    /// Notes a statement's fate: one that failed (or got no answer in
    /// time) starts the count again from the next one that succeeds.
    fn note(&mut self, answered: bool) {
        self.note_at(answered, Instant::now());
    }

    fn note_at(&mut self, answered: bool, now: Instant) {
        if !answered {
            self.since = None;
        } else if self.since.is_none() {
            self.since = Some(now);
        }
    }

    fn for_at_least(&self, span: Duration) -> bool {
        self.since.is_some_and(|since| since.elapsed() >= span)
    }
}

/// `statement`, failing if PostgreSQL does not answer within the time a
/// write set gets: a sweep never hangs on a connection that went silent.
async fn bounded<T>(
    ctx: &Context,
    statement: impl Future<Output = Result<T, StorageError>>,
) -> Result<T, StorageError> {
    let limit = set_timeout(ctx.config.worker.sending_lease);
    tokio::time::timeout(limit, statement)
        .await
        .unwrap_or(Err(StorageError::Timeout(limit)))
}

/// Takes back lost claims; returns whether PostgreSQL answered.
async fn recover(ctx: &Context) -> bool {
    let config = ctx.config.clone();
    let policy_of = move |connection: &str| config.retry_for(connection).clone();
    let recovered = bounded(
        ctx,
        ctx.store.recover_stale(
            ctx.config.worker.sending_lease,
            &policy_of,
            rand::random::<f64>(),
        ),
    )
    .await;
    match recovered {
        Ok(recovered) => {
            for r in recovered {
                tracing::warn!(id = %r.id, connection = %r.connection, failed = r.failed, "took back a claim whose worker was lost");
                metrics::record_lost_attempt(&r.connection);
                if r.failed {
                    let latency = (Utc::now() - r.accepted_at).to_std().ok();
                    metrics::record_delivery(
                        &r.connection,
                        DeliveryStatus::Failed.as_str(),
                        latency,
                    );
                }
            }
            true
        }
        Err(err) => {
            tracing::warn!(error = %crate::error_chain(&err), "lease recovery failed");
            false
        }
    }
}

/// Fails expired waiting deliveries; returns whether PostgreSQL answered.
async fn expire(ctx: &Context) -> bool {
    match bounded(ctx, ctx.store.expire_due()).await {
        Ok(expired) => {
            for (connection, accepted_at) in expired {
                let latency = (Utc::now() - accepted_at).to_std().ok();
                metrics::record_delivery(&connection, DeliveryStatus::Failed.as_str(), latency);
            }
            true
        }
        Err(err) => {
            tracing::warn!(error = %crate::error_chain(&err), "expiring deliveries failed");
            false
        }
    }
}

/// Up to `most` of the permits `semaphore` has free now, as one permit.
fn take_free(semaphore: &Arc<Semaphore>, most: usize) -> Option<OwnedSemaphorePermit> {
    loop {
        let free = semaphore.available_permits().min(most);
        let n = u32::try_from(free).ok().filter(|n| *n > 0)?;
        if let Ok(permits) = semaphore.clone().try_acquire_many_owned(n) {
            return Some(permits);
        }
        // Another task took some meanwhile: look again.
    }
}

/// Claims due deliveries as far as this worker can start them now: it takes
/// the free worker permits first, claims at most that many and at most each
/// connection's free share, and gives back the permits it did not use.
/// Each claim then takes its connection's permit; one whose connection
/// filled up meanwhile (the consumer took the room) is given back at once,
/// due, with its attempt refunded, never left waiting in `sending`. Returns
/// how many it claimed (at most `most`), or `Err` if PostgreSQL did not
/// answer in time.
async fn claim(ctx: &Arc<Context>, most: usize) -> Result<usize, ()> {
    if ctx.shutdown.is_cancelled() {
        return Ok(0);
    }
    let Some(permits) = take_free(&ctx.permits, most) else {
        return Ok(0);
    };
    let free = permits.num_permits();
    let (connections, rooms): (Vec<String>, Vec<i32>) = ctx
        .shares
        .iter()
        .filter_map(|(connection, share)| {
            let room = share.permits.available_permits().min(free);
            let room = i32::try_from(room).ok().filter(|room| *room > 0)?;
            Some((connection.clone(), room))
        })
        .unzip();
    if connections.is_empty() {
        return Ok(0);
    }
    let sent = Instant::now();
    let limit = set_timeout(ctx.config.worker.sending_lease);
    // PostgreSQL cuts the claim before the sweeper stops waiting for it, so
    // that a slow claim rolls back. Its COMMIT cannot be cut, though: the
    // claim runs in a task of its own, and whatever it claimed is delivered
    // with the permits it holds even when its answer comes after the
    // sweeper stopped waiting. Nothing claimed is left in `sending` with
    // nobody sending it: the task is one of the worker's tasks, which a
    // stopping worker drains, deliveries it starts included.
    let within = limit / 2;
    let task_ctx = ctx.clone();
    let claiming = ctx.tasks.spawn(async move {
        let names: Vec<&str> = connections.iter().map(String::as_str).collect();
        let claims = task_ctx
            .store
            .claim_due_within(&names, &rooms, free as i64, within)
            .await?;
        Ok::<_, StorageError>(start(&task_ctx, claims, permits, &names, &rooms, sent))
    });
    let failed = match tokio::time::timeout(limit, claiming).await {
        Ok(Ok(Ok(count))) => return Ok(count),
        Ok(Ok(Err(err))) => crate::error_chain(&err),
        Ok(Err(err)) => format!("the claiming task ended: {err}"),
        Err(_) => format!(
            "no answer within {limit:?} (what it claims if it lands is delivered all the same)"
        ),
    };
    tracing::warn!(error = %failed, "claiming due deliveries failed");
    Err(())
}

/// Starts the deliveries of `claims`, made by a statement sent at `sent`,
/// each with one of `permits` (which cover them all) and its connection's
/// permit. The permits not used go back when `permits` drops.
fn start(
    ctx: &Arc<Context>,
    claims: Vec<Claimed>,
    mut permits: OwnedSemaphorePermit,
    connections: &[&str],
    rooms: &[i32],
    sent: Instant,
) -> usize {
    let free = permits.num_permits();
    let count = claims.len();
    // A connection that had room for more than were due has none waiting
    // for room any more (unless the statement's overall limit cut it short).
    for (connection, room) in connections.iter().zip(rooms) {
        let claimed = claims
            .iter()
            .filter(|c| c.connection == *connection)
            .count();
        if count < free
            && claimed < *room as usize
            && let Some(share) = ctx.shares.get(*connection)
        {
            share.waiting.store(false, Ordering::Relaxed);
        }
    }
    for claim in claims {
        // The statement claimed at most what these permits cover.
        let worker = permits.split(1);
        let share = ctx.shares.get(&claim.connection).and_then(|c| c.try_take());
        let ctx = ctx.clone();
        ctx.tasks.clone().spawn(async move {
            let connection = claim.connection.clone();
            deliver(&ctx, claim, sent, share.is_some()).await;
            if let (Some(connection), Some(share)) = (ctx.shares.get(&connection), share) {
                connection.give_back(share, &ctx.sweep_now);
            }
            drop(worker);
        });
    }
    count
}

#[cfg(test)]
#[path = "sweeper_tests.rs"]
mod tests;
