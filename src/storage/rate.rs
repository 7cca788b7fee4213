//! `connection_rate`: each connection's send slots, shared by every worker
//! (see [`crate::domain::rate`]). A worker reserves a run of slots in one
//! statement; the row's lock orders the workers, and the slots' times come
//! from PostgreSQL's clock as it holds the lock.

use super::{StorageError, Store};
use crate::domain::rate::{Gcra, Micros, Reservation, micros_of};
use chrono::{DateTime, Utc};
use sqlx::Row;

impl Store {
    /// Reserves up to `want` slots of `connection` (at least one is
    /// asked), none later than `horizon` after PostgreSQL's now.
    pub async fn reserve_rate(
        &self,
        connection: &str,
        gcra: &Gcra,
        want: u64,
        horizon: Micros,
    ) -> Result<Reservation, StorageError> {
        let want = i64::try_from(want.max(1)).unwrap_or(i64::MAX);
        let row = sqlx::query(
            "SELECT now_at, first_at, granted, tat_at FROM reserve_rate_slots($1, $2, $3, $4, $5)",
        )
        .bind(connection)
        .bind(gcra.spacing)
        .bind(gcra.tolerance)
        .bind(want)
        .bind(horizon)
        .fetch_one(&self.pool)
        .await?;
        let at = |column: &str| -> Result<Micros, StorageError> {
            Ok(micros_of(row.try_get::<DateTime<Utc>, _>(column)?))
        };
        let granted: i64 = row.try_get("granted")?;
        Ok(Reservation::new(
            gcra,
            at("now_at")?,
            at("first_at")?,
            u64::try_from(granted).unwrap_or(0),
            at("tat_at")?,
        ))
    }
}
