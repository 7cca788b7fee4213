//! `[amqp]`: the broker's address, the names of the exchange and queues
//! herald declares, and the checks RabbitMQ's limits on names need.

use super::{ConfigError, defaults};
use serde::Deserialize;

/// Printed by `{:?}` without the URL's password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpConfig {
    #[serde(default = "defaults::amqp_url")]
    pub url: String,
    #[serde(default = "defaults::exchange")]
    pub exchange: String,
    #[serde(default = "defaults::routing_key")]
    pub routing_key: String,
    #[serde(default = "defaults::queue")]
    pub queue: String,
    #[serde(default = "defaults::dead")]
    pub dead_letter_exchange: String,
    #[serde(default = "defaults::dead")]
    pub dead_letter_queue: String,
    #[serde(default = "defaults::prefetch")]
    pub prefetch: u16,
    /// `quorum` (the default, for production) or `classic`. Classic queues
    /// are for brokers that create and delete queues all day, such as a
    /// test suite's: quorum queues are not made for that churn.
    #[serde(default)]
    pub queue_type: QueueType,
    /// A PEM file of the CA that signed the broker's certificate, for an
    /// `amqps://` URL (env `HERALD_AMQP_CA_FILE`); trusted beside the
    /// system's roots. The broker's name in the URL must match its
    /// certificate.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("url", &super::secret::redact_url(&self.url))
            .field("exchange", &self.exchange)
            .field("routing_key", &self.routing_key)
            .field("queue", &self.queue)
            .field("dead_letter_exchange", &self.dead_letter_exchange)
            .field("dead_letter_queue", &self.dead_letter_queue)
            .field("prefetch", &self.prefetch)
            .field("queue_type", &self.queue_type)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    #[default]
    Quorum,
    Classic,
}

/// RabbitMQ's longest name of an exchange or a queue, and routing key (an
/// AMQP short string).
const AMQP_NAME_MAX: usize = 255;

impl AmqpConfig {
    /// Names RabbitMQ takes: not empty (an empty exchange is the default
    /// exchange, an empty queue one the broker names), at most 255 bytes,
    /// not in the reserved `amq.` space, and two different exchanges and
    /// queues (the command exchange is direct, the dead-letter one fanout).
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let names = [
            ("amqp.exchange", &self.exchange),
            ("amqp.queue", &self.queue),
            ("amqp.dead_letter_exchange", &self.dead_letter_exchange),
            ("amqp.dead_letter_queue", &self.dead_letter_queue),
        ];
        for (key, name) in names {
            if name.trim().is_empty() {
                return Err(ConfigError::at(key, "must not be empty"));
            }
            if name.len() > AMQP_NAME_MAX {
                return Err(ConfigError::at(
                    key,
                    format!(
                        "is {} bytes long; RabbitMQ takes at most {AMQP_NAME_MAX} bytes",
                        name.len()
                    ),
                ));
            }
            if name.starts_with("amq.") {
                return Err(ConfigError::at(
                    key,
                    "must not start with \"amq.\": RabbitMQ reserves those names",
                ));
            }
        }
        if self.routing_key.len() > AMQP_NAME_MAX {
            return Err(ConfigError::at(
                "amqp.routing_key",
                format!(
                    "is {} bytes long; RabbitMQ takes at most {AMQP_NAME_MAX} bytes",
                    self.routing_key.len()
                ),
            ));
        }
        if self.dead_letter_exchange == self.exchange {
            return Err(ConfigError::at(
                "amqp.dead_letter_exchange",
                "must differ from amqp.exchange",
            ));
        }
        if self.dead_letter_queue == self.queue {
            return Err(ConfigError::at(
                "amqp.dead_letter_queue",
                "must differ from amqp.queue",
            ));
        }
        Ok(())
    }
}

impl QueueType {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Quorum => "quorum",
            QueueType::Classic => "classic",
        }
    }
}
