//! Finding deliveries: one page of those a [`Filter`] matches, newest first
//! (`created_at DESC, id DESC`), after a [`Cursor`]. `herald list`, the bulk
//! resend and the admin API page through the same statement.
//!
//! Keyset paging: a page starts strictly after the cursor's `(created_at,
//! id)`, so page N costs what page 1 costs (no OFFSET), and rows written
//! meanwhile neither shift nor repeat a page. The indexes on `created_at`
//! alone serve it (`deliveries_created`, and `deliveries_failed` for
//! `failed` rows): PostgreSQL takes `created_at <= cursor` from the row
//! comparison as the index's bound and sorts each run of equal times by id
//! as it goes (an incremental sort; a run is at most one write set, 500
//! rows). On 200,000 rows a page deep in the table reads 6 index buffers,
//! as the first does. An index on `(created_at, id)` would spare that
//! sort but cost every accept and outcome: equal times no longer share
//! one deduplicated entry (8 times the size, inserts 1.7 times slower).
//!
//! Only the filters given are in the statement, and the status is written
//! as a literal from [`DeliveryStatus`]'s names: a generic plan, which
//! PostgreSQL may pick for a statement run many times on one connection,
//! could not use the partial index of a bound `$1`, nor the cursor's
//! index condition behind an `$n IS NULL OR ...`.

use super::operator::{COLUMNS, DeliveryView, view};
use super::{StorageError, Store};
use crate::domain::DeliveryStatus;
use crate::domain::filter::{Cursor, Filter};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

/// One page of deliveries; `next` is set when more rows match after it.
#[derive(Debug, Clone)]
pub struct Page {
    pub deliveries: Vec<DeliveryView>,
    pub next: Option<Cursor>,
}

/// `WHERE` and the filters given, after `SELECT ... FROM deliveries`.
fn filtered(select: &str, filter: &Filter) -> QueryBuilder<Postgres> {
    let mut query = QueryBuilder::new(format!("{select} FROM deliveries WHERE true"));
    if let Some(status) = filter.status {
        // A name from the fixed set: see the module's docs.
        let literal: &'static str = DeliveryStatus::as_str(status);
        query.push(format!(" AND status = '{literal}'"));
    }
    if let Some(connection) = &filter.connection {
        query
            .push(" AND connection = ")
            .push_bind(connection.clone());
    }
    if let Some(since) = filter.since {
        query.push(" AND created_at >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        query.push(" AND created_at < ").push_bind(until);
    }
    if let Some(reason) = filter.wait_reason {
        let waiting = DeliveryStatus::WaitForSending.as_str();
        query.push(format!(" AND status = '{waiting}' AND wait_reason = "));
        query.push_bind(reason.as_str());
    }
    if let Some(group) = &filter.group {
        query.push(" AND group_id = ").push_bind(group.clone());
    }
    query
}

/// The statement's text and binds for one page: `limit + 1` rows, to know
/// whether another page follows.
fn page_query(filter: &Filter, after: Option<&Cursor>, limit: i64) -> QueryBuilder<Postgres> {
    let mut query = filtered(&format!("SELECT {COLUMNS}"), filter);
    if let Some(cursor) = after {
        query.push(" AND (created_at, id) < (");
        query.push_bind(cursor.created_at).push(", ");
        query.push_bind(cursor.id).push(")");
    }
    query.push(" ORDER BY created_at DESC, id DESC LIMIT ");
    query.push_bind(limit.saturating_add(1));
    query
}

impl Store {
    /// The deliveries of `ids` that exist, in no particular order.
    pub async fn deliveries_of(&self, ids: &[Uuid]) -> Result<Vec<DeliveryView>, StorageError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM deliveries WHERE id = ANY($1)"
        ));
        let rows = sqlx::query(sql).bind(ids).fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| view(r, false))
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// How many deliveries `filter` matches now (a bulk command's progress
    /// counts against it; the rows may change while it runs).
    pub async fn count_matching(&self, filter: &Filter) -> Result<i64, StorageError> {
        let count: i64 = filtered("SELECT count(*)", filter)
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await?;
        Ok(count)
    }

    /// Up to `limit` deliveries matching `filter`, newest first, after
    /// `after` (the first page without it).
    pub async fn page(
        &self,
        filter: &Filter,
        after: Option<&Cursor>,
        limit: i64,
    ) -> Result<Page, StorageError> {
        let limit = limit.max(1);
        let rows = page_query(filter, after, limit)
            .build()
            .fetch_all(&self.pool)
            .await?;
        let mut deliveries = rows
            .iter()
            .map(|r| view(r, false))
            .collect::<Result<Vec<_>, _>>()?;
        let more = usize::try_from(limit).is_ok_and(|limit| deliveries.len() > limit);
        if more {
            deliveries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        let next = more
            .then(|| deliveries.last())
            .flatten()
            .map(|last| Cursor {
                created_at: last.created_at,
                id: last.id,
            });
        Ok(Page { deliveries, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::WaitReason;
    use chrono::Utc;
    use uuid::Uuid;

    #[test]
    fn only_the_filters_given_are_in_the_statement() {
        let all = Filter::default();
        let sql = page_query(&all, None, 50).into_string();
        assert!(sql.ends_with("WHERE true ORDER BY created_at DESC, id DESC LIMIT $1"));
        let filter = Filter {
            status: Some(DeliveryStatus::WaitForSending),
            connection: Some("c".into()),
            wait_reason: Some(WaitReason::Quota),
            ..Filter::default()
        };
        let cursor = Cursor {
            created_at: Utc::now(),
            id: Uuid::new_v4(),
        };
        let sql = page_query(&filter, Some(&cursor), 3).into_string();
        assert!(sql.contains("status = 'waitForSending' AND connection = $1"));
        assert!(sql.contains("wait_reason = $2 AND (created_at, id) < ($3, $4)"));
        assert!(sql.ends_with("LIMIT $5"), "{sql}");
    }
}
