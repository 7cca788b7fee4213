//! The HighQ pair as this worker holds it: the cached access token, the
//! lock one refresh at a time takes, and a pair whose save failed. The
//! refresh (`token`) and the save of an unsaved pair (`unsaved`) both work
//! on it.

use super::super::{ErrorClass, ProviderError};
use crate::config::Secret;
use crate::storage::Store;
use crate::storage::tokens::StoredToken;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, RwLock};

/// An access token and the generation it belongs to.
#[derive(Clone)]
pub struct Lease {
    pub token: Arc<str>,
    pub generation: i64,
}

#[derive(Clone)]
pub(super) struct Current {
    pub(super) lease: Lease,
    pub(super) renew_at: Option<DateTime<Utc>>,
}

impl Current {
    pub(super) fn fresh(&self) -> bool {
        self.renew_at.is_none_or(|at| Utc::now() < at)
    }

    pub(super) fn from_stored(stored: &StoredToken) -> Option<Current> {
        let token = stored.access_token.as_deref()?;
        Some(Current {
            lease: Lease {
                token: token.into(),
                generation: stored.generation,
            },
            renew_at: stored.expires_at,
        })
    }
}

pub(super) struct Inner {
    pub(super) connection: String,
    pub(super) configured_access: Option<Secret>,
    pub(super) configured_refresh: Secret,
    pub(super) store: Store,
    pub(super) cache: RwLock<Option<Current>>,
    /// One task of this worker at a time loads or refreshes.
    pub(super) refreshing: Arc<Mutex<()>>,
    /// An issued pair whose save failed, until it is saved.
    pub(super) unsaved: std::sync::Mutex<Option<Unsaved>>,
}

pub(super) fn storage_error(err: &crate::storage::StorageError) -> ProviderError {
    let what = format!(
        "could not read or store the HighQ token in PostgreSQL: {}",
        crate::error_chain(err)
    );
    ProviderError::new(ErrorClass::Transient, None, what)
}

/// The waits between tries to save an issued pair: first inside the
/// refresh's transaction, the row still locked; then, if that transaction
/// is lost, outside it.
pub(super) const SAVE_BACKOFF: [Duration; 4] = [
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
];

/// A pair HighQ issued that is not stored yet, and the refresh token it
/// replaced (what the row holds until it is stored).
#[derive(Clone)]
pub(super) struct Unsaved {
    pub(super) replaced: String,
    pub(super) access_token: String,
    pub(super) refresh_token: String,
    pub(super) expires_at: Option<DateTime<Utc>>,
}
