//! Konnek's status callbacks (`providers/konnek-incoming-status.md`): once
//! switched on, every accepted Konnek send is followed by pushes of
//! `{"status": {"message_id", "provider_message_id", "recipient_id",
//! "status", "tid", "times", "timestamp"}}` to the configured URL, one per
//! entry of `statuses`, in that order (so a test can push them out of order
//! or twice, as Konnek may), each after `interval`.
//!
//! Control: `POST /_sim/konnek/callbacks` with `{"url": "...", "token":
//! "...", "statuses": [2, 3], "interval_millis": 10}` (`{"url": null}`
//! switches them off); `GET /_sim/konnek/callbacks` lists the pushes made
//! and the HTTP status each got.

use super::books::{KonnekCallbacks, Pushed};
use super::state::Shared;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/_sim/konnek/callbacks", post(configure).get(pushed))
}

#[derive(Deserialize)]
struct Switch {
    url: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    statuses: Vec<i16>,
    #[serde(default)]
    interval_millis: u64,
}

async fn configure(State(shared): State<Arc<Shared>>, Json(switch): Json<Switch>) -> StatusCode {
    let target = switch.url.map(|url| KonnekCallbacks {
        url,
        token: switch.token,
        statuses: switch.statuses,
        interval: Duration::from_millis(switch.interval_millis),
    });
    shared.book().callbacks.target = target;
    StatusCode::NO_CONTENT
}

async fn pushed(State(shared): State<Arc<Shared>>) -> Json<Vec<Pushed>> {
    let pushed = shared.book().callbacks.pushed.clone();
    Json(pushed)
}

/// After an accepted send of `message_id` to `recipient`: pushes the
/// configured statuses in the background, if callbacks are on.
pub fn after_send(shared: &Arc<Shared>, message_id: &str, recipient: &str) {
    let Some(target) = shared.book().callbacks.target.clone() else {
        return;
    };
    let shared = Arc::clone(shared);
    let message_id = message_id.to_owned();
    let recipient = recipient.to_owned();
    tokio::spawn(async move {
        let provider_message_id = format!("wamid.{}", Uuid::new_v4().simple());
        for status in target.statuses.iter().copied() {
            if !shared.pause(target.interval).await {
                return;
            }
            let now = chrono::Utc::now();
            let body = json!({"status": {
                "message_id": message_id, "provider_message_id": provider_message_id,
                "recipient_id": recipient, "status": status, "tid": Uuid::new_v4(),
                "times": now.timestamp(), "timestamp": now.to_rfc3339(),
            }});
            let mut request = shared.http.post(&target.url).json(&body);
            if let Some(token) = &target.token {
                request = request.bearer_auth(token);
            }
            let answer = match request.send().await {
                Ok(response) => {
                    let code = response.status().as_u16();
                    let _ = response.bytes().await;
                    Some(code)
                }
                Err(error) => {
                    tracing::debug!(%error, "a Konnek status callback found no receiver");
                    None
                }
            };
            shared.book().callbacks.pushed.push(Pushed {
                message_id: message_id.clone(),
                status,
                answer,
            });
        }
    });
}
