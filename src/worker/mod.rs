//! The worker process: consume commands, deliver, sweep due work, serve HTTP,
//! and stop cleanly.
//!
//! - [`context`]: the shared handles.
//! - [`writer`]: the group-commit writer of accepts and outcomes.
//! - [`consume`]: one command, from parse to ack.
//! - [`deliver`]: one claimed delivery, from check to recorded outcome.
//! - [`decide`]: what an answer means (pure).
//! - [`pauses`]: connections a provider's quota refusal paused.
//! - [`sweeper`]: due retries, scheduled sends, lost claims, expiry, and
//!   the pauses other workers recorded.
//! - [`supervisor`]: waits for PostgreSQL and RabbitMQ, owns the broker
//!   connection, and reconnects when it is lost.
//! - [`backoff`]: capped exponential backoff with jitter.
//!
//! Losing the broker does not end the worker: it reports not ready, lets
//! what it holds finish, reconnects with backoff, and consumes again.
//! Shutdown (SIGTERM, SIGINT, or the token): stop consuming, let in-flight
//! deliveries finish within `shutdown_grace`, wait for the outcomes being
//! recorded (each until its claim's deadline), close, return. A call still
//! in flight after that is in `sending` and the lease recovers it.

pub mod backoff;
pub mod batcher;
pub mod budget;
pub mod consume;
pub mod context;
pub mod decide;
pub mod deliver;
pub mod pauses;
pub mod supervisor;
pub mod sweeper;
pub mod writer;

use crate::adapters;
use crate::config::Config;
use crate::queue::{BrokerLink, QueueError};
use crate::storage::{StorageError, Store};
use context::Context;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Adapter(#[from] adapters::AdapterUnavailable),
    #[error("cannot build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// A started worker: its HTTP address, and the task that ends when it stops.
pub struct RunningWorker {
    pub http_addr: SocketAddr,
    pub handle: JoinHandle<Result<(), WorkerError>>,
}

/// Serves HTTP and hands the rest to the [`supervisor`]: it waits for
/// PostgreSQL and RabbitMQ, consumes, and reconnects whenever the broker
/// goes away. Returns once `/healthz` and `/readyz` answer; the worker
/// stops when `shutdown` is cancelled. Only what no retry can mend (an
/// address to listen on, a configuration the clients refuse) fails here.
pub async fn start(
    config: Config,
    shutdown: CancellationToken,
) -> Result<RunningWorker, WorkerError> {
    let config = Arc::new(config);
    let metrics = crate::metrics::install(writer::MAX_SET);
    let store = Store::connect_lazy(&config.database)?;

    let http = reqwest::Client::builder()
        .timeout(config.worker.http_timeout)
        .pool_max_idle_per_host(config.worker.concurrency)
        .build()
        .map_err(WorkerError::HttpClient)?;
    let mut adapters = HashMap::new();
    for connection in &config.connections {
        adapters.insert(
            connection.name.clone(),
            adapters::build(connection, http.clone(), &store)?,
        );
    }

    let (accepts, outcomes) = writer::batchers(&store, config.worker.sending_lease);
    let ctx = Arc::new(Context {
        accepts,
        outcomes,
        permits: Arc::new(Semaphore::new(config.worker.concurrency)),
        shares: context::shares(&config),
        config: config.clone(),
        store,
        adapters,
        broker: Arc::new(BrokerLink::default()),
        tasks: TaskTracker::new(),
        recording: TaskTracker::new(),
        sweep_now: Notify::new(),
        shutdown: shutdown.clone(),
    });

    let listener = tokio::net::TcpListener::bind(&config.http.listen)
        .await
        .map_err(|source| WorkerError::Listen {
            addr: config.http.listen.clone(),
            source,
        })?;
    let http_addr = listener
        .local_addr()
        .map_err(|source| WorkerError::Listen {
            addr: config.http.listen.clone(),
            source,
        })?;
    let state = crate::http::HttpState {
        metrics,
        config: config.clone(),
        store: ctx.store.clone(),
        broker: ctx.broker.clone(),
    };
    let http_shutdown = shutdown.clone();
    let http_task = tokio::spawn(async move {
        let served = axum::serve(listener, crate::http::router(state))
            .with_graceful_shutdown(async move { http_shutdown.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "HTTP server stopped");
        }
    });
    tracing::info!(%http_addr, "worker serving HTTP");

    let handle = tokio::spawn(async move {
        supervisor::run(&ctx).await;
        let _ = http_task.await;
        ctx.store.pool.close().await;
        tracing::info!("worker stopped");
        Ok(())
    });
    Ok(RunningWorker { http_addr, handle })
}

/// Why [`consume_loop`] ended.
enum Ended {
    /// The worker is stopping.
    Stopped,
    /// The consumer is gone (the connection or channel was lost, or the
    /// broker cancelled it): the supervisor reconnects.
    Lost(String),
}

async fn consume_loop(ctx: &Arc<Context>, mut consumer: lapin::Consumer) -> Ended {
    loop {
        // A permit first: no more than `concurrency` commands in hand at once.
        let permit = tokio::select! {
            _ = ctx.shutdown.cancelled() => return Ended::Stopped,
            permit = ctx.permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return Ended::Stopped,
            },
        };
        let next = tokio::select! {
            _ = ctx.shutdown.cancelled() => return Ended::Stopped,
            next = consumer.next() => next,
        };
        let delivery = match next {
            Some(Ok(delivery)) => delivery,
            Some(Err(err)) => return Ended::Lost(crate::error_chain(&err)),
            None => return Ended::Lost("the broker closed the consumer".into()),
        };
        let task_ctx = ctx.clone();
        ctx.tasks.spawn(async move {
            consume::handle(&task_ctx, delivery).await;
            drop(permit);
        });
    }
}

/// Waits for in-flight work, at most `shutdown_grace`; then still for the
/// deliveries whose call ended and whose outcome is being recorded, each
/// until it lands or its claim's deadline passes. Calls still in flight
/// are left to the sending lease.
async fn drain(ctx: &Context) {
    ctx.tasks.close();
    ctx.recording.close();
    let grace = ctx.config.worker.shutdown_grace;
    if tokio::time::timeout(grace, ctx.tasks.wait()).await.is_err() {
        tracing::warn!(
            in_flight = ctx.tasks.len(),
            recording = ctx.recording.len(),
            "shutdown grace of {grace:?} ran out; waiting for the outcomes being recorded, and the sending lease will recover the calls still in flight"
        );
        ctx.recording.wait().await;
    }
}

/// Refreshes `herald_waiting` from the database.
async fn waiting_gauge(ctx: Arc<Context>) {
    let mut seen: Vec<(String, String)> = Vec::new();
    loop {
        if let Ok(counts) = ctx.store.waiting_counts().await {
            for (connection, reason) in &seen {
                if !counts
                    .iter()
                    .any(|(c, r, _)| c == connection && r == reason)
                {
                    crate::metrics::set_waiting(connection, reason, 0);
                }
            }
            seen = counts
                .iter()
                .map(|(c, r, _)| (c.clone(), r.clone()))
                .collect();
            for (connection, reason, count) in counts {
                crate::metrics::set_waiting(&connection, &reason, count);
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}
