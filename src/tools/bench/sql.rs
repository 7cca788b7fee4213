//! The bench's own statements: creating and dropping the bench's database,
//! emptying and refilling it before each measurement, watching a run's
//! progress and reading its latencies, and reading PostgreSQL's counters.
//!
//! They are not in `storage/`, which holds herald's statements: these reset
//! a database that exists only for the bench, read PostgreSQL's statistics
//! views (`pg_stat_database`, `pg_stat_statements`) from the admin database,
//! and, on the measured database, carry [`OWN_QUERY_MARK`] so that the
//! counters herald is measured by leave them out (a storage function there
//! would be counted as one of herald's statements).

use crate::domain::{AttemptOutcome, DeliveryStatus};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sqlx::{Connection as _, PgPool};
use uuid::Uuid;

/// The alias the bench's queries on the measured database carry, so that
/// `pg_stat_statements` can leave them out.
pub const OWN_QUERY_MARK: &str = "herald_bench_probe";

/// A pool of one connection, for the bench's own statements.
pub async fn one_connection(url: &str) -> Result<PgPool, sqlx::Error> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
}

/// A database of the bench's own, dropped when it is done.
pub struct BenchDatabase {
    pub admin_url: String,
    pub name: String,
    pub url: String,
}

impl BenchDatabase {
    pub async fn create(admin_url: &str) -> anyhow::Result<BenchDatabase> {
        BenchDatabase::create_as(admin_url, "herald_bench").await
    }

    /// A database named `<prefix>_<uuid>`.
    pub async fn create_as(admin_url: &str, prefix: &str) -> anyhow::Result<BenchDatabase> {
        let name = format!("{prefix}_{}", Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .context("cannot connect to PostgreSQL")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .context("cannot create the bench database (the role needs CREATEDB)")?;
        let _ = conn.close().await;
        let (base, _) = admin_url
            .rsplit_once('/')
            .context("the database URL has no database name")?;
        Ok(BenchDatabase {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    pub async fn drop_it(&self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin_url).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            if let Err(err) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
            {
                eprintln!("bench: could not drop {}: {err}", self.name);
            }
            let _ = conn.close().await;
        }
    }
}

/// Empties the measured database's deliveries and attempts, puts back
/// `history` deliveries of `connection` a day old, and vacuums and analyzes
/// both tables (see `Bench::reset` for why).
pub async fn refill(database_url: &str, history: i32, connection: &str) -> anyhow::Result<()> {
    let pool = one_connection(database_url).await?;
    sqlx::query("TRUNCATE deliveries, delivery_attempts, delivery_events")
        .execute(&pool)
        .await?;
    sqlx::query(
        "INSERT INTO deliveries (id, connection, status, attempts, command, \
             accepted_at, created_at, updated_at) \
         SELECT id, $2, $3, 1, \
             jsonb_build_object('type', 'send', 'id', id, 'connection', $2, \
                 'message', jsonb_build_object('to', '628110000000', \
                     'text', 'Your order has shipped')), \
             now() - interval '1 day', now() - interval '1 day', now() - interval '1 day' \
         FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, $1)) AS history",
    )
    .bind(history)
    .bind(connection)
    .bind(DeliveryStatus::Success.as_str())
    .execute(&pool)
    .await?;
    // Vacuumed now, so that autovacuum has nothing to do for these rows
    // during the measurement that follows.
    sqlx::raw_sql("VACUUM (ANALYZE) deliveries, delivery_attempts")
        .execute(&pool)
        .await?;
    // Closing flushes this connection's statistics before the next reading.
    pool.close().await;
    Ok(())
}

/// How many of `connection`'s deliveries are `success`.
pub async fn successes(probe: &PgPool, connection: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) AS {OWN_QUERY_MARK} FROM deliveries \
         WHERE status = '{success}' AND connection = $1",
        success = DeliveryStatus::Success,
    )))
    .bind(connection)
    .fetch_one(probe)
    .await?)
}

/// How many of `connection`'s deliveries are recorded, and how many of
/// them are not yet settled in the table: in a worker's hands (`sending`),
/// or waiting with no reason (taken in while the connection had no room,
/// and due to be claimed, and deferred, again).
pub async fn recorded_and_unsettled(
    probe: &PgPool,
    connection: &str,
) -> anyhow::Result<(i64, i64)> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) AS {OWN_QUERY_MARK}, count(*) FILTER (WHERE status = $2 \
             OR (status = $3 AND wait_reason IS NULL)) \
         FROM deliveries WHERE connection = $1"
    )))
    .bind(connection)
    .bind(crate::domain::DeliveryStatus::Sending.as_str())
    .bind(crate::domain::DeliveryStatus::WaitForSending.as_str())
    .fetch_one(probe)
    .await?)
}

/// The first acceptance and the last update of `connection`'s deliveries.
pub async fn drain_span(
    probe: &PgPool,
    connection: &str,
) -> anyhow::Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT min(accepted_at) AS {OWN_QUERY_MARK}, max(updated_at) FROM deliveries \
         WHERE connection = $1"
    )))
    .bind(connection)
    .fetch_one(probe)
    .await?)
}

/// One row per delivery of `ids` that is `success`, in ms: from its `due`
/// time to success, and its four stages (due → accepted, accepted → call
/// started, the call, call finished → success recorded).
pub async fn latencies(
    probe: &PgPool,
    ids: &[Uuid],
    due: &[DateTime<Utc>],
) -> anyhow::Result<Vec<(f64, f64, f64, f64, f64)>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT (extract(epoch FROM d.updated_at - t.due) * 1000)::float8 AS {OWN_QUERY_MARK}, \
             (extract(epoch FROM d.accepted_at - t.due) * 1000)::float8, \
             (extract(epoch FROM a.started_at - d.accepted_at) * 1000)::float8, \
             (extract(epoch FROM a.finished_at - a.started_at) * 1000)::float8, \
             (extract(epoch FROM d.updated_at - a.finished_at) * 1000)::float8 \
         FROM deliveries d JOIN UNNEST($1::uuid[], $2::timestamptz[]) AS t(id, due) USING (id) \
         JOIN delivery_attempts a ON a.delivery_id = d.id AND a.outcome = '{called}' \
         WHERE d.status = '{success}'",
        called = AttemptOutcome::Success,
        success = DeliveryStatus::Success,
    )))
    .bind(ids)
    .bind(due)
    .fetch_all(probe)
    .await?)
}

/// Transactions committed and rolled back in `database`, read from the
/// admin database.
pub async fn transactions(admin: &PgPool, database: &str) -> anyhow::Result<i64> {
    let count: Option<i64> = sqlx::query_scalar(
        "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = $1",
    )
    .bind(database)
    .fetch_optional(admin)
    .await?;
    Ok(count.unwrap_or(0))
}

/// Statements `pg_stat_statements` counted in `database` but the bench's
/// own: all of them, and those that are not BEGIN / COMMIT / ROLLBACK.
/// `None` where the extension is not there (not preloaded, or not created
/// in the admin database).
pub async fn statement_calls(admin: &PgPool, database: &str) -> Option<(i64, i64)> {
    sqlx::query_as(
        "SELECT coalesce(sum(calls), 0)::bigint, \
             coalesce(sum(calls) FILTER (WHERE query !~* '^\\s*(begin|commit|rollback|start)'), 0)::bigint \
         FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1) \
           AND query NOT LIKE '%' || $2 || '%'",
    )
    .bind(database)
    .bind(OWN_QUERY_MARK)
    .fetch_one(admin)
    .await
    .ok()
}
