//! Sending one claimed delivery: check → call → decide → record, all
//! within the delivery's [`Budget`]: nothing of it outlives the claim's
//! sending lease while the worker runs and PostgreSQL answers.

use super::budget::{Budget, WRITE_RETRY};
use super::context::{Context, Retried, Transience};
use super::decide::{Call, decide};
use super::pauses;
use crate::adapters::Outbound;
use crate::config::LimitsConfig;
use crate::domain::DeliveryStatus;
use crate::metrics;
use crate::storage::{Claimed, Outcome, StorageError};
use crate::worker::batcher::BatchError;
use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// How long past its calls' end a delivery's adapter may still run.
const AFTER_CALLS: Duration = Duration::from_millis(500);

/// How long a delivery whose connection this worker does not know waits for
/// a worker that does (a rolling deploy adding a connection).
const UNKNOWN_CONNECTION_PAUSE: Duration = Duration::from_secs(60);

/// Sends a delivery this worker claimed with a statement sent at `claimed`.
pub async fn deliver(ctx: &Context, claim: Claimed, claimed: Instant) {
    let span = tracing::info_span!("deliver", id = %claim.id, connection = %claim.connection, attempt = claim.attempt);
    let worker = &ctx.config.worker;
    let budget = Budget::new(claimed, worker.sending_lease, worker.http_timeout);
    async {
        let outcome = call(ctx, &claim, &budget).await;
        record(ctx, claim, outcome, &budget).await;
    }
    .instrument(span)
    .await
}

/// Hands back a claim this worker has no room to start after all: due
/// again at once, its attempt refunded, no call made.
pub async fn give_back(ctx: &Context, claim: Claimed, claimed: Instant) {
    let span = tracing::info_span!("give_back", id = %claim.id, connection = %claim.connection);
    let worker = &ctx.config.worker;
    let budget = Budget::new(claimed, worker.sending_lease, worker.http_timeout);
    let outcome = Outcome {
        status: DeliveryStatus::WaitForSending,
        next_attempt_at: Some(Utc::now()),
        wait_reason: None,
        fail_reason: None,
        provider_status: None,
        remote_id: None,
        refund_attempt: true,
        attempt: None,
    };
    record(ctx, claim, outcome, &budget).instrument(span).await
}

/// An outcome that made no provider call.
fn without_call(status: DeliveryStatus, reason: String) -> Outcome {
    let waiting = status == DeliveryStatus::WaitForSending;
    Outcome {
        status,
        next_attempt_at: waiting.then(|| {
            Utc::now() + chrono::Duration::from_std(UNKNOWN_CONNECTION_PAUSE).unwrap_or_default()
        }),
        wait_reason: waiting.then_some("retry"),
        fail_reason: (!waiting).then_some(reason),
        provider_status: None,
        remote_id: None,
        refund_attempt: true,
        attempt: None,
    }
}

async fn call(ctx: &Context, claim: &Claimed, budget: &Budget) -> Outcome {
    let Some(adapter) = ctx.adapters.get(&claim.connection) else {
        tracing::warn!(
            "connection is not configured on this worker; leaving it for one that knows it"
        );
        return without_call(DeliveryStatus::WaitForSending, String::new());
    };
    let message = &claim.command.message;
    if claim.command.expires_at.is_some_and(|at| at <= Utc::now()) {
        return without_call(DeliveryStatus::Failed, "expired".into());
    }
    if let Err(unsupported) = adapter.check(message) {
        return without_call(
            DeliveryStatus::Failed,
            format!("unsupported: {unsupported}"),
        );
    }
    if let Some(deferred) = pauses::deferral(ctx, &claim.connection) {
        return deferred;
    }
    let outbound = Outbound {
        delivery_id: claim.id,
        message,
        attempt: claim.attempt,
        resends: claim.resends,
        remote_id: claim.remote_id.as_deref(),
        group: claim.command.group.as_ref(),
    };
    let _in_flight = metrics::InFlight::start(&claim.connection);
    let started_at = Utc::now();
    let clock = Instant::now();
    // reqwest ends each request within `http_timeout`, and none starts that
    // could not end by `calls_end_by`; this bound cuts the waits between
    // them (a token another task is renewing). It falls half a second into
    // the write's reserve (whose last second is slack): what an adapter
    // does right after a call, such as storing a token the provider just
    // replaced, is not cut.
    let calls = crate::adapters::within_budget(
        crate::adapters::CallBudget {
            end_by: budget.calls_end_by,
            call_limit: budget.call_limit,
        },
        adapter.send(outbound),
    );
    let end_by = tokio::time::Instant::from_std(budget.calls_end_by + AFTER_CALLS);
    let result = match tokio::time::timeout_at(end_by, calls).await {
        Ok(result) => result,
        // Cut while it waited between calls, or (under a scheduler far
        // behind) in a call that overran its own timeout: a provider may
        // hold the message, so this is an attempt like a timeout, not a
        // send that was never made.
        Err(_) => Err(crate::adapters::ProviderError::new(
            crate::adapters::ErrorClass::Transient,
            None,
            format!(
                "the call did not finish within the delivery's budget ({:?} after its claim): its outcome must be recorded before the sending lease of {:?} ends",
                ctx.config.worker.sending_lease
                    - super::budget::write_reserve(ctx.config.worker.sending_lease),
                ctx.config.worker.sending_lease
            ),
        )),
    };
    let elapsed = clock.elapsed();
    let call = Call {
        attempt: claim.attempt,
        started_at,
        finished_at: Utc::now(),
        result,
    };
    let policy = ctx.config.retry_for(&claim.connection);
    let default_limits = LimitsConfig::default();
    let limits = ctx
        .config
        .connection(&claim.connection)
        .map_or(&default_limits, |c| &c.limits);
    let mut outcome = decide(call, policy, limits, rand::random::<f64>());
    if let Some(attempt) = &outcome.attempt {
        metrics::record_attempt(&claim.connection, attempt.outcome, elapsed);
        if attempt.outcome == "deferred"
            && let Some(until) = outcome.next_attempt_at
        {
            metrics::record_deferral(&claim.connection, "quota");
            let reason = attempt.error.as_deref().unwrap_or("quota refusal");
            // Not long: where PostgreSQL is slow or away, the pause holds
            // in this worker and the next refresh records it.
            let limit = budget
                .calls_end_by
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(500), Duration::from_secs(2));
            let until = pauses::pause(ctx, &claim.connection, until, reason, limit).await;
            outcome.next_attempt_at = Some(until);
        }
    }
    outcome
}

async fn record(ctx: &Context, claim: Claimed, outcome: Outcome, budget: &Budget) {
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
        Retried::Done(None) => tracing::warn!(
            "claim was taken over by another worker; outcome kept only as an attempt"
        ),
        Retried::Done(Some(accepted_at)) => {
            let latency = (Utc::now() - accepted_at).to_std().ok();
            match outcome.status {
                DeliveryStatus::Success => {
                    tracing::info!(remote_id = ?outcome.remote_id, "delivered");
                    metrics::record_delivery(&claim.connection, "success", latency);
                }
                DeliveryStatus::Failed => {
                    tracing::warn!(reason = ?outcome.fail_reason, "failed");
                    metrics::record_delivery(&claim.connection, "failed", latency);
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
