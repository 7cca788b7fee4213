//! Status callbacks: a provider's later status for a message, moved into
//! `provider_status` only forward, in one guarded statement.
//!
//! A status for a message id no delivery holds yet (Chatwoot's message id
//! is stored as `remote_id` only with the send's outcome, and its status
//! update may come first) is kept in `early_callbacks` by the same
//! statement; [`Store::apply_early_callbacks`], run by every worker's
//! sweeper once a second, applies it when the delivery appears.

use super::{StorageError, Store};
use crate::domain::{Actor, EventKind, ProviderStatus};
use sqlx::Row;
use std::time::Duration;
use uuid::Uuid;

/// How long a status for an unknown message id is kept for its delivery.
pub const EARLY_CALLBACK_KEPT: Duration = Duration::from_secs(600);

/// What one pass over the kept callbacks did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EarlyApplied {
    /// Kept callbacks whose delivery appeared (applied and removed).
    pub matched: i64,
    /// Deliveries whose `provider_status` moved forward by them.
    pub moved: i64,
    /// Kept callbacks forgotten: no delivery appeared in time.
    pub forgotten: i64,
}

/// What a status callback did to its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advanced {
    /// No delivery of this connection has that id.
    Unknown,
    /// `provider_status` moved forward to the new status.
    Moved,
    /// The delivery already held this status or a later one.
    Unchanged,
}

impl Store {
    /// Moves the `provider_status` of the connection's delivery whose
    /// provider id is `remote_id` (or whose own id it is: Konnek echoes the
    /// delivery id) to `status`, unless it already holds that or more. The
    /// guard is in the UPDATE itself, so callbacks racing each other, or the
    /// send's own outcome, never move it backwards. With no such delivery
    /// ([`Advanced::Unknown`]) the status is kept in `early_callbacks`, the
    /// highest of those received for the id.
    pub async fn advance_provider_status(
        &self,
        connection: &str,
        remote_id: &str,
        status: ProviderStatus,
    ) -> Result<Advanced, StorageError> {
        if super::text::storable_remote_id(remote_id).is_none() {
            // herald never stores such an id (U+0000, or longer than any
            // provider's): no delivery has it, and none will.
            return Ok(Advanced::Unknown);
        }
        let own_id = Uuid::parse_str(remote_id.trim()).ok();
        let row = sqlx::query(
            "WITH target AS ( \
                 SELECT id, provider_status AS was FROM deliveries \
                 WHERE connection = $1 AND (id = $2 OR remote_id = $3) LIMIT 1 \
             ), moved AS ( \
                 UPDATE deliveries d SET provider_status = $4, updated_at = now() \
                 FROM target WHERE d.id = target.id \
                   AND (d.provider_status IS NULL OR d.provider_status < $4) \
                 RETURNING d.id, target.was \
             ), audit AS ( \
                 INSERT INTO delivery_events (delivery_id, kind, reason, actor) \
                 SELECT id, $5, 'provider status ' || COALESCE(was::text, 'none') || ' -> ' || $4, $6 \
                 FROM moved \
             ), kept AS ( \
                 INSERT INTO early_callbacks (connection, remote_id, status) \
                 SELECT $1, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM target) \
                 ON CONFLICT (connection, remote_id) DO UPDATE \
                 SET status = GREATEST(early_callbacks.status, EXCLUDED.status) \
                 RETURNING 1 \
             ) \
             SELECT (SELECT count(*) FROM target) AS found, (SELECT count(*) FROM moved) AS moved",
        )
        .bind(connection)
        .bind(own_id)
        .bind(remote_id)
        .bind(status.get())
        .bind(EventKind::ProviderStatus.as_str())
        .bind(Actor::Callback.as_str())
        .fetch_one(&self.pool)
        .await?;
        let found: i64 = row.try_get("found")?;
        let moved: i64 = row.try_get("moved")?;
        Ok(match (found, moved) {
            (0, _) => Advanced::Unknown,
            (_, 0) => Advanced::Unchanged,
            _ => Advanced::Moved,
        })
    }

    /// Applies the kept statuses whose delivery has appeared (forward only)
    /// and removes them; forgets those older than [`EARLY_CALLBACK_KEPT`].
    /// An empty table costs one `EXISTS` on it.
    pub async fn apply_early_callbacks(&self) -> Result<EarlyApplied, StorageError> {
        self.apply_early_callbacks_within(std::time::Duration::from_secs(30))
            .await
    }

    /// [`Store::apply_early_callbacks`], cut by PostgreSQL itself after
    /// `within` (`statement_timeout`, in its own transaction), so that a
    /// slow run never outlives the sweep that waits for it and holds a
    /// connection meanwhile. Applying them again later does no harm: they
    /// only move a status forward.
    pub async fn apply_early_callbacks_within(
        &self,
        within: std::time::Duration,
    ) -> Result<EarlyApplied, StorageError> {
        // The common case, an empty table, costs this one statement.
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM early_callbacks)")
            .fetch_one(&self.pool)
            .await?;
        if !any {
            return Ok(EarlyApplied::default());
        }
        let mut tx = self.begin_within(within).await?;
        let row = sqlx::query(
            "WITH matched AS ( \
                 DELETE FROM early_callbacks e USING deliveries d \
                 WHERE d.connection = e.connection AND d.remote_id = e.remote_id \
                 RETURNING d.id, e.status \
             ), moved AS ( \
                 UPDATE deliveries d SET provider_status = m.status, updated_at = now() \
                 FROM (SELECT m.id, max(m.status) AS status, min(w.provider_status) AS was \
                       FROM matched m JOIN deliveries w ON w.id = m.id GROUP BY m.id) m \
                 WHERE d.id = m.id \
                   AND (d.provider_status IS NULL OR d.provider_status < m.status) \
                 RETURNING d.id, m.was, m.status \
             ), audit AS ( \
                 INSERT INTO delivery_events (delivery_id, kind, reason, actor) \
                 SELECT id, $2, \
                     'provider status ' || COALESCE(was::text, 'none') || ' -> ' || status, $3 \
                 FROM moved \
             ), forgotten AS ( \
                 DELETE FROM early_callbacks e \
                 WHERE e.received_at < now() - make_interval(secs => $1) \
                   AND NOT EXISTS (SELECT 1 FROM deliveries d \
                       WHERE d.connection = e.connection AND d.remote_id = e.remote_id) \
                 RETURNING 1 \
             ) \
             SELECT (SELECT count(*) FROM matched) AS matched, \
                    (SELECT count(*) FROM moved) AS moved, \
                    (SELECT count(*) FROM forgotten) AS forgotten",
        )
        .bind(EARLY_CALLBACK_KEPT.as_secs_f64())
        .bind(EventKind::ProviderStatus.as_str())
        .bind(Actor::Callback.as_str())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(EarlyApplied {
            matched: row.try_get("matched")?,
            moved: row.try_get("moved")?,
            forgotten: row.try_get("forgotten")?,
        })
    }

    /// [`Store::apply_early_callbacks`] for the sweeper, given up after
    /// `within` (a sweep never hangs on a connection gone silent): logs
    /// what it did, or why it could not; returns whether PostgreSQL answered.
    pub async fn sweep_early_callbacks(&self, within: std::time::Duration) -> bool {
        let applied = tokio::time::timeout(within, self.apply_early_callbacks_within(within / 2))
            .await
            .unwrap_or(Err(StorageError::Timeout(within)));
        let answered = applied.is_ok();
        match applied {
            Ok(EarlyApplied {
                matched: 0,
                forgotten: 0,
                ..
            }) => {}
            Ok(applied) => tracing::info!(
                matched = applied.matched,
                moved = applied.moved,
                forgotten = applied.forgotten,
                "applied status callbacks that came before their send's outcome"
            ),
            Err(err) => tracing::warn!(
                error = %crate::error_chain(&err),
                "applying early status callbacks failed"
            ),
        }
        answered
    }
}
