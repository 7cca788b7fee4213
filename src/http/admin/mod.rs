//! The admin API (contract §6) on `[http] listen`: find and read
//! deliveries, resend and cancel them, one or in bulk; read, replay and
//! purge dead letters, and read the record of every replay and purge.
//!
//! - Off unless `[http] admin_token` is set: then every admin route,
//!   `/v1/openapi.json` included, answers 404.
//! - Every route but the OpenAPI document needs `Authorization: Bearer
//!   <admin_token>` (401 without it or with another token). The token is
//!   compared as SHA-256 digests in constant time (`http::token`), so the
//!   time taken tells nothing of the token or its length.
//! - `GET /v1/openapi.json` is served without a token: it is generated from
//!   these handlers ([`utoipa`]) and holds no data.
//! - Resend and cancel are published to the command exchange, with
//!   confirms, as `resend` and `cancel` commands: the one path every resend
//!   and cancel takes, which every worker applies the same way. An optional
//!   `X-Herald-Operator: NAME` header goes into the command's `by`.
//! - Answers and errors are JSON; an error is `{"error": "..."}`.

mod dead;
mod dead_ops;
mod read;
mod schema;
mod write;

use super::HttpState;
use super::token::TokenDigest;
use crate::domain::{Actor, Requester};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use schema::ErrorBody;
use std::sync::Arc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The header that names the operator behind a resend or cancel.
pub const OPERATOR_HEADER: &str = "x-herald-operator";

/// The longest operator name kept; a longer one is cut.
const MAX_OPERATOR: usize = 100;

/// An answer of the admin API that is not a success.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "herald admin API",
        description = "Find, read, resend and cancel deliveries; replay and purge dead \
            letters, and read the history of every replay and purge. Every operation needs \
            `Authorization: Bearer <admin_token>` ([http] admin_token); this document does not."
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "deliveries", description = "Deliveries and their attempts"),
        (name = "dead letters", description = "Replays and purges of the dead-letter queue, and their record")
    )
)]
struct ApiDoc;

/// The security scheme every operation names (`bearer`).
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The admin routes and their OpenAPI document.
fn api() -> (Router<HttpState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(read::list))
        .routes(routes!(read::delivery))
        .routes(routes!(write::resend))
        .routes(routes!(write::cancel))
        .routes(routes!(write::bulk_resend))
        .routes(routes!(dead::letters))
        .routes(routes!(dead::history))
        .routes(routes!(dead_ops::replay))
        .routes(routes!(dead_ops::purge))
        .split_for_parts()
}

/// The OpenAPI document, as served at `/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The admin token's digest; `None` when no token is configured (off).
#[derive(Clone)]
struct Token(Option<TokenDigest>);

impl Token {
    /// Whether `given` is the token (see [`TokenDigest::matches`]).
    fn matches(&self, given: Option<&[u8]>) -> bool {
        self.0.as_ref().is_some_and(|token| token.matches(given))
    }
}

/// The bearer token of a request.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let scheme = value.get(..7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| value.get(7..))
        .flatten()
}

fn off() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "the admin API is off: set [http] admin_token to turn it on",
    )
    .into_response()
}

/// 404 while the API is off, 401 without the right token.
async fn require_token(State(token): State<Token>, request: Request, next: Next) -> Response {
    if token.0.is_none() {
        return off();
    }
    if !token.matches(bearer(request.headers())) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "present the admin token as Authorization: Bearer <[http] admin_token>",
        )
        .into_response();
    }
    next.run(request).await
}

/// Who asks, as the commands the admin API publishes say it: the API, and
/// the operator `X-Herald-Operator` names.
pub fn from_api(headers: &HeaderMap) -> Option<Requester> {
    Some(Requester::new(Actor::Api, operator(headers)))
}

/// The operator named by `X-Herald-Operator`: printable, at most 100
/// characters; anything else counts as no name.
pub fn operator(headers: &HeaderMap) -> Option<String> {
    let name = headers.get(OPERATOR_HEADER)?.to_str().ok()?.trim();
    (!name.is_empty() && !name.chars().any(char::is_control))
        .then(|| name.chars().take(MAX_OPERATOR).collect())
}

/// The admin API's routes, to merge into the HTTP router.
pub fn routes(state: &HttpState) -> Router<HttpState> {
    let configured = state.config.http.admin_token.expose();
    let token = Token((!configured.is_empty()).then(|| TokenDigest::of(configured.as_bytes())));
    let (router, doc) = api();
    let doc = Arc::new(doc);
    let document = get(move |State(_): State<HttpState>| {
        let doc = Arc::clone(&doc);
        async move { Json(doc.as_ref().clone()) }
    });
    let is_on = token.0.is_some();
    router
        .route_layer(middleware::from_fn_with_state(token, require_token))
        .route(
            "/v1/openapi.json",
            if is_on {
                document
            } else {
                get(|| async { off() })
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_the_token_itself_matches() {
        let token = Token(Some(TokenDigest::of(b"s3cret")));
        assert!(token.matches(Some(b"s3cret")));
        for wrong in [&b"s3cre"[..], b"s3cret!", b"", b"S3CRET"] {
            assert!(!token.matches(Some(wrong)));
        }
        assert!(!Token(None).matches(Some(b"")), "off matches nothing");
    }

    #[test]
    fn the_operator_is_a_printable_name() {
        let mut headers = HeaderMap::new();
        assert_eq!(operator(&headers), None);
        headers.insert(OPERATOR_HEADER, HeaderValue::from_static(" ana "));
        assert_eq!(operator(&headers).as_deref(), Some("ana"));
        headers.insert(OPERATOR_HEADER, HeaderValue::from_static("   "));
        assert_eq!(operator(&headers), None);
        let long = HeaderValue::from_str(&"x".repeat(300)).expect("header");
        headers.insert(OPERATOR_HEADER, long);
        assert_eq!(operator(&headers).map(|n| n.len()), Some(MAX_OPERATOR));
    }
}
