//! HighQ Collaborate's Messages API: `POST {base_url}/api/4/conversations/`
//! (the JSON form) with an OAuth2 bearer token, refreshed at
//! `{base_url}/api/oauth2/token` (`providers/highq-new-conversation.txt`,
//! `providers/highq-oauth2.md`). `base_url` keeps the instance path
//! (`https://<name>.highq.com/<name>`).
//!
//! - `body.rs`: the request body and the checks before any call.
//! - `answer.rs`: the answers (JSON or XML) and the token endpoint's.
//! - `token.rs`: the pair, durable in PostgreSQL and shared by all workers.
//!
//! An expired access token is answered 403 ("Access denied"): the token is
//! refreshed and the call repeated once, inside the same attempt. A 403
//! again, with a fresh token, is a refusal: the delivery fails.

pub(crate) mod answer;
mod body;
mod held;
mod token;
mod unsaved;

pub use answer::{interpret, interpret_token};
pub use body::{check, recipients, request_body};

use super::text::redacted;
use super::{
    ChannelAdapter, ErrorClass, Outbound, ProviderError, Sent, Unsupported, exchange, exchange_auth,
};
use crate::config::HighqSettings;
use crate::domain::Message;
use crate::storage::Store;
use answer::Issued;
use futures_util::future::BoxFuture;
use held::Lease;
use reqwest::header::{ACCEPT, HeaderValue};
use serde_json::Value;
use std::sync::Arc;
use token::Tokens;

pub struct HighqAdapter {
    conversations_url: String,
    settings: HighqSettings,
    tokens: Tokens,
    endpoint: Arc<TokenEndpoint>,
    http: reqwest::Client,
}

/// The token endpoint, shared with the refresh's own task.
struct TokenEndpoint {
    url: String,
    client_id: String,
    client_secret: crate::config::Secret,
    http: reqwest::Client,
}

impl TokenEndpoint {
    /// The refresh-token grant, form-encoded.
    async fn refresh(&self, refresh_token: String) -> Result<Issued, ProviderError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        let result = exchange_auth(
            self.http
                .post(&self.url)
                .header(ACCEPT, HeaderValue::from_static("application/json"))
                .form(&form),
            interpret_token,
        )
        .await;
        result.map_err(|e| redacted(e, [refresh_token.as_str()]))
    }
}

impl HighqAdapter {
    pub fn new(
        connection: &str,
        base_url: &str,
        settings: HighqSettings,
        http: reqwest::Client,
        store: Store,
    ) -> Self {
        let base = base_url.trim_end_matches('/');
        let tokens = Tokens::new(
            connection,
            settings.access_token.clone(),
            settings.refresh_token.clone(),
            store,
        );
        let endpoint = Arc::new(TokenEndpoint {
            url: format!("{base}/api/oauth2/token"),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            http: http.clone(),
        });
        HighqAdapter {
            conversations_url: format!("{base}/api/4/conversations/"),
            settings,
            tokens,
            endpoint,
            http,
        }
    }

    pub fn conversations_url(&self) -> &str {
        &self.conversations_url
    }

    pub fn token_url(&self) -> &str {
        &self.endpoint.url
    }

    /// A refresh for the token cache: it may run on after its caller.
    fn refresher(
        &self,
    ) -> impl FnOnce(String) -> BoxFuture<'static, Result<Issued, ProviderError>> + Send + 'static
    {
        let endpoint = self.endpoint.clone();
        move |refresh_token| Box::pin(async move { endpoint.refresh(refresh_token).await })
    }

    async fn post(&self, lease: &Lease, body: &Value) -> Result<Sent, ProviderError> {
        exchange(
            self.http
                .post(&self.conversations_url)
                .bearer_auth(&*lease.token)
                .header(ACCEPT, HeaderValue::from_static("application/json"))
                .json(body),
            interpret,
        )
        .await
    }

    /// One send: the token, the call, and once more with a refreshed token
    /// if HighQ says the token expired. `leases` collects the tokens used,
    /// to keep them out of any error.
    async fn call(
        &self,
        outbound: Outbound<'_>,
        leases: &mut Vec<Lease>,
    ) -> Result<Sent, ProviderError> {
        let body = request_body(outbound.message);
        let lease = self.tokens.get(self.refresher()).await?;
        leases.push(lease.clone());
        match self.post(&lease, &body).await {
            Err(error) if error.class == ErrorClass::AuthExpired => {
                tracing::info!(
                    "HighQ refused the access token; refreshing it and repeating the call"
                );
                let renewed = self
                    .tokens
                    .renew(lease.generation, self.refresher())
                    .await?;
                leases.push(renewed.clone());
                self.post(&renewed, &body).await.map_err(|mut again| {
                    if again.class == ErrorClass::AuthExpired {
                        // A fresh token refused: HighQ forbids this call.
                        again.class = ErrorClass::Permanent;
                        again.message = again.message.replace(
                            "HighQ refused the access token",
                            "HighQ refused a freshly refreshed access token",
                        );
                    }
                    again
                })
            }
            other => other,
        }
    }

    /// No error string carries a token the call used, the client secret or
    /// the configured pair.
    fn redact(&self, error: ProviderError, leases: &[Lease]) -> ProviderError {
        let tokens = leases.iter().map(|l| &*l.token);
        redacted(
            error,
            tokens.chain([
                self.settings.client_secret.expose(),
                self.settings.refresh_token.expose(),
                self.settings.access_token.as_deref().unwrap_or_default(),
            ]),
        )
    }
}

impl ChannelAdapter for HighqAdapter {
    fn adapter(&self) -> &'static str {
        "highq"
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
