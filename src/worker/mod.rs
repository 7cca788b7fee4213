//! The worker: consume commands, deliver, sweep due work, and stop
//! cleanly. [`crate::startup`] builds it and serves its HTTP side.
//!
//! - [`context`]: the shared handles.
//! - [`writer`]: the group-commit writer of accepts and outcomes.
//! - [`consume`]: one command, from parse to ack.
//! - [`deliver`]: one claimed delivery, in stages: admit → call → decide
//!   (the decisions are the domain's: [`crate::domain`]).
//! - [`quota`]: the calls this worker reserved of each daily quota.
//! - [`rate`]: the send slots this worker reserved of each connection's
//!   rate; [`gate`]: the gate a message request passes at its slot.
//! - [`record`]: its outcome recorded on its claim.
//! - [`reject`]: a refused command, dead-lettered with its reason.
//! - [`pauses`]: recording and reloading the connections a provider's
//!   quota refusal paused.
//! - [`sweeper`]: due retries, scheduled sends, lost claims, expiry, and
//!   the pauses other workers recorded.
//! - [`gauges`]: `herald_waiting` and `herald_overdue_seconds`, read from
//!   the database.
//! - [`supervisor`]: waits for PostgreSQL and RabbitMQ, owns the broker
//!   connection, and reconnects when it is lost.
//! - [`backoff`]: capped exponential backoff with jitter.
//!
//! Losing the broker does not end the worker: it reports not ready, lets
//! what it holds finish, reconnects with backoff, and consumes again.
//! Shutdown (SIGTERM, SIGINT, or the token): stop consuming, let in-flight
//! deliveries finish within `shutdown_grace`, wait for the outcomes being
//! recorded (each until its claim's deadline), close, return. A call still
//! in flight after that is in `sending` and the lease recovers it.

pub mod backoff;
pub mod batcher;
pub mod consume;
pub mod context;
pub mod deliver;
pub mod gate;
pub mod gauges;
pub mod pauses;
pub mod quota;
pub mod rate;
pub mod record;
pub mod reject;
pub mod supervisor;
pub mod sweeper;
pub mod writer;

use context::Context;
use futures_util::StreamExt;
use std::sync::Arc;

/// Why [`consume_loop`] ended.
enum Ended {
    /// The worker is stopping.
    Stopped,
    /// The consumer is gone (the connection or channel was lost, or the
    /// broker cancelled it): the supervisor reconnects.
    Lost(String),
}

async fn consume_loop(ctx: &Arc<Context>, mut consumer: lapin::Consumer) -> Ended {
    loop {
        // A permit first: no more than `concurrency` commands in hand at once.
        let permit = tokio::select! {
            _ = ctx.shutdown.cancelled() => return Ended::Stopped,
            permit = ctx.permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return Ended::Stopped,
            },
        };
        let next = tokio::select! {
            _ = ctx.shutdown.cancelled() => return Ended::Stopped,
            next = consumer.next() => next,
        };
        let delivery = match next {
            Some(Ok(delivery)) => delivery,
            Some(Err(err)) => return Ended::Lost(crate::error_chain(&err)),
            None => return Ended::Lost("the broker closed the consumer".into()),
        };
        let task_ctx = ctx.clone();
        ctx.tasks.spawn(async move {
            consume::handle(&task_ctx, delivery).await;
            drop(permit);
        });
    }
}

/// Waits for in-flight work, at most `shutdown_grace`; then still for the
/// deliveries whose call ended and whose outcome is being recorded, each
/// until it lands or its claim's deadline passes. Calls still in flight
/// are left to the sending lease.
async fn drain(ctx: &Context) {
    ctx.tasks.close();
    ctx.recording.close();
    let grace = ctx.config.worker.shutdown_grace;
    if tokio::time::timeout(grace, ctx.tasks.wait()).await.is_err() {
        tracing::warn!(
            in_flight = ctx.tasks.len(),
            recording = ctx.recording.len(),
            "shutdown grace of {grace:?} ran out; waiting for the outcomes being recorded, and the sending lease will recover the calls still in flight"
        );
        ctx.recording.wait().await;
    }
}
