//! OneBox's bearer token, cached per connection.
//!
//! Every task of a worker shares one token. When many of them find it
//! expired at once, the first to take the write lock authenticates; the
//! others see that an authentication happened since they read the token
//! (the `renewals` counter moved) and use its result, token or error. So a
//! wave of "Expired token" answers costs one call to `/api/authenticate`.
//!
//! The token is a JWT: its `exp` (less `iat`) says how long it lives, and it
//! is renewed a little before that, so most sends never meet an expiry.

use super::super::ProviderError;
use super::answer::Issued;
use base64::Engine as _;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// How long before its `exp` a token is renewed, at most (a quarter of its
/// lifetime for short-lived ones).
const MARGIN: Duration = Duration::from_secs(30);

struct Token {
    value: Arc<str>,
    /// `None` when the token says nothing of its lifetime: kept until refused.
    renew_at: Option<Instant>,
}

impl Token {
    fn fresh(&self) -> bool {
        self.renew_at.is_none_or(|at| Instant::now() < at)
    }
}

#[derive(Default)]
struct Cache {
    token: Option<Token>,
    /// Authentications tried so far.
    renewals: u64,
    /// The last authentication's error, while no token replaced it.
    failure: Option<ProviderError>,
}

/// A token and the renewal count it was read at, to hand back to
/// [`TokenCache::renew`] if the provider refuses it.
#[derive(Clone)]
pub struct Lease {
    pub token: Arc<str>,
    pub seen: u64,
}

#[derive(Default)]
pub struct TokenCache {
    state: RwLock<Cache>,
}

impl TokenCache {
    /// The cached token while it is fresh; otherwise a new one.
    pub async fn get<F, Fut>(&self, authenticate: F) -> Result<Lease, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Issued, ProviderError>>,
    {
        let seen = {
            let cache = self.state.read().await;
            if let Some(token) = cache.token.as_ref().filter(|t| t.fresh()) {
                return Ok(Lease {
                    token: Arc::clone(&token.value),
                    seen: cache.renewals,
                });
            }
            cache.renewals
        };
        self.renew(seen, authenticate).await
    }

    /// A new token, because the one read at `seen` is stale or was refused.
    /// If another caller authenticated since `seen`, its result is used.
    pub async fn renew<F, Fut>(&self, seen: u64, authenticate: F) -> Result<Lease, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Issued, ProviderError>>,
    {
        let mut cache = self.state.write().await;
        if cache.renewals != seen {
            if let Some(token) = &cache.token {
                return Ok(Lease {
                    token: Arc::clone(&token.value),
                    seen: cache.renewals,
                });
            }
            if let Some(error) = &cache.failure {
                return Err(error.clone());
            }
        }
        cache.renewals += 1;
        let started = Instant::now();
        match authenticate().await {
            Ok(issued) => {
                let renew_at = lifetime(&issued.token, chrono::Utc::now().timestamp())
                    .map(|life| started + life.saturating_sub(MARGIN.min(life / 4)));
                let value: Arc<str> = issued.token.into();
                cache.token = Some(Token {
                    value: Arc::clone(&value),
                    renew_at,
                });
                cache.failure = None;
                Ok(Lease {
                    token: value,
                    seen: cache.renewals,
                })
            }
            Err(error) => {
                cache.token = None;
                cache.failure = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Authentications tried so far (for tests).
    #[cfg(test)]
    pub async fn renewals(&self) -> u64 {
        self.state.read().await.renewals
    }
}

/// How long a JWT lives: `exp - iat`, or `exp - now` without `iat`. `None`
/// for a token that is not a JWT or has no `exp`.
pub fn lifetime(token: &str, now: i64) -> Option<Duration> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_i64()?;
    let from = claims.get("iat").and_then(|v| v.as_i64()).unwrap_or(now);
    let seconds = u64::try_from(exp.saturating_sub(from)).unwrap_or(0);
    Some(Duration::from_secs(seconds))
}
