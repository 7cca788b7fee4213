//! Status callbacks: a provider's later status for a message, moved into
//! `provider_status` only forward, in one guarded statement.

use super::{StorageError, Store};
use crate::domain::ProviderStatus;
use sqlx::Row;
use uuid::Uuid;

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
    /// send's own outcome, never move it backwards.
    pub async fn advance_provider_status(
        &self,
        connection: &str,
        remote_id: &str,
        status: ProviderStatus,
    ) -> Result<Advanced, StorageError> {
        let own_id = Uuid::parse_str(remote_id.trim()).ok();
        let row = sqlx::query(
            "WITH target AS ( \
                 SELECT id FROM deliveries \
                 WHERE connection = $1 AND (id = $2 OR remote_id = $3) LIMIT 1 \
             ), moved AS ( \
                 UPDATE deliveries d SET provider_status = $4, updated_at = now() \
                 FROM target WHERE d.id = target.id \
                   AND (d.provider_status IS NULL OR d.provider_status < $4) \
                 RETURNING d.id \
             ) \
             SELECT (SELECT count(*) FROM target) AS found, (SELECT count(*) FROM moved) AS moved",
        )
        .bind(connection)
        .bind(own_id)
        .bind(remote_id)
        .bind(status.get())
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
}
