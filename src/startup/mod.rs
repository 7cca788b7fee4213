//! One place wires the process: [`start`] builds a running worker from its
//! configuration (the store, the providers' HTTP client and adapters, the
//! group-commit writer, the broker link, the worker's shared handles and
//! the HTTP server) and hands it to the worker's supervisor.
//!
//! - [`process`]: what every command's process shares: `herald setup`,
//!   stopping on a signal, and how a command failed.

pub mod process;

pub use process::{Failure, setup, stop_on_signal};

use crate::adapters::{self, ChannelAdapter};
use crate::config::Config;
use crate::http::HttpState;
use crate::queue::{BrokerLink, QueueError};
use crate::storage::{StorageError, Store};
use crate::worker::context::{self, Context};
use crate::worker::{supervisor, writer};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("bad configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
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

/// Serves HTTP and hands the rest to the worker's supervisor: it waits for
/// PostgreSQL and RabbitMQ, consumes, and reconnects whenever the broker
/// goes away. Returns once `/healthz` and `/readyz` answer; the worker
/// stops when `shutdown` is cancelled. Only what no retry can mend (an
/// address to listen on, a configuration the clients refuse) fails here.
pub async fn start(
    config: Config,
    shutdown: CancellationToken,
) -> Result<RunningWorker, WorkerError> {
    config.require_secrets_key()?;
    let config = Arc::new(config);
    let metrics = crate::metrics::install(writer::MAX_SET);
    let store = Store::connect_lazy(&config.database)?.with_keys(config.secrets.keys.clone());
    let adapters = adapters(&config, &store)?;
    let broker = Arc::new(BrokerLink::default());
    let ctx = Arc::new(worker_context(
        config.clone(),
        store.clone(),
        adapters,
        broker.clone(),
        shutdown.clone(),
    ));

    let (listener, http_addr) = listen(&config.http.listen).await?;
    let state = HttpState {
        metrics,
        config,
        store,
        broker,
    };
    let http_task = serve(listener, state, shutdown);
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

/// An adapter per configured connection, sharing one HTTP client.
fn adapters(
    config: &Config,
    store: &Store,
) -> Result<HashMap<String, Arc<dyn ChannelAdapter>>, WorkerError> {
    let http = reqwest::Client::builder()
        .timeout(config.worker.http_timeout)
        .pool_max_idle_per_host(config.worker.concurrency)
        .build()
        .map_err(WorkerError::HttpClient)?;
    let mut adapters = HashMap::new();
    for connection in &config.connections {
        adapters.insert(
            connection.name.clone(),
            adapters::build(connection, http.clone(), store)?,
        );
    }
    Ok(adapters)
}

/// The worker's shared handles, with the hot path's writer over `store`.
fn worker_context(
    config: Arc<Config>,
    store: Store,
    adapters: HashMap<String, Arc<dyn ChannelAdapter>>,
    broker: Arc<BrokerLink>,
    shutdown: CancellationToken,
) -> Context {
    let sweep_now = Arc::new(Notify::new());
    let (accepts, outcomes) =
        writer::batchers(&store, config.worker.sending_lease, sweep_now.clone());
    Context {
        accepts,
        outcomes,
        permits: Arc::new(Semaphore::new(config.worker.concurrency)),
        shares: context::shares(&config),
        config,
        store,
        adapters,
        broker,
        tasks: TaskTracker::new(),
        recording: TaskTracker::new(),
        sweep_now,
        shutdown,
        quotas: Default::default(),
        rates: Default::default(),
    }
}

/// Binds `[http] listen`; the address it got (port 0 picks one).
async fn listen(addr: &str) -> Result<(TcpListener, SocketAddr), WorkerError> {
    let failed = |source| WorkerError::Listen {
        addr: addr.to_owned(),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(failed)?;
    let bound = listener.local_addr().map_err(failed)?;
    Ok((listener, bound))
}

/// Serves the HTTP side on `listener` until `shutdown`.
fn serve(listener: TcpListener, state: HttpState, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let served = axum::serve(listener, crate::http::router(state))
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "HTTP server stopped");
        }
    })
}
