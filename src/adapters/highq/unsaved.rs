//! A HighQ pair that was issued but could not be stored: kept in memory
//! and used, stored again with backoff while the refresh still holds the
//! row, then in the background, and in any case before this worker reads
//! the stored refresh token again (which HighQ no longer accepts).

use super::super::ProviderError;
use super::held::{Current, Inner, SAVE_BACKOFF, Unsaved, storage_error};
use std::sync::Arc;
use std::time::Duration;

/// How long a worker keeps trying, in the background, to store a pair
/// whose save failed.
const KEEP_SAVING_FOR: Duration = Duration::from_secs(600);

impl Inner {
    /// Stores the pair whose save failed earlier, if there is one. Until
    /// this succeeds, nothing reads the stored refresh token.
    pub(super) async fn save_unsaved(&self) -> Result<(), ProviderError> {
        let Some(unsaved) = self.unsaved_pair() else {
            return Ok(());
        };
        let saved = self
            .store
            .save_token_replacing(
                &self.connection,
                &unsaved.replaced,
                &unsaved.access_token,
                &unsaved.refresh_token,
                unsaved.expires_at,
            )
            .await
            .map_err(|e| storage_error(&e))?;
        *self.unsaved.lock().unwrap_or_else(|e| e.into_inner()) = None;
        match saved.as_ref().and_then(Current::from_stored) {
            Some(current) => {
                tracing::info!(
                    generation = current.lease.generation,
                    "stored the HighQ pair whose save had failed"
                );
                *self.cache.write().await = Some(current);
            }
            None => tracing::warn!(
                "the stored HighQ pair changed before the pair whose save had failed could be stored; keeping the stored one"
            ),
        }
        Ok(())
    }

    pub(super) fn unsaved_pair(&self) -> Option<Unsaved> {
        self.unsaved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Tries again to store the unsaved pair, a few times with backoff;
    /// whether it is stored.
    pub(super) async fn retry_save(&self) -> bool {
        for wait in SAVE_BACKOFF {
            tokio::time::sleep(wait).await;
            match self.save_unsaved().await {
                Ok(()) => return true,
                Err(err) => tracing::warn!(error = %err, "the HighQ pair is still not stored"),
            }
        }
        false
    }

    /// Goes on trying to store the unsaved pair in the background, less and
    /// less often, for [`KEEP_SAVING_FOR`], so that the other workers read
    /// it as soon as PostgreSQL takes it. The pair stays in use meanwhile,
    /// and is stored before this worker's next load or refresh in any case.
    pub(super) async fn keep_saving(self: Arc<Self>) {
        tracing::error!(
            "the refreshed HighQ pair could not be stored; this worker keeps it and tries again"
        );
        let until = tokio::time::Instant::now() + KEEP_SAVING_FOR;
        let mut wait = Duration::from_secs(1);
        while tokio::time::Instant::now() < until {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(30));
            let _one = self.refreshing.lock().await;
            if self.unsaved_pair().is_none() {
                return; // stored by a load or a refresh meanwhile
            }
            match self.save_unsaved().await {
                Ok(()) => return,
                Err(err) => tracing::warn!(error = %err, "the HighQ pair is still not stored"),
            }
        }
        tracing::error!(
            "gave up storing the refreshed HighQ pair in the background; it is stored before this worker's next refresh"
        );
    }
}
