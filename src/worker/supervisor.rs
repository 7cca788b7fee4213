//! The worker's supervisor. It waits for PostgreSQL, then owns the RabbitMQ
//! connection: it declares the topology, opens the dead-letter publisher,
//! consumes, and when the consumer is lost (the broker went away, or the
//! network) reconnects with capped backoff and jitter, until the worker
//! stops. Meanwhile `/readyz` says not ready, and what the worker holds
//! finishes: an ack that can no longer go out is logged, the broker hands
//! the command out again, and its committed effect makes it a duplicate.

use super::backoff::Backoff;
use super::context::Context;
use super::{Ended, consume_loop, drain, gauges, sweeper};
use crate::queue::{self, Publisher, QueueError, topology};
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use std::sync::Arc;
use std::time::Duration;

/// The waits between tries to reach PostgreSQL or RabbitMQ.
const FIRST_RETRY: Duration = Duration::from_millis(200);
const LONGEST_RETRY: Duration = Duration::from_secs(10);
/// How long one try to reach PostgreSQL may take (the pool's own acquire
/// timeout is longer).
const DATABASE_TRY: Duration = Duration::from_secs(5);
/// How often the dead-letter publisher's channel is checked, and reopened
/// if the broker closed it.
const PUBLISHER_CHECK: Duration = Duration::from_secs(1);

/// One connection to the broker, with the channel the consumer is on.
struct Session {
    connection: Arc<lapin::Connection>,
    channel: lapin::Channel,
    tag: String,
}

/// Runs the worker until `ctx.shutdown`, then drains and closes.
pub async fn run(ctx: &Arc<Context>) {
    if !wait_for_database(ctx).await {
        return; // stopped before it started
    }
    let sweeper = tokio::spawn(sweeper::run(ctx.clone()));
    let gauges = tokio::spawn(gauges::refresh(ctx.clone()));
    let mut backoff = Backoff::new(FIRST_RETRY, LONGEST_RETRY);
    let mut last = None;
    while !ctx.shutdown.is_cancelled() {
        let (session, consumer) = match open(ctx).await {
            Ok(opened) => opened,
            Err(err) => {
                let wait = backoff.failed();
                waiting_for(
                    "RabbitMQ",
                    &ctx.config.amqp.url,
                    &crate::error_chain(&err),
                    wait,
                );
                if !pause(ctx, wait).await {
                    break;
                }
                continue;
            }
        };
        backoff.reset();
        ctx.broker.set_consuming(true);
        tracing::info!(queue = %ctx.config.amqp.queue, "worker consuming");
        let keeper = tokio::spawn(keep_publisher(ctx.clone()));
        let ended = consume_loop(ctx, consumer).await;
        ctx.broker.set_consuming(false);
        keeper.abort();
        match ended {
            Ended::Stopped => {
                last = Some(session);
                break;
            }
            Ended::Lost(why) => {
                let wait = backoff.failed();
                tracing::warn!(
                    "lost the RabbitMQ consumer ({why}); not ready, reconnecting in {wait:?}; \
                     commands in hand finish, and those whose ack cannot go out come again"
                );
                ctx.broker.detach();
                queue::close(&session.connection, "consumer lost").await;
                if !pause(ctx, wait).await {
                    break;
                }
            }
        }
    }

    if let Some(session) = &last
        && let Err(err) = session
            .channel
            .basic_cancel(session.tag.as_str().into(), BasicCancelOptions::default())
            .await
    {
        tracing::debug!(error = %err, "consumer cancel failed");
    }
    drain(ctx).await;
    sweeper.abort();
    gauges.abort();
    ctx.broker.detach();
    if let Some(session) = last {
        queue::close_channel(&session.channel, "worker stopping").await;
        queue::close(&session.connection, "worker stopping").await;
    }
}

/// Connects, declares the topology, opens the dead-letter publisher and
/// starts consuming, all within the connect timeout.
async fn open(ctx: &Context) -> Result<(Session, lapin::Consumer), QueueError> {
    let amqp = &ctx.config.amqp;
    let connection = Arc::new(queue::connect_to(amqp).await?);
    let setup = async {
        let channel = connection.create_channel().await?;
        topology::declare(&channel, amqp).await?;
        let publisher = Publisher::open(&connection, amqp).await?;
        channel
            .basic_qos(amqp.prefetch, BasicQosOptions::default())
            .await?;
        let tag = format!("herald-{}", uuid::Uuid::new_v4());
        let consumer = channel
            .basic_consume(
                amqp.queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok::<_, QueueError>((channel, publisher, tag, consumer))
    };
    let failed = match tokio::time::timeout(queue::CONNECT_TIMEOUT, setup).await {
        Ok(Ok((channel, publisher, tag, consumer))) => {
            ctx.broker.attach(connection.clone(), publisher);
            let session = Session {
                connection,
                channel,
                tag,
            };
            return Ok((session, consumer));
        }
        Ok(Err(err)) => err,
        Err(_) => QueueError::Timeout(queue::CONNECT_TIMEOUT),
    };
    queue::close(&connection, "setup failed").await;
    Err(failed)
}

/// Waits until PostgreSQL answers (and the connection pauses are read,
/// before the first delivery). `false` if the worker was stopped first.
async fn wait_for_database(ctx: &Context) -> bool {
    let mut backoff = Backoff::new(FIRST_RETRY, LONGEST_RETRY);
    loop {
        let error = match tokio::time::timeout(DATABASE_TRY, ctx.store.refresh_pauses()).await {
            Ok(Ok(_)) => return true,
            Ok(Err(err)) => crate::error_chain(&err.with_tls_hint()),
            Err(_) => format!("no answer within {DATABASE_TRY:?}"),
        };
        let wait = backoff.failed();
        waiting_for("PostgreSQL", &ctx.config.database.url, &error, wait);
        if !pause(ctx, wait).await {
            return false;
        }
    }
}

fn waiting_for(service: &str, url: &str, error: &str, wait: Duration) {
    let address = queue::redact(url);
    tracing::warn!(
        service,
        "waiting for {service} at {address}: {error}; next try in {wait:.1?}"
    );
}

/// Sleeps for `wait`; `false` if the worker is stopping.
async fn pause(ctx: &Context, wait: Duration) -> bool {
    tokio::select! {
        _ = ctx.shutdown.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

/// Reopens the dead-letter publisher's channel soon after the broker closed
/// it (a publish to a missing exchange does), so that `/readyz` recovers
/// without waiting for the next bad command.
async fn keep_publisher(ctx: Arc<Context>) {
    let mut every = tokio::time::interval(PUBLISHER_CHECK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if ctx.broker.connected()
            && !ctx.broker.publisher_open()
            && let Err(err) = ctx.broker.publisher().await
        {
            tracing::warn!(error = %crate::error_chain(&err), "cannot reopen the RabbitMQ publisher channel");
        }
    }
}
