//! Control endpoints under `/_sim/`, for driving a simulator in another
//! process (`herald simulate`, the demo): script faults, set the latency,
//! read what was received.

use super::journal::{Received, Stats};
use super::script::Step;
use super::state::Shared;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/script", post(script))
        .route("/_sim/latency", post(latency))
        .route("/_sim/requests", get(requests))
        .route("/_sim/stats", get(stats))
        .route("/_sim/reset", post(reset))
}

#[derive(Deserialize)]
struct ScriptRequest {
    recipient: String,
    steps: Vec<Step>,
}

/// `{"recipient": "...", "steps": [Step...]}`: appended to the recipient's queue.
async fn script(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<ScriptRequest>,
) -> StatusCode {
    shared
        .book()
        .scripts
        .push(&request.recipient, request.steps);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct LatencyRequest {
    millis: u64,
}

/// `{"millis": N}`: added to every provider request from now on.
async fn latency(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<LatencyRequest>,
) -> StatusCode {
    shared.set_latency(Duration::from_millis(request.millis));
    StatusCode::NO_CONTENT
}

/// Every send request received (the most recent ones, see the record limit).
async fn requests(State(shared): State<Arc<Shared>>) -> Json<Vec<Received>> {
    let requests = shared.book().journal.requests();
    Json(requests)
}

async fn stats(State(shared): State<Arc<Shared>>) -> Json<Stats> {
    let stats = shared.book().journal.stats();
    Json(stats)
}

/// Forgets scripts, the journal and the counters.
async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    let mut book = shared.book();
    book.scripts.clear();
    book.journal.clear();
    StatusCode::NO_CONTENT
}
