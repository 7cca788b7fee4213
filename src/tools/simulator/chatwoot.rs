//! A Chatwoot-compatible server's create-message call
//! (`providers/chatwoot-99digital-create-message.txt`):
//! `POST /api/v1/accounts/{account_id}/conversations/{conversation_id}/messages`.
//!
//! It checks the `api_access_token` header (401), the numeric path ids (404)
//! and the body as the document types it (400), logs the request, waits the
//! latency (refusals too), then answers the conversation's next [`Step`]
//! (scripts are keyed by the conversation id here) with the message in the
//! document's response shape.
//! `Ok { provider_status }` sets the answer's `status`: 1 sent, 2 delivered,
//! 3 read, -3 failed (anything else: sent). Error bodies, which the document
//! does not show, are `{"error": "..."}`.

use super::journal::{Received, header_pairs};
use super::script::{Played, Step, html_garbage, with_retry_after};
use super::state::Shared;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use serde_json::{Value, json};
use std::sync::Arc;

const PROVIDER: &str = "chatwoot";

const MESSAGE_TYPES: [&str; 4] = ["incoming", "outgoing", "activity", "template"];
const CONTENT_TYPES: [&str; 4] = ["text", "input_select", "cards", "form"];

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route(
        "/api/v1/accounts/{account_id}/conversations/{conversation_id}/messages",
        post(create),
    )
}

fn error(http: StatusCode, message: &str) -> Response {
    (http, axum::Json(json!({"error": message}))).into_response()
}

fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "simulator is shutting down",
    )
}

/// What the journal counts a request under: its conversation, which has
/// no message id of its own to count by (`SimHandle::sends_of`).
pub fn journal_key(conversation: &str) -> String {
    format!("chatwoot/{conversation}")
}

fn numeric(id: &str) -> Option<u64> {
    id.parse().ok()
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Path((account, conversation)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&raw)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()));
    let token = headers.get("api_access_token").map(|v| v.as_bytes());
    let verdict = if token != Some(shared.config.chatwoot_api_access_token.as_bytes()) {
        Err(error(StatusCode::UNAUTHORIZED, "Invalid Access Token"))
    } else if numeric(&account).is_none() || numeric(&conversation).is_none() {
        Err(error(StatusCode::NOT_FOUND, "Resource could not be found"))
    } else {
        validate(&body).map_err(|reason| error(StatusCode::BAD_REQUEST, reason))
    };
    let decided = {
        let mut book = shared.book();
        let decided = verdict.map(|()| {
            let step = book
                .outage(PROVIDER)
                .or_else(|| book.scripts.next(&conversation))
                .unwrap_or_else(Step::success);
            let id = book.chatwoot.next_id();
            (
                step,
                message(id, numeric(&conversation).unwrap_or(0), &body),
            )
        });
        book.journal
            .record(Some(&journal_key(&conversation)), || Received {
                provider: PROVIDER,
                path: uri.path().to_owned(),
                headers: header_pairs(&headers),
                body,
                at: Utc::now(),
            });
        decided
    };
    if !shared.pause(shared.latency()).await {
        return unavailable();
    }
    match decided {
        Ok((step, message)) => answer(&shared, step, message, &journal_key(&conversation)).await,
        Err(refusal) => refusal,
    }
}

async fn answer(shared: &Shared, step: Step, message: Value, key: &str) -> Response {
    match shared.play(step).await {
        Played::Success { provider_status } => success(shared, message, provider_status, key),
        Played::Unavailable => unavailable(),
        Played::Http {
            status,
            reason,
            retry_after,
        } => with_retry_after(error(status, reason), retry_after),
        Played::Refused { code, message } => error(
            StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
            &message,
        ),
        Played::Garbage => html_garbage(),
    }
}

fn status_name(provider_status: i16) -> &'static str {
    match provider_status {
        2 => "delivered",
        3 => "read",
        -3 => "failed",
        _ => "sent",
    }
}

fn success(shared: &Shared, mut message: Value, provider_status: i16, key: &str) -> Response {
    let status = status_name(provider_status);
    if status != "failed" {
        shared.book().journal.accept(Some(key));
    }
    message["status"] = status.into();
    (StatusCode::OK, axum::Json(message)).into_response()
}

/// The created message, in the document's response shape.
fn message(id: u64, conversation: u64, request: &Value) -> Value {
    let now = Utc::now();
    let message_type = match request.get("message_type").and_then(Value::as_str) {
        Some("incoming") => 1,
        Some("activity") => 3,
        Some("template") => 4,
        _ => 2,
    };
    json!({
        "id": id, "content": request.get("content"), "inbox_id": 1,
        "conversation_id": conversation, "message_type": message_type,
        "content_type": request.get("content_type").and_then(Value::as_str).unwrap_or("text"),
        "status": "sent",
        "content_attributes": request.get("content_attributes").cloned().unwrap_or(json!({})),
        "created_at": now.timestamp(),
        "private": request.get("private").and_then(Value::as_bool).unwrap_or(false),
        "source_id": format!("sim-{id}"),
        "sender": {"id": 1, "name": "herald", "available_name": "herald",
            "email": "agent@chatwoot.example", "avatar_url": "", "logo_user_url": "",
            "type": "user", "availability_status": "online", "thumbnail": ""},
        "created_at_exact": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    })
}

/// The document's request body: `content` required, the rest typed.
fn validate(body: &Value) -> Result<(), &'static str> {
    let Some(object) = body.as_object() else {
        return Err("the body is not a JSON object");
    };
    let content = object.get("content").and_then(Value::as_str);
    if content.is_none_or(|c| c.trim().is_empty()) {
        return Err("content is required (a string)");
    }
    let one_of = |key: &str, allowed: &[&str]| {
        object
            .get(key)
            .is_none_or(|v| v.as_str().is_some_and(|s| allowed.contains(&s)))
    };
    if !one_of("message_type", &MESSAGE_TYPES) {
        return Err("message_type must be incoming, outgoing, activity or template");
    }
    if !one_of("content_type", &CONTENT_TYPES) {
        return Err("content_type must be text, input_select, cards or form");
    }
    if object.get("private").is_some_and(|v| !v.is_boolean()) {
        return Err("private must be a boolean");
    }
    if object
        .get("content_attributes")
        .is_some_and(|v| !v.is_object())
    {
        return Err("content_attributes must be an object");
    }
    Ok(())
}
