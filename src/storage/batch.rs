//! The hot path's writes in sets: accepted sends, outcomes and attempt rows,
//! all in one statement (`INSERT … SELECT FROM UNNEST` and `UPDATE … FROM
//! UNNEST` in data-modifying CTEs), so one round trip and one commit carry
//! the work of many deliveries of both kinds. Each keeps the meaning of its
//! single-row form: a send is claimed by the insert that creates it, an
//! outcome lands only on the claim it belongs to.

pub use super::columns::Accept;
use super::columns::{OutcomeColumns, SendColumns};
use super::deliveries::{AcceptOutcome, Claimed};
use super::events::By;
use super::groups::{self, Settled};
use super::{StorageError, Store};
use crate::domain::{Actor, DeliveryStatus, Outcome, SendCommand};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use uuid::Uuid;

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
    /// What the outcomes of group members settled in their groups.
    pub settled: Settled,
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
/// row is keyed by delivery and call start. An outcome without a call
/// leaves its audit event beside it, only where it landed.
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
        $24::timestamptz[], $25::timestamptz[], $26::int[], $27::text[], $28::text[], $30::text[]) \
    AS t(id, claimed_at, status, next_at, wait_reason, fail_reason, provider_status, \
         remote_id, refund, round, attempt, started_at, finished_at, http_status, \
         outcome, error, event)), \
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
    ON CONFLICT (delivery_id, started_at) DO NOTHING), \
audit AS ( \
    INSERT INTO delivery_events (delivery_id, kind, from_status, to_status, reason, until, actor) \
    SELECT o.id, o.event, '{sending}', o.status, COALESCE(o.fail_reason, o.wait_reason), \
        o.next_at, '{worker}' \
    FROM outcomes o JOIN updated u ON u.id = o.id WHERE o.event IS NOT NULL) \
SELECT true AS accept, id, status, attempts, resends, remote_id, claimed_at, accepted_at \
FROM accepted \
UNION ALL \
SELECT false, id, NULL, NULL, NULL, NULL, NULL, accepted_at FROM updated",
        sending = DeliveryStatus::Sending,
        worker = Actor::Worker,
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
    /// Outcomes of group members settle their groups (`groups`) in the
    /// same transaction, under the groups' locks.
    pub async fn write_set(
        &self,
        sends: &[Accept],
        outcomes: &[(&Claimed, &Outcome)],
        now: DateTime<Utc>,
    ) -> Result<SetWritten, StorageError> {
        let s = SendColumns::new(sends, now)?;
        let o = OutcomeColumns::new(outcomes);
        let query = sqlx::query(WRITE_SET.as_str())
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
            .bind(&o.events);
        // An outcome of a group member settles its group in the same commit.
        let groups: Vec<&str> = outcomes
            .iter()
            .filter_map(|(claim, _)| claim.command.group.as_ref().map(|g| g.id.as_str()))
            .collect();
        let (rows, settled) = if groups.is_empty() {
            (query.fetch_all(&self.pool).await?, Settled::default())
        } else {
            let mut tx = self.pool.begin().await?;
            groups::lock(&mut tx, &groups).await?;
            let rows = query.fetch_all(&mut *tx).await?;
            let settled = groups::settle(&mut tx, &groups, By::WORKER).await?;
            tx.commit().await?;
            (rows, settled)
        };
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
        Ok(SetWritten {
            accepted,
            recorded,
            settled,
        })
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
