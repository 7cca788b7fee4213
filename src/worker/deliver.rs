//! Sending one claimed delivery: check → call → decide → record.

use super::context::{Context, Retried};
use super::decide::{Call, decide};
use super::pauses;
use crate::adapters::Outbound;
use crate::config::LimitsConfig;
use crate::domain::DeliveryStatus;
use crate::metrics;
use crate::storage::{Claimed, Outcome};
use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// How long a delivery whose connection this worker does not know waits for
/// a worker that does (a rolling deploy adding a connection).
const UNKNOWN_CONNECTION_PAUSE: Duration = Duration::from_secs(60);

pub async fn deliver(ctx: &Context, claim: Claimed) {
    let span = tracing::info_span!("deliver", id = %claim.id, connection = %claim.connection, attempt = claim.attempt);
    async {
        let outcome = call(ctx, &claim).await;
        record(ctx, claim, outcome).await;
    }
    .instrument(span)
    .await
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

async fn call(ctx: &Context, claim: &Claimed) -> Outcome {
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
    // reqwest enforces `http_timeout`; this outer bound only guards against
    // an adapter that makes several requests.
    let limit = ctx.config.worker.http_timeout * 3;
    let result = match tokio::time::timeout(limit, adapter.send(outbound)).await {
        Ok(result) => result,
        Err(_) => Err(crate::adapters::ProviderError::new(
            crate::adapters::ErrorClass::Transient,
            None,
            format!("provider call exceeded {limit:?}"),
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
            let until = pauses::pause(ctx, &claim.connection, until, reason).await;
            outcome.next_attempt_at = Some(until);
        }
    }
    outcome
}

async fn record(ctx: &Context, claim: Claimed, outcome: Outcome) {
    let item = Arc::new((claim, outcome));
    let stored = ctx
        .with_db_retry("recording an outcome", || ctx.outcomes.call(item.clone()))
        .await;
    let (claim, outcome) = &*item;
    match stored {
        Retried::Stopped => tracing::warn!(
            "shutdown before the outcome was recorded; the sending lease will recover it"
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
