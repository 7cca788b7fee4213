//! herald: a queue-driven outbound delivery worker.
//!
//! Producers publish commands to RabbitMQ; herald parses them at the edge,
//! keeps each delivery's state in PostgreSQL and calls the provider through a
//! channel adapter.
//!
//! - [`config`]: `herald.toml`, substitution, validation.
//! - [`domain`]: pure types: commands, messages, the state machine, retry policy.
//! - [`adapters`]: the [`adapters::ChannelAdapter`] trait and one file per provider.
//! - [`simulator`]: the providers' fake APIs with fault injection.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod simulator;
