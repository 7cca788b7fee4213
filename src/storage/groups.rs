//! Ordered groups in PostgreSQL: a member's standing in its group, read
//! when it is claimed, and the settling of a group after a member changed.
//!
//! Settling releases the members whose predecessor succeeded and aborts the
//! members behind a failure, among those waiting with `wait_reason`
//! `group`. It runs in the transaction of the change, after a lock of the
//! group taken before the change (`lock`), and reads the rows with a
//! statement of its own: two changes of one group are then settled one
//! after the other, the second seeing the first committed. Without the
//! lock, a member that starts to wait while its predecessor succeeds could
//! be missed by both settlings.

use super::events::By;
use super::{StorageError, Store};
use crate::domain::group::Standing;
use crate::domain::{DeliveryStatus, EventKind, FailReason, WaitReason};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use std::sync::LazyLock;
use std::time::Duration;

/// The first key of herald's advisory locks of groups; the second is the
/// hash of the group's id (two groups that share a hash share a lock,
/// which only orders them).
const GROUP_LOCKS: i32 = 0x6865_7200; // "her\0"

/// Locks `groups` until the transaction ends, in one order for every
/// caller, so that two transactions never wait for each other's groups.
pub(super) async fn lock(tx: &mut PgConnection, groups: &[&str]) -> Result<(), StorageError> {
    if groups.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "SELECT pg_advisory_xact_lock($2, h) \
         FROM (SELECT DISTINCT hashtext(g) AS h FROM UNNEST($1::text[]) AS g ORDER BY h) AS x",
    )
    .bind(groups)
    .bind(GROUP_LOCKS)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// What a settling did.
#[derive(Debug, Default)]
pub struct Settled {
    /// The connections of the members released, now due.
    pub released: Vec<String>,
    /// The members aborted: their connections and acceptance times.
    pub aborted: Vec<(String, DateTime<Utc>)>,
}

/// The settling of groups `$1`, each change with its audit event by `$2`
/// (the actor) and `$3` (the operator, where named). The outer conditions
/// on `d` are the members' again: a member claimed meanwhile (by a sweeper
/// that found it due) is left to its claim.
static SETTLE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "\
WITH waiting AS ( \
    SELECT d.id, \
        EXISTS (SELECT 1 FROM deliveries p WHERE p.group_id = d.group_id \
            AND p.group_order < d.group_order AND p.status = '{failed}') AS aborted, \
        EXISTS (SELECT 1 FROM deliveries p WHERE p.group_id = d.group_id \
            AND p.group_order = d.group_order - 1 AND p.status = '{success}') AS released \
    FROM deliveries d \
    WHERE d.group_id = ANY($1) AND d.status = '{waiting}' AND d.wait_reason = '{group}'), \
settled AS ( \
    UPDATE deliveries d SET \
        status = CASE WHEN w.aborted THEN '{failed}' ELSE d.status END, \
        fail_reason = CASE WHEN w.aborted THEN '{group_aborted}' END, \
        next_attempt_at = CASE WHEN w.aborted THEN NULL ELSE now() END, \
        wait_reason = NULL, updated_at = now() \
    FROM waiting w \
    WHERE d.id = w.id AND (w.aborted OR w.released) \
      AND d.status = '{waiting}' AND d.wait_reason = '{group}' \
    RETURNING d.id, d.connection, d.accepted_at, w.aborted), \
audit AS ( \
    INSERT INTO delivery_events (delivery_id, kind, from_status, to_status, reason, actor, operator) \
    SELECT id, CASE WHEN aborted THEN '{aborted_event}' ELSE '{released_event}' END, '{waiting}', \
        CASE WHEN aborted THEN '{failed}' ELSE '{waiting}' END, \
        CASE WHEN aborted THEN '{group_aborted}' ELSE 'its predecessor succeeded' END, $2, $3 \
    FROM settled) \
SELECT connection, accepted_at, aborted FROM settled",
        failed = DeliveryStatus::Failed,
        success = DeliveryStatus::Success,
        waiting = DeliveryStatus::WaitForSending,
        group = WaitReason::Group,
        group_aborted = FailReason::GroupAborted,
        aborted_event = EventKind::Aborted,
        released_event = EventKind::Released,
    )
});

/// Settles `groups`, locked by [`lock`] in this transaction, for `by`.
pub(super) async fn settle(
    tx: &mut PgConnection,
    groups: &[&str],
    by: By<'_>,
) -> Result<Settled, StorageError> {
    let mut settled = Settled::default();
    if groups.is_empty() {
        return Ok(settled);
    }
    let rows = sqlx::query(SETTLE.as_str())
        .bind(groups)
        .bind(by.actor.as_str())
        .bind(by.operator)
        .fetch_all(&mut *tx)
        .await?;
    for row in rows {
        if row.try_get("aborted")? {
            let aborted = (row.try_get("connection")?, row.try_get("accepted_at")?);
            settled.aborted.push(aborted);
        } else {
            settled.released.push(row.try_get("connection")?);
        }
    }
    Ok(settled)
}

/// The members aborted behind member `$2` of group `$1`, put back to wait
/// for their turn when that member is resent: due a timeout later (`$3`,
/// in seconds) in case no release comes; audited for `$4`, `$5`.
static REARM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH requeued AS ( \
             UPDATE deliveries SET status = '{waiting}', wait_reason = '{group}', \
                 fail_reason = NULL, next_attempt_at = now() + make_interval(secs => $3), \
                 updated_at = now() \
             WHERE group_id = $1 AND group_order > $2 AND status = '{failed}' \
               AND fail_reason = '{aborted}' \
             RETURNING id, next_attempt_at) \
         INSERT INTO delivery_events (delivery_id, kind, from_status, to_status, reason, until, \
             actor, operator) \
         SELECT id, '{requeued}', '{failed}', '{waiting}', \
             'the member it waited behind was resent', next_attempt_at, $4, $5 \
         FROM requeued",
        waiting = DeliveryStatus::WaitForSending,
        group = WaitReason::Group,
        failed = DeliveryStatus::Failed,
        aborted = FailReason::GroupAborted,
        requeued = EventKind::Requeued,
    )
});

/// Puts the members aborted behind member `order` of `group` back to wait
/// for their turn (see [`REARM`]), for `by`; returns how many.
pub(super) async fn rearm(
    tx: &mut PgConnection,
    group: &str,
    order: i32,
    timeout: Duration,
    by: By<'_>,
) -> Result<u64, StorageError> {
    let done = sqlx::query(REARM.as_str())
        .bind(group)
        .bind(order)
        .bind(timeout.as_secs_f64())
        .bind(by.actor.as_str())
        .bind(by.operator)
        .execute(&mut *tx)
        .await?;
    Ok(done.rows_affected())
}

impl Store {
    /// What group `group` says of its member `order`, now.
    pub async fn group_standing(&self, group: &str, order: u32) -> Result<Standing, StorageError> {
        let order = i32::try_from(order).unwrap_or(i32::MAX);
        let row = sqlx::query(
            "SELECT (SELECT status FROM deliveries WHERE group_id = $1 AND group_order = $2 - 1 \
                     ORDER BY status = $3 DESC LIMIT 1) AS predecessor, \
                    EXISTS (SELECT 1 FROM deliveries WHERE group_id = $1 AND group_order < $2 \
                     AND status = $4) AS earlier_failed",
        )
        .bind(group)
        .bind(order)
        .bind(DeliveryStatus::Success.as_str())
        .bind(DeliveryStatus::Failed.as_str())
        .fetch_one(&self.pool)
        .await?;
        let predecessor: Option<String> = row.try_get("predecessor")?;
        let predecessor = match predecessor {
            Some(status) => Some(status.parse::<DeliveryStatus>().map_err(|_| {
                StorageError::Unstorable(format!("a delivery has the unknown status {status:?}"))
            })?),
            None => None,
        };
        Ok(Standing {
            predecessor,
            earlier_failed: row.try_get("earlier_failed")?,
        })
    }

    /// Settles `groups` in a transaction of their own (after a change that
    /// committed without their lock, such as the sweeper's expiry).
    pub async fn settle_groups(&self, groups: &[&str]) -> Result<Settled, StorageError> {
        if groups.is_empty() {
            return Ok(Settled::default());
        }
        let mut tx = self.pool.begin().await?;
        lock(&mut tx, groups).await?;
        let settled = settle(&mut tx, groups, By::WORKER).await?;
        tx.commit().await?;
        Ok(settled)
    }
}
