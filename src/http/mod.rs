//! The worker's HTTP side on `[http] listen`: `/metrics`, `/healthz`, `/readyz`,
//! and the providers' status callbacks ([`callbacks`]). (The admin API joins
//! this router.)

pub mod callbacks;

use crate::worker::context::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct HttpState {
    pub metrics: PrometheusHandle,
    pub ctx: Arc<Context>,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(callbacks::routes())
        .with_state(state)
}

async fn metrics(State(state): State<HttpState>) -> String {
    state.metrics.render()
}

/// How long `/readyz` waits for PostgreSQL's answer: a probe answers
/// within its own bound, whatever the database does.
const DATABASE_PROBE: Duration = Duration::from_secs(1);

/// Ready only while PostgreSQL and RabbitMQ are connected, the consumer
/// runs, and dead letters get through. The broker's side is read from the
/// state the supervisor and the consumer keep, without a round trip.
async fn readyz(State(state): State<HttpState>) -> (StatusCode, String) {
    let ctx = &state.ctx;
    let database = tokio::time::timeout(DATABASE_PROBE, ctx.store.ping())
        .await
        .unwrap_or(false);
    let broker = ctx.broker.connected();
    let consumer = ctx.is_consuming();
    let dead_letters = ctx.broker.publisher_open() && !ctx.broker.dead_letters_failing();
    let body = format!(
        "database: {database}\nbroker: {broker}\nconsumer: {consumer}\ndead_letters: {dead_letters}\n"
    );
    if database && broker && consumer && dead_letters {
        (StatusCode::OK, body)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
}
