//! `POST /v1/dead-letters/replay` and `POST /v1/dead-letters/purge`: what
//! `herald dead replay` and `herald dead purge` do, through the API, and
//! recorded the same way (actor `api`, the operator `X-Herald-Operator`
//! names): the record is written before the queue is touched, so that
//! what cannot be recorded is not done (503), and completed once it ends.

use super::schema::ErrorBody;
use super::{ApiError, operator};
use crate::domain::{Actor, DeadLetterAction};
use crate::http::HttpState;
use crate::queue::QueueError;
use crate::queue::dead::DeadQueue;
use crate::queue::dead::letter::{self, HANDLE_LEN};
use crate::storage::dead_actions::{ActionStart, LetterRecord};
use crate::storage::events::By;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which dead letters to replay: `handles`, or `all`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// Handles, as `herald dead list` shows them (12 hex digits).
    #[serde(default)]
    pub handles: Vec<String>,
    /// Every dead letter in the queue.
    #[serde(default)]
    pub all: bool,
    /// Why, kept in the record.
    pub reason: Option<String>,
}

/// The purge's confirmation: the number of dead letters the caller saw.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeBody {
    /// How many dead letters the queue holds, as the caller last read it;
    /// the purge goes ahead only if it still holds that many.
    pub count: u32,
    /// Why, kept in the record.
    pub reason: Option<String>,
}

/// What a replay or purge did.
#[derive(Serialize, ToSchema)]
pub struct DeadDone {
    /// Its number in `GET /v1/dead-letters/history`.
    pub action: i64,
    /// How many dead letters it replayed or purged.
    pub count: u32,
    /// Their handles, in the order taken.
    pub handles: Vec<String>,
    /// Handles asked for that no dead letter had.
    pub missing: Vec<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

fn broker(err: &QueueError) -> ApiError {
    tracing::warn!(error = %crate::error_chain(err), "admin API: the dead-letter queue failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("RabbitMQ failed ({err}); try again"),
    )
}

/// Records that `action` starts; 503 (and nothing done) where it cannot.
async fn started(state: &HttpState, start: &ActionStart<'_>) -> Result<i64, ApiError> {
    state.store.dead_action_started(start).await.map_err(|e| {
        tracing::warn!(error = %crate::error_chain(&e), "admin API: cannot record a dead-letter action");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot record the {} (the database failed): nothing was done; try again", start.action),
        )
    })
}

/// Completes record `id`; the answer is the action's, whatever the record
/// says, but a record left unfinished is logged.
async fn finished(
    state: &HttpState,
    id: i64,
    letters: &[LetterRecord],
    error: Option<&QueueError>,
) {
    let error = error.map(|e| crate::error_chain(e));
    if let Err(e) = state
        .store
        .dead_action_finished(id, letters, error.as_deref())
        .await
    {
        tracing::warn!(action = id, error = %crate::error_chain(&e),
            "admin API: a dead-letter action's record could not be completed; it shows as unfinished");
    }
}

/// Publishes dead letters to the command exchange again.
#[utoipa::path(
    post,
    path = "/v1/dead-letters/replay",
    tag = "dead letters",
    params(("X-Herald-Operator" = Option<String>, Header, description = "Who asks; kept in the record")),
    request_body(content = ReplayBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Replayed (confirmed by RabbitMQ before each dead letter left the queue), and recorded", body = DeadDone),
        (status = 400, description = "Neither handles nor all, both, or a handle that is not 12 hex digits", body = ErrorBody),
        (status = 401, description = "No admin token, or a wrong one", body = ErrorBody),
        (status = 404, description = "The admin API is off", body = ErrorBody),
        (status = 503, description = "PostgreSQL or RabbitMQ failed; the record says what was done", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn replay(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Json<ReplayBody>, JsonRejection>,
) -> Result<Json<DeadDone>, ApiError> {
    let Json(body) = body.map_err(|e| bad(e.body_text()))?;
    // Exactly one of the two: `all` alone, or handles alone.
    let neither_or_both = body.all != body.handles.is_empty();
    if neither_or_both {
        return Err(bad(
            "handles: give the handles to replay, or \"all\": true (not both)",
        ));
    }
    let mut handles = Vec::new();
    for text in &body.handles {
        let handle = letter::parse_handle(text).ok_or_else(|| {
            bad(format!(
                "handles: {text:?} is not a dead letter's handle ({HANDLE_LEN} hex digits)"
            ))
        })?;
        handles.push(handle);
    }
    let name = operator(&headers);
    let amqp = &state.config.amqp;
    let start = ActionStart {
        action: DeadLetterAction::Replay,
        by: By {
            actor: Actor::Api,
            operator: name.as_deref(),
        },
        reason: body.reason.as_deref(),
        queue: &amqp.dead_letter_queue,
        handles: (!body.all).then_some(handles.as_slice()),
        asked_count: None,
    };
    let id = started(&state, &start).await?;
    let mut letters = Vec::new();
    let result = match DeadQueue::open(amqp).await {
        Ok(queue) => {
            let chosen =
                |l: &crate::queue::dead::DeadLetter| body.all || handles.contains(&l.handle);
            let result = queue
                .replay(chosen, false, |l| letters.push(LetterRecord::of(l)))
                .await;
            queue.close().await;
            result
        }
        Err(err) => Err(err),
    };
    finished(&state, id, &letters, result.as_ref().err()).await;
    result.map_err(|e| broker(&e))?;
    let taken: Vec<String> = letters.into_iter().map(|l| l.handle).collect();
    let missing = handles.into_iter().filter(|h| !taken.contains(h)).collect();
    Ok(Json(DeadDone {
        action: id,
        count: u32::try_from(taken.len()).unwrap_or(u32::MAX),
        handles: taken,
        missing,
    }))
}

/// Deletes the dead letters for good, if the queue holds the number given.
#[utoipa::path(
    post,
    path = "/v1/dead-letters/purge",
    tag = "dead letters",
    params(("X-Herald-Operator" = Option<String>, Header, description = "Who asks; kept in the record")),
    request_body(content = PurgeBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Purged that many from the head of the queue (any that arrived since stay), and recorded", body = DeadDone),
        (status = 400, description = "The body does not parse", body = ErrorBody),
        (status = 401, description = "No admin token, or a wrong one", body = ErrorBody),
        (status = 404, description = "The admin API is off", body = ErrorBody),
        (status = 409, description = "The queue does not hold `count` dead letters, or holds none: nothing was deleted", body = ErrorBody),
        (status = 503, description = "PostgreSQL or RabbitMQ failed; the record says what was done", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn purge(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Json<PurgeBody>, JsonRejection>,
) -> Result<Json<DeadDone>, ApiError> {
    let Json(body) = body.map_err(|e| bad(e.body_text()))?;
    let amqp = &state.config.amqp;
    let queue = DeadQueue::open(amqp).await.map_err(|e| broker(&e))?;
    let counted = match queue.count().await {
        Ok(n) => n,
        Err(e) => {
            queue.close().await;
            return Err(broker(&e));
        }
    };
    if counted != body.count || counted == 0 {
        queue.close().await;
        let held = match counted {
            0 => "holds no dead letters: nothing to purge".to_owned(),
            n => format!(
                "holds {n} dead letters, not {}: nothing was deleted; give the number it holds",
                body.count
            ),
        };
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{} {held}", amqp.dead_letter_queue),
        ));
    }
    let name = operator(&headers);
    let start = ActionStart {
        action: DeadLetterAction::Purge,
        by: By {
            actor: Actor::Api,
            operator: name.as_deref(),
        },
        reason: body.reason.as_deref(),
        queue: &amqp.dead_letter_queue,
        handles: None,
        asked_count: Some(counted),
    };
    let id = match started(&state, &start).await {
        Ok(id) => id,
        Err(e) => {
            queue.close().await;
            return Err(e);
        }
    };
    let mut letters = Vec::new();
    let result = queue
        .purge(counted, |l| letters.push(LetterRecord::of(l)))
        .await;
    queue.close().await;
    finished(&state, id, &letters, result.as_ref().err()).await;
    result.map_err(|e| broker(&e))?;
    let handles: Vec<String> = letters.into_iter().map(|l| l.handle).collect();
    Ok(Json(DeadDone {
        action: id,
        count: u32::try_from(handles.len()).unwrap_or(u32::MAX),
        handles,
        missing: Vec::new(),
    }))
}
