//! PostgreSQL: the pool, the migrations, and every SQL statement herald runs.
//!
//! - [`deliveries`]: accepting commands, claiming, recording outcomes.
//! - [`operator`]: what operators read and change (show, list, resend, cancel).
//! - [`figures`]: a set of deliveries' figures per connection (the demo's).
//! - [`callbacks`]: providers' later statuses, moved only forward.
//! - [`tokens`]: OAuth2 pairs a provider replaces on every refresh.
//! - [`pauses`]: connections a provider's quota refusal paused, and this
//!   process's copy of them.

pub mod batch;
pub mod callbacks;
pub mod deliveries;
pub mod figures;
pub mod operator;
pub mod pauses;
pub mod recovery;
pub mod tokens;

pub use deliveries::{AcceptOutcome, Claimed, Outcome};

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
}

/// The handle every part of herald uses to reach PostgreSQL. Clones share
/// the pool and the copy of the connection pauses.
#[derive(Clone, Debug)]
pub struct Store {
    pub pool: PgPool,
    pauses: Arc<pauses::Pauses>,
}

impl Store {
    pub async fn connect(config: &DatabaseConfig) -> Result<Store, StorageError> {
        let store = Store::connect_lazy(config)?;
        drop(store.pool.acquire().await?);
        Ok(store)
    }

    /// A store whose pool connects on first use, so that a worker can start
    /// (and say what it waits for) while PostgreSQL is away.
    pub fn connect_lazy(config: &DatabaseConfig) -> Result<Store, StorageError> {
        let options = PgConnectOptions::from_str(&config.url)?.application_name("herald");
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
        })
    }

    /// Applies the migrations in `migrations/`; idempotent.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}
