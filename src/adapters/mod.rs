//! Channel adapters: one file per provider, all behind [`ChannelAdapter`].
//!
//! An adapter maps a [`Message`] to its provider's request, makes the call and
//! classifies the answer into an [`ErrorClass`]. The worker acts on the class,
//! never on a provider's text.

mod answer;
#[cfg(test)]
mod answer_props;
pub mod callback;
pub mod chatwoot;
pub mod comm100;
mod gate;
pub mod highq;
pub mod konnek;
pub mod onebox;
pub mod readers;
mod text;

use crate::config::{AdapterSettings, ConnectionConfig};
pub use crate::domain::call::{ErrorClass, ProviderError, Sent};
use crate::domain::{GroupRef, Message};
use futures_util::future::BoxFuture;
pub use gate::{SendGate, through_gate};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// What an adapter needs to know of the delivery it sends.
#[derive(Debug, Clone, Copy)]
pub struct Outbound<'a> {
    pub delivery_id: Uuid,
    pub message: &'a Message,
    /// 1-based attempt number within the current round.
    pub attempt: u32,
    /// Resend rounds so far (0 for the first round).
    pub resends: u32,
    /// The provider's id from an earlier call that created the message, if
    /// any (a resend of a delivery the provider already holds).
    pub remote_id: Option<&'a str>,
    /// The command's group, for providers that order groups themselves.
    pub group: Option<&'a GroupRef>,
}

impl ProviderError {
    /// A failure of the transport: connect errors, timeouts, broken bodies.
    pub fn from_transport(err: &reqwest::Error) -> Self {
        let what = if err.is_timeout() {
            "provider call timed out"
        } else if err.is_connect() {
            "could not connect to the provider"
        } else {
            "provider call failed"
        };
        // The causes, not reqwest's own Display: that one carries the URL,
        // and a URL may carry a token.
        let mut detail = String::new();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        ProviderError::new(ErrorClass::Transient, None, format!("{what}{detail}"))
    }
}

/// A message an adapter cannot carry: the delivery fails without a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

/// One provider's API.
pub trait ChannelAdapter: Send + Sync {
    /// The adapter's name in the configuration (`konnek`, ...).
    fn adapter(&self) -> &'static str;

    /// Whether this provider can carry the message at all (its kind, the
    /// fields the provider requires). Checked before any call.
    fn check(&self, message: &Message) -> Result<(), Unsupported>;

    /// Whether a resend round sends by the provider's id of the message
    /// (Comm100 resends what it holds by its id), so that a resend keeps
    /// `remote_id`; elsewhere a resend clears it, as the new round's
    /// message gets a new one.
    fn resends_by_remote_id(&self) -> bool {
        false
    }

    /// Makes one provider call and classifies its answer.
    fn send<'a>(&'a self, outbound: Outbound<'a>) -> BoxFuture<'a, Result<Sent, ProviderError>>;
}

/// The class of an HTTP error status that a provider documents no better.
pub fn classify_status(status: u16, retry_after: Option<Duration>) -> ErrorClass {
    match status {
        429 => ErrorClass::RateLimited { retry_after },
        408 | 425 | 500..=599 => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare among these providers
/// and falls back to the schedule).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The most of a provider's answer herald reads: no provider documents an
/// answer anywhere near it, and a worker holds hundreds of calls at once.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

tokio::task_local! {
    /// The time the calls of the delivery being sent must end by.
    static CALLS_END_BY: CallBudget;
}

/// How long the provider calls of one delivery may run (see
/// [`crate::domain::budget`]): a call that could not end by `end_by`,
/// taking up to `call_limit` (the HTTP client's timeout), is not started.
#[derive(Debug, Clone, Copy)]
pub struct CallBudget {
    pub end_by: std::time::Instant,
    pub call_limit: Duration,
}

/// Runs an adapter's `send` under `budget`: every request it makes through
/// [`exchange`] is started only while the call can end in time.
pub async fn within_budget<F: std::future::Future>(budget: CallBudget, send: F) -> F::Output {
    CALLS_END_BY.scope(budget, send).await
}

/// The refusal of a call that could not end within its delivery's budget;
/// `None` outside a budget or while there is time.
fn over_budget() -> Option<ProviderError> {
    let budget = CALLS_END_BY.try_with(|budget| *budget).ok()?;
    let now = std::time::Instant::now();
    (now + budget.call_limit > budget.end_by).then(|| {
        let left = budget.end_by.saturating_duration_since(now);
        ProviderError::new(
            ErrorClass::NotSent,
            None,
            format!(
                "call not started: {left:?} was left of the delivery's budget, and a call may take {:?} (http_timeout); the outcome must be recorded before the sending lease ends",
                budget.call_limit
            ),
        )
    })
}

/// Sends `request` and hands its answer (status, `Retry-After`, body) to
/// `interpret`. The body is read whatever the status (that returns the
/// connection to the pool), up to [`MAX_ANSWER_BYTES`]: a longer one is cut
/// there, and `interpret` gets its first MiB. What the adapter can read in
/// it counts (a 2xx whose message id it finds is a success: the provider
/// took the message, and a retry would send it twice); if the adapter
/// cannot read it, its error says the answer was cut.
/// Within a delivery's budget, a request that could not end in time is
/// not sent (a retryable error instead). A message request: it passes the
/// delivery's [`SendGate`] (its connection's rate) just before it leaves.
pub async fn exchange<T>(
    request: reqwest::RequestBuilder,
    interpret: impl FnOnce(u16, Option<Duration>, &[u8]) -> Result<T, ProviderError>,
) -> Result<T, ProviderError> {
    if let Some(refused) = over_budget() {
        return Err(refused);
    }
    gate::pass().await?;
    exchange_auth(request, interpret).await
}

/// [`exchange`] for a request of credentials (a token), which passes no
/// [`SendGate`]: it is not a message, and it comes before the message's
/// own request, which passes the gate after it.
pub async fn exchange_auth<T>(
    request: reqwest::RequestBuilder,
    interpret: impl FnOnce(u16, Option<Duration>, &[u8]) -> Result<T, ProviderError>,
) -> Result<T, ProviderError> {
    if let Some(refused) = over_budget() {
        return Err(refused);
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| ProviderError::from_transport(&e))?;
    let status = response.status().as_u16();
    let wait = retry_after(response.headers());
    let expected = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut body = Vec::with_capacity(expected.min(MAX_ANSWER_BYTES));
    let mut cut = false;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ProviderError::from_transport(&e))?
    {
        let room = MAX_ANSWER_BYTES - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            cut = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    if !cut {
        return interpret(status, wait, &body);
    }
    // The rest is left unread: the connection is closed, not pooled.
    drop(response);
    tracing::warn!(
        http_status = status,
        "the provider's answer is larger than 1 MiB; reading its first MiB"
    );
    interpret(status, wait, &body).map_err(|mut e| {
        e.http_status = e.http_status.or(Some(status));
        e.message
            .push_str(" (the answer was larger than 1 MiB; only its first MiB was read)");
        e
    })
}

#[derive(Debug, thiserror::Error)]
#[error(
    "connection {connection:?}: the {adapter} adapter is not available in this version of herald"
)]
pub struct AdapterUnavailable {
    pub connection: String,
    pub adapter: &'static str,
}

/// Builds the adapter of one configured connection. `store` keeps the
/// tokens a provider replaces on every refresh (HighQ's).
pub fn build(
    connection: &ConnectionConfig,
    http: reqwest::Client,
    store: &crate::storage::Store,
) -> Result<Arc<dyn ChannelAdapter>, AdapterUnavailable> {
    match &connection.settings {
        AdapterSettings::Konnek(settings) => Ok(Arc::new(konnek::KonnekAdapter::new(
            &connection.base_url,
            settings.clone(),
            http,
        ))),
        AdapterSettings::Onebox(settings) => Ok(Arc::new(onebox::OneboxAdapter::new(
            &connection.base_url,
            settings.clone(),
            http,
        ))),
        AdapterSettings::Chatwoot(settings) => Ok(Arc::new(chatwoot::ChatwootAdapter::new(
            &connection.base_url,
            settings.clone(),
            http,
        ))),
        AdapterSettings::Comm100(settings) => Ok(Arc::new(comm100::Comm100Adapter::new(
            &connection.base_url,
            settings.clone(),
            http,
        ))),
        AdapterSettings::Highq(settings) => Ok(Arc::new(highq::HighqAdapter::new(
            &connection.name,
            &connection.base_url,
            settings.clone(),
            http,
            store.clone(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify() {
        assert_eq!(classify_status(503, None), ErrorClass::Transient);
        assert_eq!(classify_status(400, None), ErrorClass::Permanent);
        let after = Some(Duration::from_secs(3));
        assert_eq!(
            classify_status(429, after),
            ErrorClass::RateLimited { retry_after: after }
        );
    }
}
