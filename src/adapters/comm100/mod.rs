//! Comm100 Ticketing Messages API v4: `POST {base_url}/v4/ticketing/messages`
//! with a bearer token (`providers/comm100-ticketing-messages.txt`).
//!
//! - `body.rs`: the request body and the checks before any call.
//! - here: the call, the resend, and the answers.
//!
//! A delivery whose message Comm100 already holds (its claim carries the
//! `remote_id` of an earlier round, successful or failed) is resent with
//! `POST {base_url}/v4/ticketing/messages/{remote_id}:resend` instead of
//! creating a second message.
//!
//! Answers: 2xx with the message: `id` is the remote id and
//! `messageDelivery.status` the provider status (success 1,
//! waitForSending/sending 0); `failed` fails the delivery, keeping the id so
//! that a resend acts on that message. Errors are not documented: by
//! [`classify_status`](super::classify_status), except 401/403, which fail
//! at once (the token is static; the document describes no renewal).

use super::answer::{detail, status_error, text_of, unreadable};
use super::text::{redacted, snippet};
use super::{ChannelAdapter, ErrorClass, Outbound, ProviderError, Sent, Unsupported, exchange};
use crate::config::Comm100Settings;
use crate::domain::{Message, ProviderStatus};
use futures_util::future::BoxFuture;
use reqwest::header::HeaderValue;
use serde_json::Value;
use std::time::Duration;

mod body;

pub use body::{BODY_PREFIX, check, group_uuid, request_body};

pub struct Comm100Adapter {
    /// `{base_url}/v4/ticketing/messages`.
    messages_url: String,
    /// `Bearer <access_token>`; `None` when it cannot be a header value.
    authorization: Option<HeaderValue>,
    settings: Comm100Settings,
    http: reqwest::Client,
}

impl Comm100Adapter {
    pub fn new(base_url: &str, settings: Comm100Settings, http: reqwest::Client) -> Self {
        let messages_url = format!("{}/v4/ticketing/messages", base_url.trim_end_matches('/'));
        let bearer = format!("Bearer {}", settings.access_token.expose());
        let authorization = HeaderValue::from_str(&bearer).ok().map(|mut value| {
            value.set_sensitive(true);
            value
        });
        Comm100Adapter {
            messages_url,
            authorization,
            settings,
            http,
        }
    }

    /// The create-message URL.
    pub fn create_url(&self) -> String {
        self.with_site(self.messages_url.clone())
    }

    /// The resend URL of a message Comm100 holds; `None` for an id that is
    /// not one of Comm100's (guids: hex digits and hyphens).
    pub fn resend_url(&self, remote_id: &str) -> Option<String> {
        let id = remote_id.trim();
        let plausible = !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        plausible.then(|| self.with_site(format!("{}/{id}:resend", self.messages_url)))
    }

    /// `siteId` as a query parameter, when the connection names a site.
    fn with_site(&self, url: String) -> String {
        match self.settings.site_id.as_deref().map(str::trim) {
            Some(site) if !site.is_empty() => format!("{url}?siteId={site}"),
            _ => url,
        }
    }

    async fn call(&self, outbound: Outbound<'_>) -> Result<Sent, ProviderError> {
        let Some(authorization) = &self.authorization else {
            let what = "the Comm100 access_token is not a valid HTTP header value";
            return Err(ProviderError::new(ErrorClass::Permanent, None, what));
        };
        let request = match outbound.remote_id {
            Some(remote_id) => {
                let Some(url) = self.resend_url(remote_id) else {
                    let what = format!("the stored Comm100 message id {remote_id:?} is not an id");
                    return Err(ProviderError::new(ErrorClass::Permanent, None, what));
                };
                tracing::info!(remote_id, "Comm100 holds this message; resending it");
                self.http.post(url)
            }
            None => {
                let body = request_body(&self.settings, outbound.message, outbound.group);
                self.http.post(self.create_url()).json(&body)
            }
        };
        exchange(
            request.header(reqwest::header::AUTHORIZATION, authorization.clone()),
            interpret,
        )
        .await
    }
}

impl ChannelAdapter for Comm100Adapter {
    fn adapter(&self) -> &'static str {
        "comm100"
    }

    fn resends_by_remote_id(&self) -> bool {
        true
    }

    fn check(&self, message: &Message) -> Result<(), Unsupported> {
        check(message)
    }

    fn send<'a>(&'a self, outbound: Outbound<'a>) -> BoxFuture<'a, Result<Sent, ProviderError>> {
        Box::pin(async move {
            let result = self.call(outbound).await;
            result.map_err(|e| redacted(e, [self.settings.access_token.expose()]))
        })
    }
}

/// The contract's scale for `messageDelivery.status`.
pub fn provider_status(status: &str) -> Option<ProviderStatus> {
    match status {
        "success" => Some(ProviderStatus::SENT),
        "waitForSending" | "sending" => Some(ProviderStatus::PENDING),
        "failed" => Some(ProviderStatus::FAILED),
        _ => None,
    }
}

/// Where an error body says what went wrong (the document shows no error
/// body): `message`, `error` or `errors`.
const ERROR_KEYS: [&str; 3] = ["message", "error", "errors"];

/// Classifies the answer to a create or a resend: HTTP status,
/// `Retry-After` and the whole body.
pub fn interpret(status: u16, wait: Option<Duration>, body: &[u8]) -> Result<Sent, ProviderError> {
    if !(200..300).contains(&status) {
        // The token is static (the document describes no renewal).
        let refused = matches!(status, 401 | 403)
            .then_some((ErrorClass::Permanent, "Comm100 refused the access token"));
        let about = detail(body, &ERROR_KEYS);
        return Err(status_error(status, wait, refused, "Comm100", &about));
    }
    // No idempotency key on create: the retry may create the message twice,
    // which herald prefers to losing it.
    let json: Value =
        serde_json::from_slice(body).map_err(|_| unreadable("Comm100", status, body))?;
    let remote_id = json.get("id").and_then(text_of);
    let delivery = json.get("messageDelivery");
    let said = delivery
        .and_then(|d| d.get("status"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    match provider_status(said) {
        Some(ProviderStatus::FAILED) => {
            let reason = delivery
                .and_then(|d| d.get("failReason"))
                .and_then(text_of)
                .map(|r| snippet(r.as_bytes()))
                .unwrap_or_default();
            let what = format!("Comm100 holds the message but its delivery failed{reason}");
            Err(
                ProviderError::new(ErrorClass::Permanent, Some(status), what)
                    .with_remote_id(remote_id),
            )
        }
        provider_status => Ok(Sent {
            http_status: status,
            remote_id,
            provider_status,
        }),
    }
}

#[cfg(test)]
mod answer_tests;
#[cfg(test)]
mod body_tests;
