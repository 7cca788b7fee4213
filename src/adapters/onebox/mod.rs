//! OneBox (Ciptadra Softindo): `POST {base_url}/api/message` with a bearer
//! token from `POST {base_url}/api/authenticate`
//! (`providers/onebox-message-create.md`, `providers/onebox-authenticate.md`).
//!
//! - `body.rs`: the request body and the checks before any call.
//! - `answer.rs`: both answers, classified.
//! - `token.rs`: the token, cached per connection, renewed by one caller.
//!
//! A send refused with "Expired token" renews the token and is repeated once,
//! inside the same attempt. "time limit reached ..." is a quota refusal: the
//! worker defers the delivery without using an attempt.

pub(crate) mod answer;
mod body;
mod token;

pub use body::{check, request_body};

use super::text::redacted;
use super::{
    ChannelAdapter, ErrorClass, Outbound, ProviderError, Sent, Unsupported, exchange, exchange_auth,
};
use crate::config::OneboxSettings;
use crate::domain::Message;
use answer::Issued;
#[cfg(test)]
pub(super) use answer::{interpret, interpret_token};
use chrono::Utc;
use futures_util::future::BoxFuture;
use serde_json::Value;
use token::{Lease, TokenCache};

pub struct OneboxAdapter {
    message_url: String,
    authenticate_url: String,
    settings: OneboxSettings,
    tokens: TokenCache,
    http: reqwest::Client,
}

impl OneboxAdapter {
    pub fn new(base_url: &str, settings: OneboxSettings, http: reqwest::Client) -> Self {
        let base = base_url.trim_end_matches('/');
        OneboxAdapter {
            message_url: format!("{base}/api/message"),
            authenticate_url: format!("{base}/api/authenticate"),
            settings,
            tokens: TokenCache::default(),
            http,
        }
    }

    /// `siteId` is "number or string": a number when it reads as one.
    fn credentials(&self) -> Value {
        let site_id = match self.settings.site_id.trim().parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::from(self.settings.site_id.as_str()),
        };
        serde_json::json!({
            "email": self.settings.email,
            "password": self.settings.password.expose(),
            "siteId": site_id,
        })
    }

    async fn authenticate(&self) -> Result<Issued, ProviderError> {
        let issued = exchange_auth(
            self.http
                .post(&self.authenticate_url)
                .json(&self.credentials()),
            answer::interpret_token,
        )
        .await;
        if issued.is_ok() {
            tracing::info!("authenticated with OneBox");
        }
        issued
    }

    async fn post(&self, lease: &Lease, body: &Value) -> Result<Sent, ProviderError> {
        exchange(
            self.http
                .post(&self.message_url)
                .bearer_auth(&*lease.token)
                .json(body),
            answer::interpret,
        )
        .await
    }

    /// One send: the token, the call, and once more with a renewed token if
    /// OneBox says it expired. `leases` collects the tokens used, to keep
    /// them out of any error.
    async fn call(
        &self,
        outbound: Outbound<'_>,
        leases: &mut Vec<Lease>,
    ) -> Result<Sent, ProviderError> {
        let body = request_body(self.settings.connection_id, outbound.message, Utc::now());
        let lease = self.tokens.get(|| self.authenticate()).await?;
        leases.push(lease.clone());
        match self.post(&lease, &body).await {
            Err(error) if error.class == ErrorClass::AuthExpired => {
                tracing::info!("OneBox refused the token; renewing it and repeating the call");
                let renewed = self
                    .tokens
                    .renew(lease.seen, || self.authenticate())
                    .await?;
                leases.push(renewed.clone());
                self.post(&renewed, &body).await
            }
            other => other,
        }
    }

    /// No error string carries the password or a token, even where OneBox
    /// echoes what it was sent.
    fn redact(&self, error: ProviderError, leases: &[Lease]) -> ProviderError {
        let tokens = leases.iter().map(|l| &*l.token);
        redacted(error, tokens.chain([self.settings.password.expose()]))
    }
}

impl ChannelAdapter for OneboxAdapter {
    fn adapter(&self) -> &'static str {
        "onebox"
    }

    fn check(&self, message: &Message) -> Result<(), Unsupported> {
        check(message)
    }

    fn send<'a>(&'a self, outbound: Outbound<'a>) -> BoxFuture<'a, Result<Sent, ProviderError>> {
        Box::pin(async move {
            let mut leases = Vec::with_capacity(2);
            let result = self.call(outbound, &mut leases).await;
            result.map_err(|e| self.redact(e, &leases))
        })
    }
}

#[cfg(test)]
mod answer_tests;
#[cfg(test)]
mod body_tests;
