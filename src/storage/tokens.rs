//! `connection_tokens`: a connection's OAuth2 pair, durable and shared by
//! every worker (HighQ replaces its refresh token on every refresh).
//!
//! A refresh runs inside [`Store::lock_token`]'s transaction: the row is
//! held `FOR UPDATE` while the provider is asked for a new pair, so workers
//! refresh one at a time, and one that waited sees the new `generation` and
//! uses the pair instead of refreshing again. This is the one transaction
//! herald holds across a provider call, bounded by `http_timeout`.
//!
//! The pair is sealed at rest (`crate::secrets`, with the store's keys):
//! every write seals with the current key, with the row's connection and
//! column as associated data. The refresh token the row holds and the
//! configured ones it was seeded from are also kept as digests, which is
//! what statements compare (a sealed value differs at every write).

use super::{StorageError, Store};
use crate::secrets::{Keys, digest};
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
    keys: std::sync::Arc<Keys>,
    pub current: StoredToken,
}

/// Where a sealed value is kept: what it is sealed for.
fn place(connection: &str, column: &str) -> String {
    format!("connection_tokens/{connection}/{column}")
}

/// A pair sealed for the row of `connection`.
struct Sealed {
    access_token: Option<String>,
    refresh_token: String,
    refresh_digest: String,
}

fn seal(
    keys: &Keys,
    connection: &str,
    access_token: Option<&str>,
    refresh_token: &str,
) -> Result<Sealed, StorageError> {
    Ok(Sealed {
        access_token: access_token
            .map(|t| keys.seal(t, &place(connection, "access_token")))
            .transpose()?,
        refresh_token: keys.seal(refresh_token, &place(connection, "refresh_token"))?,
        refresh_digest: digest(refresh_token),
    })
}

/// A row's pair, opened; and whether it should be sealed again (it was
/// plain text, or sealed with an old key).
fn stored(
    keys: &Keys,
    connection: &str,
    row: &sqlx::postgres::PgRow,
) -> Result<(StoredToken, bool), StorageError> {
    let access: Option<String> = row.try_get("access_token")?;
    let refresh: String = row.try_get("refresh_token")?;
    let access = access
        .map(|t| keys.open(&t, &place(connection, "access_token")))
        .transpose()?;
    let refresh = keys.open(&refresh, &place(connection, "refresh_token"))?;
    let stale = refresh.stale || access.as_ref().is_some_and(|a| a.stale);
    let token = StoredToken {
        access_token: access.map(|a| a.text),
        refresh_token: refresh.text,
        expires_at: row.try_get("expires_at")?,
        generation: row.try_get("generation")?,
    };
    Ok((token, stale))
}

/// What [`Store::reseal_tokens`] did.
#[derive(Debug, Default)]
pub struct Resealed {
    /// Rows sealed again with the current key (they were plain text or
    /// sealed with an old key).
    pub resealed: usize,
    /// Rows already sealed with the current key.
    pub current: usize,
    /// Rows that open with none of the keys, and why.
    pub unopened: Vec<(String, crate::secrets::SealError)>,
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
        let sealed = seal(
            &self.keys,
            connection,
            configured_access,
            configured_refresh,
        )?;
        sqlx::query(
            "INSERT INTO connection_tokens \
                 (connection, access_token, refresh_token, refresh_digest, seeded_from, seeded) \
             VALUES ($1, $2, $3, $4, $4, ARRAY[$4]) \
             ON CONFLICT (connection) DO UPDATE SET access_token = EXCLUDED.access_token, \
                 refresh_token = EXCLUDED.refresh_token, \
                 refresh_digest = EXCLUDED.refresh_digest, seeded_from = EXCLUDED.seeded_from, \
                 seeded = connection_tokens.seeded || EXCLUDED.seeded_from, \
                 expires_at = NULL, generation = connection_tokens.generation + 1, \
                 updated_at = now() \
             WHERE NOT (EXCLUDED.seeded_from = ANY (connection_tokens.seeded))",
        )
        .bind(connection)
        .bind(&sealed.access_token)
        .bind(&sealed.refresh_token)
        .bind(&sealed.refresh_digest)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(
            "SELECT access_token, refresh_token, expires_at, generation \
             FROM connection_tokens WHERE connection = $1",
        )
        .bind(connection)
        .fetch_one(&self.pool)
        .await?;
        let (token, stale) = stored(&self.keys, connection, &row)?;
        if stale {
            self.reseal_token(connection).await?;
        }
        Ok(token)
    }

    /// The connection's pair as stored, opened (none before its first use).
    pub async fn stored_token(
        &self,
        connection: &str,
    ) -> Result<Option<StoredToken>, StorageError> {
        let row = sqlx::query(
            "SELECT access_token, refresh_token, expires_at, generation \
             FROM connection_tokens WHERE connection = $1",
        )
        .bind(connection)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(|row| stored(&self.keys, connection, row).map(|(token, _)| token))
            .transpose()
    }

    /// Deletes the connection's row (the demo's, whose pair belongs to a
    /// simulator that is gone once the demo ends).
    pub async fn forget_token(&self, connection: &str) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM connection_tokens WHERE connection = $1")
            .bind(connection)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Seals the connection's row again with the current key, if it is
    /// plain text or sealed with an old key; whether it was.
    pub async fn reseal_token(&self, connection: &str) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT access_token, refresh_token, expires_at, generation \
             FROM connection_tokens WHERE connection = $1 FOR UPDATE",
        )
        .bind(connection)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let (token, stale) = stored(&self.keys, connection, &row)?;
        if stale {
            let sealed = seal(
                &self.keys,
                connection,
                token.access_token.as_deref(),
                &token.refresh_token,
            )?;
            sqlx::query(
                "UPDATE connection_tokens SET access_token = $2, refresh_token = $3, \
                     refresh_digest = $4 WHERE connection = $1",
            )
            .bind(connection)
            .bind(&sealed.access_token)
            .bind(&sealed.refresh_token)
            .bind(&sealed.refresh_digest)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(stale)
    }

    /// Seals rows again with the current key where they are plain text or
    /// sealed with an old key: the rows of `connections`, or every row
    /// (`herald secrets rotate`). A row that does not open with any key is
    /// left as it is and reported with the reason; the others are sealed.
    pub async fn reseal_tokens(
        &self,
        connections: Option<&[String]>,
    ) -> Result<Resealed, StorageError> {
        let stored: Vec<String> =
            sqlx::query_scalar("SELECT connection FROM connection_tokens ORDER BY connection")
                .fetch_all(&self.pool)
                .await?;
        let mut done = Resealed::default();
        let chosen = stored
            .into_iter()
            .filter(|c| connections.is_none_or(|only| only.contains(c)));
        for connection in chosen {
            match self.reseal_token(&connection).await {
                Ok(true) => done.resealed += 1,
                Ok(false) => done.current += 1,
                Err(StorageError::Sealed(err)) => done.unopened.push((connection, err)),
                Err(err) => return Err(err),
            }
        }
        Ok(done)
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
        let sealed = seal(&self.keys, connection, Some(access_token), refresh_token)?;
        let row = sqlx::query(
            "UPDATE connection_tokens SET access_token = $3, refresh_token = $4, \
                 refresh_digest = $5, expires_at = $6, generation = generation + 1, \
                 updated_at = now() \
             WHERE connection = $1 AND refresh_digest = $2 \
             RETURNING access_token, refresh_token, expires_at, generation",
        )
        .bind(connection)
        .bind(digest(replaced))
        .bind(&sealed.access_token)
        .bind(&sealed.refresh_token)
        .bind(&sealed.refresh_digest)
        .bind(expires_at)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(|row| stored(&self.keys, connection, row).map(|(token, _)| token))
            .transpose()
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
            current: stored(&self.keys, connection, &row)?.0,
            tx,
            connection: connection.to_owned(),
            keys: self.keys.clone(),
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
        let sealed = seal(
            &self.keys,
            &self.connection,
            Some(access_token),
            refresh_token,
        )?;
        let mut savepoint = sqlx::Acquire::begin(&mut *self.tx).await?;
        let row = sqlx::query(
            "UPDATE connection_tokens SET access_token = $2, refresh_token = $3, \
                 refresh_digest = $4, expires_at = $5, generation = generation + 1, \
                 updated_at = now() \
             WHERE connection = $1 \
             RETURNING access_token, refresh_token, expires_at, generation",
        )
        .bind(&self.connection)
        .bind(&sealed.access_token)
        .bind(&sealed.refresh_token)
        .bind(&sealed.refresh_digest)
        .bind(expires_at)
        .fetch_one(&mut *savepoint)
        .await;
        match row {
            Ok(row) => {
                let saved = stored(&self.keys, &self.connection, &row)?.0;
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
