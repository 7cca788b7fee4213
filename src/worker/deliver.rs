//! Sending one claimed delivery, in stages: admit (the domain's rules,
//! then the rate's slot, then the daily quota) → call → decide → record,
//! all within the delivery's [`Budget`]: nothing of it outlives the
//! claim's sending lease while the worker runs and PostgreSQL answers.
//! Both ways a delivery is claimed (born claimed by its accept in
//! [`super::consume`], claimed by the [`super::sweeper`]) come in through
//! [`deliver`], so every claim meets the same admission.

use super::context::Context;
use super::pauses;
use super::quota::{self, Quota};
use super::rate::{self, Gate};
use super::record::record;
use crate::adapters::{
    CallBudget, ChannelAdapter, ErrorClass, Outbound, ProviderError, SendGate, through_gate,
    within_budget,
};
use crate::domain::admit::{self, Admission, Facts, Held};
use crate::domain::budget::{self, Budget};
use crate::domain::decide::{self, Call};
use crate::domain::group::{Member, Standing};
use crate::domain::limits;
use crate::domain::{AttemptOutcome, Limits, Outcome, WaitReason};
use crate::metrics;
use crate::storage::Claimed;
use chrono::{NaiveDate, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// How long past its calls' end a delivery's adapter may still run.
const AFTER_CALLS: Duration = Duration::from_millis(500);

/// Sends a delivery this worker claimed with a statement sent at `claimed`;
/// `room` says whether the worker holds a permit of its connection for it.
pub async fn deliver(ctx: &Context, claim: Claimed, claimed: Instant, room: bool) {
    let span = tracing::info_span!("deliver", id = %claim.id, connection = %claim.connection, attempt = claim.attempt);
    let worker = &ctx.config.worker;
    let budget = Budget::new(claimed, worker.sending_lease, worker.http_timeout);
    async {
        let outcome = match admit(ctx, &claim, room).await {
            Admitted::Call(adapter, quota_day, gate) => {
                let (call, took) = call(ctx, &*adapter, &claim, &budget, gate.clone()).await;
                if let Some(gate) = &gate {
                    gate.release(); // a slot no request used serves another
                }
                let outcome = decide(ctx, &claim, call, took, &budget).await;
                if let Some(day) = quota_day
                    && outcome.attempt.is_none()
                {
                    quota::give_back(ctx, &claim.connection, day).await; // no call made
                }
                outcome
            }
            Admitted::Held(outcome) => outcome,
        };
        record(ctx, claim, outcome, &budget).await;
    }
    .instrument(span)
    .await
}

/// What the admission came to in this worker.
enum Admitted {
    /// Call the provider through this adapter; the call is one of this
    /// day's daily quota, where the connection has one, and its message
    /// request passes this gate at its slot, where it has a rate.
    Call(
        Arc<dyn ChannelAdapter>,
        Option<NaiveDate>,
        Option<Arc<Gate>>,
    ),
    /// No call: the delivery moves to this outcome.
    Held(Outcome),
}

/// Whether the delivery is called now (see [`admit::admit`]), and, where
/// it is, whether its connection's rate has a near send slot for it and
/// then its daily quota a call: the slot first, so that a delivery sent to
/// wait for the rate takes no call of the quota to give back.
async fn admit(ctx: &Context, claim: &Claimed, room: bool) -> Admitted {
    let now = Utc::now();
    let group = match member(ctx, claim).await {
        Ok(group) => group,
        Err(why) => {
            tracing::warn!(
                "the delivery's group could not be read ({why}); trying again shortly, no call"
            );
            return Admitted::Held(again_shortly(now));
        }
    };
    let adapter = ctx.adapters.get(&claim.connection);
    let unsupported = adapter.and_then(|a| a.check(&claim.command.message).err());
    let limits = ctx.config.limits_for(&claim.connection);
    let admission = admit::admit(Facts {
        limits,
        now,
        known: adapter.is_some(),
        room,
        expires_at: claim.command.expires_at,
        unsupported: unsupported.as_ref().map(|u| u.0.as_str()),
        paused_until: ctx.store.paused_until(&claim.connection, now),
        group,
    });
    let (held, outcome) = match (admission, adapter) {
        (Admission::Call, Some(adapter)) => {
            return match rate::admit(ctx, &claim.connection, limits).await {
                Ok(gate) => within_quota(ctx, claim, limits, now, adapter.clone(), gate).await,
                Err(outcome) => Admitted::Held(outcome),
            };
        }
        // Not met: a connection without an adapter is held.
        (Admission::Call, None) => (Held::UnknownConnection, admit::unknown_connection(now)),
        (Admission::Held(held, outcome), _) => (held, outcome),
    };
    match held {
        Held::UnknownConnection => tracing::warn!(
            "connection is not configured on this worker; leaving it for one that knows it"
        ),
        Held::Paused => {
            tracing::info!(until = ?outcome.next_attempt_at, "connection paused by a provider's quota refusal; no call");
            metrics::record_deferral(&claim.connection, WaitReason::Quota.as_str());
        }
        Held::NoRoom => tracing::debug!("no room for the connection after all; due again at once"),
        Held::Window => {
            tracing::info!(until = ?outcome.next_attempt_at, "outside the connection's sending window; no call");
            metrics::record_deferral(&claim.connection, WaitReason::Window.as_str());
        }
        Held::Group => {
            tracing::info!(until = ?outcome.next_attempt_at, "not its turn in its group yet; no call");
            metrics::record_deferral(&claim.connection, WaitReason::Group.as_str());
        }
        Held::GroupAborted => tracing::info!("a member before it in its group failed; no call"),
        Held::GroupGap => tracing::info!(
            "its predecessor in its group did not arrive within the group timeout; no call"
        ),
        Held::Expired | Held::Unsupported => {}
    }
    Admitted::Held(outcome)
}

/// How long the read of a member's group may take.
const GROUP_READ_WITHIN: Duration = Duration::from_secs(2);

/// The claimed delivery's place in its ordered group, with its group's
/// standing as PostgreSQL has it now (the first member needs none).
async fn member(ctx: &Context, claim: &Claimed) -> Result<Option<Member>, String> {
    let Some(group) = &claim.command.group else {
        return Ok(None);
    };
    let standing = if group.order == 0 {
        Standing::default()
    } else {
        let read = ctx.store.group_standing(&group.id, group.order);
        match tokio::time::timeout(GROUP_READ_WITHIN, read).await {
            Ok(Ok(standing)) => standing,
            Ok(Err(err)) => return Err(crate::error_chain(&err)),
            Err(_) => return Err(format!("no answer within {GROUP_READ_WITHIN:?}")),
        }
    };
    Ok(Some(Member {
        order: group.order,
        accepted_at: claim.accepted_at,
        standing,
        timeout: ctx.config.worker.group_timeout,
    }))
}

/// No call now: due again in a second, using no attempt (what the
/// admission needed to know could not be read).
fn again_shortly(now: chrono::DateTime<Utc>) -> Outcome {
    let again = now + chrono::Duration::seconds(1);
    Outcome::wait(again, Some(WaitReason::Retry)).refunded()
}

/// The admitted delivery, if its connection's daily quota has a call left;
/// where it has none, the slot `gate` holds goes back to the book.
async fn within_quota(
    ctx: &Context,
    claim: &Claimed,
    limits: &Limits,
    now: chrono::DateTime<Utc>,
    adapter: Arc<dyn ChannelAdapter>,
    gate: Option<Arc<Gate>>,
) -> Admitted {
    if limits.daily_quota.is_none() {
        return Admitted::Call(adapter, None, gate);
    }
    let quota = quota::take(ctx, &claim.connection, limits, now).await;
    if !matches!(quota, Quota::Granted(_))
        && let Some(gate) = &gate
    {
        gate.release();
    }
    match quota {
        Quota::Granted(day) => Admitted::Call(adapter, Some(day), gate),
        Quota::UsedUp => {
            let outcome = limits::quota_used_up(limits, now);
            tracing::info!(until = ?outcome.next_attempt_at, "the connection's daily quota is used up; no call");
            metrics::record_deferral(&claim.connection, WaitReason::Quota.as_str());
            Admitted::Held(outcome)
        }
        Quota::Unknown(why) => {
            tracing::warn!(
                "the daily quota could not be read ({why}); trying again shortly, no call"
            );
            Admitted::Held(again_shortly(now))
        }
    }
}

/// Makes the provider call: the adapter's requests, each started only
/// while it can end before the budget's calls must end. Returns the call
/// and how long it took.
async fn call(
    ctx: &Context,
    adapter: &dyn ChannelAdapter,
    claim: &Claimed,
    budget: &Budget,
    gate: Option<Arc<Gate>>,
) -> (Call, Duration) {
    let outbound = Outbound {
        delivery_id: claim.id,
        message: &claim.command.message,
        attempt: claim.attempt,
        resends: claim.resends,
        remote_id: claim.remote_id.as_deref(),
        group: claim.command.group.as_ref(),
    };
    if let Some(gate) = &gate {
        gate.ready().await;
    }
    let _in_flight = metrics::InFlight::start(&claim.connection);
    let started_at = Utc::now();
    let clock = Instant::now();
    // reqwest ends each request within `http_timeout`, and none starts that
    // could not end by `calls_end_by`; this bound cuts the waits between
    // them (a token another task is renewing). It falls half a second into
    // the write's reserve (whose last second is slack): what an adapter
    // does right after a call, such as storing a token the provider just
    // replaced, is not cut.
    let gate = gate.map(|gate| gate as Arc<dyn SendGate>);
    let calls = within_budget(
        CallBudget {
            end_by: budget.calls_end_by,
            call_limit: budget.call_limit,
        },
        through_gate(gate, adapter.send(outbound)),
    );
    let end_by = tokio::time::Instant::from_std(budget.calls_end_by + AFTER_CALLS);
    let result = match tokio::time::timeout_at(end_by, calls).await {
        Ok(result) => result,
        // Cut while it waited between calls, or (under a scheduler far
        // behind) in a call that overran its own timeout: a provider may
        // hold the message, so this is an attempt like a timeout, not a
        // send that was never made.
        Err(_) => {
            let lease = ctx.config.worker.sending_lease;
            Err(ProviderError::new(
                ErrorClass::Transient,
                None,
                format!(
                    "the call did not finish within the delivery's budget ({:?} after its claim): its outcome must be recorded before the sending lease of {lease:?} ends",
                    lease - budget::write_reserve(lease),
                ),
            ))
        }
    };
    let call = Call {
        attempt: claim.attempt,
        started_at,
        finished_at: Utc::now(),
        result,
    };
    (call, clock.elapsed())
}

/// What the call means (see [`decide::decide`]); a quota refusal pauses
/// the connection for every worker until the outcome's wait ends.
async fn decide(
    ctx: &Context,
    claim: &Claimed,
    call: Call,
    took: Duration,
    budget: &Budget,
) -> Outcome {
    let policy = ctx.config.retry_for(&claim.connection);
    let limits = ctx.config.limits_for(&claim.connection);
    let mut outcome = decide::decide(call, policy, limits, rand::random::<f64>());
    let Some(attempt) = &outcome.attempt else {
        return outcome;
    };
    metrics::record_attempt(&claim.connection, attempt.outcome.as_str(), took);
    if attempt.outcome == AttemptOutcome::Deferred
        && let Some(until) = outcome.next_attempt_at
    {
        metrics::record_deferral(&claim.connection, WaitReason::Quota.as_str());
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
    outcome
}
