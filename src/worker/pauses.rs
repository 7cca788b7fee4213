//! Connections paused by a provider's quota refusal (OneBox's "time limit
//! reached ..."). A refusal pauses its connection for every worker until
//! the connection's sending window opens, else for its `quota_pause`
//! ([`crate::config::LimitsConfig::quota_paused_until`]); meanwhile no
//! worker calls that provider for it, and each delivery claimed for it
//! waits, with `wait_reason` `quota`, until the pause ends.
//!
//! The pauses live in PostgreSQL (`connection_pauses`) and in a copy in
//! each worker's memory: the check before each call reads the copy, which
//! takes this worker's refusals at once and the others' within
//! [`REFRESH_EVERY`] (the sweeper refreshes it).

use super::context::Context;
use crate::domain::DeliveryStatus;
use crate::metrics;
use crate::storage::Outcome;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How often the sweeper reloads the pauses other workers recorded.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// The outcome of a delivery claimed while its connection is paused: back
/// to waiting until the pause ends, with no call, no attempt row and its
/// attempt given back. `None` when the connection is not paused.
pub fn deferral(ctx: &Context, connection: &str) -> Option<Outcome> {
    let until = ctx.store.paused_until(connection, Utc::now())?;
    tracing::info!(%until, "connection paused by a provider's quota refusal; no call");
    metrics::record_deferral(connection, "quota");
    Some(Outcome {
        status: DeliveryStatus::WaitForSending,
        next_attempt_at: Some(until),
        wait_reason: Some("quota"),
        fail_reason: None,
        provider_status: None,
        remote_id: None,
        refund_attempt: true,
        attempt: None,
    })
}

/// Pauses `connection` until `until` after a provider's quota refusal (at
/// once in this worker, then for all). Returns the pause's end, which a
/// longer pause already recorded by another worker may have moved later.
pub async fn pause(
    ctx: &Context,
    connection: &str,
    until: DateTime<Utc>,
    reason: &str,
) -> DateTime<Utc> {
    match ctx.store.pause_connection(connection, until, reason).await {
        Ok(until) => {
            tracing::warn!(%until, "the provider refused for its quota: connection paused");
            until
        }
        Err(err) => {
            // This worker holds the pause anyway; the others learn of it
            // from their own refusal.
            tracing::warn!(error = %crate::error_chain(&err), %until, "connection paused in this worker only: recording the pause failed");
            until
        }
    }
}

/// Reloads the pauses every worker recorded.
pub async fn refresh(ctx: &Context) {
    if let Err(err) = ctx.store.refresh_pauses().await {
        tracing::warn!(error = %crate::error_chain(&err), "reading the connection pauses failed");
    }
}
