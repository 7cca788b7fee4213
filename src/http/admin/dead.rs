//! `GET /v1/dead-letters`: the dead letters, read without taking them, as
//! `herald dead list --json`; `GET /v1/dead-letters/history`: the record
//! of every replay and purge, newest first, as `herald dead history --json`.

use super::ApiError;
use super::read::{bad_filter, unavailable};
use super::schema::ErrorBody;
use crate::domain::filter::{self, BadFilter};
use crate::http::HttpState;
use crate::queue::QueueError;
use crate::queue::dead::letter::Source;
use crate::queue::dead::{DeadLetter, DeadQueue};
use crate::storage::dead_actions::{ActionView, LetterRecord};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The query of `GET /v1/dead-letters/history`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Actions per page, 1 to 10000 (default 50).
    pub limit: Option<String>,
    /// The `next_before` of the previous page: actions before that one.
    pub before: Option<String>,
}

/// The query of `GET /v1/dead-letters`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LettersQuery {
    /// Dead letters to show, the oldest first, 1 to 10000 (default 50).
    pub limit: Option<String>,
}

/// One dead letter, as `herald dead list --json` shows it.
#[derive(Serialize, ToSchema)]
pub struct Letter {
    /// Names it for a replay: 12 hex digits of a hash of its `message_id`
    /// (or of its body, reason and time).
    pub handle: String,
    /// `herald` (`x-herald-error`), `rabbitmq` (`x-death`) or `unknown`.
    pub source: String,
    pub reason: Option<String>,
    pub dead_lettered_at: Option<DateTime<Utc>>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<String>,
    pub message_id: Option<String>,
    /// How many times it was replayed before.
    pub replays: u32,
    pub bytes: usize,
    /// The body's first 80 characters, control characters escaped.
    pub preview: String,
}

/// The dead letters, oldest first, and how many the queue holds.
#[derive(Serialize, ToSchema)]
pub struct Letters {
    pub letters: Vec<Letter>,
    pub total: u32,
}

/// One dead letter an action took.
#[derive(Serialize, ToSchema)]
pub struct TakenLetter {
    /// Its handle, as `herald dead list` shows it.
    pub handle: String,
    pub message_id: Option<String>,
    /// The command's `type`, where its body could be read.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The command's `id` (a delivery's id for a `send`), where readable.
    pub id: Option<String>,
    /// Why it had been dead-lettered (`x-herald-error`, or RabbitMQ's reason).
    pub error: Option<String>,
}

/// One replay or purge.
#[derive(Serialize, ToSchema)]
pub struct DeadLetterAction {
    /// Its number, in the order they started.
    pub id: i64,
    pub started_at: DateTime<Utc>,
    /// Null while it runs, or where its process stopped before it could
    /// record the end: any of what it was asked may have been done.
    pub finished_at: Option<DateTime<Utc>>,
    /// `replay` or `purge`.
    pub action: String,
    /// `cli` or `api`.
    pub actor: String,
    /// The operator's name, where given.
    pub operator: Option<String>,
    pub reason: Option<String>,
    /// The dead-letter queue it worked on.
    pub queue: String,
    /// The handles it was asked for; null for every dead letter.
    pub handles: Option<Vec<String>>,
    /// How many a purge counted and was confirmed for.
    pub asked_count: Option<i32>,
    /// How many it replayed or purged; null where it never said.
    pub count: Option<i32>,
    pub letters: Vec<TakenLetter>,
    /// Why it stopped before the end, where it did.
    pub error: Option<String>,
}

/// A page of the history, newest first.
#[derive(Serialize, ToSchema)]
pub struct DeadLetterHistory {
    pub actions: Vec<DeadLetterAction>,
    /// Pass as `before` for the next page; null on the last page.
    pub next_before: Option<i64>,
}

impl From<LetterRecord> for TakenLetter {
    fn from(l: LetterRecord) -> TakenLetter {
        TakenLetter {
            handle: l.handle,
            message_id: l.message_id,
            kind: l.kind,
            id: l.id,
            error: l.error,
        }
    }
}

impl From<ActionView> for DeadLetterAction {
    fn from(a: ActionView) -> DeadLetterAction {
        DeadLetterAction {
            id: a.id,
            started_at: a.started_at,
            finished_at: a.finished_at,
            action: a.action,
            actor: a.actor,
            operator: a.operator,
            reason: a.reason,
            queue: a.queue,
            handles: a.handles,
            asked_count: a.asked_count,
            count: a.count,
            letters: a.letters.into_iter().map(Into::into).collect(),
            error: a.error,
        }
    }
}

/// The dead letters, read without taking them off the queue.
#[utoipa::path(
    get,
    path = "/v1/dead-letters",
    tag = "dead letters",
    params(LettersQuery),
    responses(
        (status = 200, description = "The oldest `limit` dead letters, and how many there are; each is read and handed back in its order", body = Letters),
        (status = 400, description = "`limit` does not parse", body = ErrorBody),
        (status = 401, description = "No admin token, or a wrong one", body = ErrorBody),
        (status = 404, description = "The admin API is off", body = ErrorBody),
        (status = 503, description = "RabbitMQ failed", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn letters(
    State(state): State<HttpState>,
    query: Result<Query<LettersQuery>, QueryRejection>,
) -> Result<Json<Letters>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let limit = filter::parse_limit(query.limit.as_deref()).map_err(bad_filter)?;
    let unavailable = |e: QueueError| {
        tracing::warn!(error = %crate::error_chain(&e), "admin API: the dead-letter queue failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("RabbitMQ failed ({e}); try again"),
        )
    };
    let queue = DeadQueue::open(&state.config.amqp)
        .await
        .map_err(unavailable)?;
    let listing = queue
        .list(usize::try_from(limit).unwrap_or(usize::MAX))
        .await;
    queue.close().await;
    let listing = listing.map_err(unavailable)?;
    Ok(Json(Letters {
        letters: listing.letters.into_iter().map(Letter::from).collect(),
        total: listing.total,
    }))
}

impl From<DeadLetter> for Letter {
    fn from(l: DeadLetter) -> Letter {
        Letter {
            source: match l.source {
                Source::Herald => "herald",
                Source::Rabbitmq => "rabbitmq",
                Source::Unknown => "unknown",
            }
            .to_owned(),
            handle: l.handle,
            reason: l.reason,
            dead_lettered_at: l.dead_lettered_at,
            kind: l.kind,
            id: l.id,
            message_id: l.message_id,
            replays: l.replays,
            bytes: l.bytes,
            preview: l.preview,
        }
    }
}

/// The replays and purges, newest first.
#[utoipa::path(
    get,
    path = "/v1/dead-letters/history",
    tag = "dead letters",
    params(HistoryQuery),
    responses(
        (status = 200, description = "A page of the replays and purges, newest first, with the dead letters each took", body = DeadLetterHistory),
        (status = 400, description = "`limit` or `before` does not parse; the message names it", body = ErrorBody),
        (status = 401, description = "No admin token, or a wrong one", body = ErrorBody),
        (status = 404, description = "The admin API is off", body = ErrorBody),
        (status = 503, description = "PostgreSQL did not answer", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn history(
    State(state): State<HttpState>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<DeadLetterHistory>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let limit = filter::parse_limit(query.limit.as_deref()).map_err(bad_filter)?;
    let before = query
        .before
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(|b| {
            b.parse::<i64>().map_err(|_| {
                bad_filter(BadFilter::new(
                    "before",
                    format!("{b:?} is not an action's number; pass next_before as it was given"),
                ))
            })
        })
        .transpose()?;
    let actions = state
        .store
        .dead_actions(limit, before)
        .await
        .map_err(|e| unavailable(&e))?;
    let full = i64::try_from(actions.len()).is_ok_and(|n| n == limit);
    let next_before = full.then(|| actions.last().map(|a| a.id)).flatten();
    Ok(Json(DeadLetterHistory {
        actions: actions.into_iter().map(Into::into).collect(),
        next_before,
    }))
}
