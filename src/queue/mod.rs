//! RabbitMQ: the topology herald declares, and publishing with confirms.
//!
//! - [`topology`]: the command exchange and quorum queue, the dead-letter pair.
//! - [`publisher`]: commands and dead letters out, each confirmed by the broker.
//! - [`link`]: a worker's current connection and publisher, replaced when
//!   it reconnects, whether it consumes, and whether dead-lettering works.
//! - [`dead`]: the dead-letter queue read, replayed and purged (`herald dead`).

pub mod dead;
pub mod link;
pub mod publisher;
pub mod topology;

pub use link::BrokerLink;
pub use publisher::Publisher;

use crate::config::AmqpConfig;
use lapin::tcp::OwnedTLSConfig;
use lapin::{Connection, ConnectionProperties};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("RabbitMQ error")]
    Amqp(#[from] lapin::Error),
    #[error("the broker refused the message (negative confirm)")]
    Nacked,
    #[error("the message was unroutable: no queue is bound for it")]
    Unroutable,
    #[error("RabbitMQ did not complete the connection within {0:?}")]
    ConnectTimeout(Duration),
    #[error("the RabbitMQ URL does not parse: {0}")]
    BadUrl(String),
    #[error("not connected to RabbitMQ")]
    NotConnected,
    #[error("RabbitMQ did not answer within {0:?}")]
    Timeout(Duration),
    #[error("RabbitMQ has no queue {0:?}")]
    NoQueue(String),
    #[error("cannot read amqp.ca_file {path}: {source}")]
    CaFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// An `amqps://` connection that failed below AMQP: most often the
    /// TLS handshake (a certificate not signed by the CA, or not for the
    /// URL's host).
    #[error(
        "the TLS connection to RabbitMQ failed: check that amqp.ca_file (HERALD_AMQP_CA_FILE) is the CA that signed the broker's certificate, that the URL's host is a name in that certificate, and that the port is the broker's TLS listener"
    )]
    Tls(#[source] lapin::Error),
}

/// How long connecting may take. lapin's handshake can wait for ever on a
/// broker that dropped it half-way, so every connect and close is bounded.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// The heartbeat asked for when the URL names none (`?heartbeat=`), in
/// seconds: a broker silent for twice as long (a network that drops
/// everything without a reset) counts as lost, instead of after the
/// broker's default of 60 s, twice.
pub const HEARTBEAT: u16 = 5;

/// Connects to the broker of `url`, trusting only the system's roots for
/// an `amqps://` URL (see [`connect_to`] for a CA of one's own).
pub async fn connect(url: &str) -> Result<Connection, QueueError> {
    connect_with(url, None).await
}

/// Connects to the broker of `[amqp]`: its URL, and for `amqps://` its
/// `ca_file` trusted beside the system's roots.
pub async fn connect_to(amqp: &AmqpConfig) -> Result<Connection, QueueError> {
    connect_with(&amqp.url, amqp.ca_file.as_deref()).await
}

/// Connects (inside the tokio runtime, as lapin 4 requires). lapin
/// verifies an `amqps://` broker's certificate and name with rustls;
/// `ca_file`'s PEM certificates are added to the roots it trusts.
pub async fn connect_with(url: &str, ca_file: Option<&Path>) -> Result<Connection, QueueError> {
    let mut uri: lapin::uri::AMQPUri = url.parse().map_err(QueueError::BadUrl)?;
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(HEARTBEAT);
    }
    let tls = match ca_file {
        Some(path) => OwnedTLSConfig {
            identity: None,
            cert_chain: Some(std::fs::read_to_string(path).map_err(|source| {
                QueueError::CaFile {
                    path: path.display().to_string(),
                    source,
                }
            })?),
        },
        None => OwnedTLSConfig::default(),
    };
    let is_tls = uri.scheme == lapin::uri::AMQPScheme::AMQPS;
    let properties = ConnectionProperties::default().with_connection_name("herald".into());
    let runtime = lapin::runtime::default_runtime()?;
    let connecting = Connection::connect_uri_with_config(uri, properties, tls, runtime);
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(err)) if is_tls && matches!(err.kind(), lapin::ErrorKind::IOError(_)) => {
            Err(QueueError::Tls(err))
        }
        Ok(Err(err)) => Err(err.into()),
        Err(_) => Err(QueueError::ConnectTimeout(CONNECT_TIMEOUT)),
    }
}

/// Closes a connection politely, but never waits long for the broker's
/// answer: a close that hangs must not hold up a shutdown.
pub async fn close(connection: &Connection, reason: &str) {
    let closing = connection.close(200, reason.into());
    match tokio::time::timeout(CLOSE_TIMEOUT, closing).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::debug!(error = %err, "closing the RabbitMQ connection failed"),
        Err(_) => tracing::debug!("the broker did not confirm the close in time"),
    }
}

/// The same for a channel.
pub async fn close_channel(channel: &lapin::Channel, reason: &str) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, reason.into())).await;
}

/// `url` without its password, for logs: `amqp://guest@host:5672/%2f`.
pub fn redact(url: &str) -> String {
    crate::config::secret::redact_url(url)
}

/// Acks a command; where the ack fails, the broker hands the command out
/// again, and its effect, already committed, is found and not repeated.
pub async fn ack(delivery: &lapin::message::Delivery) {
    let acked = delivery
        .ack(lapin::options::BasicAckOptions::default())
        .await;
    if let Err(err) = acked {
        tracing::error!(error = %crate::error_chain(&err), "ack failed; the broker will redeliver the command");
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_redacted_url_keeps_everything_but_the_password() {
        assert_eq!(
            redact("amqp://guest:s3cret@127.0.0.1:5672/%2f"),
            "amqp://guest@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            redact("postgres://herald:p@ss:w0rd@db:5432/herald?sslmode=require"),
            "postgres://herald@db:5432/herald?sslmode=require"
        );
        assert_eq!(redact("amqp://host:5672"), "amqp://host:5672");
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(redact("not a url"), "not a url");
    }
}
