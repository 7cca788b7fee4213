//! Konnek's send API, `POST /{channel}/send/{client_id}`
//! (`providers/konnek-send-message.txt`): it checks the `Auth-username` /
//! `Auth-password` headers (401) and the body as the document requires (400),
//! logs the request, then answers the recipient's next [`Step`] in Konnek's
//! `{"meta": {...}, "data": {...}}` shape.
//!
//! Requests refused for credentials or body consume no step.
//!
//! After an accepted send, `konnek_callbacks.rs` pushes the message's later
//! statuses to the client, when that switch is on.

use super::journal::{Received, header_pairs};
use super::script::{DEFAULT_PROVIDER_STATUS, Played, Step, html_garbage, with_retry_after};
use super::state::{CallSpan, Shared};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

const PROVIDER: &str = "konnek";

/// The `type`s the document lists (`voice` and `document` under media).
const TYPES: [&str; 9] = [
    "text", "image", "video", "audio", "voice", "document", "button", "list", "location",
];

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/{channel}/send/{client_id}", post(send))
}

#[derive(Serialize)]
struct Reply<'a> {
    meta: Meta<'a>,
    data: Option<Data<'a>>,
}

#[derive(Serialize)]
struct Meta<'a> {
    status: bool,
    code: u16,
    message: &'a str,
    errors: Option<&'a str>,
}

#[derive(Serialize)]
struct Data<'a> {
    message_id: &'a str,
    status: i16,
    tid: Uuid,
}

fn reply(http: StatusCode, meta: Meta<'_>, data: Option<Data<'_>>) -> Response {
    (http, axum::Json(Reply { meta, data })).into_response()
}

/// A Konnek error answer: `meta.status` false, `data` null.
fn failure(http: StatusCode, code: u16, message: &str, errors: Option<&str>) -> Response {
    let meta = Meta {
        status: false,
        code,
        message,
        errors,
    };
    reply(http, meta, None)
}

fn unavailable() -> Response {
    let status = StatusCode::SERVICE_UNAVAILABLE;
    failure(
        status,
        503,
        "Service Unavailable",
        Some("simulator is shutting down"),
    )
}

async fn send(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&raw)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()));
    let verdict = if !authorized(&shared, &headers) {
        Err(failure(
            StatusCode::UNAUTHORIZED,
            401,
            "Unauthorized",
            Some("invalid credentials"),
        ))
    } else {
        validate(&body)
            .map_err(|reason| failure(StatusCode::BAD_REQUEST, 400, "Bad Request", Some(reason)))
    };
    let id = body.get("id").and_then(Value::as_str).map(str::to_owned);
    let recipient = body
        .get("recipient")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let at = chrono::Utc::now();
    let (step, keeps_calls) = {
        let mut book = shared.book();
        let step = verdict.map(|()| {
            let recipient = body.get("recipient").and_then(Value::as_str);
            let next = book
                .outage(PROVIDER)
                .or_else(|| recipient.and_then(|r| book.scripts.next(r)));
            next.unwrap_or_else(Step::success)
        });
        book.journal.record(id.as_deref(), || Received {
            provider: PROVIDER,
            path: uri.path().to_owned(),
            headers: header_pairs(&headers),
            body,
            at,
        });
        (step, book.journal.keeps_log())
    };
    // Lives until the answer is built, or until the handler is dropped; not
    // made where nothing is logged (a benchmark's millions of calls).
    let _span = id
        .as_deref()
        .filter(|_| keeps_calls)
        .map(|id| CallSpan::start(&shared, id, at));
    let step = match step {
        Ok(step) => step,
        Err(refusal) => return refusal,
    };
    if !shared.pause(shared.latency()).await {
        return unavailable();
    }
    answer(&shared, step, id.as_deref().unwrap_or_default(), &recipient).await
}

async fn answer(shared: &Arc<Shared>, step: Step, id: &str, recipient: &str) -> Response {
    if let Step::OkWithId { remote_id } = &step {
        return success_as(shared, id, remote_id, recipient, DEFAULT_PROVIDER_STATUS);
    }
    match shared.play(step).await {
        Played::Success { provider_status } => success(shared, id, recipient, provider_status),
        Played::Unavailable => unavailable(),
        Played::Http {
            status,
            reason,
            retry_after,
        } => with_retry_after(
            failure(status, status.as_u16(), reason, Some("scripted fault")),
            retry_after,
        ),
        Played::Refused { code, message } => failure(StatusCode::OK, code, &message, None),
        Played::Garbage => html_garbage(),
    }
}

/// `meta.status` true; a negative `data.status` is not counted as accepted
/// (and is followed by no status callbacks).
fn success(shared: &Arc<Shared>, id: &str, recipient: &str, provider_status: i16) -> Response {
    success_as(shared, id, id, recipient, provider_status)
}

/// [`success`], naming the message `message_id`.
fn success_as(
    shared: &Arc<Shared>,
    id: &str,
    message_id: &str,
    recipient: &str,
    provider_status: i16,
) -> Response {
    // Konnek holds one message per `id`: a message whose id it accepted
    // before is answered alike but not sent again (a retry of a call that
    // reached it), and counted as a dropped duplicate.
    let first = provider_status >= 0 && {
        let mut book = shared.book();
        let first = book.journal.accepted_of(id) == 0;
        if first {
            book.journal.accept(Some(id));
        } else {
            book.journal.drop_duplicate(id);
        }
        first
    };
    if first {
        super::konnek_callbacks::after_send(shared, id, recipient);
    }
    let meta = Meta {
        status: true,
        code: 200,
        message: "OK",
        errors: None,
    };
    let data = Data {
        message_id,
        status: provider_status,
        tid: Uuid::new_v4(),
    };
    reply(StatusCode::OK, meta, Some(data))
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let given = |name: &str| headers.get(name).map(|v| v.as_bytes());
    given("auth-username") == Some(shared.config.konnek_username.as_bytes())
        && given("auth-password") == Some(shared.config.konnek_password.as_bytes())
}

fn non_empty_str(value: Option<&Value>) -> bool {
    value
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty())
}

/// The document's mandatory fields, for the envelope and the message's type.
fn validate(request: &Value) -> Result<(), &'static str> {
    let Some(object) = request.as_object() else {
        return Err("the body is not a JSON object");
    };
    if !non_empty_str(object.get("id")) {
        return Err("id is mandatory (a string)");
    }
    if !non_empty_str(object.get("recipient")) {
        return Err("recipient is mandatory (a string)");
    }
    let Some(kind) = object.get("type").and_then(Value::as_str) else {
        return Err("type is mandatory (a string)");
    };
    if !TYPES.contains(&kind) {
        return Err(
            "type must be one of text, image, video, audio, voice, document, button, list, location",
        );
    }
    if !object
        .get("times")
        .is_some_and(|t| t.is_i64() || t.is_u64())
    {
        return Err("times is mandatory (an integer, unix seconds)");
    }
    if !non_empty_str(object.get("timestamp")) {
        return Err("timestamp is mandatory (a date time)");
    }
    for optional in ["reply_id", "reply_token"] {
        if object.get(optional).is_some_and(|v| !v.is_string()) {
            return Err("reply_id and reply_token must be strings");
        }
    }
    let body = match object.get("body") {
        None => &Value::Null,
        Some(body @ Value::Object(_)) => body,
        Some(_) => return Err("body must be an object"),
    };
    validate_content(kind, body)
}

/// The `body` fields a type needs.
fn validate_content(kind: &str, body: &Value) -> Result<(), &'static str> {
    let number = |v: &Value| v.is_number();
    match kind {
        "text" if !non_empty_str(body.get("text")) => Err("body.text is mandatory for type text"),
        "image" | "video" | "audio" | "voice" | "document"
            if !non_empty_str(body.pointer("/media/url")) =>
        {
            Err("body.media.url is mandatory for a media type")
        }
        "location"
            if !(body.pointer("/location/latitude").is_some_and(number)
                && body.pointer("/location/longitude").is_some_and(number)) =>
        {
            Err("body.location.latitude and longitude are mandatory for type location")
        }
        "button" => {
            let buttons = body.get("button").and_then(Value::as_array);
            let valid = buttons.is_some_and(|list| {
                !list.is_empty()
                    && list
                        .iter()
                        .all(|b| non_empty_str(b.get("key")) && non_empty_str(b.get("title")))
            });
            if valid {
                Ok(())
            } else {
                Err("body.button must be a non-empty array of {key, title}")
            }
        }
        "list" if !body.pointer("/list/sections").is_some_and(Value::is_array) => {
            Err("body.list with title and sections is mandatory for type list")
        }
        _ => Ok(()),
    }
}
