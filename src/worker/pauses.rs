//! Connections paused by a provider's quota refusal (OneBox's "time limit
//! reached ..."). A refusal pauses its connection for every worker until
//! the connection's sending window opens, else for its `quota_pause`
//! ([`crate::domain::Limits::quota_paused_until`]); meanwhile no worker
//! calls that provider for it, and each delivery claimed for it waits, with
//! `wait_reason` `quota`, until the pause ends ([`crate::domain::admit`]).
//!
//! The pauses live in PostgreSQL (`connection_pauses`) and in a copy in
//! each worker's memory: the check before each call reads the copy, which
//! takes this worker's refusals at once and the others' within
//! [`REFRESH_EVERY`] (the sweeper refreshes it).

use super::context::Context;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How often the sweeper reloads the pauses other workers recorded.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// Pauses `connection` until `until` after a provider's quota refusal (at
/// once in this worker, then for all). Returns the pause's end, which a
/// longer pause already recorded by another worker may have moved later.
/// Recording it waits at most `limit`; where it fails, this worker keeps
/// the pause until its end and the next refresh records it.
pub async fn pause(
    ctx: &Context,
    connection: &str,
    until: DateTime<Utc>,
    reason: &str,
    limit: Duration,
) -> DateTime<Utc> {
    let recorded =
        tokio::time::timeout(limit, ctx.store.pause_connection(connection, until, reason)).await;
    match recorded {
        Ok(Ok(until)) => {
            tracing::warn!(%until, "the provider refused for its quota: connection paused");
            until
        }
        Ok(Err(err)) => {
            tracing::warn!(error = %crate::error_chain(&err), %until, "connection paused in this worker; recording the pause failed and is tried again at the next refresh");
            until
        }
        Err(_) => {
            tracing::warn!(%until, "connection paused in this worker; recording the pause took over {limit:?} and is tried again at the next refresh");
            until
        }
    }
}

/// Records the pauses this worker could not record yet, and reloads the
/// pauses every worker recorded; returns whether PostgreSQL answered.
pub async fn refresh(ctx: &Context) -> bool {
    let limit = crate::domain::budget::set_timeout(ctx.config.worker.sending_lease);
    let refreshed = tokio::time::timeout(limit, ctx.store.refresh_pauses()).await;
    match refreshed {
        Ok(Ok(_)) => true,
        Ok(Err(err)) => {
            tracing::warn!(error = %crate::error_chain(&err), "refreshing the connection pauses failed");
            false
        }
        Err(_) => {
            tracing::warn!("refreshing the connection pauses got no answer within {limit:?}");
            false
        }
    }
}
