//! herald: a queue-driven outbound delivery worker.
//!
//! Producers publish commands to RabbitMQ; herald parses them at the edge,
//! keeps each delivery's state in PostgreSQL and calls the provider through a
//! channel adapter.
//!
//! The service, from the top down (each module imports only those below it):
//! - [`cli`]: the subcommands (contract §1); the tools' subcommands are
//!   dispatched to [`tools`].
//! - [`startup`]: builds the running worker from its configuration: store,
//!   adapters, writer, broker link, the worker's handles and the HTTP server;
//!   and what every command's process shares (`herald setup`, signals, how a
//!   command failed).
//! - [`worker`]: consume, deliver (admit → call → decide → record), sweep,
//!   supervise the broker connection.
//! - [`http`]: `/metrics`, `/healthz`, `/readyz`, the providers' callbacks.
//! - [`adapters`]: the [`adapters::ChannelAdapter`] trait and one module per
//!   provider; each sorts its provider's answers into the domain's classes.
//! - [`queue`]: RabbitMQ topology, publishing with confirms, the broker link.
//! - [`storage`]: every SQL statement the service runs.
//! - [`metrics`]: the Prometheus metrics; [`print`](mod@print): tables, times and
//!   counts as herald prints them for a person.
//! - [`config`]: `herald.toml`, substitution, validation, into domain values.
//! - [`secrets`]: sealing the provider credentials herald stores
//!   (AES-256-GCM, keys from `[secrets]`), pure like the domain.
//! - [`domain`]: every decision about a delivery, pure: the state machine,
//!   admission, what an answer means, retries, limits, commands, messages.
//!
//! Beside the service: [`tools`] (the simulator, the demo and the bench).

pub mod adapters;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
#[cfg(test)]
mod mutation;
pub mod print;
pub mod queue;
pub mod secrets;
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
