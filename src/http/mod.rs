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

#[derive(Clone)]
pub struct HttpState {
    pub metrics: PrometheusHandle,
    pub ctx: Arc<Context>,
    pub amqp: lapin::ConnectionStatus,
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

/// Ready only while PostgreSQL and RabbitMQ are connected and the consumer runs.
async fn readyz(State(state): State<HttpState>) -> (StatusCode, String) {
    let database = state.ctx.store.ping().await;
    let broker = state.amqp.connected();
    let consumer = state.ctx.is_consuming();
    let body = format!("database: {database}\nbroker: {broker}\nconsumer: {consumer}\n");
    if database && broker && consumer {
        (StatusCode::OK, body)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
}
