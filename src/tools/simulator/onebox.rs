//! OneBox's API (`providers/onebox-authenticate.md`,
//! `providers/onebox-message-create.md`):
//!
//! - `POST /api/authenticate` checks `email`, `password` and `siteId` and
//!   issues a JWT whose `exp` is its lifetime ([`super::SimConfig`], or
//!   [`super::SimHandle::set_onebox_token_lifetime`]);
//! - `POST /api/message` wants a token it issued and still holds valid (401
//!   "Expired token" otherwise), a body as the document describes it (400),
//!   and an open quota (401 "time limit reached ..." once it is used up, or
//!   outside its hours when they are set);
//!   then it answers the recipient's (`To`'s) next [`Step`] and, on success,
//!   echoes the stored message in `data[0]` as the document shows.
//!
//! Refusals for the token, the body or the quota consume no step; the
//! latency applies to every answer. What
//! OneBox answers to a token it never issued, or to wrong credentials, is not
//! documented: here a 401 envelope saying "Invalid token" or "Invalid email
//! or password".

use super::journal::{Received, header_pairs};
use super::onebox_book::OneboxBook;
use super::onebox_check::{self, credentials};
use super::script::{Played, Scripts, Step, html_garbage, with_retry_after};
use super::state::Shared;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use serde_json::{Value, json};
use std::sync::Arc;

const PROVIDER: &str = "onebox";

/// The quota refusal, as the document words it.
pub const TIME_LIMIT: &str = "time limit reached please try again tomorrow at 18:00 - 06:00";

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/authenticate", post(authenticate))
        .route("/api/message", post(message))
}

/// OneBox's error envelope at `http`, with `errorCode` `code`.
fn envelope(http: StatusCode, code: u16, message: &str, dev: Option<&str>) -> Response {
    let body = json!({"_meta": {"status": "ERROR", "count": 1}, "records": {
        "errorCode": code, "userMessage": message, "devMessage": dev,
        "more": null, "applicationCode": null}});
    (http, axum::Json(body)).into_response()
}

fn unauthorized(message: &str) -> Response {
    envelope(StatusCode::UNAUTHORIZED, 401, message, None)
}

fn unavailable() -> Response {
    let status = StatusCode::SERVICE_UNAVAILABLE;
    envelope(
        status,
        503,
        "Service Unavailable",
        Some("simulator is shutting down"),
    )
}

fn json_of(raw: &[u8]) -> Value {
    serde_json::from_slice(raw)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(raw).into_owned()))
}

async fn authenticate(State(shared): State<Arc<Shared>>, raw: Bytes) -> Response {
    let body = json_of(&raw);
    let given = match credentials(&body) {
        Ok(given) => given,
        Err(reason) => return envelope(StatusCode::BAD_REQUEST, 400, reason, None),
    };
    let config = &shared.config;
    let site = match given.site_id {
        Value::String(s) => s.trim().to_owned(),
        other => other.to_string(),
    };
    if given.email != config.onebox_email
        || given.password != config.onebox_password
        || site != config.onebox_site_id
    {
        return unauthorized("Invalid email or password");
    }
    let token = shared.book().onebox.issue(given.email, given.site_id);
    if !shared.pause(shared.latency()).await {
        return unavailable();
    }
    let answer = json!({"response_code": "200", "response_status": "Success", "token": token});
    (StatusCode::OK, axum::Json(answer)).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::trim)
}

/// A step that ends in success consumes the quota and gets the next `Id`.
fn succeeds(step: &Step) -> bool {
    matches!(
        step,
        Step::Ok { .. } | Step::OkWithId { .. } | Step::Delay { .. }
    )
}

/// Why a message call is refused before any step.
enum Refusal {
    Token(&'static str),
    Body(String),
    Quota,
}

/// The token, the body, the quota, then the recipient's step; a success
/// takes its share of the quota and the next `Id` (with the stored message).
fn decide(
    shared: &Shared,
    onebox: &mut OneboxBook,
    scripts: &mut Scripts,
    valid: Result<(), String>,
    headers: &HeaderMap,
    body: &Value,
) -> Result<(Step, Value), Refusal> {
    if let Some(refusal) = onebox.refuse_token(bearer(headers)) {
        return Err(Refusal::Token(refusal));
    }
    valid.map_err(Refusal::Body)?;
    if onebox.closed(Utc::now()) {
        return Err(Refusal::Quota);
    }
    let to = body.get("To").and_then(Value::as_str);
    let step = to
        .and_then(|to| scripts.next(to))
        .unwrap_or_else(Step::success);
    let mut stored = Value::Null;
    if succeeds(&step) {
        onebox.quota = onebox.quota.map(|q| q.saturating_sub(1));
        stored = stored_message(shared, onebox.next_id, body);
        onebox.next_id += 1;
    }
    Ok((step, stored))
}

async fn message(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = json_of(&raw);
    let valid = onebox_check::message(&headers, &body);
    let decision = {
        let mut guard = shared.book();
        let book = &mut *guard;
        let decision = decide(
            &shared,
            &mut book.onebox,
            &mut book.scripts,
            valid,
            &headers,
            &body,
        );
        book.journal.record(None, || Received {
            provider: PROVIDER,
            path: uri.path().to_owned(),
            headers: header_pairs(&headers),
            body,
            at: Utc::now(),
        });
        decision
    };
    // The latency applies to refusals too: a wave of calls with an expired
    // token is in flight together, as against a real server.
    if !shared.pause(shared.latency()).await {
        return unavailable();
    }
    match decision {
        Ok((step, stored)) => answer(&shared, step, stored).await,
        Err(Refusal::Token(message)) => unauthorized(message),
        Err(Refusal::Body(reason)) => envelope(StatusCode::BAD_REQUEST, 400, &reason, None),
        Err(Refusal::Quota) => unauthorized(TIME_LIMIT),
    }
}

async fn answer(shared: &Shared, step: Step, stored: Value) -> Response {
    match shared.play(step).await {
        Played::Success { .. } => success(shared, stored),
        Played::Unavailable => unavailable(),
        Played::Http {
            status,
            reason,
            retry_after,
        } => with_retry_after(
            envelope(status, status.as_u16(), reason, Some("scripted fault")),
            retry_after,
        ),
        // OneBox's refusals are its envelope at the HTTP status of `code`.
        Played::Refused { code, message } => {
            let http = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
            envelope(http, code, &message, None)
        }
        Played::Garbage => html_garbage(),
    }
}

fn success(shared: &Shared, stored: Value) -> Response {
    let total = {
        let mut book = shared.book();
        book.journal.accept(None);
        book.onebox.next_id
    };
    let answer = json!({"limit": "1", "offset": 0, "count": 1, "total": total, "data": [stored]});
    (StatusCode::OK, axum::Json(answer)).into_response()
}

/// The stored message OneBox echoes, in the document's shape (numbers as
/// strings, as there).
fn stored_message(shared: &Shared, id: u64, request: &Value) -> Value {
    let field = |key: &str| request.get(key).cloned().unwrap_or(Value::Null);
    let text = |key: &str| match request.get(key) {
        Some(Value::Number(n)) => Value::String(n.to_string()),
        Some(other) => other.clone(),
        None => Value::Null,
    };
    let now = Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
    let attachments = request.get("Attachments").and_then(Value::as_array);
    let has_files = attachments.is_some_and(|a| !a.is_empty());
    let previous = text("PreviousId");
    let users: Vec<Value> = request
        .get("Users")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, user)| {
            json!({"ContactId": (41_000 + i).to_string(), "RoleId": user.get("RoleId"),
                "OrganizationId": null, "Contact": {"Name": user.get("Name"),
                "Email": user.get("IdentityId")}})
        })
        .collect();
    let content = request.get("Content").cloned().unwrap_or(Value::Null);
    let mut stored = json!({
        "Id": id.to_string(), "SiteId": shared.config.onebox_site_id,
        "ConnectionId": text("ConnectionId"), "Subject": field("Subject"),
        "Description": null, "Remarks": null, "Date": now, "ReceiveDate": now, "SendDate": null,
        "MediaId": null, "MethodId": field("MethodId"), "PriorityValue": "0", "PriorityId": "MSP1",
        "TypeId": "MST2", "SecrecyId": null, "Incoming": "0",
        "From": field("From"), "To": field("To"), "Cc": field("Cc"), "Bcc": field("Bcc"),
    });
    let rest = json!({
        "StatusId": "MSS3", "Retry": "0", "Attachment": if has_files { "1" } else { "0" },
        "BatchId": null, "Spam": "0", "Processing": "1",
        "RemoteId": uuid::Uuid::new_v4().simple().to_string(), "ParentId": null,
        "PreviousId": previous.clone(), "SourceId": null, "CreateDate": now, "ModifyDate": now,
        "ViewDate": null, "ConversationId": text("ConversationId"),
        "Reply": if previous.is_null() { "0" } else { "1" },
        "Users": users,
        "Content": {"Body": content.get("Body"), "BodyText": content.get("BodyText"),
            "Meta": null, "TemplateId": null, "ContentType": content.get("ContentType"),
            "Encoding": content.get("Encoding")},
        "Attachments": []
    });
    if let (Value::Object(stored), Value::Object(rest)) = (&mut stored, rest) {
        stored.extend(rest);
    }
    stored
}
