//! The due-sweeper: every worker process runs one. It fails expired waiting
//! deliveries, takes back claims whose worker was lost, and claims due
//! deliveries (retries, `not_before`, resends) as far as this worker has room.
//! No retry lives in memory: a restart loses none. It also reloads the
//! connection pauses other workers recorded, before it claims.

use super::context::Context;
use super::deliver::deliver;
use super::pauses;
use crate::metrics;
use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    loop {
        if last_recovery.elapsed() >= recovery_every {
            last_recovery = Instant::now();
            recover(&ctx).await;
        }
        if last_pauses.elapsed() >= pauses::REFRESH_EVERY {
            last_pauses = Instant::now();
            pauses::refresh(&ctx).await;
            ctx.store.sweep_early_callbacks().await;
        }
        expire(&ctx).await;
        let claimed = claim(&ctx).await;
        if claimed == BATCH {
            continue; // more may be due right now
        }
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            _ = ctx.sweep_now.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

async fn recover(ctx: &Context) {
    let config = ctx.config.clone();
    let policy_of = move |connection: &str| config.retry_for(connection).clone();
    match ctx
        .store
        .recover_stale(
            ctx.config.worker.sending_lease,
            &policy_of,
            rand::random::<f64>(),
        )
        .await
    {
        Ok(recovered) => {
            for r in recovered {
                tracing::warn!(id = %r.id, connection = %r.connection, failed = r.failed, "took back a claim whose worker was lost");
                metrics::record_lost_attempt(&r.connection);
                if r.failed {
                    let latency = (Utc::now() - r.accepted_at).to_std().ok();
                    metrics::record_delivery(&r.connection, "failed", latency);
                }
            }
        }
        Err(err) => tracing::warn!(error = %crate::error_chain(&err), "lease recovery failed"),
    }
}

async fn expire(ctx: &Context) {
    match ctx.store.expire_due().await {
        Ok(expired) => {
            for (connection, accepted_at) in expired {
                let latency = (Utc::now() - accepted_at).to_std().ok();
                metrics::record_delivery(&connection, "failed", latency);
            }
        }
        Err(err) => tracing::warn!(error = %crate::error_chain(&err), "expiring deliveries failed"),
    }
}

/// Claims as many due deliveries as there are free permits; returns how many.
async fn claim(ctx: &Arc<Context>) -> usize {
    let room = ctx.permits.available_permits().min(BATCH);
    if room == 0 || ctx.shutdown.is_cancelled() {
        return 0;
    }
    let claims = match ctx.store.claim_due(room as i64).await {
        Ok(claims) => claims,
        Err(err) => {
            tracing::warn!(error = %crate::error_chain(&err), "claiming due deliveries failed");
            return 0;
        }
    };
    let count = claims.len();
    for claim in claims {
        // Only this task takes permits out of turn; the consumer may have
        // taken some meanwhile, so wait for one rather than assume.
        let Ok(permit) = ctx.permits.clone().acquire_owned().await else {
            break;
        };
        let ctx = ctx.clone();
        ctx.tasks.clone().spawn(async move {
            deliver(&ctx, claim).await;
            drop(permit);
        });
    }
    count
}
