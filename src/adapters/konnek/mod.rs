//! Konnek (Sprint Asia): `POST {base_url}/{channel}/send/{client_id}`, with
//! static credentials in the `Auth-username` / `Auth-password` headers
//! (`providers/konnek-send-message.txt`).
//!
//! The body's `id` is the delivery id. Konnek keeps it as the message's
//! unique code, so a retry after an unclear answer carries the same `id`, and
//! its status callbacks name the delivery directly.
//!
//! Kinds map to Konnek's `type` as themselves, except `buttons` → `button`.
//! `extra` keys: `list` (Konnek's list object, required for kind `list`),
//! `header` and `footer` (top-level objects for button/list messages),
//! `reply_token` (Telegram replies). Every other key is added to the top level
//! of the request where the format names no such field; an object under
//! `body` is merged into `body` the same way.
//!
//! Answers: 2xx with `meta.status: true` is a send, unless `data.status` is
//! negative (-1 Unsent: retry; -2/-3: fail). 2xx with `meta.status: false` is
//! classified by `meta.code`. Other statuses by [`classify_status`](super::classify_status); 401/403
//! fail at once, since the credentials are static.

pub(crate) mod answer;
mod body;

use super::text::redacted;
use super::{ChannelAdapter, ErrorClass, Outbound, ProviderError, Sent, Unsupported, exchange};
use crate::config::KonnekSettings;
use crate::domain::{Message, MessageKind};
pub(super) use answer::interpret;
pub use body::{message_id, request_body};
use chrono::Utc;
use futures_util::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

pub struct KonnekAdapter {
    url: String,
    /// `None` when a credential cannot be an HTTP header value.
    auth: Option<HeaderMap>,
    settings: KonnekSettings,
    http: reqwest::Client,
}

impl KonnekAdapter {
    pub fn new(base_url: &str, settings: KonnekSettings, http: reqwest::Client) -> Self {
        let url = format!(
            "{}/{}/send/{}",
            base_url.trim_end_matches('/'),
            settings.channel,
            settings.client_id
        );
        KonnekAdapter {
            url,
            auth: auth_headers(&settings),
            settings,
            http,
        }
    }

    async fn call(&self, outbound: Outbound<'_>) -> Result<Sent, ProviderError> {
        let Some(auth) = &self.auth else {
            return Err(ProviderError::new(
                ErrorClass::Permanent,
                None,
                "the Konnek username or password is not a valid HTTP header value",
            ));
        };
        let id = message_id(&outbound);
        let body = request_body(outbound, Utc::now());
        let sent = exchange(
            self.http.post(&self.url).headers(auth.clone()).json(&body),
            interpret,
        )
        .await?;
        // Konnek's callbacks name the message by the id it was sent with:
        // kept as the provider's id where its answer names none.
        Ok(Sent {
            remote_id: sent.remote_id.or(Some(id)),
            ..sent
        })
    }

    /// A provider may echo what it was sent; no error string carries the
    /// credentials.
    fn redact(&self, err: ProviderError) -> ProviderError {
        let secrets = [self.settings.password.expose(), &self.settings.username];
        redacted(err, secrets)
    }
}

fn auth_headers(settings: &KonnekSettings) -> Option<HeaderMap> {
    let mut username = HeaderValue::from_str(&settings.username).ok()?;
    let mut password = HeaderValue::from_str(&settings.password).ok()?;
    username.set_sensitive(true);
    password.set_sensitive(true);
    let mut headers = HeaderMap::with_capacity(2);
    headers.insert(HeaderName::from_static("auth-username"), username);
    headers.insert(HeaderName::from_static("auth-password"), password);
    Some(headers)
}

impl ChannelAdapter for KonnekAdapter {
    fn adapter(&self) -> &'static str {
        "konnek"
    }

    fn check(&self, message: &Message) -> Result<(), Unsupported> {
        let missing = |what: &str| {
            Err(Unsupported(format!(
                "Konnek needs {what} for a {} message",
                message.kind
            )))
        };
        match message.kind {
            MessageKind::Text if message.text.as_deref().is_none_or(|t| t.trim().is_empty()) => {
                missing("message.text (it carries no html)")
            }
            kind if kind.is_media() && message.media.is_none() => missing("message.media"),
            MessageKind::Location if message.location.is_none() => missing("message.location"),
            MessageKind::Buttons if message.buttons.as_ref().is_none_or(Vec::is_empty) => {
                missing("message.buttons")
            }
            MessageKind::List if !matches!(message.extra.get("list"), Some(Value::Object(_))) => {
                missing("extra.list (an object with title and sections)")
            }
            _ => Ok(()),
        }
    }

    fn send<'a>(&'a self, outbound: Outbound<'a>) -> BoxFuture<'a, Result<Sent, ProviderError>> {
        Box::pin(async move { self.call(outbound).await.map_err(|e| self.redact(e)) })
    }
}

#[cfg(test)]
mod tests;
