//! The exchanges and queues herald needs, declared by `herald setup` and by
//! every worker at start. Declarations are idempotent.

use super::QueueError;
use crate::config::{AmqpConfig, QueueType};
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
    let queue_type = AMQPValue::LongString(amqp.queue_type.as_str().into());
    let mut dead_args = FieldTable::default();
    dead_args.insert("x-queue-type".into(), queue_type.clone());
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
    args.insert("x-queue-type".into(), queue_type);
    // What the broker rejects (a nack, the delivery limit) still lands in the
    // dead-letter queue rather than vanishing.
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(amqp.dead_letter_exchange.as_str().into()),
    );
    if amqp.queue_type == QueueType::Quorum {
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongInt(DELIVERY_LIMIT),
        );
    }
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

/// Deletes the queues and exchanges of `amqp`, for tests that clean up after
/// themselves. Only for classic queues: deleting quorum queues while others
/// are being declared has wedged RabbitMQ 3.10 on this kind of machine.
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
    super::close_channel(&channel, "deleted").await;
    Ok(())
}

/// Empties the command and dead-letter queues of `amqp` (the demo's, before a run).
pub async fn purge(amqp: &AmqpConfig, url: &str) -> Result<(), QueueError> {
    use lapin::options::QueuePurgeOptions;
    let connection = super::connect_with(url, amqp.ca_file.as_deref()).await?;
    let channel = connection.create_channel().await?;
    for queue in [&amqp.queue, &amqp.dead_letter_queue] {
        channel
            .queue_purge(queue.as_str().into(), QueuePurgeOptions::default())
            .await?;
    }
    super::close(&connection, "purged").await;
    Ok(())
}
