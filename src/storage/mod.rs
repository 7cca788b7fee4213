//! PostgreSQL: the pool, the migrations, and every SQL statement herald runs.
//!
//! - [`batch`]: the hot path's write sets: accepted sends and outcomes in
//!   one statement (their rows as columns: `columns`).
//! - [`deliveries`]: claiming due deliveries, expiry, refused commands.
//! - [`recovery`]: taking back the claims of lost workers.
//! - [`operator`]: what operators read and change (show, resend, cancel).
//! - [`listing`]: finding deliveries: a filter's matches, newest first, a
//!   page at a time after a cursor.
//! - [`figures`]: a set of deliveries' figures per connection (the demo's).
//! - [`callbacks`]: providers' later statuses, moved only forward.
//! - [`tokens`]: OAuth2 pairs a provider replaces on every refresh.
//! - [`pauses`]: connections a provider's quota refusal paused, and this
//!   process's copy of them.
//! - [`quota`]: the calls of each connection per day, against its daily quota.
//! - [`events`]: the audit trail of changes no attempt row tells.
//! - [`dead_actions`]: the audit trail of the dead-letter queue: every
//!   replay and purge.
//! - [`groups`]: ordered groups: a member's standing, and settling a group
//!   after one of its members changed.
//! - [`rate`]: each connection's send slots, reserved in runs.

pub mod batch;
pub mod callbacks;
mod columns;
pub mod dead_actions;
pub mod deliveries;
pub mod events;
pub mod figures;
pub mod groups;
pub mod listing;
pub mod operator;
pub mod pauses;
pub mod quota;
pub mod rate;
pub mod recovery;
pub mod text;
pub mod tokens;

pub use deliveries::{AcceptOutcome, Claimed};

use crate::config::DatabaseConfig;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How long a connection may sit in the pool before it is pinged again.
const PING_IDLE: Duration = Duration::from_secs(1);

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("PostgreSQL did not answer within {0:?}")]
    Timeout(Duration),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored command of delivery {id} cannot be read")]
    CorruptCommand {
        id: uuid::Uuid,
        #[source]
        source: serde_json::Error,
    },
    /// A value PostgreSQL's columns cannot take, found before the statement.
    #[error("{0}")]
    Unstorable(String),
    /// A stored credential that cannot be sealed or opened with the
    /// configured keys: the message says which key to set.
    #[error(transparent)]
    Sealed(#[from] crate::secrets::SealError),
    /// PostgreSQL's TLS settings cannot be used.
    #[error("{0}")]
    Tls(String),
}

/// SQLSTATE classes of errors that one statement's data causes, and that
/// the same data causes again on every retry: cardinality violation (21),
/// data exception (22: U+0000 in text or jsonb, a value out of range),
/// integrity constraint violation (23), program limit exceeded (54: an
/// index row too large).
const PERMANENT_CLASSES: [&str; 4] = ["21", "22", "23", "54"];

impl StorageError {
    /// Whether the same operation may succeed later: PostgreSQL away or
    /// busy (IO, pool, our own timeout, SQLSTATE classes such as 08
    /// connection, 40 serialization and deadlock, 53 resources, 57
    /// operator intervention, 58 system). An error its data causes (see
    /// `PERMANENT_CLASSES`) fails the same way every time and is not.
    ///
    /// Errors of the statement itself, not of its data (42, a column a
    /// deploy has not migrated yet), count as transient: every row would
    /// fail alike, and retrying until an operator mends it loses nothing,
    /// where refusing would dead-letter every command.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Timeout(_) => true,
            StorageError::Database(err) => sql_is_transient(err),
            StorageError::Migrate(_)
            | StorageError::CorruptCommand { .. }
            | StorageError::Unstorable(_)
            | StorageError::Sealed(_)
            | StorageError::Tls(_) => false,
        }
    }

    /// Whether PostgreSQL could not be reached or could not take the
    /// statement now (connection lost, no answer in time, shutting down,
    /// out of resources, a deadlock or serialization failure between
    /// writers), as opposed to an error the statement meets every time.
    pub fn is_outage(&self) -> bool {
        match self {
            StorageError::Timeout(_) => true,
            StorageError::Database(sqlx::Error::Database(db)) => db
                .code()
                .is_some_and(|code| OUTAGE_CLASSES.iter().any(|c| code.starts_with(c))),
            StorageError::Database(err) => matches!(
                err,
                sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::WorkerCrashed
            ),
            _ => false,
        }
    }

    /// Whether the statement may have run, and committed, despite the
    /// error: anything but a failure to get a connection, which sent
    /// nothing.
    pub fn may_have_run(&self) -> bool {
        !matches!(
            self,
            StorageError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
        )
    }

    /// This error, with what to check where it is a failed TLS handshake
    /// with PostgreSQL (for the messages of a worker waiting for it).
    pub fn with_tls_hint(self) -> StorageError {
        match self {
            StorageError::Database(err) if is_tls_failure(&err) => tls_failed(&err),
            other => other,
        }
    }

    /// Whether the pool was closed: the process is stopping, and nothing
    /// written through it can land any more.
    pub fn is_pool_closed(&self) -> bool {
        matches!(self, StorageError::Database(sqlx::Error::PoolClosed))
    }
}

/// SQLSTATE classes of PostgreSQL being away or busy: connection exception,
/// transaction rollback, insufficient resources, operator intervention,
/// system error.
const OUTAGE_CLASSES: [&str; 5] = ["08", "40", "53", "57", "58"];

fn sql_is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => !PERMANENT_CLASSES
                .iter()
                .any(|class| code.starts_with(class)),
            None => true,
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Encoding and decoding fail the same way every time.
        _ => false,
    }
}

/// `options` with `[database] ca_file`: the server is verified against that
/// CA and its name (`sslmode=verify-full`) unless the URL chose another
/// `sslmode` (sqlx checks them with rustls). A file that cannot be read is
/// refused here rather than at every connection. A URL that names no
/// `sslmode`, without a CA file, connects in plain text, as herald did
/// before it could speak TLS: sqlx's default (`prefer`) would encrypt
/// without verifying the server, which protects from little and costs
/// every statement on the hot path its encryption (`docs/security.md`).
fn tls_options(
    options: PgConnectOptions,
    config: &DatabaseConfig,
) -> Result<PgConnectOptions, StorageError> {
    let names_a_mode = config.url.contains("sslmode=");
    let Some(path) = &config.ca_file else {
        return Ok(if names_a_mode {
            options
        } else {
            options.ssl_mode(sqlx::postgres::PgSslMode::Disable)
        });
    };
    if let Err(err) = std::fs::metadata(path) {
        return Err(StorageError::Tls(format!(
            "cannot read database.ca_file {}: {err}",
            path.display()
        )));
    }
    let options = options.ssl_root_cert(path);
    Ok(if names_a_mode {
        options
    } else {
        options.ssl_mode(sqlx::postgres::PgSslMode::VerifyFull)
    })
}

/// Whether connecting failed in the TLS handshake: sqlx reports a
/// certificate rustls refused as an IO error.
fn is_tls_failure(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => {
            let text = io.to_string().to_lowercase();
            ["certificate", "handshake", "tls"]
                .iter()
                .any(|word| text.contains(word))
        }
        _ => false,
    }
}

/// A TLS failure with PostgreSQL, with what to check.
fn tls_failed(err: &sqlx::Error) -> StorageError {
    StorageError::Tls(format!(
        "the TLS connection to PostgreSQL failed ({}): check that database.ca_file \
         (HERALD_DATABASE_CA_FILE) is the CA that signed the server's certificate, that the \
         URL's host is a name in that certificate, and that the server has ssl = on",
        crate::error_chain(err)
    ))
}

/// The handle every part of herald uses to reach PostgreSQL. Clones share
/// the pool and the copy of the connection pauses.
#[derive(Clone, Debug)]
pub struct Store {
    pub pool: PgPool,
    pauses: Arc<pauses::Pauses>,
    /// What the credentials herald stores are sealed with (`tokens`).
    keys: Arc<crate::secrets::Keys>,
}

impl Store {
    pub async fn connect(config: &DatabaseConfig) -> Result<Store, StorageError> {
        let store = Store::connect_lazy(config)?;
        match store.pool.acquire().await {
            Ok(connection) => drop(connection),
            Err(err) if is_tls_failure(&err) => return Err(tls_failed(&err)),
            Err(err) => return Err(err.into()),
        }
        Ok(store)
    }

    /// A store whose pool connects on first use, so that a worker can start
    /// (and say what it waits for) while PostgreSQL is away.
    pub fn connect_lazy(config: &DatabaseConfig) -> Result<Store, StorageError> {
        let options = tls_options(
            PgConnectOptions::from_str(&config.url)?.application_name("herald"),
            config,
        )?;
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            // A connection back in the pool for less than PING_IDLE was
            // just used: pinging it would add a round trip to every set.
            // One idle for longer (perhaps cut while PostgreSQL restarted)
            // is pinged, and a dead one is replaced before it is handed out.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(options);
        Ok(Store {
            pool,
            pauses: Arc::default(),
            keys: Arc::default(),
        })
    }

    /// This store with `keys` for the credentials it seals and opens.
    pub fn with_keys(mut self, keys: crate::secrets::Keys) -> Store {
        self.keys = Arc::new(keys);
        self
    }

    /// Applies the migrations in `migrations/`; idempotent.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// A transaction whose statements PostgreSQL itself cuts after
    /// `within` (`statement_timeout`, for this transaction only): a caller
    /// that stops waiting for it can count on it rolling back rather than
    /// landing later (all but a COMMIT already sent).
    pub(crate) async fn begin_within(
        &self,
        within: Duration,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('statement_timeout', $1, true)")
            .bind(within.as_millis().max(1).to_string())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn away_or_busy_is_transient_and_bad_data_is_not() {
        assert!(StorageError::Timeout(Duration::from_secs(1)).is_transient());
        assert!(StorageError::Database(sqlx::Error::PoolTimedOut).is_transient());
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(StorageError::Database(sqlx::Error::Io(io)).is_transient());
        assert!(!StorageError::Unstorable("x".into()).is_transient());
        assert!(!StorageError::Database(sqlx::Error::RowNotFound).is_transient());
    }

    #[test]
    fn a_refused_certificate_says_what_to_check() {
        let io = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        let hinted = StorageError::Database(sqlx::Error::Io(io)).with_tls_hint();
        let text = hinted.to_string();
        assert!(
            text.contains("database.ca_file") && text.contains("UnknownIssuer"),
            "{text}"
        );
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let plain = StorageError::Database(sqlx::Error::Io(reset)).with_tls_hint();
        assert!(matches!(plain, StorageError::Database(_)));
    }

    #[test]
    fn only_postgresql_away_is_an_outage_and_a_closed_pool_sent_nothing() {
        let closed_pool = StorageError::Database(sqlx::Error::PoolClosed);
        assert!(closed_pool.is_pool_closed() && !closed_pool.is_outage());
        assert!(!closed_pool.may_have_run());
        for gone in [
            StorageError::Timeout(Duration::from_secs(1)),
            StorageError::Database(sqlx::Error::PoolTimedOut),
            StorageError::Database(sqlx::Error::Protocol("unexpected message".into())),
        ] {
            assert!(!gone.is_pool_closed() && gone.is_outage(), "{gone}");
        }
        assert!(!StorageError::Database(sqlx::Error::RowNotFound).is_outage());
        assert!(StorageError::Timeout(Duration::from_secs(1)).may_have_run());
        assert!(!StorageError::Database(sqlx::Error::PoolTimedOut).may_have_run());
    }
}
