//! `GET /v1/deliveries/{id}` and `GET /v1/deliveries`: one delivery with
//! its attempts, and a page of the deliveries the filters match.

use super::ApiError;
use super::schema::{Attempt, DeliveryDetail, DeliveryPage, ErrorBody, Event, ListQuery};
use crate::domain::filter::{self, BadFilter};
use crate::http::HttpState;
use crate::storage::StorageError;
use crate::storage::operator::DeliveryView;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use uuid::Uuid;

/// A delivery id from the path.
pub fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(text.trim()).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("id: {text:?} is not a delivery id (a UUID)"),
        )
    })
}

/// PostgreSQL failed or did not answer: 503, worth another try.
pub fn unavailable(err: &StorageError) -> ApiError {
    tracing::warn!(error = %crate::error_chain(err), "admin API: the database failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the database did not answer; try again",
    )
}

pub fn bad_filter(err: BadFilter) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, err.to_string())
}

/// The delivery and its attempts.
#[utoipa::path(
    get,
    path = "/v1/deliveries/{id}",
    tag = "deliveries",
    params(("id" = String, Path, description = "The delivery's id (a UUID)")),
    responses(
        (status = 200, description = "The delivery, its message summed up, its attempts and its audit trail", body = DeliveryDetail),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No admin token, or a wrong one", body = ErrorBody),
        (status = 404, description = "No delivery with that id", body = ErrorBody),
        (status = 503, description = "PostgreSQL did not answer", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delivery(
    State(state): State<HttpState>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let id = parse_id(&id)?;
    let delivery = found(&state, id).await?;
    let attempts = state
        .store
        .attempts(id)
        .await
        .map_err(|e| unavailable(&e))?;
    let events = state.store.events(id).await.map_err(|e| unavailable(&e))?;
    Ok(Json(DeliveryDetail {
        delivery: delivery.into(),
        attempts: attempts.into_iter().map(Attempt::from).collect(),
        events: events.into_iter().map(Event::from).collect(),
    }))
}

/// A page of deliveries, newest first.
#[utoipa::path(
    get,
    path = "/v1/deliveries",
    tag = "deliveries",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of the matching deliveries, newest first, and the cursor of the next", body = DeliveryPage),
        (status = 400, description = "A filter, the limit or the cursor does not parse; the message names it", body = ErrorBody),
        (status = 401, description = "No admin token, or a wrong one", body = ErrorBody),
        (status = 404, description = "The admin API is off", body = ErrorBody),
        (status = 503, description = "PostgreSQL did not answer", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<HttpState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let filter = query.filters().parse().map_err(bad_filter)?;
    let limit = filter::parse_limit(query.limit.as_deref()).map_err(bad_filter)?;
    let after = filter::parse_cursor(query.cursor.as_deref()).map_err(bad_filter)?;
    let page = state
        .store
        .page(&filter, after.as_ref(), limit)
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(Json(DeliveryPage {
        deliveries: page.deliveries.into_iter().map(Into::into).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}
/// Delivery `id`, or a 404 that names it.
pub(super) async fn found(state: &HttpState, id: uuid::Uuid) -> Result<DeliveryView, ApiError> {
    state
        .store
        .delivery(id)
        .await
        .map_err(|e| unavailable(&e))?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no delivery {id}")))
}
