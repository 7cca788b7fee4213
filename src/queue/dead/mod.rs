//! The dead-letter queue as `herald dead` works on it: read without taking
//! (each message got without an ack, then all handed back in their order
//! by closing the channel),
//! replay to the command exchange (a dead letter is acked only after its
//! republish was confirmed: a crash in between leaves a copy, never a
//! loss), and purge (exactly the messages counted).
//!
//! Each run looks at the messages there when it started, no more: a replay
//! that is rejected again returns to the end of the queue while it runs,
//! and is not replayed a second time. One run at a time: what one holds,
//! another does not see.

pub mod letter;
pub mod preview;

pub use letter::DeadLetter;

use super::{Publisher, QueueError};
use crate::config::AmqpConfig;
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions};
use lapin::{Channel, Connection};

/// What `list` read: up to its limit of the dead letters, oldest first,
/// and how many the queue held.
#[derive(Debug)]
pub struct Listing {
    pub letters: Vec<DeadLetter>,
    pub total: u32,
}

/// A connection to the broker for `[amqp]`'s dead-letter queue.
pub struct DeadQueue {
    connection: Connection,
    amqp: AmqpConfig,
}

impl DeadQueue {
    pub async fn open(amqp: &AmqpConfig) -> Result<DeadQueue, QueueError> {
        let connection = super::connect_to(amqp).await?;
        Ok(DeadQueue {
            connection,
            amqp: amqp.clone(),
        })
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.amqp.dead_letter_queue
    }

    /// Closes the connection (whatever a channel still held goes back).
    pub async fn close(self) {
        super::close(&self.connection, "herald dead done").await;
    }

    /// How many dead letters are ready in the queue.
    pub async fn count(&self) -> Result<u32, QueueError> {
        let channel = self.connection.create_channel().await?;
        let count = self.count_on(&channel).await;
        super::close_channel(&channel, "counted").await;
        count
    }

    async fn count_on(&self, channel: &Channel) -> Result<u32, QueueError> {
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let declared = channel
            .queue_declare(self.name().into(), passive, Default::default())
            .await;
        match declared {
            Ok(queue) => Ok(queue.message_count()),
            Err(err) if not_found(&err) => Err(QueueError::NoQueue(self.name().to_owned())),
            Err(err) => Err(err.into()),
        }
    }

    /// The first `limit` dead letters, read without taking them: every
    /// message there is got without an ack and all go back together when
    /// the channel closes. All, not only `limit` of them: a quorum queue
    /// puts what goes back behind the rest, so handing back only the first
    /// few would move them to the end.
    pub async fn list(&self, limit: usize) -> Result<Listing, QueueError> {
        let channel = self.connection.create_channel().await?;
        let read = async {
            let total = self.count_on(&channel).await?;
            let mut letters = Vec::new();
            for _ in 0..total {
                let Some(got) = get(&channel, self.name(), false).await? else {
                    break;
                };
                if letters.len() < limit {
                    let delivery = got.delivery;
                    letters.push(DeadLetter::read(&delivery.data, &delivery.properties));
                }
            }
            Ok(Listing { letters, total })
        };
        let listing = read.await;
        hand_back(&channel).await;
        listing
    }

    /// Republishes the dead letters `chosen` picks to the command exchange,
    /// each acked only after the broker confirmed its republish, in their
    /// order; `done` hears of each as it goes (on a `dry_run`, each that
    /// would go, and nothing is published or acked). The others go back
    /// to the queue in their order.
    pub async fn replay(
        &self,
        chosen: impl Fn(&DeadLetter) -> bool,
        dry_run: bool,
        mut done: impl FnMut(&DeadLetter),
    ) -> Result<(), QueueError> {
        let channel = self.connection.create_channel().await?;
        let publisher = Publisher::open(&self.connection, &self.amqp).await?;
        let run = async {
            let total = self.count_on(&channel).await?;
            for _ in 0..total {
                let Some(got) = get(&channel, self.name(), false).await? else {
                    break;
                };
                let delivery = got.delivery;
                let letter = DeadLetter::read(&delivery.data, &delivery.properties);
                if !chosen(&letter) {
                    continue;
                }
                if !dry_run {
                    let properties = letter.replay_properties(&delivery.properties);
                    publisher.replay(&delivery.data, properties).await?;
                    channel
                        .basic_ack(delivery.delivery_tag, BasicAckOptions::default())
                        .await?;
                }
                done(&letter);
            }
            Ok(())
        };
        let result = run.await;
        hand_back(&channel).await;
        result
    }

    /// Deletes up to `at_most` dead letters from the head of the queue (the
    /// ones counted before; any that arrived since stay); `done` hears of
    /// each as it goes. Returns how many.
    pub async fn purge(
        &self,
        at_most: u32,
        mut done: impl FnMut(&DeadLetter),
    ) -> Result<u32, QueueError> {
        let channel = self.connection.create_channel().await?;
        let run = async {
            self.count_on(&channel).await?;
            let mut purged = 0;
            while purged < at_most {
                // Got with no ack: the broker deletes it as it hands it out.
                let Some(got) = get(&channel, self.name(), true).await? else {
                    break;
                };
                let delivery = got.delivery;
                done(&DeadLetter::read(&delivery.data, &delivery.properties));
                purged += 1;
            }
            Ok(purged)
        };
        let purged = run.await;
        super::close_channel(&channel, "purged").await;
        purged
    }
}

async fn get(
    channel: &Channel,
    queue: &str,
    no_ack: bool,
) -> Result<Option<lapin::message::BasicGetMessage>, QueueError> {
    let options = BasicGetOptions { no_ack };
    Ok(channel.basic_get(queue.into(), options).await?)
}

/// Hands every message the channel holds unacked back to the queue, in
/// their order, by closing it (if the close fails, the broker takes them
/// back when the connection goes). A close, not a nack: newer RabbitMQ
/// versions count a nack as a failed delivery of each message.
async fn hand_back(channel: &Channel) {
    super::close_channel(channel, "dead letters handed back").await;
}

/// Whether the broker answered 404 NOT_FOUND (no such queue).
fn not_found(err: &lapin::Error) -> bool {
    matches!(err.kind(), lapin::ErrorKind::ProtocolError(e) if e.get_id() == 404)
}
