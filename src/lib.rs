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
//! - [`startup`]: builds the running worker from its configuration: store,
//!   adapters, writer, broker link, the worker's handles and the HTTP server;
//!   and what every command's process shares (`herald setup`, signals, how a
//!   command failed).

pub mod adapters;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod queue;
pub mod startup;
pub mod storage;
pub mod tools;
pub mod worker;

/// An error and its causes on one line, for logs: `a: b: c`.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
