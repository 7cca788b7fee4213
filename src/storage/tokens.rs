//! `connection_tokens`: a connection's OAuth2 pair, durable and shared by
//! every worker (HighQ replaces its refresh token on every refresh).
//!
//! A refresh runs inside [`Store::lock_token`]'s transaction: the row is
//! held `FOR UPDATE` while the provider is asked for a new pair, so workers
//! refresh one at a time, and one that waited sees the new `generation` and
//! uses the pair instead of refreshing again. This is the one transaction
//! herald holds across a provider call, bounded by `http_timeout`.

use super::{StorageError, Store};
use chrono::{DateTime, Utc};
use sqlx::{Postgres, Row, Transaction};

/// A connection's stored pair.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub access_token: Option<String>,
    pub refresh_token: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub generation: i64,
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("expires_at", &self.expires_at)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// A refresh in progress: the locked row, until [`TokenLock::save`] or drop.
pub struct TokenLock {
    tx: Transaction<'static, Postgres>,
    connection: String,
    pub current: StoredToken,
}

fn stored(row: &sqlx::postgres::PgRow) -> Result<StoredToken, sqlx::Error> {
    Ok(StoredToken {
        access_token: row.try_get("access_token")?,
        refresh_token: row.try_get("refresh_token")?,
        expires_at: row.try_get("expires_at")?,
        generation: row.try_get("generation")?,
    })
}

impl Store {
    /// The connection's pair, seeded from the configuration the first time,
    /// and again for a configured refresh token the row has never been
    /// seeded from (an operator's new authorisation). A worker still
    /// configured with an older token leaves the row alone, so workers of
    /// two configurations never take turns discarding the rotated pair.
    pub async fn load_token(
        &self,
        connection: &str,
        configured_access: Option<&str>,
        configured_refresh: &str,
    ) -> Result<StoredToken, StorageError> {
        sqlx::query(
            "INSERT INTO connection_tokens \
                 (connection, access_token, refresh_token, seeded_from, seeded) \
             VALUES ($1, $2, $3, $3, ARRAY[$3]) \
             ON CONFLICT (connection) DO UPDATE SET access_token = EXCLUDED.access_token, \
                 refresh_token = EXCLUDED.refresh_token, seeded_from = EXCLUDED.seeded_from, \
                 seeded = connection_tokens.seeded || EXCLUDED.seeded_from, \
                 expires_at = NULL, generation = connection_tokens.generation + 1, \
                 updated_at = now() \
             WHERE NOT (EXCLUDED.seeded_from = ANY (connection_tokens.seeded))",
        )
        .bind(connection)
        .bind(configured_access)
        .bind(configured_refresh)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(
            "SELECT access_token, refresh_token, expires_at, generation \
             FROM connection_tokens WHERE connection = $1",
        )
        .bind(connection)
        .fetch_one(&self.pool)
        .await?;
        Ok(stored(&row)?)
    }

    /// Stores a pair issued in exchange for `replaced`, if the row still
    /// holds `replaced` (a save retried outside the refresh's transaction);
    /// `None` when the row moved on meanwhile (it holds this pair already,
    /// or was seeded again).
    pub async fn save_token_replacing(
        &self,
        connection: &str,
        replaced: &str,
        access_token: &str,
        refresh_token: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Option<StoredToken>, StorageError> {
        let row = sqlx::query(
            "UPDATE connection_tokens SET access_token = $3, refresh_token = $4, \
                 expires_at = $5, generation = generation + 1, updated_at = now() \
             WHERE connection = $1 AND refresh_token = $2 \
             RETURNING access_token, refresh_token, expires_at, generation",
        )
        .bind(connection)
        .bind(replaced)
        .bind(access_token)
        .bind(refresh_token)
        .bind(expires_at)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(stored).transpose()?)
    }

    /// Takes the connection's row for a refresh (it must exist: see
    /// [`Store::load_token`]).
    pub async fn lock_token(&self, connection: &str) -> Result<TokenLock, StorageError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT access_token, refresh_token, expires_at, generation \
             FROM connection_tokens WHERE connection = $1 FOR UPDATE",
        )
        .bind(connection)
        .fetch_one(&mut *tx)
        .await?;
        Ok(TokenLock {
            current: stored(&row)?,
            tx,
            connection: connection.to_owned(),
        })
    }
}

impl TokenLock {
    /// Stores the new pair as the next generation and releases the row.
    /// A statement that fails is tried again after each of `waits`, inside
    /// the transaction (behind a savepoint), so the row stays locked and no
    /// other worker refreshes with the refresh token this pair replaces.
    /// An error here means the pair is not stored and the row is released.
    pub async fn save(
        mut self,
        access_token: &str,
        refresh_token: &str,
        expires_at: Option<DateTime<Utc>>,
        waits: &[std::time::Duration],
    ) -> Result<StoredToken, StorageError> {
        let mut waits = waits.iter();
        let saved = loop {
            match self.update(access_token, refresh_token, expires_at).await {
                Ok(saved) => break saved,
                Err(err) => match waits.next() {
                    Some(wait) => {
                        tracing::warn!(
                            error = %crate::error_chain(&err),
                            "could not store the new token pair; trying again"
                        );
                        tokio::time::sleep(*wait).await;
                    }
                    None => return Err(err),
                },
            }
        };
        self.tx.commit().await?;
        Ok(saved)
    }

    /// One try of [`TokenLock::save`]'s UPDATE, undone to its savepoint if
    /// it fails.
    async fn update(
        &mut self,
        access_token: &str,
        refresh_token: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<StoredToken, StorageError> {
        let mut savepoint = sqlx::Acquire::begin(&mut *self.tx).await?;
        let row = sqlx::query(
            "UPDATE connection_tokens SET access_token = $2, refresh_token = $3, \
                 expires_at = $4, generation = generation + 1, updated_at = now() \
             WHERE connection = $1 \
             RETURNING access_token, refresh_token, expires_at, generation",
        )
        .bind(&self.connection)
        .bind(access_token)
        .bind(refresh_token)
        .bind(expires_at)
        .fetch_one(&mut *savepoint)
        .await;
        match row {
            Ok(row) => {
                let saved = stored(&row)?;
                savepoint.commit().await?;
                Ok(saved)
            }
            Err(err) => {
                savepoint.rollback().await?;
                Err(err.into())
            }
        }
    }

    /// Releases the row unchanged.
    pub async fn release(self) -> Result<(), StorageError> {
        self.tx.commit().await?;
        Ok(())
    }
}
