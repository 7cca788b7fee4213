//! The last stage of a delivery: its outcome recorded on its claim, in
//! the hot path's shared write sets, retried while PostgreSQL is away.

use super::batcher::BatchError;
use super::context::{Context, Retried, Transience};
use crate::domain::budget::{Budget, WRITE_RETRY};
use crate::domain::{DeliveryStatus, Outcome};
use crate::metrics;
use crate::storage::{Claimed, StorageError};
use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Records the outcome of `claim`, and counts the delivery where it ended.
pub async fn record(ctx: &Context, claim: Claimed, outcome: Outcome, budget: &Budget) {
    let item = Arc::new((claim, outcome));
    let stored = write_outcome(ctx, &item, budget).await;
    let (claim, outcome) = &*item;
    match stored {
        Retried::Stopped => tracing::warn!(
            "the outcome could not be recorded before the claim's sending lease ran out; the lease recovers it"
        ),
        Retried::Permanent(err) => tracing::error!(
            error = %crate::error_chain(&err),
            "the outcome cannot be stored; the sending lease will recover the claim"
        ),
        // Either another worker took the claim over after its lease, or an
        // earlier try of this same write landed though its answer was lost
        // (after PostgreSQL was cut off); the write cannot tell which yet.
        Retried::Done(None) => tracing::warn!(
            "the claim was no longer held when its outcome was written: another worker took it over, or an earlier try of this write landed; the outcome is kept as an attempt"
        ),
        Retried::Done(Some(accepted_at)) => {
            let latency = (Utc::now() - accepted_at).to_std().ok();
            match outcome.status {
                DeliveryStatus::Success => {
                    tracing::info!(remote_id = ?outcome.remote_id, "delivered");
                    metrics::record_delivery(&claim.connection, outcome.status.as_str(), latency);
                }
                DeliveryStatus::Failed => {
                    tracing::warn!(reason = ?outcome.fail_reason, "failed");
                    metrics::record_delivery(&claim.connection, outcome.status.as_str(), latency);
                }
                _ => {
                    tracing::info!(next_attempt_at = ?outcome.next_attempt_at, reason = ?outcome.wait_reason, "will try again")
                }
            }
        }
    }
}

/// Records an outcome, retrying soon (at most [`WRITE_RETRY`] apart) so
/// that it lands as soon as PostgreSQL answers again. It keeps trying until
/// the claim's deadline, and while the worker runs also after it as long as
/// PostgreSQL is unreachable: no worker takes a claim back before it has
/// itself reached PostgreSQL for a whole lease (see the sweeper), so an
/// outcome written soon after an outage still lands on its claim. A
/// shutdown does not stop it before the deadline: the drain waits for it
/// (see [`Context::recording`]). An error that fails the same way every
/// time is not retried.
async fn write_outcome(
    ctx: &Context,
    item: &Arc<(Claimed, Outcome)>,
    budget: &Budget,
) -> Retried<Option<chrono::DateTime<Utc>>, BatchError<StorageError>> {
    let _recording = ctx.recording.token();
    let mut delay = Duration::from_millis(50);
    loop {
        let err = match ctx.outcomes.call(item.clone()).await {
            Ok(recorded) => return Retried::Done(recorded),
            Err(err) => err,
        };
        if !err.is_transient() {
            return Retried::Permanent(err); // fails the same way every time
        }
        let now = Instant::now();
        let away = match &err {
            BatchError::Failed(err) if !err.is_pool_closed() => err.is_outage(),
            _ => return Retried::Stopped, // the worker's writer or pool is gone
        };
        // While PostgreSQL is away, slow or restarting, the write goes on
        // past the deadline too, as long as the worker runs: no worker
        // takes a claim back before it has reached PostgreSQL for a whole
        // lease, so the first write after an outage still lands on it.
        let keep_on = now + delay < budget.deadline || (away && !ctx.shutdown.is_cancelled());
        if !keep_on {
            tracing::error!(error = %crate::error_chain(&err), "recording an outcome failed; giving up at the claim's deadline");
            return Retried::Stopped;
        }
        tracing::warn!(error = %crate::error_chain(&err), "recording an outcome failed; retrying in {delay:?}");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(WRITE_RETRY);
    }
}
