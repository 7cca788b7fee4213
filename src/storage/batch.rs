//! The hot path's writes in sets: accepted sends, outcomes and attempt rows,
//! all in one statement (`INSERT … SELECT FROM UNNEST` and `UPDATE … FROM
//! UNNEST` in data-modifying CTEs), so one round trip and one commit carry
//! the work of many deliveries of both kinds. Each keeps the meaning of its
//! single-row form: a send is claimed by the insert that creates it, an
//! outcome lands only on the claim it belongs to.

use super::deliveries::{AcceptOutcome, Claimed, Outcome};
use super::{StorageError, Store};
use crate::domain::{DeliveryStatus, SendCommand};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

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
const WRITE_SET: &str = "\
WITH sends AS ( \
    SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], \
        $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::text[], \
        $12::int[]) \
    AS t(id, connection, status, attempts, next_at, wait_reason, fail_reason, command, \
         not_before, expires_at, group_id, group_order)), \
accepted AS ( \
    INSERT INTO deliveries (id, connection, status, attempts, next_attempt_at, wait_reason, \
        fail_reason, command, not_before, expires_at, group_id, group_order, claimed_at) \
    SELECT id, connection, status, attempts, next_at, wait_reason, fail_reason, command::jsonb, \
        not_before, expires_at, group_id, group_order, \
        CASE WHEN status = 'sending' THEN now() END \
    FROM sends \
    ON CONFLICT (id) DO NOTHING \
    RETURNING id, claimed_at, accepted_at), \
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
    FROM outcomes WHERE outcome IS NOT NULL) \
SELECT true AS accept, id, claimed_at, accepted_at FROM accepted \
UNION ALL \
SELECT false, id, NULL::timestamptz, accepted_at FROM updated";

impl Store {
    /// Records new `send` commands and the outcomes of claimed deliveries,
    /// in one statement.
    ///
    /// A send due now is born claimed (`waitForSending → sending` in the same
    /// statement), saving the hot path a round trip, unless `claim` says the
    /// worker has no room for it now (`claim[i]` for `sends[i]`; missing
    /// means true): then it waits, due at once, for the sweeper of a worker
    /// with room. An id given twice among
    /// the sends is a duplicate the second time. An outcome lands only if its
    /// claim is still this worker's; its attempt row is kept either way.
    pub async fn write_set(
        &self,
        sends: &[Arc<SendCommand>],
        claim: &[bool],
        outcomes: &[(&Claimed, &Outcome)],
        now: DateTime<Utc>,
    ) -> Result<SetWritten, StorageError> {
        let s = SendColumns::new(sends, claim, now)?;
        let o = OutcomeColumns::new(outcomes);
        let rows = sqlx::query(WRITE_SET)
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
            .fetch_all(&self.pool)
            .await?;
        let mut inserted: HashMap<Uuid, (Option<DateTime<Utc>>, DateTime<Utc>)> =
            HashMap::with_capacity(sends.len());
        let mut applied: HashMap<Uuid, DateTime<Utc>> = HashMap::with_capacity(outcomes.len());
        for row in &rows {
            let id: Uuid = row.try_get("id")?;
            let accepted_at: DateTime<Utc> = row.try_get("accepted_at")?;
            if row.try_get("accept")? {
                inserted.insert(id, (row.try_get("claimed_at")?, accepted_at));
            } else {
                applied.insert(id, accepted_at);
            }
        }
        let accepted = sends
            .iter()
            .enumerate()
            .map(|(i, cmd)| {
                let new = s.first_of.get(&cmd.id) == Some(&i);
                match (new, inserted.get(&cmd.id)) {
                    (true, Some((claimed_at, accepted_at))) => match s.states[i].0 {
                        DeliveryStatus::Failed => AcceptOutcome::Expired,
                        DeliveryStatus::WaitForSending => AcceptOutcome::Scheduled,
                        _ => AcceptOutcome::Claimed(Box::new(Claimed {
                            id: cmd.id,
                            connection: cmd.connection.clone(),
                            command: cmd.clone(),
                            attempt: 1,
                            resends: 0,
                            remote_id: None,
                            claimed_at: claimed_at.unwrap_or(*accepted_at),
                            accepted_at: *accepted_at,
                        })),
                    },
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
        Ok(self.write_set(commands, &[], &[], now).await?.accepted)
    }

    /// Records outcomes and their attempt rows, in order (a
    /// [`Store::write_set`] with outcomes only). `None` where the claim was
    /// no longer this worker's (its lease expired and another worker took it
    /// over): then only the attempt row is kept.
    pub async fn record_outcomes(
        &self,
        items: &[(&Claimed, &Outcome)],
    ) -> Result<Vec<Option<DateTime<Utc>>>, StorageError> {
        Ok(self.write_set(&[], &[], items, Utc::now()).await?.recorded)
    }
}

pub(super) type State = (
    DeliveryStatus,
    i32,
    Option<DateTime<Utc>>,
    Option<&'static str>,
    Option<&'static str>,
);

/// The sends as one array per column, in id order: two sets inserting the
/// same ids at once then lock them in the same order and cannot deadlock.
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
    /// Per send in the caller's order: where each id first appears, and
    /// where each send starts.
    first_of: HashMap<Uuid, usize>,
    states: Vec<State>,
}

impl<'a> SendColumns<'a> {
    fn new(
        commands: &'a [Arc<SendCommand>],
        claim: &[bool],
        now: DateTime<Utc>,
    ) -> Result<Self, StorageError> {
        let n = commands.len();
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
            first_of: HashMap::with_capacity(n),
            states: commands
                .iter()
                .enumerate()
                .map(|(i, cmd)| initial_state(cmd, now, claim.get(i).copied().unwrap_or(true)))
                .collect(),
        };
        for (i, cmd) in commands.iter().enumerate() {
            c.first_of.entry(cmd.id).or_insert(i);
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| commands[i].id);
        for i in order {
            let cmd = &commands[i];
            let (status, attempt, next, wait, fail) = c.states[i];
            // As text, cast in the statement: no JSON tree is built here.
            let body = serde_json::to_string(&**cmd)
                .map_err(|source| StorageError::CorruptCommand { id: cmd.id, source })?;
            c.ids.push(cmd.id);
            c.connections.push(cmd.connection.as_str());
            c.statuses.push(status.as_str());
            c.attempts.push(attempt);
            c.next_at.push(next);
            c.wait_reasons.push(wait);
            c.fail_reasons.push(fail);
            c.bodies.push(body);
            c.not_before.push(cmd.not_before);
            c.expires_at.push(cmd.expires_at);
            c.group_ids.push(cmd.group.as_ref().map(|g| g.id.as_str()));
            c.group_orders
                .push(cmd.group.as_ref().map(|g| g.order as i32));
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
    fail_reasons: Vec<Option<&'a str>>,
    provider_statuses: Vec<Option<i16>>,
    remote_ids: Vec<Option<&'a str>>,
    refunds: Vec<i32>,
    rounds: Vec<i32>,
    attempt_numbers: Vec<i32>,
    started: Vec<Option<DateTime<Utc>>>,
    finished: Vec<Option<DateTime<Utc>>>,
    http_statuses: Vec<Option<i32>>,
    outcomes: Vec<Option<&'static str>>,
    errors: Vec<Option<&'a str>>,
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
            c.wait_reasons.push(outcome.wait_reason);
            c.fail_reasons.push(outcome.fail_reason.as_deref());
            c.provider_statuses.push(outcome.provider_status);
            c.remote_ids.push(outcome.remote_id.as_deref());
            c.refunds.push(i32::from(outcome.refund_attempt));
            c.rounds.push(claim.resends as i32);
            c.attempt_numbers.push(claim.attempt as i32);
            c.started.push(attempt.map(|a| a.started_at));
            c.finished.push(attempt.map(|a| a.finished_at));
            c.http_statuses
                .push(attempt.and_then(|a| a.http_status).map(i32::from));
            c.outcomes.push(attempt.map(|a| a.outcome));
            c.errors.push(attempt.and_then(|a| a.error.as_deref()));
        }
        c
    }
}

/// Where a new send starts: failed (expired), waiting (scheduled), claimed,
/// or, where the worker has no room for it (`claim` false), waiting and due.
pub(super) fn initial_state(cmd: &SendCommand, now: DateTime<Utc>, claim: bool) -> State {
    let expired = cmd.expires_at.is_some_and(|at| at <= now);
    let scheduled = !expired && cmd.not_before.is_some_and(|at| at > now);
    if expired {
        (DeliveryStatus::Failed, 0, None, None, Some("expired"))
    } else if scheduled {
        (
            DeliveryStatus::WaitForSending,
            0,
            cmd.not_before,
            Some("scheduled"),
            None,
        )
    } else if claim {
        (DeliveryStatus::Sending, 1, None, None, None)
    } else {
        (DeliveryStatus::WaitForSending, 0, Some(now), None, None)
    }
}
