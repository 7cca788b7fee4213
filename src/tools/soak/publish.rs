//! The soak's producer: sends at a steady rate, spread over the soak's
//! connections, published with confirms straight to RabbitMQ (not through
//! the proxy the workers go through: a producer elsewhere is not cut off
//! with them). Every command the broker confirmed is kept in the book, to
//! be accounted for at the end.

use super::CONNECTIONS;
use crate::config::AmqpConfig;
use crate::queue::{self, Publisher};
use crate::tools::simulator::chatwoot_key;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// One published command: its id and its number in the run, from which
/// its connection and recipient follow.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub id: Uuid,
    pub seq: u64,
}

impl Sent {
    fn connection(&self) -> &'static str {
        CONNECTIONS[(self.seq % CONNECTIONS.len() as u64) as usize]
    }

    /// Chatwoot's conversation: one per command, so that the simulator
    /// counts its calls per command.
    fn conversation(&self) -> String {
        (1_000_000 + self.seq).to_string()
    }

    /// What the simulator counts this command's calls under (Konnek: the
    /// body `id`, the delivery's id).
    pub fn key(&self) -> String {
        if self.connection() == super::CHATWOOT {
            chatwoot_key(&self.conversation())
        } else {
            self.id.to_string()
        }
    }

    fn body(&self) -> Vec<u8> {
        let seq = self.seq;
        let message = if self.connection() == super::CHATWOOT {
            serde_json::json!({"to": format!("contact-{seq}"), "conversation_id": self.conversation(),
                "text": format!("Your ticket #{seq} was answered")})
        } else {
            serde_json::json!({"to": format!("62811{seq:07}"), "text": format!("Your order #{seq} has shipped")})
        };
        serde_json::json!({"type": "send", "id": self.id, "connection": self.connection(), "message": message})
            .to_string()
            .into_bytes()
    }
}

/// What was published.
#[derive(Default)]
pub struct Book {
    /// Confirmed by the broker.
    pub confirmed: Mutex<Vec<Sent>>,
    pub confirmed_count: AtomicU64,
    /// Refused or unanswered by the broker: they may or may not be in the
    /// queue, so they are not accounted for.
    pub unconfirmed: Mutex<Vec<Sent>>,
}

impl Book {
    pub fn confirmed(&self) -> u64 {
        self.confirmed_count.load(Ordering::Relaxed)
    }

    fn settle(&self, sent: Vec<Sent>, ok: bool) {
        let list = if ok {
            self.confirmed_count
                .fetch_add(sent.len() as u64, Ordering::Relaxed);
            &self.confirmed
        } else {
            &self.unconfirmed
        };
        list.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(sent);
    }
}

/// Publishes at `rate` a second until `stop` is cancelled; commands due at
/// one 10 ms tick go together, their confirms awaited beside the publishing.
pub async fn publish(
    amqp: &AmqpConfig,
    rate: f64,
    book: &std::sync::Arc<Book>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let connection = queue::connect(&amqp.url).await?;
    let mut publisher = Publisher::open(&connection, amqp).await?;
    let clock = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut confirms = tokio::task::JoinSet::new();
    let mut seq = 0u64;
    while !stop.is_cancelled() {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => break,
        }
        let due = (clock.elapsed().as_secs_f64() * rate) as u64;
        if due > seq {
            if !publisher.is_open() {
                publisher = publisher.reopen(&connection).await?;
            }
            let batch: Vec<Sent> = (seq..due)
                .map(|seq| Sent {
                    id: Uuid::new_v4(),
                    seq,
                })
                .collect();
            seq = due;
            let (publisher, book) = (publisher.clone(), book.clone());
            confirms.spawn(async move {
                let bodies: Vec<Vec<u8>> = batch.iter().map(Sent::body).collect();
                let ok = publisher.publish_many(&bodies).await.is_ok();
                book.settle(batch, ok);
            });
        }
        while confirms.try_join_next().is_some() {}
    }
    while confirms.join_next().await.is_some() {}
    queue::close(&connection, "published").await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_rotate_over_the_connections_and_chatwoots_have_a_key_each() {
        let sent: Vec<Sent> = (0..6)
            .map(|seq| Sent {
                id: Uuid::new_v4(),
                seq,
            })
            .collect();
        let connections: Vec<&str> = sent.iter().map(Sent::connection).collect();
        assert_eq!(&connections[..3], &CONNECTIONS[..]);
        assert_eq!(&connections[3..], &CONNECTIONS[..]);
        let chatwoot: Vec<&Sent> = sent
            .iter()
            .filter(|s| s.connection() == super::super::CHATWOOT)
            .collect();
        assert_ne!(chatwoot[0].key(), chatwoot[1].key());
        let konnek = sent
            .iter()
            .find(|s| s.connection() != super::super::CHATWOOT);
        assert!(konnek.is_some_and(|s| s.key() == s.id.to_string()));
        for s in &sent {
            let body: serde_json::Value =
                serde_json::from_slice(&s.body()).unwrap_or(serde_json::Value::Null);
            assert_eq!(body["id"], s.id.to_string());
            assert_eq!(body["connection"], s.connection());
        }
    }
}
