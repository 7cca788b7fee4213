//! The gate a message request passes just before it leaves: its
//! connection's send slot (the rate, `worker::rate`). The worker sets the
//! gate around a delivery's `send` ([`through_gate`]); [`super::exchange`]
//! passes it right before the request goes out, after any token fetch
//! (those go through [`super::exchange_auth`], which passes none), so that
//! nothing of the adapter's sits between the slot's check and the request.

use super::ProviderError;
use futures_util::future::BoxFuture;
use std::sync::Arc;

/// What a message request waits for before it leaves.
pub trait SendGate: Send + Sync {
    /// Waits until the request may leave, and returns at once when it may:
    /// the check is the last thing before the request. An error says it
    /// may not (no request is made).
    fn pass(&self) -> BoxFuture<'_, Result<(), ProviderError>>;
}

tokio::task_local! {
    /// The gate of the delivery being sent, if its connection has one.
    static GATE: Option<Arc<dyn SendGate>>;
}

/// Runs an adapter's `send` with `gate`: every message request it makes
/// through [`super::exchange`] passes it first.
pub async fn through_gate<F: std::future::Future>(
    gate: Option<Arc<dyn SendGate>>,
    send: F,
) -> F::Output {
    GATE.scope(gate, send).await
}

/// Passes the current delivery's gate, if it has one.
pub(super) async fn pass() -> Result<(), ProviderError> {
    let gate = GATE.try_with(Clone::clone).ok().flatten();
    match gate {
        Some(gate) => gate.pass().await,
        None => Ok(()),
    }
}
