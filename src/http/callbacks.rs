//! `POST /v1/callbacks/{connection}`: a provider's delivery-status push
//! (contract §5).
//!
//! Open only for a connection that sets `callback_token`, which the caller
//! presents as `?token=...` or `Authorization: Bearer ...`, compared in
//! constant time: 401 without it, with a wrong one, or for a connection
//! that sets none; 404 only for a connection herald does not know. A push
//! to a connection whose provider pushes nothing herald reads (only Konnek
//! and Chatwoot do) is 202, ignored. A body that is not the
//! provider's push is 400; a message herald does not know is 202 (its
//! status is kept for 10 minutes and applied if a delivery with that
//! provider id appears: the send's outcome may not be stored yet); otherwise `provider_status` moves forward only (200). A
//! database error is 503, so that the provider tries again. Nothing here
//! logs or echoes the token.

use super::HttpState;
use super::token::TokenDigest;
use crate::adapters::callback::{self, Pushed};
use crate::storage::callbacks::Advanced;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

/// The largest push read; providers send a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

pub fn routes() -> Router<HttpState> {
    Router::new().route(
        "/v1/callbacks/{connection}",
        post(callback).layer(DefaultBodyLimit::max(MAX_BODY)),
    )
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn answer(status: StatusCode, result: &str, detail: &str) -> Response {
    (status, Json(json!({"result": result, "detail": detail}))).into_response()
}

/// The token the caller presented: the query's, else the bearer header's.
fn presented<'a>(query: &'a TokenQuery, headers: &'a HeaderMap) -> Option<&'a [u8]> {
    if let Some(token) = &query.token {
        return Some(token.as_bytes());
    }
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let scheme = value.get(..7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| value.get(7..))
        .flatten()
}

/// Compares in constant time, lengths included (`http::token`).
fn token_matches(expected: &str, given: Option<&[u8]>) -> bool {
    TokenDigest::of(expected.as_bytes()).matches(given)
}

fn unauthorized() -> Response {
    answer(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "present the connection's callback_token as ?token= or a bearer token",
    )
}

async fn callback(
    State(state): State<HttpState>,
    Path(name): Path<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(connection) = state.config.connections.iter().find(|c| c.name == name) else {
        return answer(
            StatusCode::NOT_FOUND,
            "unknown",
            "no connection of that name",
        );
    };
    let Some(expected) = &connection.callback_token else {
        // Closed: answered as a wrong token is, after as much work, so
        // that a caller learns nothing of which connections set one; the
        // log says why.
        std::hint::black_box(token_matches("", presented(&query, &headers)));
        tracing::info!(connection = %connection.name,
            "status callback refused: the connection sets no callback_token");
        crate::metrics::record_callback(&connection.name, "unauthorized");
        return unauthorized();
    };
    if !token_matches(expected.expose(), presented(&query, &headers)) {
        crate::metrics::record_callback(&connection.name, "unauthorized");
        return unauthorized();
    }
    let update = match callback::parse(&connection.settings, &body) {
        Ok(Pushed::Update(update)) => update,
        Ok(Pushed::Ignored(why)) => {
            crate::metrics::record_callback(&connection.name, "ignored");
            return answer(StatusCode::ACCEPTED, "ignored", why);
        }
        Err(malformed) => {
            crate::metrics::record_callback(&connection.name, "malformed");
            return answer(StatusCode::BAD_REQUEST, "malformed", &malformed.0);
        }
    };
    let advanced = state
        .store
        .advance_provider_status(&connection.name, &update.remote_id, update.status)
        .await;
    let (status, result, detail) = match advanced {
        Ok(Advanced::Moved) => (StatusCode::OK, "updated", "provider_status moved forward"),
        Ok(Advanced::Unchanged) => (
            StatusCode::OK,
            "unchanged",
            "the delivery already holds this status or a later one",
        ),
        Ok(Advanced::Unknown) => (
            StatusCode::ACCEPTED,
            "ignored",
            "no delivery of this connection has that message id yet; the status is kept for 10 minutes and applied if one appears",
        ),
        Err(err) => {
            tracing::warn!(connection = %connection.name, error = %crate::error_chain(&err),
                "could not record a status callback");
            crate::metrics::record_callback(&connection.name, "error");
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "error",
                "the status could not be recorded; try again",
            );
        }
    };
    tracing::debug!(connection = %connection.name, remote_id = %update.remote_id,
        status = %update.status, result, "status callback");
    crate::metrics::record_callback(&connection.name, result);
    answer(status, result, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_token_comes_from_the_query_or_the_bearer_header() {
        let mut headers = HeaderMap::new();
        let none = TokenQuery { token: None };
        assert_eq!(presented(&none, &headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer s3"));
        assert_eq!(presented(&none, &headers), Some(&b"s3"[..]));
        let query = TokenQuery {
            token: Some("q".into()),
        };
        assert_eq!(presented(&query, &headers), Some(&b"q"[..]));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic s3"));
        assert_eq!(presented(&none, &headers), None);
    }

    #[test]
    fn tokens_must_match_exactly() {
        assert!(token_matches("s3cret", Some(b"s3cret")));
        assert!(!token_matches("s3cret", Some(b"s3cre")));
        assert!(!token_matches("s3cret", Some(b"s3cret!")));
        assert!(!token_matches("s3cret", Some(b"")));
        assert!(!token_matches("s3cret", None));
    }
}
