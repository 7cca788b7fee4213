//! The hot path's writes in sets: accepted sends, outcomes and attempt rows,
//! all in one statement (`INSERT … SELECT FROM UNNEST` and `UPDATE … FROM
//! UNNEST` in data-modifying CTEs), so one round trip and one commit carry
//! the work of many deliveries of both kinds. Each keeps the meaning of its
//! single-row form: a send is claimed by the insert that creates it, an
//! outcome lands only on the claim it belongs to.

use super::deliveries::{AcceptOutcome, Claimed};
use super::text::{MAX_REMOTE_ID, MAX_TEXT, storable, storable_remote_id};
use super::{StorageError, Store};
use crate::domain::accept::born;
use crate::domain::{DeliveryStatus, Outcome, SendCommand};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
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

/// A delivery row as an accept returned it.
struct AcceptedRow {
    status: String,
    attempts: i32,
    resends: i32,
    remote_id: Option<String>,
    claimed_at: Option<DateTime<Utc>>,
    accepted_at: DateTime<Utc>,
}

impl AcceptedRow {
    /// What the accept comes to. A row in `sending` is this accept's claim
    /// when it is the claim the row was born with (`claimed_at` is then its
    /// `accepted_at`: one statement's `now()`); a later claim is another
    /// worker's.
    fn outcome(self, id: Uuid, command: &Arc<SendCommand>) -> AcceptOutcome {
        match (self.status.parse::<DeliveryStatus>(), self.claimed_at) {
            (Ok(DeliveryStatus::Sending), Some(claimed_at)) if claimed_at == self.accepted_at => {
                AcceptOutcome::Claimed(Box::new(Claimed {
                    id,
                    connection: command.connection.clone(),
                    command: command.clone(),
                    attempt: self.attempts.max(1) as u32,
                    resends: self.resends.max(0) as u32,
                    remote_id: self.remote_id,
                    claimed_at,
                    accepted_at: self.accepted_at,
                }))
            }
            (Ok(DeliveryStatus::WaitForSending), _) => AcceptOutcome::Scheduled,
            (Ok(DeliveryStatus::Failed), _) => AcceptOutcome::Expired,
            _ => AcceptOutcome::Duplicate,
        }
    }
}

/// What one [`Store::write_set`] did: an answer per accepted send and per
/// outcome, each in the order given.
#[derive(Debug)]
pub struct SetWritten {
    pub accepted: Vec<AcceptOutcome>,
    /// Per outcome, the delivery's `accepted_at` where it landed; `None`
    /// where the claim was no longer this worker's.
    pub recorded: Vec<Option<DateTime<Utc>>>,
}

/// The statement. Both halves run on one snapshot and touch different rows:
/// an outcome can only be for a delivery whose accept committed earlier.
/// An outcome finds its row by id and `claimed_at`, which is set exactly
/// while the row is in `sending` (a constraint says so): the primary key
/// serves it, not `deliveries_sending` and its trail of dead entries.
///
/// Every part may run twice (a set whose answer was lost is written again,
/// perhaps while the first statement still runs) and lands once. An accept
/// carries its consumption's token: on a conflict with a row of the same
/// token, `DO UPDATE` (which, unlike a read in the same statement, waits
/// for an insert still in progress and sees it committed) returns that row
/// as it is now. A row of another token is not returned: a duplicate. The
/// outcome's update finds the claim gone the second time, and its attempt
/// row is keyed by delivery and call start.
static WRITE_SET: LazyLock<String> = LazyLock::new(|| {
    format!(
        "\
WITH sends AS ( \
    SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], \
        $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::text[], \
        $12::int[], $29::uuid[]) \
    AS t(id, connection, status, attempts, next_at, wait_reason, fail_reason, command, \
         not_before, expires_at, group_id, group_order, token)), \
accepted AS ( \
    INSERT INTO deliveries (id, connection, status, attempts, next_attempt_at, wait_reason, \
        fail_reason, command, not_before, expires_at, group_id, group_order, claimed_at, \
        accept_token) \
    SELECT id, connection, status, attempts, next_at, wait_reason, fail_reason, command::jsonb, \
        not_before, expires_at, group_id, group_order, \
        CASE WHEN status = '{sending}' THEN now() END, token \
    FROM sends \
    ON CONFLICT (id) DO UPDATE SET accept_token = deliveries.accept_token \
        WHERE deliveries.accept_token = EXCLUDED.accept_token \
    RETURNING id, status, attempts, resends, remote_id, claimed_at, accepted_at), \
outcomes AS ( \
    SELECT * FROM UNNEST($13::uuid[], $14::timestamptz[], $15::text[], $16::timestamptz[], \
        $17::text[], $18::text[], $19::smallint[], $20::text[], $21::int[], $22::int[], $23::int[], \
        $24::timestamptz[], $25::timestamptz[], $26::int[], $27::text[], $28::text[]) \
    AS t(id, claimed_at, status, next_at, wait_reason, fail_reason, provider_status, \
         remote_id, refund, round, attempt, started_at, finished_at, http_status, \
         outcome, error)), \
updated AS ( \
    UPDATE deliveries d SET status = o.status, next_attempt_at = o.next_at, \
        wait_reason = o.wait_reason, fail_reason = o.fail_reason, \
        provider_status = GREATEST(d.provider_status, o.provider_status), \
        remote_id = COALESCE(o.remote_id, d.remote_id), attempts = d.attempts - o.refund, \
        claimed_at = NULL, updated_at = now() \
    FROM outcomes o \
    WHERE d.id = o.id AND d.claimed_at = o.claimed_at \
    RETURNING d.id, d.accepted_at), \
attempt AS ( \
    INSERT INTO delivery_attempts (delivery_id, round, attempt, started_at, finished_at, \
        http_status, outcome, error) \
    SELECT id, round, attempt, started_at, finished_at, http_status, outcome, error \
    FROM outcomes WHERE outcome IS NOT NULL \
    ON CONFLICT (delivery_id, started_at) DO NOTHING) \
SELECT true AS accept, id, status, attempts, resends, remote_id, claimed_at, accepted_at \
FROM accepted \
UNION ALL \
SELECT false, id, NULL, NULL, NULL, NULL, NULL, accepted_at FROM updated",
        sending = DeliveryStatus::Sending,
    )
});

impl Store {
    /// Records new `send` commands and the outcomes of claimed deliveries,
    /// in one statement.
    ///
    /// A send due now is born claimed (`waitForSending → sending` in the same
    /// statement), saving the hot path a round trip. An id given twice among
    /// the sends is a duplicate the second time. A send written again with
    /// its token (the first statement's answer lost) gets its row as it is
    /// now: its claim when still in `sending`. A send whose `claim` is false
    /// (the worker has no room for its connection now) is not claimed but
    /// left due at once, for the sweeper of a worker with room. An outcome lands only if its
    /// claim is still this worker's; its attempt row is kept either way, once.
    pub async fn write_set(
        &self,
        sends: &[Accept],
        outcomes: &[(&Claimed, &Outcome)],
        now: DateTime<Utc>,
    ) -> Result<SetWritten, StorageError> {
        let s = SendColumns::new(sends, now)?;
        let o = OutcomeColumns::new(outcomes);
        let rows = sqlx::query(WRITE_SET.as_str())
            .bind(&s.ids)
            .bind(&s.connections)
            .bind(&s.statuses)
            .bind(&s.attempts)
            .bind(&s.next_at)
            .bind(&s.wait_reasons)
            .bind(&s.fail_reasons)
            .bind(&s.bodies)
            .bind(&s.not_before)
            .bind(&s.expires_at)
            .bind(&s.group_ids)
            .bind(&s.group_orders)
            .bind(&o.ids)
            .bind(&o.claimed_at)
            .bind(&o.statuses)
            .bind(&o.next_at)
            .bind(&o.wait_reasons)
            .bind(&o.fail_reasons)
            .bind(&o.provider_statuses)
            .bind(&o.remote_ids)
            .bind(&o.refunds)
            .bind(&o.rounds)
            .bind(&o.attempt_numbers)
            .bind(&o.started)
            .bind(&o.finished)
            .bind(&o.http_statuses)
            .bind(&o.outcomes)
            .bind(&o.errors)
            .bind(&s.tokens)
            .fetch_all(&self.pool)
            .await?;
        let mut returned: HashMap<Uuid, AcceptedRow> = HashMap::with_capacity(sends.len());
        let mut applied: HashMap<Uuid, DateTime<Utc>> = HashMap::with_capacity(outcomes.len());
        for row in &rows {
            let id: Uuid = row.try_get("id")?;
            let accepted_at: DateTime<Utc> = row.try_get("accepted_at")?;
            if row.try_get("accept")? {
                let accepted = AcceptedRow {
                    status: row.try_get("status")?,
                    attempts: row.try_get("attempts")?,
                    resends: row.try_get("resends")?,
                    remote_id: row.try_get("remote_id")?,
                    claimed_at: row.try_get("claimed_at")?,
                    accepted_at,
                };
                returned.insert(id, accepted);
            } else {
                applied.insert(id, accepted_at);
            }
        }
        let accepted = sends
            .iter()
            .enumerate()
            .map(|(i, send)| {
                let id = send.command.id;
                // An id given twice: only its first send went to SQL.
                match returned.remove(&id) {
                    Some(row) if s.first_of.get(&id) == Some(&i) => row.outcome(id, &send.command),
                    _ => AcceptOutcome::Duplicate,
                }
            })
            .collect();
        let recorded = outcomes
            .iter()
            .map(|(claim, _)| applied.get(&claim.id).copied())
            .collect();
        Ok(SetWritten { accepted, recorded })
    }

    /// Records new `send` commands, in order (a [`Store::write_set`] with
    /// sends only).
    pub async fn accept_sends(
        &self,
        commands: &[Arc<SendCommand>],
        now: DateTime<Utc>,
    ) -> Result<Vec<AcceptOutcome>, StorageError> {
        let sends: Vec<Accept> = commands.iter().cloned().map(Accept::new).collect();
        Ok(self.write_set(&sends, &[], now).await?.accepted)
    }

    /// Records outcomes and their attempt rows, in order (a
    /// [`Store::write_set`] with outcomes only). `None` where the claim was
    /// no longer this worker's (its lease expired and another worker took it
    /// over): then only the attempt row is kept.
    pub async fn record_outcomes(
        &self,
        items: &[(&Claimed, &Outcome)],
    ) -> Result<Vec<Option<DateTime<Utc>>>, StorageError> {
        Ok(self.write_set(&[], items, Utc::now()).await?.recorded)
    }
}

/// The sends as one array per column, in id order: two sets inserting the
/// same ids at once then lock them in the same order and cannot deadlock.
/// Only the first send of an id goes to SQL (`ON CONFLICT DO UPDATE` may
/// not meet a row twice in one statement); the others are duplicates.
struct SendColumns<'a> {
    ids: Vec<Uuid>,
    connections: Vec<&'a str>,
    statuses: Vec<&'static str>,
    attempts: Vec<i32>,
    next_at: Vec<Option<DateTime<Utc>>>,
    wait_reasons: Vec<Option<&'static str>>,
    fail_reasons: Vec<Option<&'static str>>,
    bodies: Vec<String>,
    not_before: Vec<Option<DateTime<Utc>>>,
    expires_at: Vec<Option<DateTime<Utc>>>,
    group_ids: Vec<Option<&'a str>>,
    group_orders: Vec<Option<i32>>,
    tokens: Vec<Uuid>,
    /// Per id, where it first appears in the caller's order.
    first_of: HashMap<Uuid, usize>,
}

impl<'a> SendColumns<'a> {
    fn new(sends: &'a [Accept], now: DateTime<Utc>) -> Result<Self, StorageError> {
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
struct OutcomeColumns<'a> {
    ids: Vec<Uuid>,
    claimed_at: Vec<DateTime<Utc>>,
    statuses: Vec<&'static str>,
    next_at: Vec<Option<DateTime<Utc>>>,
    wait_reasons: Vec<Option<&'static str>>,
    fail_reasons: Vec<Option<Cow<'a, str>>>,
    provider_statuses: Vec<Option<i16>>,
    remote_ids: Vec<Option<&'a str>>,
    refunds: Vec<i32>,
    rounds: Vec<i32>,
    attempt_numbers: Vec<i32>,
    started: Vec<Option<DateTime<Utc>>>,
    finished: Vec<Option<DateTime<Utc>>>,
    http_statuses: Vec<Option<i32>>,
    outcomes: Vec<Option<&'static str>>,
    errors: Vec<Option<Cow<'a, str>>>,
}

impl<'a> OutcomeColumns<'a> {
    fn new(items: &[(&'a Claimed, &'a Outcome)]) -> Self {
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
        }
        c
    }
}
