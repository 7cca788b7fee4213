//! HighQ Collaborate under an instance path `/{instance}`
//! (`providers/highq-new-conversation.txt`, `providers/highq-oauth2.md`):
//!
//! - `POST /{instance}/api/oauth2/token`: the refresh-token grant,
//!   form-encoded. Each refresh issues a new access token and **replaces**
//!   the refresh token; the old one then gets 400 `invalid_grant`.
//! - `POST /{instance}/api/4/conversations/`: the JSON form. An expired or
//!   unknown access token gets 403 "Access denied"; a body the document
//!   does not allow 400. Scripts are keyed by the first recipient's userid.
//!   The answer is JSON when asked for (`Accept: application/json`), else
//!   the document's XML; [`super::SimHandle::set_highq_xml`] forces XML.

use super::journal::{Received, header_pairs};
use super::script::{Played, Step, with_retry_after};
use super::state::Shared;
use axum::Form;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

const PROVIDER: &str = "highq";

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/{channel}/api/oauth2/token", post(token))
        .route("/{channel}/api/4/conversations/", post(create))
}

fn wants_json(headers: &HeaderMap, xml: bool) -> bool {
    !xml && headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("json"))
}

/// HighQ's error object, as JSON or XML.
fn error(http: StatusCode, summary: &str, json: bool) -> Response {
    if json {
        let body = json!({"error": {"ref": "sim", "summary": summary}});
        return (http, axum::Json(body)).into_response();
    }
    let body = format!("<error><ref>sim</ref><summary>{summary}</summary></error>");
    (http, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |key: &str| form.get(key).map(String::as_str).unwrap_or_default();
    let config = &shared.config;
    if field("grant_type") != "refresh_token" {
        let body = json!({"error": "unsupported_grant_type"});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    if field("client_id") != config.highq_client_id
        || field("client_secret") != config.highq_client_secret
    {
        let body = json!({"error": "invalid_client"});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let (body, delay) = {
        let mut book = shared.book();
        let highq = &mut book.highq;
        if field("refresh_token") != highq.refresh_token {
            highq.refused += 1;
            let body = json!({"error": "invalid_grant",
                "error_description": "the refresh token is not valid"});
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
        let access = highq.refresh();
        let body = json!({"access_token": access, "refresh_token": highq.refresh_token,
            "expires_in": highq.lifetime.as_secs(), "token_type": "bearer"});
        (body, highq.token_delay)
    };
    if !shared.pause(delay).await {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down", true);
    }
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

async fn create(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&raw)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()));
    let decided = {
        let mut book = shared.book();
        let json = wants_json(&headers, book.highq.xml);
        let valid = bearer(&headers).is_some_and(|t| book.highq.valid(t));
        let verdict = if !valid {
            Err(error(StatusCode::FORBIDDEN, "Access denied", json))
        } else {
            validate(&body).map_err(|why| error(StatusCode::BAD_REQUEST, why, json))
        };
        let decided = verdict.map(|()| {
            let first = body
                .pointer("/recipients/users/user/0/userid")
                .map(|id| match id {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            let step = book.scripts.next(&first).unwrap_or_else(Step::success);
            let id = book.highq.next_id();
            (step, id, json)
        });
        book.journal.record(None, || Received {
            provider: PROVIDER,
            path: uri.path().to_owned(),
            headers: header_pairs(&headers),
            body,
            at: chrono::Utc::now(),
        });
        decided
    };
    if !shared.pause(shared.latency()).await {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down", true);
    }
    let (step, id, json) = match decided {
        Ok(decided) => decided,
        Err(refusal) => return refusal,
    };
    match shared.play(step).await {
        Played::Success { .. } => created(&shared, id, json),
        Played::Unavailable => error(StatusCode::SERVICE_UNAVAILABLE, "shutting down", json),
        Played::Http {
            status,
            reason,
            retry_after,
        } => with_retry_after(error(status, reason, json), retry_after),
        Played::Refused { code, message } => error(
            StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
            &message,
            json,
        ),
        Played::Garbage => (StatusCode::CREATED, "not an answer").into_response(),
    }
}

/// 201 with the new conversation; `id` is both its id and its message's
/// (message ids start at 1160, as in the document's sample).
fn created(shared: &Shared, id: u64, json: bool) -> Response {
    shared.book().journal.accept(None);
    let message_id = 1159 + id;
    if json {
        let body = json!({"conversationid": id,
            "messages": {"message": [{"messageid": message_id}]}});
        return (StatusCode::CREATED, axum::Json(body)).into_response();
    }
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<conversation>\n    \
         <conversationid>{id}</conversationid>\n    <messages>\n        <message>\n            \
         <messageid>{message_id}</messageid>\n        </message>\n    </messages>\n</conversation>"
    );
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/xml")],
        body,
    )
        .into_response()
}

fn userid(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Number(n)) => n.is_u64(),
        Some(Value::String(s)) => !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
        _ => false,
    }
}

/// The document's JSON form: users with ids, messages with html, and
/// attachments with ids.
fn validate(body: &Value) -> Result<(), &'static str> {
    let users = body
        .pointer("/recipients/users/user")
        .and_then(Value::as_array);
    if !users.is_some_and(|u| !u.is_empty() && u.iter().all(|u| userid(u.get("userid")))) {
        return Err("Problem with parameters: recipients.users.user[].userid");
    }
    let messages = body.pointer("/messages/message").and_then(Value::as_array);
    let Some(messages) = messages.filter(|m| !m.is_empty()) else {
        return Err("Problem with parameters: messages.message[]");
    };
    for message in messages {
        if !message.get("html").is_some_and(Value::is_string) {
            return Err("Problem with parameters: messages.message[].html");
        }
        if let Some(attachments) = message.get("attachments") {
            let ids = attachments.get("attachment").and_then(Value::as_array);
            let valid = ids.is_some_and(|ids| {
                ids.iter()
                    .all(|a| a.get("id").is_some_and(|id| id.is_string() || id.is_u64()))
            });
            if !valid {
                return Err("Problem with parameters: attachments.attachment[].id");
            }
        }
    }
    Ok(())
}
