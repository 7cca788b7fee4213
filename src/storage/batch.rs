//! The hot path's statements in sets: many accepted sends in one `INSERT …
//! SELECT FROM UNNEST`, many outcomes and attempt rows in one statement.
//! Each keeps the meaning of its single-row form: a send is claimed by the
//! insert that creates it, an outcome lands only on the claim it belongs to.

use super::deliveries::{AcceptOutcome, Claimed, Outcome};
use super::{StorageError, Store};
use crate::domain::{DeliveryStatus, SendCommand};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

impl Store {
    /// Records new `send` commands, in order. Where one is due now, its row
    /// is born claimed (`waitForSending → sending` in the same statement),
    /// saving the hot path a round trip.
    /// An id given twice in one batch is a duplicate the second time.
    pub async fn accept_sends(
        &self,
        commands: &[Arc<SendCommand>],
        now: DateTime<Utc>,
    ) -> Result<Vec<AcceptOutcome>, StorageError> {
        let n = commands.len();
        let mut ids = Vec::with_capacity(n);
        let mut connections = Vec::with_capacity(n);
        let mut statuses = Vec::with_capacity(n);
        let mut attempts = Vec::with_capacity(n);
        let mut next_at = Vec::with_capacity(n);
        let mut wait_reasons = Vec::with_capacity(n);
        let mut fail_reasons = Vec::with_capacity(n);
        let mut bodies = Vec::with_capacity(n);
        let mut not_before = Vec::with_capacity(n);
        let mut expires_at = Vec::with_capacity(n);
        let mut group_ids = Vec::with_capacity(n);
        let mut group_orders = Vec::with_capacity(n);
        let mut first_of = HashMap::with_capacity(n);
        // Rows go in id order: two sets inserting the same ids at once then
        // lock them in the same order and cannot deadlock.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| commands[i].id);
        let states: Vec<_> = commands.iter().map(|cmd| initial_state(cmd, now)).collect();
        for (i, cmd) in commands.iter().enumerate() {
            first_of.entry(cmd.id).or_insert(i);
        }
        for &i in &order {
            let cmd = &commands[i];
            let (status, attempt, next, wait, fail) = states[i];
            // As text, cast in the statement: no JSON tree is built here.
            let body = serde_json::to_string(&**cmd)
                .map_err(|source| StorageError::CorruptCommand { id: cmd.id, source })?;
            ids.push(cmd.id);
            connections.push(cmd.connection.as_str());
            statuses.push(status.as_str());
            attempts.push(attempt);
            next_at.push(next);
            wait_reasons.push(wait);
            fail_reasons.push(fail);
            bodies.push(body);
            not_before.push(cmd.not_before);
            expires_at.push(cmd.expires_at);
            group_ids.push(cmd.group.as_ref().map(|g| g.id.as_str()));
            group_orders.push(cmd.group.as_ref().map(|g| g.order as i32));
        }
        let rows = sqlx::query(
            "INSERT INTO deliveries (id, connection, status, attempts, next_attempt_at, wait_reason, \
                 fail_reason, command, not_before, expires_at, group_id, group_order, claimed_at) \
             SELECT id, connection, status, attempts, next_at, wait_reason, fail_reason, command::jsonb, \
                 not_before, expires_at, group_id, group_order, \
                 CASE WHEN status = 'sending' THEN now() END \
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::text[], \
                 $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::text[], $12::int[]) \
                 AS t(id, connection, status, attempts, next_at, wait_reason, fail_reason, command, \
                      not_before, expires_at, group_id, group_order) \
             ON CONFLICT (id) DO NOTHING \
             RETURNING id, claimed_at, accepted_at",
        )
        .bind(&ids)
        .bind(&connections)
        .bind(&statuses)
        .bind(&attempts)
        .bind(&next_at)
        .bind(&wait_reasons)
        .bind(&fail_reasons)
        .bind(&bodies)
        .bind(&not_before)
        .bind(&expires_at)
        .bind(&group_ids)
        .bind(&group_orders)
        .fetch_all(&self.pool)
        .await?;
        let mut inserted: HashMap<Uuid, (Option<DateTime<Utc>>, DateTime<Utc>)> =
            HashMap::with_capacity(rows.len());
        for row in &rows {
            inserted.insert(
                row.try_get("id")?,
                (row.try_get("claimed_at")?, row.try_get("accepted_at")?),
            );
        }
        Ok(commands
            .iter()
            .enumerate()
            .map(|(i, cmd)| {
                let new = first_of.get(&cmd.id) == Some(&i);
                match (new, inserted.get(&cmd.id)) {
                    (true, Some((claimed_at, accepted_at))) => match states[i].0 {
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
            .collect())
    }

    /// Records outcomes and their attempt rows, in order. `None` where the
    /// claim was no longer this worker's (its lease expired and another
    /// worker took it over): then only the attempt row is kept.
    pub async fn record_outcomes(
        &self,
        items: &[(&Claimed, &Outcome)],
    ) -> Result<Vec<Option<DateTime<Utc>>>, StorageError> {
        let n = items.len();
        let mut ids = Vec::with_capacity(n);
        let mut claimed_at = Vec::with_capacity(n);
        let mut statuses = Vec::with_capacity(n);
        let mut next_at = Vec::with_capacity(n);
        let mut wait_reasons = Vec::with_capacity(n);
        let mut fail_reasons = Vec::with_capacity(n);
        let mut provider_statuses = Vec::with_capacity(n);
        let mut remote_ids = Vec::with_capacity(n);
        let mut refunds = Vec::with_capacity(n);
        let mut rounds = Vec::with_capacity(n);
        let mut attempt_numbers = Vec::with_capacity(n);
        let mut started = Vec::with_capacity(n);
        let mut finished = Vec::with_capacity(n);
        let mut http_statuses = Vec::with_capacity(n);
        let mut outcomes = Vec::with_capacity(n);
        let mut errors = Vec::with_capacity(n);
        for (claim, outcome) in items {
            let attempt = outcome.attempt.as_ref();
            ids.push(claim.id);
            claimed_at.push(claim.claimed_at);
            statuses.push(outcome.status.as_str());
            next_at.push(outcome.next_attempt_at);
            wait_reasons.push(outcome.wait_reason);
            fail_reasons.push(outcome.fail_reason.as_deref());
            provider_statuses.push(outcome.provider_status);
            remote_ids.push(outcome.remote_id.as_deref());
            refunds.push(i32::from(outcome.refund_attempt));
            rounds.push(claim.resends as i32);
            attempt_numbers.push(claim.attempt as i32);
            started.push(attempt.map(|a| a.started_at));
            finished.push(attempt.map(|a| a.finished_at));
            http_statuses.push(attempt.and_then(|a| a.http_status).map(i32::from));
            outcomes.push(attempt.map(|a| a.outcome));
            errors.push(attempt.and_then(|a| a.error.as_deref()));
        }
        let rows = sqlx::query(
            "WITH input AS ( \
                 SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::timestamptz[], \
                     $5::text[], $6::text[], $7::smallint[], $8::text[], $9::int[], $10::int[], $11::int[], \
                     $12::timestamptz[], $13::timestamptz[], $14::int[], $15::text[], $16::text[]) \
                 AS t(id, claimed_at, status, next_at, wait_reason, fail_reason, provider_status, \
                      remote_id, refund, round, attempt, started_at, finished_at, http_status, \
                      outcome, error)), \
             updated AS ( \
                 UPDATE deliveries d SET status = i.status, next_attempt_at = i.next_at, \
                     wait_reason = i.wait_reason, fail_reason = i.fail_reason, \
                     provider_status = GREATEST(d.provider_status, i.provider_status), \
                     remote_id = COALESCE(i.remote_id, d.remote_id), attempts = d.attempts - i.refund, \
                     claimed_at = NULL, updated_at = now() \
                 FROM input i \
                 WHERE d.id = i.id AND d.status = 'sending' AND d.claimed_at = i.claimed_at \
                 RETURNING d.id, d.accepted_at), \
             attempt AS ( \
                 INSERT INTO delivery_attempts (delivery_id, round, attempt, started_at, finished_at, \
                     http_status, outcome, error) \
                 SELECT id, round, attempt, started_at, finished_at, http_status, outcome, error \
                 FROM input WHERE outcome IS NOT NULL) \
             SELECT id, accepted_at FROM updated",
        )
        .bind(&ids)
        .bind(&claimed_at)
        .bind(&statuses)
        .bind(&next_at)
        .bind(&wait_reasons)
        .bind(&fail_reasons)
        .bind(&provider_statuses)
        .bind(&remote_ids)
        .bind(&refunds)
        .bind(&rounds)
        .bind(&attempt_numbers)
        .bind(&started)
        .bind(&finished)
        .bind(&http_statuses)
        .bind(&outcomes)
        .bind(&errors)
        .fetch_all(&self.pool)
        .await?;
        let mut applied: HashMap<Uuid, DateTime<Utc>> = HashMap::with_capacity(rows.len());
        for row in &rows {
            applied.insert(row.try_get("id")?, row.try_get("accepted_at")?);
        }
        Ok(ids.iter().map(|id| applied.get(id).copied()).collect())
    }
}

/// Where a new send starts: failed (expired), waiting (scheduled) or claimed.
pub(super) fn initial_state(
    cmd: &SendCommand,
    now: DateTime<Utc>,
) -> (
    DeliveryStatus,
    i32,
    Option<DateTime<Utc>>,
    Option<&'static str>,
    Option<&'static str>,
) {
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
    } else {
        (DeliveryStatus::Sending, 1, None, None, None)
    }
}
