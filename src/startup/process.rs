//! What every herald command's process shares: [`setup`] (the migrations
//! and the RabbitMQ topology), stopping on SIGTERM or SIGINT, and how a
//! command failed, which `main` turns into the exit code.

use crate::config::{Config, ConfigError};

/// How a command failed: bad usage exits 2, anything else 1.
pub enum Failure {
    Usage(String),
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(err: anyhow::Error) -> Self {
        Failure::Runtime(err)
    }
}

impl From<ConfigError> for Failure {
    fn from(err: ConfigError) -> Self {
        Failure::Usage(format!("bad configuration: {err}"))
    }
}

/// Migrations and topology; what `herald setup` does.
pub async fn setup(config: &Config) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let store = crate::storage::Store::connect(&config.database)
        .await
        .context("cannot connect to PostgreSQL")?;
    store.migrate().await.context("migrations failed")?;
    let amqp = crate::queue::connect(&config.amqp.url)
        .await
        .context("cannot connect to RabbitMQ")?;
    let channel = amqp
        .create_channel()
        .await
        .context("cannot open a RabbitMQ channel")?;
    crate::queue::topology::declare(&channel, &config.amqp)
        .await
        .context("declaring the RabbitMQ topology failed")?;
    crate::queue::close(&amqp, "setup done").await;
    store.pool.close().await;
    Ok(())
}

/// Cancels `shutdown` on SIGTERM or SIGINT.
pub async fn stop_on_signal(shutdown: tokio_util::sync::CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: draining"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: draining"),
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    shutdown.cancel();
}
