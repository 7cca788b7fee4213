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
//!
//! A refresh, once sent, is never lost: it runs in a task of its own that
//! the caller awaits, so a caller dropped meanwhile (a timeout) does not
//! drop it. If saving the issued pair fails, the save is retried (bounded,
//! with backoff) in the transaction that holds the row, then, if that is
//! lost, without the row lock; if it still fails, the pair is kept in
//! memory and used, saved in the background as soon as PostgreSQL takes it,
//! and in any case before anything reads the stored refresh token again,
//! which HighQ no longer accepts.

use super::super::{ErrorClass, ProviderError};
use super::answer::Issued;
use super::held::{Current, Inner, Lease, SAVE_BACKOFF, Unsaved, storage_error};
use crate::config::Secret;
use crate::storage::Store;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, RwLock};

/// How long before its end an access token is refreshed, at most (a
/// quarter of its lifetime for short-lived ones).
const MARGIN: Duration = Duration::from_secs(60);

pub struct Tokens {
    inner: Arc<Inner>,
}

/// When a token issued now for `expires_in` is due for renewal.
fn renew_at(expires_in: Option<Duration>) -> Option<DateTime<Utc>> {
    let life = expires_in?;
    let early = life.saturating_sub(MARGIN.min(life / 4));
    Some(Utc::now() + chrono::Duration::from_std(early).ok()?)
}

fn empty_token() -> ProviderError {
    ProviderError::new(
        ErrorClass::Transient,
        None,
        "the stored HighQ token is empty",
    )
}

impl Tokens {
    pub fn new(
        connection: &str,
        configured_access: Option<Secret>,
        configured_refresh: Secret,
        store: Store,
    ) -> Tokens {
        Tokens {
            inner: Arc::new(Inner {
                connection: connection.to_owned(),
                configured_access: configured_access.filter(|t| !t.is_empty()),
                configured_refresh,
                store,
                cache: RwLock::new(None),
                refreshing: Arc::new(Mutex::new(())),
                unsaved: std::sync::Mutex::new(None),
            }),
        }
    }

    /// A fresh access token: the cached one, else the stored one, else a
    /// new one from `refresh`.
    pub async fn get<F, Fut>(&self, refresh: F) -> Result<Lease, ProviderError>
    where
        F: FnOnce(String) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Issued, ProviderError>> + Send + 'static,
    {
        let inner = &self.inner;
        if let Some(current) = inner.cache.read().await.as_ref().filter(|c| c.fresh()) {
            return Ok(current.lease.clone());
        }
        let one = inner.refreshing.clone().lock_owned().await;
        if let Some(current) = inner.cache.read().await.as_ref().filter(|c| c.fresh()) {
            return Ok(current.lease.clone());
        }
        inner.save_unsaved().await?;
        let stored = inner
            .store
            .load_token(
                &inner.connection,
                inner.configured_access.as_deref(),
                &inner.configured_refresh,
            )
            .await
            .map_err(|e| storage_error(&e))?;
        match Current::from_stored(&stored).filter(Current::fresh) {
            Some(current) => {
                *inner.cache.write().await = Some(current.clone());
                Ok(current.lease)
            }
            None => self.spawn_refresh(one, stored.generation, refresh).await,
        }
    }

    /// A new access token, because the one of `generation` was refused. If
    /// another task or worker refreshed since, its pair is used.
    pub async fn renew<F, Fut>(&self, generation: i64, refresh: F) -> Result<Lease, ProviderError>
    where
        F: FnOnce(String) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Issued, ProviderError>> + Send + 'static,
    {
        let one = self.inner.refreshing.clone().lock_owned().await;
        if let Some(current) = self.inner.cache.read().await.as_ref()
            && current.lease.generation != generation
            && current.fresh()
        {
            return Ok(current.lease.clone());
        }
        self.spawn_refresh(one, generation, refresh).await
    }

    /// Runs the refresh in a task of its own, which keeps `one` (this
    /// worker's turn) until it ends: the caller may be dropped, the refresh
    /// and the save of its pair go on.
    async fn spawn_refresh<F, Fut>(
        &self,
        one: tokio::sync::OwnedMutexGuard<()>,
        generation: i64,
        refresh: F,
    ) -> Result<Lease, ProviderError>
    where
        F: FnOnce(String) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Issued, ProviderError>> + Send + 'static,
    {
        let inner = self.inner.clone();
        let task = tokio::spawn(async move {
            let result = inner.refresh_locked(generation, refresh).await;
            drop(one);
            result
        });
        task.await.unwrap_or_else(|e| {
            Err(ProviderError::new(
                ErrorClass::Transient,
                None,
                format!("the HighQ token refresh did not finish: {e}"),
            ))
        })
    }
}

impl Inner {
    /// Refreshes unless the stored pair moved past `generation` already.
    /// Called with `refreshing` held.
    async fn refresh_locked<F, Fut>(
        self: &Arc<Self>,
        generation: i64,
        refresh: F,
    ) -> Result<Lease, ProviderError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<Issued, ProviderError>>,
    {
        self.save_unsaved().await?;
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
        let next_generation = lock.current.generation + 1;
        // On an error the lock is dropped: the transaction rolls back and
        // the stored pair stays as it was.
        let issued = refresh(stored_refresh.clone()).await?;
        let unsaved = Unsaved {
            access_token: issued.access_token,
            refresh_token: issued
                .refresh_token
                .unwrap_or_else(|| stored_refresh.clone()),
            expires_at: renew_at(issued.expires_in),
            replaced: stored_refresh,
        };
        let saved = lock
            .save(
                &unsaved.access_token,
                &unsaved.refresh_token,
                unsaved.expires_at,
                &SAVE_BACKOFF,
            )
            .await;
        let current = match saved {
            Ok(saved) => {
                tracing::info!(
                    generation = saved.generation,
                    "refreshed the HighQ access token"
                );
                Current::from_stored(&saved).ok_or_else(empty_token)?
            }
            Err(err) => {
                tracing::warn!(
                    error = %crate::error_chain(&err),
                    "could not store the refreshed HighQ pair; trying again"
                );
                let current = Current {
                    lease: Lease {
                        token: unsaved.access_token.as_str().into(),
                        generation: next_generation,
                    },
                    renew_at: unsaved.expires_at,
                };
                *self.unsaved.lock().unwrap_or_else(|e| e.into_inner()) = Some(unsaved);
                if !self.retry_save().await {
                    tokio::spawn(self.clone().keep_saving());
                }
                current
            }
        };
        let mut cache = self.cache.write().await;
        // A retried save may have cached the stored pair already.
        let current = match cache.as_ref() {
            Some(cached) if cached.lease.token == current.lease.token => cached.clone(),
            _ => current,
        };
        *cache = Some(current.clone());
        Ok(current.lease)
    }
}
