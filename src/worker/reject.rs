//! A command refused at the edge (bad input, or data PostgreSQL will not
//! store): kept as a `failed` row where its id could be read, dead-lettered
//! with its reason, and acked only once the dead letter got through; while
//! dead letters fail, tried again later or put back at the end of the queue.

use super::backoff;
use super::context::{Context, Retried};
use crate::domain::command::Rejection;
use crate::metrics;
use crate::queue::{BrokerLink, QueueError, ack};
use lapin::message::Delivery;
use lapin::options::BasicNackOptions;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Dead-letters a refused command and acks it, and keeps a `failed` row for
/// it where its id could be read.
///
/// A dead letter that does not get through (the broker refused it, or no
/// queue takes it) leaves the command unacked, and the worker not ready;
/// it is tried again after a backoff, outside the consumer's permits, and
/// if it fails again the command goes back to the end of the command queue
/// to come round later: never lost, never a stall of the commands behind it.
pub(super) async fn reject(ctx: &Context, delivery: Delivery, rejection: Rejection) {
    let generation = ctx.broker.generation(); // before any wait below
    let reason = rejection.reason.to_string();
    tracing::warn!(id = ?rejection.id, "command rejected: {reason}");
    if let Some(id) = rejection.id {
        let connection = rejection.connection.as_deref().unwrap_or("");
        let stored = ctx
            .with_db_retry("recording a rejected command", || {
                ctx.store.record_rejected(id, connection, &reason)
            })
            .await;
        match stored {
            Retried::Done(_) => {}
            // Dead-lettered all the same, with its reason; only the row is missing.
            Retried::Permanent(_) => {}
            Retried::Stopped => return, // stopping: unacked, the broker hands it out again
        }
    }
    let rejected = Rejected {
        delivery,
        reason,
        command_type: rejection.command_type,
        label: rejection.reason.label(),
        generation,
    };
    // While dead letters fail, a bad command waits before it tries.
    if !ctx.broker.dead_letters_failing() {
        match rejected.dead_letter(&ctx.broker).await {
            Ok(()) => return rejected.done().await,
            Err(err) => rejected.failed(&ctx.broker, &err),
        }
    }
    let wait = dead_letter_backoff(ctx.broker.dead_letter_failures());
    ctx.tasks
        .spawn(rejected.later(ctx.broker.clone(), ctx.shutdown.clone(), wait));
}

/// The waits before a dead letter is tried again.
const DEAD_LETTER_RETRY: Duration = Duration::from_millis(200);
const DEAD_LETTER_RETRY_CAP: Duration = Duration::from_secs(5);
/// While dead letters fail, how often one is tried.
const DEAD_LETTER_PROBE: Duration = Duration::from_secs(1);

fn dead_letter_backoff(failures: u32) -> Duration {
    backoff::delay(
        DEAD_LETTER_RETRY,
        DEAD_LETTER_RETRY_CAP,
        failures.saturating_sub(1),
        rand::random::<f64>(),
    )
}

/// A refused command on its way to the dead-letter queue.
struct Rejected {
    delivery: Delivery,
    reason: String,
    command_type: &'static str,
    label: &'static str,
    /// The broker connection it came on.
    generation: u64,
}

impl Rejected {
    async fn dead_letter(&self, broker: &BrokerLink) -> Result<(), QueueError> {
        let publisher = broker.publisher().await?;
        let delivery = &self.delivery;
        publisher
            .dead_letter(&delivery.data, &delivery.properties, &self.reason)
            .await?;
        broker.dead_letter_sent();
        Ok(())
    }

    fn failed(&self, broker: &BrokerLink, err: &QueueError) {
        broker.dead_letter_failed();
        tracing::error!(error = %crate::error_chain(err), "could not dead-letter a rejected command; not ready until dead letters get through");
    }

    async fn done(self) {
        metrics::record_command(self.command_type, "rejected");
        metrics::record_dead_letter(self.label);
        ack(&self.delivery).await;
    }

    /// After `wait`: the dead letter once more, else back to the end of
    /// the command queue.
    async fn later(self, broker: Arc<BrokerLink>, shutdown: CancellationToken, wait: Duration) {
        tokio::select! {
            _ = shutdown.cancelled() => return, // unacked: the broker hands it out again
            _ = tokio::time::sleep(wait) => {}
        }
        if broker.generation() != self.generation {
            return; // its connection is gone, and the broker hands it out again
        }
        // One try in a while is enough to learn whether dead letters get
        // through again; each failed one costs the publisher its channel.
        if !broker.dead_letter_failed_within(DEAD_LETTER_PROBE) {
            match self.dead_letter(&broker).await {
                Ok(()) => return self.done().await,
                Err(err) => self.failed(&broker, &err),
            }
        }
        let returned = match broker.publisher().await {
            Ok(publisher) => {
                publisher
                    .return_to_queue(&self.delivery.data, &self.delivery.properties)
                    .await
            }
            Err(err) => Err(err),
        };
        match returned {
            Ok(()) => ack(&self.delivery).await,
            Err(err) => {
                tracing::warn!(error = %crate::error_chain(&err), "could not put a rejected command back in the queue; handing it back to the broker");
                let requeue = BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                };
                if let Err(err) = self.delivery.nack(requeue).await {
                    tracing::warn!(error = %crate::error_chain(&err), "nack failed; the broker hands the command out again when its channel closes");
                }
            }
        }
    }
}
