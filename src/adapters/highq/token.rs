//! HighQ's OAuth2 pair: kept in PostgreSQL (`connection_tokens`), cached in
//! the worker, refreshed by one worker at a time.
//!
//! HighQ replaces the refresh token with every access token, so the pair
//! lives in the database, not in the configuration (which only seeds it):
//! a restarted worker reads the latest pair, and every worker shares it.
//! A refresh takes the row `FOR UPDATE` (see `storage::tokens`); a worker
//! that waited for it finds a newer `generation` and uses that pair. Inside
//! one worker, a mutex lets one task at a time go to the database, so a
//! wave of 403s costs one refresh.

use super::super::{ErrorClass, ProviderError};
use super::answer::Issued;
use crate::config::Secret;
use crate::storage::Store;
use crate::storage::tokens::StoredToken;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, RwLock};

/// How long before its end an access token is refreshed, at most (a
/// quarter of its lifetime for short-lived ones).
const MARGIN: Duration = Duration::from_secs(60);

/// An access token and the generation it belongs to.
#[derive(Clone)]
pub struct Lease {
    pub token: Arc<str>,
    pub generation: i64,
}

#[derive(Clone)]
struct Current {
    lease: Lease,
    renew_at: Option<DateTime<Utc>>,
}

impl Current {
    fn fresh(&self) -> bool {
        self.renew_at.is_none_or(|at| Utc::now() < at)
    }

    fn from_stored(stored: &StoredToken) -> Option<Current> {
        let token = stored.access_token.as_deref()?;
        Some(Current {
            lease: Lease {
                token: token.into(),
                generation: stored.generation,
            },
            renew_at: stored.expires_at,
        })
    }
}

pub struct Tokens {
    connection: String,
    configured_access: Option<Secret>,
    configured_refresh: Secret,
    store: Store,
    cache: RwLock<Option<Current>>,
    /// One task of this worker at a time loads or refreshes.
    refreshing: Mutex<()>,
}

fn storage_error(err: &crate::storage::StorageError) -> ProviderError {
    let what = format!(
        "could not read or store the HighQ token in PostgreSQL: {}",
        crate::error_chain(err)
    );
    ProviderError::new(ErrorClass::Transient, None, what)
}

/// When a token issued now for `expires_in` is due for renewal.
fn renew_at(expires_in: Option<Duration>) -> Option<DateTime<Utc>> {
    let life = expires_in?;
    let early = life.saturating_sub(MARGIN.min(life / 4));
    Some(Utc::now() + chrono::Duration::from_std(early).ok()?)
}

impl Tokens {
    pub fn new(
        connection: &str,
        configured_access: Option<Secret>,
        configured_refresh: Secret,
        store: Store,
    ) -> Tokens {
        Tokens {
            connection: connection.to_owned(),
            configured_access: configured_access.filter(|t| !t.is_empty()),
            configured_refresh,
            store,
            cache: RwLock::new(None),
            refreshing: Mutex::new(()),
        }
    }

    /// A fresh access token: the cached one, else the stored one, else a
    /// new one from `refresh`.
    pub async fn get<F, Fut>(&self, refresh: F) -> Result<Lease, ProviderError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<Issued, ProviderError>>,
    {
        if let Some(current) = self.cache.read().await.as_ref().filter(|c| c.fresh()) {
            return Ok(current.lease.clone());
        }
        let _one = self.refreshing.lock().await;
        if let Some(current) = self.cache.read().await.as_ref().filter(|c| c.fresh()) {
            return Ok(current.lease.clone());
        }
        let stored = self
            .store
            .load_token(
                &self.connection,
                self.configured_access.as_deref(),
                &self.configured_refresh,
            )
            .await
            .map_err(|e| storage_error(&e))?;
        match Current::from_stored(&stored).filter(Current::fresh) {
            Some(current) => {
                *self.cache.write().await = Some(current.clone());
                Ok(current.lease)
            }
            None => self.refresh_locked(stored.generation, refresh).await,
        }
    }

    /// A new access token, because the one of `generation` was refused. If
    /// another task or worker refreshed since, its pair is used.
    pub async fn renew<F, Fut>(&self, generation: i64, refresh: F) -> Result<Lease, ProviderError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<Issued, ProviderError>>,
    {
        let _one = self.refreshing.lock().await;
        if let Some(current) = self.cache.read().await.as_ref()
            && current.lease.generation != generation
            && current.fresh()
        {
            return Ok(current.lease.clone());
        }
        self.refresh_locked(generation, refresh).await
    }

    /// Refreshes unless the stored pair moved past `generation` already.
    /// Called with `refreshing` held.
    async fn refresh_locked<F, Fut>(
        &self,
        generation: i64,
        refresh: F,
    ) -> Result<Lease, ProviderError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<Issued, ProviderError>>,
    {
        let lock = self
            .store
            .lock_token(&self.connection)
            .await
            .map_err(|e| storage_error(&e))?;
        if lock.current.generation != generation
            && let Some(current) = Current::from_stored(&lock.current).filter(Current::fresh)
        {
            lock.release().await.map_err(|e| storage_error(&e))?;
            *self.cache.write().await = Some(current.clone());
            return Ok(current.lease);
        }
        let stored_refresh = lock.current.refresh_token.clone();
        // On an error the lock is dropped: the transaction rolls back and
        // the stored pair stays as it was.
        let issued = refresh(stored_refresh.clone()).await?;
        let refresh_token = issued.refresh_token.as_deref().unwrap_or(&stored_refresh);
        let saved = lock
            .save(
                &issued.access_token,
                refresh_token,
                renew_at(issued.expires_in),
            )
            .await
            .map_err(|e| storage_error(&e))?;
        tracing::info!(
            generation = saved.generation,
            "refreshed the HighQ access token"
        );
        let current = Current::from_stored(&saved).ok_or_else(|| {
            ProviderError::new(
                ErrorClass::Transient,
                None,
                "the stored HighQ token is empty",
            )
        })?;
        *self.cache.write().await = Some(current.clone());
        Ok(current.lease)
    }
}
