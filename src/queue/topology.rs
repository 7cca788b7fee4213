//! The exchanges and queues herald needs, declared by `herald setup` and by
//! every worker at start. Declarations are idempotent.

use super::QueueError;
use crate::config::AmqpConfig;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

/// How many times the broker hands out one command before dead-lettering it
/// itself: a command that keeps killing workers must not loop for ever.
pub const DELIVERY_LIMIT: i32 = 20;

pub async fn declare(channel: &Channel, amqp: &AmqpConfig) -> Result<(), QueueError> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            amqp.exchange.as_str().into(),
            ExchangeKind::Direct,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            amqp.dead_letter_exchange.as_str().into(),
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await?;

    let queue_options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let mut dead_args = FieldTable::default();
    dead_args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    channel
        .queue_declare(
            amqp.dead_letter_queue.as_str().into(),
            queue_options,
            dead_args,
        )
        .await?;
    channel
        .queue_bind(
            amqp.dead_letter_queue.as_str().into(),
            amqp.dead_letter_exchange.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    // What the broker rejects (a nack, the delivery limit) still lands in the
    // dead-letter queue rather than vanishing.
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(amqp.dead_letter_exchange.as_str().into()),
    );
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongInt(DELIVERY_LIMIT),
    );
    channel
        .queue_declare(amqp.queue.as_str().into(), queue_options, args)
        .await?;
    channel
        .queue_bind(
            amqp.queue.as_str().into(),
            amqp.exchange.as_str().into(),
            amqp.routing_key.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Deletes the queues and exchanges of `amqp` (the demo and tests clean up
/// after themselves; production never calls this).
pub async fn delete(connection: &lapin::Connection, amqp: &AmqpConfig) -> Result<(), QueueError> {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let channel = connection.create_channel().await?;
    for queue in [&amqp.queue, &amqp.dead_letter_queue] {
        channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await?;
    }
    for exchange in [&amqp.exchange, &amqp.dead_letter_exchange] {
        channel
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await?;
    }
    let _ = channel.close(200, "deleted".into()).await;
    Ok(())
}
