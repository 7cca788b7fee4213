//! A write set's rows as one array per column, the form its statement
//! (`storage::batch`) unnests: the sends with the state each is born in,
//! the outcomes as the domain decided them, each in id order.

use super::StorageError;
use super::deliveries::Claimed;
use super::text::{MAX_REMOTE_ID, MAX_TEXT, storable, storable_remote_id};
use crate::domain::accept::born;
use crate::domain::{Outcome, SendCommand};
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// A `send` to accept, with the token of the consumption that accepts it:
/// chosen once when the command is taken from the queue, and the same for
/// every retry of its write.
#[derive(Debug, Clone)]
pub struct Accept {
    pub command: Arc<SendCommand>,
    pub token: Uuid,
    /// Whether the send is claimed as it is recorded (the worker has room
    /// for it now), or left due for a sweeper.
    pub claim: bool,
}

impl Accept {
    /// A send accepted by a new consumption.
    pub fn new(command: Arc<SendCommand>) -> Accept {
        Accept {
            command,
            token: Uuid::new_v4(),
            claim: true,
        }
    }
}

/// The sends as one array per column, in id order: two sets inserting the
/// same ids at once then lock them in the same order and cannot deadlock.
/// Only the first send of an id goes to SQL (`ON CONFLICT DO UPDATE` may
/// not meet a row twice in one statement); the others are duplicates.
pub(super) struct SendColumns<'a> {
    pub(super) ids: Vec<Uuid>,
    pub(super) connections: Vec<&'a str>,
    pub(super) statuses: Vec<&'static str>,
    pub(super) attempts: Vec<i32>,
    pub(super) next_at: Vec<Option<DateTime<Utc>>>,
    pub(super) wait_reasons: Vec<Option<&'static str>>,
    pub(super) fail_reasons: Vec<Option<&'static str>>,
    pub(super) bodies: Vec<String>,
    pub(super) not_before: Vec<Option<DateTime<Utc>>>,
    pub(super) expires_at: Vec<Option<DateTime<Utc>>>,
    pub(super) group_ids: Vec<Option<&'a str>>,
    pub(super) group_orders: Vec<Option<i32>>,
    pub(super) tokens: Vec<Uuid>,
    /// Per id, where it first appears in the caller's order.
    pub(super) first_of: HashMap<Uuid, usize>,
}

impl<'a> SendColumns<'a> {
    pub(super) fn new(sends: &'a [Accept], now: DateTime<Utc>) -> Result<Self, StorageError> {
        let n = sends.len();
        let mut c = SendColumns {
            ids: Vec::with_capacity(n),
            connections: Vec::with_capacity(n),
            statuses: Vec::with_capacity(n),
            attempts: Vec::with_capacity(n),
            next_at: Vec::with_capacity(n),
            wait_reasons: Vec::with_capacity(n),
            fail_reasons: Vec::with_capacity(n),
            bodies: Vec::with_capacity(n),
            not_before: Vec::with_capacity(n),
            expires_at: Vec::with_capacity(n),
            group_ids: Vec::with_capacity(n),
            group_orders: Vec::with_capacity(n),
            tokens: Vec::with_capacity(n),
            first_of: HashMap::with_capacity(n),
        };
        for (i, send) in sends.iter().enumerate() {
            c.first_of.entry(send.command.id).or_insert(i);
        }
        let mut order: Vec<usize> = c.first_of.values().copied().collect();
        order.sort_by_key(|&i| sends[i].command.id);
        for i in order {
            let cmd = &sends[i].command;
            let born = born(cmd, now, sends[i].claim);
            // As text, cast in the statement: no JSON tree is built here.
            let body = serde_json::to_string(&**cmd)
                .map_err(|source| StorageError::CorruptCommand { id: cmd.id, source })?;
            let group_order = match &cmd.group {
                None => None,
                Some(group) => Some(i32::try_from(group.order).map_err(|_| {
                    StorageError::Unstorable(format!(
                        "group.order {} is larger than {}",
                        group.order,
                        i32::MAX
                    ))
                })?),
            };
            c.ids.push(cmd.id);
            c.connections.push(cmd.connection.as_str());
            c.statuses.push(born.status.as_str());
            c.attempts.push(born.attempts);
            c.next_at.push(born.next_attempt_at);
            c.wait_reasons.push(born.wait_reason.map(|r| r.as_str()));
            c.fail_reasons.push(born.fail_reason.map(|r| r.as_str()));
            c.bodies.push(body);
            c.not_before.push(cmd.not_before);
            c.expires_at.push(cmd.expires_at);
            c.group_ids.push(cmd.group.as_ref().map(|g| g.id.as_str()));
            c.group_orders.push(group_order);
            c.tokens.push(sends[i].token);
        }
        Ok(c)
    }
}

/// The outcomes as one array per column, in delivery id order (the same
/// lock order in every set).
pub(super) struct OutcomeColumns<'a> {
    pub(super) ids: Vec<Uuid>,
    pub(super) claimed_at: Vec<DateTime<Utc>>,
    pub(super) statuses: Vec<&'static str>,
    pub(super) next_at: Vec<Option<DateTime<Utc>>>,
    pub(super) wait_reasons: Vec<Option<&'static str>>,
    pub(super) fail_reasons: Vec<Option<Cow<'a, str>>>,
    pub(super) provider_statuses: Vec<Option<i16>>,
    pub(super) remote_ids: Vec<Option<&'a str>>,
    pub(super) refunds: Vec<i32>,
    pub(super) rounds: Vec<i32>,
    pub(super) attempt_numbers: Vec<i32>,
    pub(super) started: Vec<Option<DateTime<Utc>>>,
    pub(super) finished: Vec<Option<DateTime<Utc>>>,
    pub(super) http_statuses: Vec<Option<i32>>,
    pub(super) outcomes: Vec<Option<&'static str>>,
    pub(super) errors: Vec<Option<Cow<'a, str>>>,
    /// The audit event of an outcome no attempt row tells.
    pub(super) events: Vec<Option<&'static str>>,
}

impl<'a> OutcomeColumns<'a> {
    pub(super) fn new(items: &[(&'a Claimed, &'a Outcome)]) -> Self {
        let n = items.len();
        let mut c = OutcomeColumns {
            ids: Vec::with_capacity(n),
            claimed_at: Vec::with_capacity(n),
            statuses: Vec::with_capacity(n),
            next_at: Vec::with_capacity(n),
            wait_reasons: Vec::with_capacity(n),
            fail_reasons: Vec::with_capacity(n),
            provider_statuses: Vec::with_capacity(n),
            remote_ids: Vec::with_capacity(n),
            refunds: Vec::with_capacity(n),
            rounds: Vec::with_capacity(n),
            attempt_numbers: Vec::with_capacity(n),
            started: Vec::with_capacity(n),
            finished: Vec::with_capacity(n),
            http_statuses: Vec::with_capacity(n),
            outcomes: Vec::with_capacity(n),
            errors: Vec::with_capacity(n),
            events: Vec::with_capacity(n),
        };
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| items[i].0.id);
        for i in order {
            let (claim, outcome) = items[i];
            let attempt = outcome.attempt.as_ref();
            c.ids.push(claim.id);
            c.claimed_at.push(claim.claimed_at);
            c.statuses.push(outcome.status.as_str());
            c.next_at.push(outcome.next_attempt_at);
            c.wait_reasons.push(outcome.wait_reason.map(|r| r.as_str()));
            c.fail_reasons
                .push((outcome.fail_reason.as_deref()).map(|reason| storable(reason, MAX_TEXT)));
            c.provider_statuses.push(outcome.provider_status);
            c.remote_ids.push(outcome.remote_id.as_deref().and_then(|remote_id| {
                let kept = storable_remote_id(remote_id);
                if kept.is_none() {
                    tracing::warn!(id = %claim.id, bytes = remote_id.len(),
                        "the provider's message id cannot be stored (U+0000, or longer than {MAX_REMOTE_ID} bytes); not kept");
                }
                kept
            }));
            c.refunds.push(i32::from(outcome.refund_attempt));
            c.rounds.push(claim.resends as i32);
            c.attempt_numbers.push(claim.attempt as i32);
            c.started.push(attempt.map(|a| a.started_at));
            c.finished.push(attempt.map(|a| a.finished_at));
            c.http_statuses
                .push(attempt.and_then(|a| a.http_status).map(i32::from));
            c.outcomes.push(attempt.map(|a| a.outcome.as_str()));
            c.errors.push(
                attempt
                    .and_then(|a| a.error.as_deref())
                    .map(|error| storable(error, MAX_TEXT)),
            );
            c.events.push(outcome.audit().map(|kind| kind.as_str()));
        }
        c
    }
}
