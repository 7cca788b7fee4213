//! One command from RabbitMQ: parse it at the edge, apply its effect in
//! PostgreSQL, ack, then (for a `send` that is due) deliver it.
//!
//! The ack comes only after the effect is committed, or after a refused
//! command was dead-lettered with its reason. From then on the delivery row
//! is the source of truth: a worker lost mid-call is covered by the lease.

use super::context::Context;
use super::deliver::deliver;
use crate::domain::command::Rejection;
use crate::domain::{Command, SendCommand};
use crate::metrics;
use crate::storage::operator::Change;
use crate::storage::{AcceptOutcome, Claimed};
use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tracing::Instrument;

pub async fn handle(ctx: &Context, delivery: Delivery) {
    let parsed = Command::parse(&delivery.data, |name| ctx.adapters.contains_key(name));
    match parsed {
        Err(rejection) => {
            if reject(ctx, &delivery, rejection).await {
                ack(&delivery).await;
            }
        }
        Ok(Command::Send(send)) => {
            let span = tracing::info_span!("accept", id = %send.id, connection = %send.connection);
            // A send its connection has no room for now is recorded due but
            // not claimed, and a sweeper claims it once there is room: it
            // holds no worker permit while it waits.
            let connection = ctx.shares.get(&send.connection);
            let share = connection.and_then(|c| c.try_take());
            let has_room = share.is_some();
            let Some(claim) = accept(ctx, Arc::from(send), has_room)
                .instrument(span)
                .await
            else {
                return; // shutting down: not committed, the command stays in the queue
            };
            // Committed: the ack goes out while the delivery starts, as
            // nothing in the delivery waits for the broker.
            match claim {
                Some((claim, claimed)) => {
                    tokio::join!(ack(&delivery), deliver(ctx, *claim, claimed));
                }
                None => {
                    if !has_room && let Some(connection) = connection {
                        connection.waiting.store(true, Ordering::Relaxed);
                    }
                    ack(&delivery).await
                }
            }
            if let (Some(connection), Some(share)) = (connection, share) {
                connection.give_back(share, &ctx.sweep_now);
            }
        }
        Ok(Command::Resend(resend)) => {
            let Some(change) = ctx
                .with_db_retry("resending", || ctx.store.resend(resend.id))
                .await
            else {
                return;
            };
            ack(&delivery).await;
            operator_change(ctx, "resend", resend.id, change, resend.reason.as_deref());
        }
        Ok(Command::Cancel(cancel)) => {
            let Some(change) = ctx
                .with_db_retry("cancelling", || ctx.store.cancel(cancel.id))
                .await
            else {
                return;
            };
            ack(&delivery).await;
            if let Change::Done { connection } = &change {
                metrics::record_delivery(connection, "failed", None);
            }
            operator_change(ctx, "cancel", cancel.id, change, None);
        }
    }
}

/// Records a `send`: `None` if the worker stopped before it was committed,
/// else the claim when it is due now and `claim` (with when the statement
/// that made it was sent).
async fn accept(
    ctx: &Context,
    send: Arc<SendCommand>,
    claim: bool,
) -> Option<Option<(Box<Claimed>, Instant)>> {
    // When the statement that succeeded was sent: the claim's clock.
    let sent = Mutex::new(Instant::now());
    let accepted = ctx
        .with_db_retry("accepting a send", || {
            *sent.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
            ctx.accepts.call(send.clone(), claim)
        })
        .await?;
    Some(match accepted {
        AcceptOutcome::Duplicate => {
            tracing::info!("duplicate send: the delivery exists, nothing to do");
            metrics::record_command("send", "duplicate");
            None
        }
        AcceptOutcome::Expired => {
            tracing::warn!("expired before it arrived");
            metrics::record_command("send", "accepted");
            metrics::record_delivery(&send.connection, "failed", None);
            None
        }
        AcceptOutcome::Scheduled => {
            metrics::record_command("send", "accepted");
            None
        }
        AcceptOutcome::Claimed(claim) => {
            metrics::record_command("send", "accepted");
            let sent = *sent.lock().unwrap_or_else(PoisonError::into_inner);
            Some((claim, sent))
        }
    })
}

fn operator_change(
    ctx: &Context,
    what: &'static str,
    id: uuid::Uuid,
    change: Change,
    reason: Option<&str>,
) {
    match change {
        Change::Done { .. } => {
            tracing::info!(%id, reason, "{what} applied");
            metrics::record_command(what, "accepted");
            ctx.sweep_now.notify_one();
        }
        Change::Refused(why) => {
            tracing::info!(%id, "{what} changed nothing: {why}");
            metrics::record_command(what, "duplicate");
        }
    }
}

/// Dead-letters a refused command, and keeps a `failed` row for it where its
/// id could be read. Returns whether it may be acked.
async fn reject(ctx: &Context, delivery: &Delivery, rejection: Rejection) -> bool {
    let reason = rejection.reason.to_string();
    tracing::warn!(id = ?rejection.id, "command rejected: {reason}");
    if let Some(id) = rejection.id {
        let connection = rejection.connection.as_deref().unwrap_or("");
        let stored = ctx
            .with_db_retry("recording a rejected command", || {
                ctx.store.record_rejected(id, connection, &reason)
            })
            .await;
        if stored.is_none() {
            return false;
        }
    }
    if let Err(err) = ctx
        .publisher
        .dead_letter(&delivery.data, &delivery.properties, &reason)
        .await
    {
        // Not acked: the broker hands it out again, or dead-letters it itself
        // after its delivery limit. Either way it is not lost.
        tracing::error!(error = %crate::error_chain(&err), "could not dead-letter a rejected command");
        return false;
    }
    metrics::record_command(rejection.command_type, "rejected");
    metrics::record_dead_letter(rejection.reason.label());
    true
}

async fn ack(delivery: &Delivery) {
    if let Err(err) = delivery.ack(BasicAckOptions::default()).await {
        tracing::error!(error = %crate::error_chain(&err), "ack failed; the broker will redeliver the command");
    }
}
