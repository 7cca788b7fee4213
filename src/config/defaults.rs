//! What each key of `herald.toml` is when the file leaves it out.

use super::*;

pub fn database_url() -> String {
    "postgres://herald:herald@127.0.0.1:5432/herald".into()
}
pub fn max_connections() -> u32 {
    16
}
pub fn amqp_url() -> String {
    "amqp://guest:guest@127.0.0.1:5672/%2f".into()
}
pub fn exchange() -> String {
    "herald".into()
}
pub fn routing_key() -> String {
    "commands".into()
}
pub fn queue() -> String {
    "herald.commands".into()
}
pub fn dead() -> String {
    "herald.dead".into()
}
pub fn prefetch() -> u16 {
    256
}
pub fn no_secret() -> Secret {
    Secret::new("")
}
pub fn listen() -> String {
    "127.0.0.1:9464".into()
}
pub fn concurrency() -> usize {
    256
}
pub fn http_timeout() -> Duration {
    Duration::from_secs(15)
}
pub fn shutdown_grace() -> Duration {
    Duration::from_secs(30)
}
pub fn sending_lease() -> Duration {
    Duration::from_secs(60)
}
pub fn group_timeout() -> Duration {
    Duration::from_secs(300)
}
pub fn database() -> DatabaseConfig {
    DatabaseConfig {
        url: database_url(),
        max_connections: max_connections(),
        ca_file: None,
    }
}
pub fn amqp() -> AmqpConfig {
    AmqpConfig {
        url: amqp_url(),
        exchange: exchange(),
        routing_key: routing_key(),
        queue: queue(),
        dead_letter_exchange: dead(),
        dead_letter_queue: dead(),
        prefetch: prefetch(),
        ca_file: None,
        queue_type: QueueType::default(),
    }
}
pub fn http() -> HttpConfig {
    HttpConfig {
        listen: listen(),
        admin_token: no_secret(),
    }
}
pub fn worker() -> WorkerConfig {
    WorkerConfig {
        concurrency: concurrency(),
        http_timeout: http_timeout(),
        shutdown_grace: shutdown_grace(),
        sending_lease: sending_lease(),
        group_timeout: group_timeout(),
    }
}
