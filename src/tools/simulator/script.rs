//! Fault scripting: per-recipient queues of [`Step`]s. Each provider request to
//! a recipient consumes the next step of its queue; an empty queue answers a
//! normal success.
//!
//! Steps are provider-neutral: `Shared::play` (in `state.rs`) waits as a step
//! says, and each provider module renders what it comes to in its own API's
//! shape (the Konnek one in `konnek.rs`).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// How the simulator answers one request. JSON form, as `POST /_sim/script`
/// takes it: `{"answer": "http", "status": 503, "retry_after": 2}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Step {
    /// Success, with this provider status (Konnek: `meta.status` true,
    /// `data.status` = `provider_status`; Chatwoot: the answer's `status`;
    /// OneBox answers no status).
    Ok { provider_status: i16 },
    /// Success with this provider id for the message (Konnek's
    /// `data.message_id`); the other twins answer a normal success.
    OkWithId { remote_id: String },
    /// A plain HTTP error, e.g. 503, or 429 with `Retry-After` (seconds).
    Http {
        status: u16,
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// The provider's own refusal with this code and message (Konnek: HTTP
    /// 200 with `meta.status` false; OneBox: its error envelope at HTTP
    /// `code`, e.g. 401 "Expired token"; Chatwoot: `{"error": message}` at
    /// HTTP `code`).
    MetaFalse { code: u16, message: String },
    /// Wait this long, then answer a normal success.
    Delay { millis: u64 },
    /// Never answer (until the simulator shuts down): the client times out.
    Hang,
    /// HTTP 200 with a body that is not JSON.
    Garbage,
}

/// The provider status of an unscripted success.
pub const DEFAULT_PROVIDER_STATUS: i16 = 1;

/// What a hanging request waits for, at most.
pub const HANG: Duration = Duration::from_secs(3600);

impl Step {
    /// The normal success an unscripted request gets.
    pub fn success() -> Step {
        Step::Ok {
            provider_status: DEFAULT_PROVIDER_STATUS,
        }
    }
}

/// What a step comes to once its waiting (a delay, a hang) is done; each
/// twin words it in its own API's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Played {
    Success {
        provider_status: i16,
    },
    /// The simulator shut down while the step waited.
    Unavailable,
    Http {
        status: StatusCode,
        reason: &'static str,
        retry_after: Option<u64>,
    },
    /// The provider's own refusal, with its code (Konnek's `meta.code`).
    Refused {
        code: u16,
        message: String,
    },
    Garbage,
}

/// `response` with a `Retry-After` of `seconds`, if any.
pub fn with_retry_after(mut response: Response, seconds: Option<u64>) -> Response {
    if let Some(seconds) = seconds {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, seconds.into());
    }
    response
}

/// A 200 whose body is an HTML error page, not the API's JSON.
pub fn html_garbage() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html")],
        "<html><body>502 Bad Gateway</body></html>",
    )
        .into_response()
}

/// The queues, by recipient.
#[derive(Debug, Default)]
pub struct Scripts {
    queues: HashMap<String, VecDeque<Step>>,
}

impl Scripts {
    /// Appends `steps` to the recipient's queue.
    pub fn push(&mut self, recipient: &str, steps: Vec<Step>) {
        if steps.is_empty() {
            return;
        }
        self.queues
            .entry(recipient.to_owned())
            .or_default()
            .extend(steps);
    }

    /// The recipient's next step, if one is queued.
    pub fn next(&mut self, recipient: &str) -> Option<Step> {
        // The hot path of an unscripted run: an empty map, no hashing.
        if self.queues.is_empty() {
            return None;
        }
        let queue = self.queues.get_mut(recipient)?;
        let step = queue.pop_front();
        if queue.is_empty() {
            self.queues.remove(recipient);
        }
        step
    }

    pub fn clear(&mut self) {
        self.queues.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_have_a_tagged_json_form() {
        let steps: Vec<Step> = serde_json::from_value(json!([
            {"answer": "ok", "provider_status": 0},
            {"answer": "http", "status": 503},
            {"answer": "http", "status": 429, "retry_after": 2},
            {"answer": "meta_false", "code": 400, "message": "bad"},
            {"answer": "delay", "millis": 10},
            {"answer": "hang"},
            {"answer": "garbage"},
            {"answer": "ok_with_id", "remote_id": "m-1"}
        ]))
        .expect("steps parse");
        assert_eq!(
            steps[7],
            Step::OkWithId {
                remote_id: "m-1".into()
            }
        );
        assert_eq!(
            steps[1],
            Step::Http {
                status: 503,
                retry_after: None
            }
        );
        assert_eq!(steps[5], Step::Hang);
        let back = serde_json::to_value(&steps[2]).expect("serializes");
        assert_eq!(
            back,
            json!({"answer": "http", "status": 429, "retry_after": 2})
        );
    }

    #[test]
    fn queues_are_per_recipient_and_in_order() {
        let mut scripts = Scripts::default();
        scripts.push("a", vec![Step::Hang, Step::Garbage]);
        scripts.push("b", vec![Step::Delay { millis: 1 }]);
        scripts.push("a", vec![Step::success()]);
        assert_eq!(scripts.next("a"), Some(Step::Hang));
        assert_eq!(scripts.next("b"), Some(Step::Delay { millis: 1 }));
        assert_eq!(scripts.next("b"), None);
        assert_eq!(scripts.next("a"), Some(Step::Garbage));
        assert_eq!(scripts.next("a"), Some(Step::success()));
        assert_eq!(scripts.next("a"), None);
        assert!(scripts.queues.is_empty());
    }
}
