//! The audit trail, `delivery_events`: who changed a delivery, when, from
//! what to what, and why, where no attempt row tells it. Each change writes
//! its event in its own statement or transaction; this module names who
//! made it and reads a delivery's events back.

use super::{StorageError, Store};
use crate::domain::Actor;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

/// Who makes a change: an actor, and the operator's name where given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct By<'a> {
    pub actor: Actor,
    pub operator: Option<&'a str>,
}

impl By<'_> {
    /// A worker, on its own.
    pub const WORKER: By<'static> = By {
        actor: Actor::Worker,
        operator: None,
    };
}

/// One row of the audit trail.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub reason: Option<String>,
    pub until: Option<DateTime<Utc>>,
    pub actor: String,
    pub operator: Option<String>,
}

impl Store {
    /// The audit trail of delivery `id`, oldest first.
    pub async fn events(&self, id: Uuid) -> Result<Vec<EventView>, StorageError> {
        let rows = sqlx::query(
            "SELECT at, kind, from_status, to_status, reason, until, actor, operator \
             FROM delivery_events WHERE delivery_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EventView {
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    from_status: r.try_get("from_status")?,
                    to_status: r.try_get("to_status")?,
                    reason: r.try_get("reason")?,
                    until: r.try_get("until")?,
                    actor: r.try_get("actor")?,
                    operator: r.try_get("operator")?,
                })
            })
            .collect()
    }
}
