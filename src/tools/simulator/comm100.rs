//! Comm100's Ticketing Messages API v4
//! (`providers/comm100-ticketing-messages.txt`): `POST /v4/ticketing/messages`
//! creates a message (201) and `POST /v4/ticketing/messages/{id}:resend`
//! resends one the twin holds (200; 404 for an id it never created).
//!
//! It checks the bearer token (401) and the create body as the document
//! types it (400), logs the request, waits the latency, then answers the
//! ticket's next [`Step`] (scripts are keyed by `ticketId`, a resend by its
//! message's ticket) with the message in the document's shape.
//! `Ok { provider_status }` sets `messageDelivery.status`: 1 success,
//! 0 waitForSending, -3 failed (with a `failReason`); anything else success.
//! Error bodies, which the document does not show, are `{"message": "..."}`.

use super::journal::{Received, header_pairs};
use super::script::{Played, Step, html_garbage, with_retry_after};
use super::state::Shared;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

const PROVIDER: &str = "comm100";

const SENT_BY_TYPES: [&str; 7] = [
    "contact",
    "visitor",
    "chatbot",
    "channelAccount",
    "system",
    "agent",
    "outreachCampaign",
];
const TYPES: [&str; 9] = [
    "text",
    "html",
    "video",
    "audio",
    "image",
    "file",
    "location",
    "quickReply",
    "webView",
];
const DELIVERY_STATUSES: [&str; 4] = ["waitForSending", "sending", "failed", "success"];
const ATTACHMENT_TYPES: [&str; 4] = ["video", "audio", "image", "file"];

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v4/ticketing/messages", post(create))
        .route("/v4/ticketing/messages/{action}", post(action))
}

fn error(http: StatusCode, message: &str) -> Response {
    (http, axum::Json(json!({"message": message}))).into_response()
}

fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "simulator is shutting down",
    )
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let expected = format!("Bearer {}", shared.config.comm100_access_token);
    headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()) == Some(expected.as_bytes())
}

fn received(uri: &Uri, headers: &HeaderMap, body: Value) -> Received {
    Received {
        provider: PROVIDER,
        path: uri.path().to_owned(),
        headers: header_pairs(headers),
        body,
        at: Utc::now(),
    }
}

async fn create(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&raw)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()));
    let verdict = if !authorized(&shared, &headers) {
        Err(error(StatusCode::UNAUTHORIZED, "invalid access token"))
    } else {
        validate(&body).map_err(|reason| error(StatusCode::BAD_REQUEST, reason))
    };
    let decided = {
        let mut book = shared.book();
        let decided = verdict.map(|()| {
            let ticket = ticket_of(&body);
            let step = book.scripts.next(&ticket).unwrap_or_else(Step::success);
            (step, message(Uuid::new_v4(), &body))
        });
        book.journal
            .record(None, || received(&uri, &headers, body.clone()));
        decided
    };
    if !shared.pause(shared.latency()).await {
        return unavailable();
    }
    match decided {
        Ok((step, message)) => answer(&shared, step, message, StatusCode::CREATED).await,
        Err(refusal) => refusal,
    }
}

/// `{id}:resend`; the document's other actions are not simulated.
async fn action(
    State(shared): State<Arc<Shared>>,
    Path(action): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(id) = action.strip_suffix(":resend") else {
        return error(StatusCode::NOT_FOUND, "not simulated");
    };
    let held = {
        let mut book = shared.book();
        book.journal
            .record(None, || received(&uri, &headers, Value::Null));
        if !authorized(&shared, &headers) {
            Err(error(StatusCode::UNAUTHORIZED, "invalid access token"))
        } else {
            match book.comm100.message(id) {
                Some(message) => {
                    book.comm100.resends += 1;
                    let ticket = ticket_of(&message);
                    let step = book.scripts.next(&ticket).unwrap_or_else(Step::success);
                    Ok((step, message))
                }
                None => Err(error(StatusCode::NOT_FOUND, "message not found")),
            }
        }
    };
    if !shared.pause(shared.latency()).await {
        return unavailable();
    }
    match held {
        Ok((step, message)) => answer(&shared, step, message, StatusCode::OK).await,
        Err(refusal) => refusal,
    }
}

fn ticket_of(body: &Value) -> String {
    match body.get("ticketId") {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

async fn answer(shared: &Shared, step: Step, message: Value, created: StatusCode) -> Response {
    match shared.play(step).await {
        Played::Success { provider_status } => deliver(shared, message, provider_status, created),
        Played::Unavailable => unavailable(),
        Played::Http {
            status,
            reason,
            retry_after,
        } => with_retry_after(error(status, reason), retry_after),
        Played::Refused { code, message } => error(
            StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
            &message,
        ),
        Played::Garbage => html_garbage(),
    }
}

/// Holds the message with its delivery status, and answers it.
fn deliver(
    shared: &Shared,
    mut message: Value,
    provider_status: i16,
    http: StatusCode,
) -> Response {
    let (status, fail_reason) = match provider_status {
        0 => ("waitForSending", Value::Null),
        -3 => ("failed", "the channel refused the message".into()),
        _ => ("success", Value::Null),
    };
    message["messageDelivery"]["status"] = status.into();
    message["messageDelivery"]["failReason"] = fail_reason;
    message["messageDelivery"]["time"] = Utc::now().to_rfc3339().into();
    {
        let mut book = shared.book();
        if status != "failed" {
            book.journal.accept(None);
        }
        if let Some(id) = message["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()) {
            book.comm100.hold(id, message.clone());
        }
    }
    (http, axum::Json(message)).into_response()
}

/// The created message, in the document's response shape.
fn message(id: Uuid, request: &Value) -> Value {
    let mut message = request.clone();
    message["id"] = id.hyphenated().to_string().into();
    message["time"] = Utc::now().to_rfc3339().into();
    let mut delivery = request
        .get("messageDelivery")
        .cloned()
        .unwrap_or_else(|| json!({}));
    delivery["messageId"] = message["id"].clone();
    message["messageDelivery"] = delivery;
    let attachments = request
        .get("attachments")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut a| {
            a["id"] = Uuid::new_v4().hyphenated().to_string().into();
            a["messageId"] = message["id"].clone();
            a
        })
        .collect();
    message["attachments"] = Value::Array(attachments);
    message
}

fn guid(value: Option<&Value>) -> bool {
    value
        .and_then(Value::as_str)
        .is_some_and(|s| Uuid::parse_str(s).is_ok())
}

/// The document's create parameters: required ones present, types kept.
fn validate(body: &Value) -> Result<(), &'static str> {
    let Some(object) = body.as_object() else {
        return Err("the body is not a JSON object");
    };
    let ticket = ticket_of(body);
    if ticket.is_empty() || !ticket.bytes().all(|b| b.is_ascii_digit()) {
        return Err("ticketId is required (a ticket's self-increment id)");
    }
    if !guid(object.get("sentById")) {
        return Err("sentById is required (a guid)");
    }
    let one_of = |key: &str, allowed: &[&str]| {
        object
            .get(key)
            .and_then(Value::as_str)
            .is_some_and(|s| allowed.contains(&s))
    };
    if !one_of("sentByType", &SENT_BY_TYPES) {
        return Err("sentByType is required, one of the allowed roles");
    }
    if !one_of("type", &TYPES) {
        return Err("type is required, one of the allowed message types");
    }
    if !object.get("metadata").is_some_and(Value::is_object) {
        return Err("metadata is required (an object)");
    }
    let channel = object.get("channelId").and_then(Value::as_str);
    if channel.is_none_or(|c| c.trim().is_empty()) {
        return Err("channelId is required (a string)");
    }
    if object.get("body").is_some_and(|v| !v.is_string()) {
        return Err("body must be a string");
    }
    if let Some(delivery) = object.get("messageDelivery") {
        validate_delivery(delivery)?;
    }
    if let Some(attachments) = object.get("attachments") {
        let valid = attachments.as_array().is_some_and(|list| {
            list.iter().all(|a| {
                a.get("name").is_some_and(Value::is_string)
                    && a.get("type")
                        .is_none_or(|t| t.as_str().is_some_and(|t| ATTACHMENT_TYPES.contains(&t)))
            })
        });
        if !valid {
            return Err("attachments must be objects with a name and an allowed type");
        }
    }
    Ok(())
}

fn validate_delivery(delivery: &Value) -> Result<(), &'static str> {
    let Some(delivery) = delivery.as_object() else {
        return Err("messageDelivery must be an object");
    };
    let status = delivery.get("status");
    if status.is_some_and(|s| !s.as_str().is_some_and(|s| DELIVERY_STATUSES.contains(&s))) {
        return Err("messageDelivery.status must be waitForSending, sending, failed or success");
    }
    if delivery.get("groupId").is_some() && !guid(delivery.get("groupId")) {
        return Err("messageDelivery.groupId must be a guid");
    }
    if delivery
        .get("orderNum")
        .is_some_and(|n| !(n.is_u64() || n.is_i64()))
    {
        return Err("messageDelivery.orderNum must be an integer");
    }
    Ok(())
}
