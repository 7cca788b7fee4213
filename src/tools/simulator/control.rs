//! Control endpoints under `/_sim/`, for driving a simulator in another
//! process (`herald simulate`, the demo): script faults, set the latency,
//! read what was received, drive OneBox's tokens, quota and hours, and
//! HighQ's tokens and answer format.

use super::journal::{Received, Stats};
use super::onebox_book::OpenHours;
use super::script::Step;
use super::state::Shared;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/script", post(script))
        .route("/_sim/latency", post(latency))
        .route("/_sim/requests", get(requests))
        .route("/_sim/stats", get(stats))
        .route("/_sim/reset", post(reset))
        .route("/_sim/onebox", get(onebox))
        .route("/_sim/onebox/expire", post(onebox_expire))
        .route("/_sim/onebox/token_lifetime", post(onebox_lifetime))
        .route("/_sim/onebox/quota", post(onebox_quota))
        .route("/_sim/onebox/hours", post(onebox_hours))
        .route("/_sim/highq", get(highq))
        .route("/_sim/highq/expire", post(highq_expire))
        .route("/_sim/highq/token_lifetime", post(highq_lifetime))
        .route("/_sim/highq/xml", post(highq_xml))
}

#[derive(Serialize)]
struct HighqState {
    refreshes: u64,
    refused: u64,
    xml: bool,
    token_lifetime_millis: u128,
}

/// `{"refreshes": N, "refused": N, "xml": bool, "token_lifetime_millis": N}`:
/// HighQ token refreshes served and refused, whether XML is forced, and the
/// lifetime of the access tokens it issues.
async fn highq(State(shared): State<Arc<Shared>>) -> Json<HighqState> {
    let book = shared.book();
    Json(HighqState {
        refreshes: book.highq.refreshes,
        refused: book.highq.refused,
        xml: book.highq.xml,
        token_lifetime_millis: book.highq.lifetime.as_millis(),
    })
}

/// Every HighQ access token issued so far expires now.
async fn highq_expire(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.book().highq.expire_tokens();
    StatusCode::NO_CONTENT
}

/// `{"millis": N}`: the lifetime of HighQ access tokens issued from now on
/// (their `expires_in` says so too).
async fn highq_lifetime(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<Millis>,
) -> StatusCode {
    shared.book().highq.lifetime = Duration::from_millis(request.millis);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct XmlRequest {
    xml: bool,
}

/// `{"xml": true}`: HighQ answers XML whatever the request's `Accept` asks
/// for; `{"xml": false}`: JSON when asked for, as by default.
async fn highq_xml(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<XmlRequest>,
) -> StatusCode {
    shared.book().highq.xml = request.xml;
    StatusCode::NO_CONTENT
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
struct Millis {
    millis: u64,
}

/// `{"millis": N}`: added to every provider request from now on.
async fn latency(State(shared): State<Arc<Shared>>, Json(request): Json<Millis>) -> StatusCode {
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

/// Forgets scripts, the journal and the counters; lifts OneBox's quota.
async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.book().reset();
    StatusCode::NO_CONTENT
}

#[derive(Serialize)]
struct OneboxState {
    authentications: u64,
    quota: Option<u64>,
    token_lifetime_millis: u128,
    hours: Option<String>,
    timezone: Option<String>,
}

/// `{"authentications": N, "quota": N|null, "token_lifetime_millis": N,
/// "hours": "06:00-18:00"|null, "timezone": "Asia/Jakarta"|null}`.
async fn onebox(State(shared): State<Arc<Shared>>) -> Json<OneboxState> {
    let book = shared.book();
    let hours = book.onebox.hours;
    Json(OneboxState {
        authentications: book.onebox.authentications,
        quota: book.onebox.quota,
        token_lifetime_millis: book.onebox.lifetime.as_millis(),
        hours: hours.map(|h| {
            let time = |t: chrono::NaiveTime| t.format("%H:%M").to_string();
            format!("{}-{}", time(h.window.start), time(h.window.end))
        }),
        timezone: hours.map(|h| h.timezone.name().to_owned()),
    })
}

/// Every OneBox token issued so far expires now.
async fn onebox_expire(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.book().onebox.expire_tokens();
    StatusCode::NO_CONTENT
}

/// `{"millis": N}`: the lifetime of OneBox tokens issued from now on.
async fn onebox_lifetime(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<Millis>,
) -> StatusCode {
    shared.book().onebox.lifetime = Duration::from_millis(request.millis);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct QuotaRequest {
    remaining: Option<u64>,
}

/// `{"remaining": N}`: N more OneBox messages, then "time limit reached";
/// `{"remaining": null}`: no limit.
async fn onebox_quota(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<QuotaRequest>,
) -> StatusCode {
    shared.book().onebox.quota = request.remaining;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct HoursRequest {
    hours: Option<String>,
    timezone: Option<String>,
}

/// `{"hours": "06:00-18:00", "timezone": "Asia/Jakarta"}`: OneBox takes
/// messages only within these hours (the time zone defaults to UTC) and
/// answers "time limit reached" outside them; `{"hours": null}`: any hour.
/// 400 with the reason for hours or a time zone that does not parse.
async fn onebox_hours(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<HoursRequest>,
) -> Result<StatusCode, (StatusCode, String)> {
    let hours = match request.hours.as_deref() {
        None => None,
        Some(window) => Some(
            OpenHours::parse(window, request.timezone.as_deref())
                .map_err(|why| (StatusCode::BAD_REQUEST, why))?,
        ),
    };
    shared.book().onebox.hours = hours;
    Ok(StatusCode::NO_CONTENT)
}
