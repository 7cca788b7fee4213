//! The soak's own statements on its own database: how many deliveries are
//! in each state, and every delivery's state at the end. Not in
//! `storage/`, which holds herald's statements.

use super::tally::Standing;
use crate::domain::DeliveryStatus;
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

/// Deliveries by state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub success: i64,
    pub waiting: i64,
    pub sending: i64,
    pub failed: i64,
}

impl Counts {
    pub fn rows(&self) -> i64 {
        self.success + self.waiting + self.sending + self.failed
    }
}

pub async fn counts(pool: &PgPool) -> anyhow::Result<Counts> {
    let (success, waiting, sending, failed) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = $1), count(*) FILTER (WHERE status = $2), \
             count(*) FILTER (WHERE status = $3), count(*) FILTER (WHERE status = $4) \
         FROM deliveries",
    )
    .bind(DeliveryStatus::Success.as_str())
    .bind(DeliveryStatus::WaitForSending.as_str())
    .bind(DeliveryStatus::Sending.as_str())
    .bind(DeliveryStatus::Failed.as_str())
    .fetch_one(pool)
    .await?;
    Ok(Counts {
        success,
        waiting,
        sending,
        failed,
    })
}

/// Every delivery's standing.
pub async fn standings(pool: &PgPool) -> anyhow::Result<HashMap<Uuid, Standing>> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as("SELECT id, status FROM deliveries")
        .fetch_all(pool)
        .await?;
    let success = DeliveryStatus::Success.as_str();
    let failed = DeliveryStatus::Failed.as_str();
    Ok(rows
        .into_iter()
        .map(|(id, status)| {
            let standing = if status == success {
                Standing::Delivered
            } else if status == failed {
                Standing::Failed
            } else {
                Standing::Unsettled
            };
            (id, standing)
        })
        .collect())
}

/// The soak's database's size on disk, in MB.
pub async fn size_mb(pool: &PgPool) -> anyhow::Result<f64> {
    let bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(pool)
        .await?;
    Ok(bytes as f64 / 1_048_576.0)
}
