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
    // With a key, the stored credentials of the configured connections that
    // a version before sealing left in plain text (or that are sealed with
    // an old key) are sealed with it now; without
    // one there is nothing to seal with, and the worker asks for a key where
    // a connection needs one.
    if config.secrets.keys.current().is_some() {
        let store = store.clone().with_keys(config.secrets.keys.clone());
        let configured: Vec<String> = config.connections.iter().map(|c| c.name.clone()).collect();
        let done = store
            .reseal_tokens(Some(&configured))
            .await
            .context("sealing the stored provider tokens failed")?;
        if let Some((_, err)) = done.unopened.into_iter().next() {
            return Err(anyhow::Error::new(err).context("a stored provider token does not open"));
        }
        if done.resealed > 0 {
            tracing::info!(
                resealed = done.resealed,
                "sealed stored provider tokens with [secrets] key"
            );
        }
    }
    let amqp = crate::queue::connect_to(&config.amqp)
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
