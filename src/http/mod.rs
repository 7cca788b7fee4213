//! The worker's HTTP side on `[http] listen`: `/metrics`, `/healthz`, `/readyz`,
//! the providers' status callbacks ([`callbacks`]) and the admin API
//! ([`admin`], with its OpenAPI document at `/v1/openapi.json`). It sees the store, the broker link and the configuration,
//! never the worker's internals.

pub mod admin;
pub mod callbacks;
pub mod token;

use crate::config::Config;
use crate::queue::BrokerLink;
use crate::storage::Store;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::time::Duration;

/// What the HTTP side reads.
#[derive(Clone)]
pub struct HttpState {
    pub metrics: PrometheusHandle,
    /// The connections, with their callback tokens.
    pub config: Arc<Config>,
    pub store: Store,
    /// The worker's link to the broker: whether it is connected, consumes
    /// and gets dead letters through, for `/readyz`; and its publisher.
    pub broker: Arc<BrokerLink>,
}

pub fn router(state: HttpState) -> Router {
    let admin = admin::routes(&state);
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(callbacks::routes())
        .merge(admin)
        .with_state(state)
}

/// The metrics, with `herald_ready` read as `/readyz` would answer now, so
/// that an alert sees a worker that runs but is not ready.
async fn metrics(State(state): State<HttpState>) -> String {
    crate::metrics::set_ready(readiness(&state).await.ready());
    state.metrics.render()
}

/// How long `/readyz` waits for PostgreSQL's answer: a probe answers
/// within its own bound, whatever the database does.
const DATABASE_PROBE: Duration = Duration::from_secs(1);

/// What a worker needs to be ready.
struct Readiness {
    database: bool,
    broker: bool,
    consumer: bool,
    dead_letters: bool,
}

impl Readiness {
    fn ready(&self) -> bool {
        self.database && self.broker && self.consumer && self.dead_letters
    }
}

/// The database is pinged (within [`DATABASE_PROBE`]); the broker's side is
/// read from the state the supervisor and the consumer keep, without a
/// round trip.
async fn readiness(state: &HttpState) -> Readiness {
    let database = tokio::time::timeout(DATABASE_PROBE, state.store.ping())
        .await
        .unwrap_or(false);
    Readiness {
        database,
        broker: state.broker.connected(),
        consumer: state.broker.consuming(),
        dead_letters: state.broker.publisher_open() && !state.broker.dead_letters_failing(),
    }
}

/// Ready only while PostgreSQL and RabbitMQ are connected, the consumer
/// runs, and dead letters get through.
async fn readyz(State(state): State<HttpState>) -> (StatusCode, String) {
    let r = readiness(&state).await;
    let body = format!(
        "database: {}\nbroker: {}\nconsumer: {}\ndead_letters: {}\n",
        r.database, r.broker, r.consumer, r.dead_letters
    );
    if r.ready() {
        (StatusCode::OK, body)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
}
