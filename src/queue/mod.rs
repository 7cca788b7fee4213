//! RabbitMQ: the topology herald declares, and publishing with confirms.
//!
//! - [`topology`]: the command exchange and quorum queue, the dead-letter pair.
//! - [`publisher`]: commands and dead letters out, each confirmed by the broker.

pub mod publisher;
pub mod topology;

pub use publisher::Publisher;

use lapin::{Connection, ConnectionProperties};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("RabbitMQ error")]
    Amqp(#[from] lapin::Error),
    #[error("the broker refused the message (negative confirm)")]
    Nacked,
    #[error("the message was unroutable: no queue is bound for it")]
    Unroutable,
}

/// Connects to the broker (inside the tokio runtime, as lapin 4 requires).
pub async fn connect(url: &str) -> Result<Connection, QueueError> {
    let properties = ConnectionProperties::default().with_connection_name("herald".into());
    Ok(Connection::connect(url, properties).await?)
}
