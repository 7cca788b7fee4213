//! `POST /v1/deliveries/{id}/resend`, `.../{id}/cancel` and the bulk
//! `POST /v1/deliveries/resend`: each checks what it can (the delivery
//! exists, its state allows it) and publishes the command, confirmed by
//! RabbitMQ; a worker applies it, conditionally, as every resend and
//! cancel is applied.

use super::read::{bad_filter, found, parse_id, unavailable};
use super::schema::{BulkResendBody, ErrorBody, Published, PublishedCount, ResendBody};
use super::{ApiError, from_api};
use crate::domain::filter::{BadFilter, Cursor};
use crate::domain::status::{DeliveryEvent, sources};
use crate::domain::{CancelCommand, Command, ResendCommand};
use crate::http::HttpState;
use crate::queue::{Publisher, QueueError};
use crate::storage::operator::DeliveryView;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use std::time::Duration;

/// Deliveries a bulk resend reads, and publishes, at a time.
const BULK_PAGE: i64 = 500;

/// The longest a publish (with its confirm) may take.
const PUBLISH_WITHIN: Duration = Duration::from_secs(15);

fn broker_failed(err: &QueueError, published: u64) -> ApiError {
    tracing::warn!(error = %crate::error_chain(err), published, "admin API: publishing failed");
    let done = if published == 0 {
        "nothing was published".to_owned()
    } else {
        format!("{published} resends were published before it failed")
    };
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("RabbitMQ did not take the command ({err}); {done}; try again"),
    )
}

async fn publisher(state: &HttpState) -> Result<Publisher, ApiError> {
    state
        .broker
        .publisher()
        .await
        .map_err(|e| broker_failed(&e, 0))
}

/// Publishes `commands`, each under its key (its AMQP `message_id`), with
/// confirms, within [`PUBLISH_WITHIN`].
async fn publish(publisher: &Publisher, commands: &[(Command, String)]) -> Result<(), QueueError> {
    let bodies: Vec<(Vec<u8>, String)> = commands
        .iter()
        .map(|(c, key)| (c.to_json().to_string().into_bytes(), key.clone()))
        .collect();
    tokio::time::timeout(PUBLISH_WITHIN, publisher.publish_keyed(&bodies))
        .await
        .map_err(|_| QueueError::Timeout(PUBLISH_WITHIN))?
}

fn conflict(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, message)
}

/// Checks that delivery `id` exists and that `event` applies to it now;
/// the delivery as it is.
async fn check(
    state: &HttpState,
    id: uuid::Uuid,
    event: DeliveryEvent,
) -> Result<DeliveryView, ApiError> {
    let what = if event == DeliveryEvent::Resend {
        "resent"
    } else {
        "cancelled"
    };
    let delivery = found(state, id).await?;
    if delivery.command.is_none() {
        return Err(conflict(format!(
            "delivery {id} was a rejected command: it cannot be {what}"
        )));
    }
    let allowed = sources(event);
    if !allowed.contains(&delivery.status.as_str()) {
        return Err(conflict(format!(
            "delivery {id} is {}: only a delivery that is {} can be {what}",
            delivery.status,
            allowed.join(" or ")
        )));
    }
    Ok(delivery)
}

async fn publish_one(
    state: &HttpState,
    command: Command,
    key: String,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let id = command.id();
    let publisher = publisher(state).await?;
    publish(&publisher, &[(command, key)])
        .await
        .map_err(|e| broker_failed(&e, 0))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Published {
            id,
            published: true,
        }),
    ))
}

/// Publishes a `resend` of a `failed` or `success` delivery.
#[utoipa::path(
    post,
    path = "/v1/deliveries/{id}/resend",
    tag = "deliveries",
    params(
        ("id" = String, Path, description = "The delivery's id (a UUID)"),
        ("X-Herald-Operator" = Option<String>, Header, description = "Who asks; kept in the command's `by`"),
    ),
    request_body(content = Option<ResendBody>, description = "Optional: why", content_type = "application/json"),
    responses(
        (status = 202, description = "The resend command was published; a worker starts a new round", body = Published),
        (status = 400, description = "The id is not a UUID, or the body does not parse", body = ErrorBody),
        (status = 401, description = "No admin token, or a wrong one", body = ErrorBody),
        (status = 404, description = "No delivery with that id", body = ErrorBody),
        (status = 409, description = "The delivery is not failed or success (it is waiting or in flight)", body = ErrorBody),
        (status = 503, description = "PostgreSQL or RabbitMQ did not answer; nothing was published", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn resend(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let id = parse_id(&id)?;
    let body: ResendBody = if body.iter().all(u8::is_ascii_whitespace) {
        ResendBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("body: {e}")))?
    };
    let delivery = check(&state, id, DeliveryEvent::Resend).await?;
    let command = Command::Resend(ResendCommand {
        id,
        reason: body.reason,
        by: from_api(&headers),
    });
    publish_one(&state, command, ResendCommand::key(id, delivery.resends)).await
}

/// Publishes a `cancel` of a waiting delivery.
#[utoipa::path(
    post,
    path = "/v1/deliveries/{id}/cancel",
    tag = "deliveries",
    params(
        ("id" = String, Path, description = "The delivery's id (a UUID)"),
        ("X-Herald-Operator" = Option<String>, Header, description = "Who asks; kept in the command's `by`"),
    ),
    responses(
        (status = 202, description = "The cancel command was published; a worker fails the delivery with `cancelled`", body = Published),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No admin token, or a wrong one", body = ErrorBody),
        (status = 404, description = "No delivery with that id", body = ErrorBody),
        (status = 409, description = "The delivery is not waiting (waitForSending)", body = ErrorBody),
        (status = 503, description = "PostgreSQL or RabbitMQ did not answer; nothing was published", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn cancel(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let id = parse_id(&id)?;
    check(&state, id, DeliveryEvent::Cancel).await?;
    let command = Command::Cancel(CancelCommand {
        id,
        by: from_api(&headers),
    });
    publish_one(&state, command, format!("cancel {id}")).await
}

/// Publishes a `resend` for every delivery the filters match.
#[utoipa::path(
    post,
    path = "/v1/deliveries/resend",
    tag = "deliveries",
    params(
        ("X-Herald-Operator" = Option<String>, Header, description = "Who asks; kept in each command's `by`"),
    ),
    request_body(content = BulkResendBody, description = "The filters; `status` is required", content_type = "application/json"),
    responses(
        (status = 202, description = "A resend command was published for each match", body = PublishedCount),
        (status = 400, description = "The body or a filter does not parse, or `status` is not failed or success; the message names the field", body = ErrorBody),
        (status = 401, description = "No admin token, or a wrong one", body = ErrorBody),
        (status = 404, description = "The admin API is off", body = ErrorBody),
        (status = 503, description = "PostgreSQL or RabbitMQ did not answer; the message says how many were published", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn bulk_resend(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Json<BulkResendBody>, JsonRejection>,
) -> Result<(StatusCode, Json<PublishedCount>), ApiError> {
    let Json(body) = body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let filter = body.filters().parse().map_err(bad_filter)?;
    let resendable = sources(DeliveryEvent::Resend);
    if !filter
        .status
        .is_some_and(|s| resendable.contains(&s.as_str()))
    {
        return Err(bad_filter(BadFilter::new(
            "status",
            "required, and failed or success: only those deliveries can be resent",
        )));
    }
    let by = from_api(&headers);
    let publisher = publisher(&state).await?;
    let mut published = 0u64;
    let mut after: Option<Cursor> = None;
    loop {
        let page = state
            .store
            .page(&filter, after.as_ref(), BULK_PAGE)
            .await
            .map_err(|e| unavailable(&e))?;
        let commands: Vec<(Command, String)> = page
            .deliveries
            .iter()
            .map(|d| {
                let command = Command::Resend(ResendCommand {
                    id: d.id,
                    reason: body.reason.clone(),
                    by: by.clone(),
                });
                (command, ResendCommand::key(d.id, d.resends))
            })
            .collect();
        publish(&publisher, &commands)
            .await
            .map_err(|e| broker_failed(&e, published))?;
        published += commands.len() as u64;
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok((StatusCode::ACCEPTED, Json(PublishedCount { published })))
}
