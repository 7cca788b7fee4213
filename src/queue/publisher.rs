//! Publishing with publisher confirms: commands (`herald publish`, `resend`,
//! `cancel`) and dead letters. A message counts as sent only once the broker
//! confirmed it; many confirms may be in flight at once.

use super::QueueError;
use crate::config::AmqpConfig;
use futures_util::future::try_join_all;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection};
use lapin::{Confirmation, PublisherConfirm};
use std::task::Poll;

/// The most confirms awaited at once by [`Publisher::publish_many`].
const CONFIRM_WINDOW: usize = 1000;

#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
    amqp: AmqpConfig,
}

fn persistent_json() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
}

async fn confirmed(confirm: PublisherConfirm) -> Result<(), QueueError> {
    match confirm.await? {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        Confirmation::Ack(Some(_)) => Err(QueueError::Unroutable),
        Confirmation::Nack(_) => Err(QueueError::Nacked),
    }
}

impl Publisher {
    pub async fn open(connection: &Connection, amqp: &AmqpConfig) -> Result<Publisher, QueueError> {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Publisher {
            channel,
            amqp: amqp.clone(),
        })
    }

    /// Whether its channel is open: a publish the broker refuses with a
    /// channel error (to an exchange that does not exist) closes it.
    pub fn is_open(&self) -> bool {
        self.channel.status().connected()
    }

    /// A publisher like this one on a new channel of `connection`.
    pub async fn reopen(&self, connection: &Connection) -> Result<Publisher, QueueError> {
        Publisher::open(connection, &self.amqp).await
    }

    /// Starts publishing one command, with a `message_id`: `key` where
    /// given, else one of its own. It is what tells a resend handed out
    /// twice by RabbitMQ, or published again with the same key, from a
    /// second resend.
    async fn start(&self, body: &[u8], key: Option<&str>) -> Result<PublisherConfirm, QueueError> {
        let options = BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        };
        let message_id = key.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let properties = persistent_json().with_message_id(message_id.into());
        Ok(self
            .channel
            .basic_publish(
                self.amqp.exchange.as_str().into(),
                self.amqp.routing_key.as_str().into(),
                options,
                body,
                properties,
            )
            .await?)
    }

    /// Publishes one command and waits for the broker's confirm.
    pub async fn publish(&self, body: &[u8]) -> Result<(), QueueError> {
        confirmed(self.start(body, None).await?).await
    }

    /// Publishes many commands, in their order, with a window of confirms in
    /// flight.
    pub async fn publish_many<B: AsRef<[u8]>>(&self, bodies: &[B]) -> Result<(), QueueError> {
        for chunk in bodies.chunks(CONFIRM_WINDOW) {
            let chunk: Vec<(&[u8], Option<&str>)> =
                chunk.iter().map(|body| (body.as_ref(), None)).collect();
            let started = self.start_in_order(&chunk).await?;
            try_join_all(started.into_iter().map(confirmed)).await?;
        }
        Ok(())
    }

    /// [`Publisher::publish_many`], each command with the `message_id` given
    /// beside it: the same command published again under the same key is
    /// applied once.
    pub async fn publish_keyed<B: AsRef<[u8]>>(
        &self,
        items: &[(B, String)],
    ) -> Result<(), QueueError> {
        for chunk in items.chunks(CONFIRM_WINDOW) {
            let chunk: Vec<(&[u8], Option<&str>)> = chunk
                .iter()
                .map(|(body, key)| (body.as_ref(), Some(key.as_str())))
                .collect();
            let started = self.start_in_order(&chunk).await?;
            try_join_all(started.into_iter().map(confirmed)).await?;
        }
        Ok(())
    }

    /// Starts a publish of each of `bodies` and waits until each has handed
    /// its frames to lapin's I/O loop.
    ///
    /// A publish queues its frames when it is first polled and then waits
    /// for the I/O loop to take them. Awaiting one publish after another
    /// costs a round trip through that thread per message. Here every
    /// publish is first polled once, in order, so the channel carries them
    /// in the order given and the I/O loop takes them all in one go; those
    /// still waiting are then awaited together, each woken on its own.
    async fn start_in_order(
        &self,
        bodies: &[(&[u8], Option<&str>)],
    ) -> Result<Vec<PublisherConfirm>, QueueError> {
        let mut starting: Vec<_> = bodies
            .iter()
            .map(|(body, key)| Some(Box::pin(self.start(body, *key))))
            .collect();
        let mut started: Vec<Option<PublisherConfirm>> =
            std::iter::repeat_with(|| None).take(bodies.len()).collect();
        // One pass, in order: each publish queues its frames.
        std::future::poll_fn(|cx| {
            for (slot, confirm) in starting.iter_mut().zip(started.iter_mut()) {
                let Some(start) = slot else { continue };
                match start.as_mut().poll(cx) {
                    Poll::Ready(Ok(handed_over)) => {
                        *confirm = Some(handed_over);
                        *slot = None;
                    }
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                    Poll::Pending => {}
                }
            }
            Poll::Ready(Ok(()))
        })
        .await?;
        let waiting = starting.into_iter().enumerate().filter_map(|(i, slot)| {
            slot.map(|start| async move { start.await.map(|handed_over| (i, handed_over)) })
        });
        for (i, handed_over) in try_join_all(waiting).await? {
            started[i] = Some(handed_over);
        }
        Ok(started.into_iter().flatten().collect())
    }

    /// Puts a refused command in the dead-letter queue with the reason in
    /// `x-herald-error` and the time in `x-herald-rejected-at` (RFC 3339),
    /// keeping the original headers and `message_id`, and waits for the
    /// confirm. Mandatory: a dead letter that no queue takes (its binding
    /// or queue is gone) fails as unroutable instead of vanishing.
    pub async fn dead_letter(
        &self,
        body: &[u8],
        original: &BasicProperties,
        error: &str,
    ) -> Result<(), QueueError> {
        let mut headers = original.headers().clone().unwrap_or_default();
        headers.insert("x-herald-error".into(), AMQPValue::LongString(error.into()));
        headers.insert(
            "x-herald-queue".into(),
            AMQPValue::LongString(self.amqp.queue.as_str().into()),
        );
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        headers.insert(
            "x-herald-rejected-at".into(),
            AMQPValue::LongString(now.into()),
        );
        let mut properties = persistent_json().with_headers(headers);
        if let Some(content_type) = original.content_type() {
            properties = properties.with_content_type(content_type.clone());
        }
        // What names the command across a replay (and dedupes a resend).
        if let Some(message_id) = original.message_id() {
            properties = properties.with_message_id(message_id.clone());
        }
        let confirm = self
            .channel
            .basic_publish(
                self.amqp.dead_letter_exchange.as_str().into(),
                "".into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                properties,
            )
            .await?;
        confirmed(confirm).await
    }

    /// Publishes a dead letter back to the command exchange as `properties`
    /// say (`herald dead replay`), and waits for the confirm. Mandatory: a
    /// command no queue takes fails instead of vanishing.
    pub async fn replay(&self, body: &[u8], properties: BasicProperties) -> Result<(), QueueError> {
        let confirm = self
            .channel
            .basic_publish(
                self.amqp.exchange.as_str().into(),
                self.amqp.routing_key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                properties.with_delivery_mode(2),
            )
            .await?;
        confirmed(confirm).await
    }

    /// Puts a command back at the end of the command queue, as it came
    /// (through the default exchange, so into that queue only), and waits
    /// for the confirm.
    pub async fn return_to_queue(
        &self,
        body: &[u8],
        properties: &BasicProperties,
    ) -> Result<(), QueueError> {
        let confirm = self
            .channel
            .basic_publish(
                "".into(),
                self.amqp.queue.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                properties.clone(),
            )
            .await?;
        confirmed(confirm).await
    }
}

/// Headers as plain text, for tests and `herald` tooling that reads dead letters.
pub fn header_text(headers: &FieldTable, name: &str) -> Option<String> {
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}
