//! One command from RabbitMQ: parse it at the edge, apply its effect in
//! PostgreSQL, ack, then (for a `send` that is due) deliver it.
//!
//! The ack comes only after the effect is committed, or after a refused
//! command was dead-lettered with its reason (or put back at the end of the
//! queue, while dead letters do not get through). From then on the delivery row
//! is the source of truth: a worker lost mid-call is covered by the lease.

use super::batcher::BatchError;
use super::context::{Context, Retried};
use super::deliver::deliver;
use super::reject::reject;
use crate::domain::command::{RejectReason, Rejection};
use crate::domain::{Command, DeliveryStatus, Requester, SendCommand};
use crate::metrics;
use crate::queue::ack;
use crate::queue::dead::letter::REPLAYED;

use crate::storage::events::By;
use crate::storage::operator::Change;
use crate::storage::{AcceptOutcome, Claimed};
use lapin::message::Delivery;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tracing::Instrument;
use uuid::Uuid;

pub async fn handle(ctx: &Context, delivery: Delivery) {
    let parsed = Command::parse(&delivery.data, |name| ctx.adapters.contains_key(name));
    match parsed {
        Err(rejection) => reject(ctx, delivery, rejection).await,
        Ok(Command::Send(send)) => {
            if !release_rejected(ctx, &delivery, send.id).await {
                return; // stopping: unacked, the broker hands it out again
            }
            let span = tracing::info_span!("accept", id = %send.id, connection = %send.connection);
            // A send its connection has no room for now is recorded due but
            // not claimed, and a sweeper claims it once there is room: it
            // holds no worker permit while it waits.
            let connection = ctx.shares.get(&send.connection);
            let share = connection.and_then(|c| c.try_take());
            let has_room = share.is_some();
            let accepted = accept(ctx, Arc::from(send), has_room)
                .instrument(span)
                .await;
            // Committed: the ack goes out while the delivery starts, as
            // nothing in the delivery waits for the broker.
            match accepted {
                Accepted::Claimed(claim, claimed) => {
                    tokio::join!(ack(&delivery), deliver(ctx, *claim, claimed, true));
                }
                Accepted::Done => {
                    if !has_room && let Some(connection) = connection {
                        connection.waiting.store(true, Ordering::Relaxed);
                    }
                    ack(&delivery).await
                }
                Accepted::Refused(rejection) => reject(ctx, delivery, rejection).await,
                // Shutting down: not committed, the command stays in the queue.
                Accepted::Stopped => {}
            }
            if let (Some(connection), Some(share)) = (connection, share) {
                connection.give_back(share, &ctx.sweep_now);
            }
        }
        Ok(Command::Resend(resend)) => {
            let key = resend_key(&delivery);
            // A key seen again is a duplicate where it cannot be a new
            // request: RabbitMQ handing out again a message it handed out
            // before (its ack lost), or a producer's `message_id`, which is
            // unique per publish.
            let repeat_is_duplicate =
                delivery.redelivered || delivery.properties.message_id().is_some();
            // The connections whose provider resends by its id of the message.
            let keep: Vec<&str> = ctx
                .adapters
                .iter()
                .filter(|(_, adapter)| adapter.resends_by_remote_id())
                .map(|(connection, _)| connection.as_str())
                .collect();
            let group_timeout = ctx.config.worker.group_timeout;
            let (by, reason) = (requested_by(resend.by.as_ref()), resend.reason.as_deref());
            let change = ctx
                .with_db_retry("resending", || {
                    ctx.store.resend(
                        resend.id,
                        key,
                        repeat_is_duplicate,
                        group_timeout,
                        by,
                        reason,
                        &keep,
                    )
                })
                .await;
            let Some((delivery, change)) = committed(ctx, delivery, "resend", change).await else {
                return;
            };
            ack(&delivery).await;
            operator_change(ctx, "resend", resend.id, change, resend.reason.as_deref());
        }
        Ok(Command::Cancel(cancel)) => {
            let change = ctx
                .with_db_retry("cancelling", || {
                    ctx.store
                        .cancel(cancel.id, requested_by(cancel.by.as_ref()))
                })
                .await;
            let Some((delivery, change)) = committed(ctx, delivery, "cancel", change).await else {
                return;
            };
            ack(&delivery).await;
            if let Change::Done {
                connection,
                aborted,
            } = &change
            {
                for connection in std::iter::once(connection).chain(aborted) {
                    metrics::record_delivery(connection, DeliveryStatus::Failed.as_str(), None);
                }
            }
            operator_change(ctx, "cancel", cancel.id, change, None);
        }
    }
}

/// Who a resend or cancel command says asked for it, for the audit trail.
fn requested_by(by: Option<&Requester>) -> By<'_> {
    By {
        actor: Requester::actor(by),
        operator: by.and_then(|by| by.name.as_deref()),
    }
}

/// A send replayed from the dead letters (`herald dead replay`) whose
/// first copy was refused left a `failed` row without a command: that row
/// goes, so that the replay is accepted rather than a duplicate. Returns
/// false when the worker stopped first.
async fn release_rejected(ctx: &Context, delivery: &Delivery, id: Uuid) -> bool {
    let replayed = delivery
        .properties
        .headers()
        .as_ref()
        .is_some_and(|h| h.contains_key(REPLAYED));
    if !replayed {
        return true;
    }
    let released = ctx
        .with_db_retry("releasing a replayed send's refusal", || {
            ctx.store.release_rejected(id)
        })
        .await;
    match released {
        Retried::Done(true) => {
            tracing::info!(%id, "a replayed send takes the place of its refusal");
            true
        }
        // Nothing to release, or it cannot be: accepted or refused as any send.
        Retried::Done(false) | Retried::Permanent(_) => true,
        Retried::Stopped => false,
    }
}

/// The namespace of resend keys made from a command's body.
const RESEND_KEYS: Uuid = Uuid::from_u128(0x6a0d_3c1e_5b7f_4e0a_9c2d_1f3b_8e4a_7d60);

/// What identifies one resend command across its deliveries by RabbitMQ:
/// its AMQP `message_id` where it has one, else its body.
fn resend_key(delivery: &Delivery) -> Uuid {
    match delivery.properties.message_id() {
        Some(message_id) => Uuid::new_v5(&RESEND_KEYS, message_id.as_str().as_bytes()),
        None => Uuid::new_v5(&RESEND_KEYS, &delivery.data),
    }
}

/// An operator command's change once committed, with its delivery to ack;
/// `None` when PostgreSQL refused to store it (it is refused like bad
/// input) or the worker stopped first (unacked, the broker hands it out
/// again).
async fn committed<T, E: std::error::Error>(
    ctx: &Context,
    delivery: Delivery,
    command_type: &'static str,
    retried: Retried<T, E>,
) -> Option<(Delivery, T)> {
    match retried {
        Retried::Done(change) => Some((delivery, change)),
        Retried::Permanent(err) => {
            let rejection = unstorable(command_type, None, None, &err);
            reject(ctx, delivery, rejection).await;
            None
        }
        Retried::Stopped => None,
    }
}

/// A command PostgreSQL refused to store, as a refusal with the reason.
fn unstorable(
    command_type: &'static str,
    id: Option<Uuid>,
    connection: Option<String>,
    err: &dyn std::error::Error,
) -> Rejection {
    Rejection {
        reason: RejectReason::Unstorable(crate::error_chain(err)),
        command_type,
        id,
        connection,
    }
}

/// What became of a `send`.
enum Accepted {
    /// Recorded, due now, and claimed by this worker; with when the claim's
    /// clock started (see [`accept`]).
    Claimed(Box<Claimed>, Instant),
    /// Recorded (or a duplicate): nothing to deliver now.
    Done,
    /// PostgreSQL refused to store it: it is refused like bad input.
    Refused(Rejection),
    /// The worker stopped before it was committed.
    Stopped,
}

/// Records a `send`, claimed if `claim`. Its token is chosen once here, so
/// that a retry of the write finds the row the first try may have committed
/// after all.
///
/// The claim's clock (its delivery budget) starts when the statement that
/// made it was sent: the last try's, unless an earlier try failed in a way
/// that may have committed it (a timeout, a connection cut mid-statement),
/// which may have made the claim then.
async fn accept(ctx: &Context, send: Arc<SendCommand>, claim: bool) -> Accepted {
    let token = Uuid::new_v4();
    // (the earliest try whose result is unknown, the last try)
    let tries: Mutex<(Option<Instant>, Instant)> = Mutex::new((None, Instant::now()));
    let accepted = match ctx
        .with_db_retry("accepting a send", || async {
            let started = Instant::now();
            tries.lock().unwrap_or_else(PoisonError::into_inner).1 = started;
            let written = ctx.accepts.call(send.clone(), token, claim).await;
            if let Err(BatchError::Failed(err)) = &written
                && err.may_have_run()
            {
                tries
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
                    .get_or_insert(started);
            }
            written
        })
        .await
    {
        Retried::Done(accepted) => accepted,
        Retried::Permanent(err) => {
            return Accepted::Refused(unstorable(
                "send",
                Some(send.id),
                Some(send.connection.clone()),
                &err,
            ));
        }
        Retried::Stopped => return Accepted::Stopped,
    };
    match accepted {
        AcceptOutcome::Duplicate => {
            tracing::info!("duplicate send: the delivery exists, nothing to do");
            metrics::record_command("send", "duplicate");
            Accepted::Done
        }
        AcceptOutcome::Expired => {
            tracing::warn!("expired before it arrived");
            metrics::record_command("send", "accepted");
            metrics::record_delivery(&send.connection, DeliveryStatus::Failed.as_str(), None);
            Accepted::Done
        }
        AcceptOutcome::Scheduled => {
            metrics::record_command("send", "accepted");
            Accepted::Done
        }
        AcceptOutcome::Claimed(claim) => {
            metrics::record_command("send", "accepted");
            let (unknown, last) = *tries.lock().unwrap_or_else(PoisonError::into_inner);
            Accepted::Claimed(claim, unknown.unwrap_or(last))
        }
    }
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
