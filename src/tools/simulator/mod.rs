//! The providers' fake APIs, with scriptable faults, for tests, the demo and
//! `herald simulate`.
//!
//! One axum server carries every provider's routes; [`start`] binds it and
//! returns a [`SimHandle`] at once. Tests drive it in process (the handle's
//! methods); another process drives it over HTTP (the `/_sim/` endpoints).
//!
//! - `konnek.rs`: Konnek's `POST /{channel}/send/{client_id}`, each call's
//!   span logged (`SimHandle::calls`);
//!   `konnek_callbacks.rs` the status pushes that follow an accepted send,
//!   when switched on.
//! - `onebox.rs`: OneBox's `POST /api/authenticate` and `POST /api/message`,
//!   with expiring tokens and a quota (`onebox_book.rs`); `onebox_check.rs`
//!   its body rules.
//! - `chatwoot.rs`: a Chatwoot-compatible server's
//!   `POST /api/v1/accounts/{account_id}/conversations/{conversation_id}/messages`.
//! - `comm100.rs`: Comm100's `POST /v4/ticketing/messages` and
//!   `POST /v4/ticketing/messages/{id}:resend`, holding the messages it created.
//! - `highq.rs`: HighQ's `POST /{instance}/api/oauth2/token` (refresh
//!   tokens replaced on every refresh) and `POST /{instance}/api/4/conversations/`.
//! - `control.rs`: `/_sim/script`, `/_sim/latency`, `/_sim/requests`,
//!   `/_sim/stats`, `/_sim/reset`, and OneBox's `/_sim/onebox/...`.
//! - `state.rs`: the state every handler shares, and the playing of a step.
//!   Below it, plain data that imports no handler: [`script`] ([`Step`]s,
//!   the per-recipient fault queues), `journal.rs` (what was received, and
//!   the per-id counters), `books.rs` and `onebox_book.rs` (the twins' own
//!   state), `config.rs` ([`SimConfig`]).
//!
//! A new provider is a module with a `routes()` merged in `router`, its
//! state in a book, and its credentials in [`SimConfig`].

mod books;
mod chatwoot;
mod comm100;
mod config;
mod control;
mod highq;
mod journal;
mod konnek;
mod konnek_callbacks;
mod onebox;
mod onebox_book;
mod onebox_check;
pub mod script;
mod state;

#[cfg(test)]
mod chatwoot_tests;
#[cfg(test)]
mod comm100_tests;
#[cfg(test)]
mod gate_tests;
#[cfg(test)]
mod highq_tests;
#[cfg(test)]
mod konnek_tests;
#[cfg(test)]
mod onebox_tests;
#[cfg(test)]
mod tests;

pub use books::{DEFAULT_HIGHQ_TOKEN_LIFETIME, KonnekCallbacks, Pushed};
pub use chatwoot::journal_key as chatwoot_key;
pub use config::SimConfig;
pub use journal::{Call, DEFAULT_RECORD_LIMIT, Received, Repeats, Stats};
pub use onebox::TIME_LIMIT;
pub use onebox_book::{DEFAULT_TOKEN_LIFETIME, OpenHours};
pub use script::Step;

use axum::Router;
use state::Shared;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Binds `addr` (port 0 picks one), spawns the server on the current tokio
/// runtime and returns at once.
pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    // Answers leave at once, as a provider's do, not held back by Nagle.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    let shared = Arc::new(Shared::new(config));
    let app = router(Arc::clone(&shared));
    let stop = shared.shutdown.clone();
    let stopped = shared.stopped.clone();
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the simulator stopped");
        }
        stopped.cancel();
    });
    Ok(SimHandle { addr, shared })
}

/// Every provider's routes and the control endpoints.
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(konnek::routes())
        .merge(konnek_callbacks::routes())
        .merge(onebox::routes())
        .merge(chatwoot::routes())
        .merge(comm100::routes())
        .merge(highq::routes())
        .merge(control::routes())
        .with_state(shared)
}

/// A running simulator. Clones share it.
#[derive(Clone)]
pub struct SimHandle {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` (a loopback address when bound to all interfaces).
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// Appends `steps` to the recipient's queue: each accepted-for-processing
    /// request to that recipient consumes one; an empty queue answers success.
    /// The recipient is Konnek's `recipient`, OneBox's `To`, for Chatwoot
    /// the conversation id, for Comm100 the `ticketId` and for HighQ the
    /// first recipient's userid.
    pub fn script(&self, recipient: &str, steps: Vec<Step>) {
        self.shared.book().scripts.push(recipient, steps);
    }

    /// Added to every provider request from now on.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.set_latency(latency);
    }

    /// Every send request received, faulted ones included, in order (the
    /// most recent [`DEFAULT_RECORD_LIMIT`] by default, see
    /// [`SimHandle::set_record_limit`]).
    pub fn requests(&self) -> Vec<Received> {
        self.shared.book().journal.requests()
    }

    /// Every Konnek call that ended, with its span (see [`Call`]), in the
    /// order they ended; as bounded as [`SimHandle::requests`].
    pub fn calls(&self) -> Vec<Call> {
        self.shared.book().journal.calls()
    }

    /// From now on every send to `provider` (`"konnek"`, `"chatwoot"`) is
    /// answered with `step` (a 503, a hang), until `None` lifts it.
    pub fn set_outage(&self, provider: &str, step: Option<Step>) {
        let mut book = self.shared.book();
        match step {
            Some(step) => book.outages.insert(provider.to_owned(), step),
            None => book.outages.remove(provider),
        };
    }

    /// Over every message counted by id (Konnek's body `id`, Chatwoot's
    /// conversation, see [`chatwoot_key`]): how many there were, and the
    /// calls and successes beyond each one's first.
    pub fn repeats(&self) -> Repeats {
        self.shared.book().journal.repeats()
    }

    /// How many send requests carried this body `id` (for Chatwoot, this
    /// [`chatwoot_key`]).
    pub fn sends_of(&self, message_id: &str) -> usize {
        self.shared.book().journal.sends_of(message_id)
    }

    /// How many of those were answered with success (a negative provider
    /// status is not one).
    pub fn accepted_of(&self, message_id: &str) -> usize {
        self.shared.book().journal.accepted_of(message_id)
    }

    /// Sends of `message_id` a provider that holds one message per id
    /// (Konnek) answered without sending it again.
    pub fn duplicates_of(&self, message_id: &str) -> usize {
        self.shared.book().journal.duplicates_of(message_id)
    }

    /// Totals: requests received, requests answered with success.
    pub fn stats(&self) -> Stats {
        self.shared.book().journal.stats()
    }

    /// Keeps at most `limit` requests for [`SimHandle::requests`] (0: none);
    /// the counters are kept regardless.
    pub fn set_record_limit(&self, limit: usize) {
        self.shared.book().journal.set_limit(limit);
    }

    /// Forgets scripts, received requests and counters, lifts OneBox's
    /// quota and hours, and switches HighQ's forced XML off.
    pub fn reset(&self) {
        self.shared.book().reset();
    }

    /// Successful OneBox authentications so far.
    pub fn onebox_authentications(&self) -> u64 {
        self.shared.book().onebox.authentications
    }

    /// Every OneBox token issued so far expires now: the next message call
    /// with one gets 401 "Expired token".
    pub fn expire_onebox_tokens(&self) {
        self.shared.book().onebox.expire_tokens();
    }

    /// The lifetime of OneBox tokens issued from now on.
    pub fn set_onebox_token_lifetime(&self, lifetime: Duration) {
        self.shared.book().onebox.lifetime = lifetime;
    }

    /// OneBox accepts `remaining` more messages, then answers "time limit
    /// reached ..." (`Some(0)`: closed now; `None`: no limit).
    pub fn set_onebox_quota(&self, remaining: Option<u64>) {
        self.shared.book().onebox.quota = remaining;
    }

    /// OneBox takes messages only within `hours`, and answers "time limit
    /// reached ..." outside them (`None`: at any hour).
    pub fn set_onebox_hours(&self, hours: Option<OpenHours>) {
        self.shared.book().onebox.hours = hours;
    }

    /// The Comm100 message with this id, as the twin last answered it.
    pub fn comm100_message(&self, id: &str) -> Option<serde_json::Value> {
        self.shared.book().comm100.message(id)
    }

    /// Comm100 messages created, and resends served.
    pub fn comm100_counts(&self) -> (usize, u64) {
        let book = self.shared.book();
        (book.comm100.created(), book.comm100.resends)
    }

    /// Switches Konnek's status callbacks on (`Some`) or off: after each
    /// accepted send, its `statuses` are pushed to `url` in order.
    pub fn set_konnek_callbacks(&self, callbacks: Option<KonnekCallbacks>) {
        self.shared.book().callbacks.target = callbacks;
    }

    /// The Konnek status callbacks pushed so far, with their answers.
    pub fn konnek_callbacks_pushed(&self) -> Vec<Pushed> {
        self.shared.book().callbacks.pushed.clone()
    }

    /// HighQ refreshes served, and refused (an old refresh token).
    pub fn highq_refreshes(&self) -> (u64, u64) {
        let book = self.shared.book();
        (book.highq.refreshes, book.highq.refused)
    }

    /// Every HighQ access token issued so far expires now: the next call
    /// with one gets 403 "Access denied".
    pub fn expire_highq_tokens(&self) {
        self.shared.book().highq.expire_tokens();
    }

    /// HighQ answers XML (`true`) whatever the request asks for.
    pub fn set_highq_xml(&self, xml: bool) {
        self.shared.book().highq.xml = xml;
    }

    /// The lifetime of HighQ access tokens issued from now on.
    pub fn set_highq_token_lifetime(&self, lifetime: Duration) {
        self.shared.book().highq.lifetime = lifetime;
    }

    /// How long HighQ's token endpoint waits before it answers a refresh
    /// (the new pair is issued, and the old refresh token refused, at once).
    pub fn set_highq_token_delay(&self, delay: Duration) {
        self.shared.book().highq.token_delay = delay;
    }

    /// Stops the server: no new connections, pending waits (hangs, delays)
    /// answer 503 at once.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
    }

    /// Resolves once the server has stopped.
    pub async fn stopped(&self) {
        self.shared.stopped.cancelled().await;
    }
}
