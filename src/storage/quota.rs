//! `connection_quota`: the calls each connection made per calendar day,
//! shared by every worker. A worker reserves a block of calls in one
//! statement; the row's lock orders the workers, so that together they
//! never pass the quota. A call reserved and not made is given back.

use super::{StorageError, Store};
use chrono::NaiveDate;
use sqlx::Row;

impl Store {
    /// Reserves up to `want` calls of `connection` on `day` within `quota`;
    /// returns how many were granted (0 when the day's quota is used up).
    pub async fn reserve_quota(
        &self,
        connection: &str,
        day: NaiveDate,
        quota: u64,
        want: u64,
    ) -> Result<u64, StorageError> {
        let quota = i64::try_from(quota).unwrap_or(i64::MAX);
        let want = i64::try_from(want).unwrap_or(i64::MAX);
        // The right-hand sides read the row as it was: `last_grant` is what
        // this statement added.
        let row = sqlx::query(
            "INSERT INTO connection_quota AS q (connection, day, used, last_grant) \
             VALUES ($1, $2, LEAST($3, $4), LEAST($3, $4)) \
             ON CONFLICT (connection, day) DO UPDATE \
                 SET used = GREATEST(q.used, LEAST(q.used + $3, $4)), \
                     last_grant = GREATEST(q.used, LEAST(q.used + $3, $4)) - q.used, \
                     updated_at = now() \
             RETURNING last_grant",
        )
        .bind(connection)
        .bind(day)
        .bind(want)
        .bind(quota)
        .fetch_one(&self.pool)
        .await?;
        let granted: i64 = row.try_get("last_grant")?;
        Ok(granted.max(0) as u64)
    }

    /// Gives back a call of `connection` on `day` that was not made.
    pub async fn return_quota(&self, connection: &str, day: NaiveDate) -> Result<(), StorageError> {
        sqlx::query(
            "UPDATE connection_quota SET used = used - 1, updated_at = now() \
             WHERE connection = $1 AND day = $2 AND used > 0",
        )
        .bind(connection)
        .bind(day)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The calls `connection` made on `day`, as counted.
    pub async fn quota_used(&self, connection: &str, day: NaiveDate) -> Result<u64, StorageError> {
        let used: Option<i64> = sqlx::query_scalar(
            "SELECT used FROM connection_quota WHERE connection = $1 AND day = $2",
        )
        .bind(connection)
        .bind(day)
        .fetch_optional(&self.pool)
        .await?;
        Ok(used.unwrap_or(0).max(0) as u64)
    }
}
