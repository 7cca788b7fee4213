//! The hot path's group-commit writer: accepted sends and outcomes gathered
//! into sets, one statement and one commit each, with an answer per write.

use super::batcher::{BatchError, Batcher};
use crate::domain::DeliveryStatus;
use crate::domain::SendCommand;
use crate::domain::{AttemptRecord, Outcome};
use crate::storage::batch::Accept;
use crate::storage::groups::Settled;
use crate::storage::{AcceptOutcome, Claimed, StorageError, Store};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// One write of the hot path, to be run in a set with others.
pub enum Write {
    Accept(Accept),
    Record(Arc<(Claimed, Outcome)>),
}

/// The answer to one [`Write`], of the same kind.
pub enum Written {
    Accepted(AcceptOutcome),
    Recorded(Option<DateTime<Utc>>),
}

/// Accepted sends and outcomes, as sets of both kinds in one statement each
/// (see [`Store::write_set`]).
///
/// A set that gets no answer within [`set_timeout`] fails, and its callers
/// retry on another connection: with one set in flight, a connection to a
/// server that vanished without a reset would otherwise hold every accept
/// and outcome of the worker until TCP gave up, and the sending lease would
/// hand its claims to other workers meanwhile. Every write of a set lands
/// once however often it is retried (see [`Store::write_set`]).
///
/// Each write gets its own answer: a set that fails for the data of one of
/// its rows is split until the rows that can land have landed (see
/// `write_set`).
pub type Writes = Batcher<Write, Result<Written, Arc<StorageError>>, StorageError>;

/// How many rows one set statement carries at most.
pub const MAX_SET: usize = 500;
/// How many sets may be in PostgreSQL at once. One: a set is mostly fixed
/// cost (its round trip, commit and executor start), so while it runs the
/// next one gathers everything that arrives, and at steady rates sets grow
/// instead of splitting in two. PostgreSQL's CPU per delivery was 12–30%
/// lower with one than with two (`herald bench`, 1,500–5,600/s), and the
/// drain's rate the same (docs/performance.md).
pub const SETS_IN_FLIGHT: usize = 1;

/// The accepting side of the shared [`Writes`].
pub struct Accepts(Arc<Writes>);

impl Accepts {
    /// Records a `send` (see [`Store::write_set`]). `token` names this
    /// consumption of the command: the same for each retry of its write.
    /// Claimed as it is recorded if `claim`.
    pub async fn call(
        &self,
        send: Arc<SendCommand>,
        token: uuid::Uuid,
        claim: bool,
    ) -> Result<AcceptOutcome, BatchError<StorageError>> {
        let accept = Accept {
            command: send,
            token,
            claim,
        };
        match self.0.call(Write::Accept(accept)).await? {
            Ok(Written::Accepted(accepted)) => Ok(accepted),
            Ok(Written::Recorded(_)) => Err(BatchError::Stopped),
            Err(err) => Err(BatchError::Failed(err)),
        }
    }
}

/// The recording side of the shared [`Writes`].
pub struct Outcomes(Arc<Writes>);

impl Outcomes {
    /// Records an outcome and its attempt row; the delivery's `accepted_at`,
    /// or `None` where the claim was no longer this worker's.
    pub async fn call(
        &self,
        item: Arc<(Claimed, Outcome)>,
    ) -> Result<Option<DateTime<Utc>>, BatchError<StorageError>> {
        match self.0.call(Write::Record(item)).await? {
            Ok(Written::Recorded(recorded)) => Ok(recorded),
            Ok(Written::Accepted(_)) => Err(BatchError::Stopped),
            Err(err) => Err(BatchError::Failed(err)),
        }
    }
}

/// How long a set may go unanswered: a quarter of the sending lease, at
/// most 10 s, so that an outcome that waited for the set before its own
/// can still land before the lease lets another worker take the claim over
/// (the delivery's budget keeps two of them and a retry for the outcome
/// write: `budget::write_reserve`). A set of 500 rows takes milliseconds.
use crate::domain::budget::set_timeout;

/// `write` unless it takes longer than `limit`.
async fn within<T>(
    limit: Duration,
    write: impl Future<Output = Result<T, StorageError>>,
) -> Result<T, StorageError> {
    tokio::time::timeout(limit, write)
        .await
        .unwrap_or(Err(StorageError::Timeout(limit)))
}

/// The hot path's writer over `store`, with its two sides. A group member
/// an outcome released wakes `sweep_now`, this worker's sweeper, to claim it.
pub fn batchers(
    store: &Store,
    sending_lease: Duration,
    sweep_now: Arc<Notify>,
) -> (Accepts, Outcomes) {
    let store = store.clone();
    let limit = set_timeout(sending_lease);
    let writes = Arc::new(Batcher::spawn(
        MAX_SET,
        SETS_IN_FLIGHT,
        move |writes: Vec<Write>| {
            let (store, sweep_now) = (store.clone(), sweep_now.clone());
            async move {
                let (rows, started) = (writes.len(), std::time::Instant::now());
                let written = write_set(&store, &writes, limit, &sweep_now).await;
                crate::metrics::record_write_set(rows, started.elapsed());
                Ok(written)
            }
        },
    ));
    (Accepts(writes.clone()), Outcomes(writes))
}

type Answer = Result<Written, Arc<StorageError>>;

/// Runs one set: accepts and outcomes together, one statement, one commit,
/// each statement bounded by `limit`, with an answer per write.
///
/// A set that fails for the data of some row (an error that would fail the
/// same way every time) is split in halves until every row that can land
/// has landed; only the row at fault gets the error. An outcome that cannot
/// be stored is stored in a reduced form (see [`reduced`]), so that its
/// delivery leaves `sending` and the lease does not send it again. A
/// transient error is every row's answer: their callers retry.
async fn write_set(
    store: &Store,
    writes: &[Write],
    limit: Duration,
    sweep_now: &Notify,
) -> Vec<Answer> {
    let mut answers: Vec<Option<Answer>> = writes.iter().map(|_| None).collect();
    // Ranges of `writes` still to write, the next one last.
    let mut pending: Vec<std::ops::Range<usize>> = Vec::with_capacity(8);
    pending.push(0..writes.len());
    while let Some(range) = pending.pop() {
        let part = write_part(store, &writes[range.clone()], sweep_now);
        let err = match within(limit, part).await {
            Ok(written) => {
                for (answer, written) in answers[range].iter_mut().zip(written) {
                    *answer = Some(Ok(written));
                }
                continue;
            }
            Err(err) => err,
        };
        if !err.is_transient() && range.len() > 1 {
            let middle = range.start + range.len() / 2;
            pending.push(middle..range.end);
            pending.push(range.start..middle);
            continue;
        }
        if !err.is_transient()
            && let [Write::Record(item)] = &writes[range.clone()]
        {
            tracing::warn!(id = %item.0.id, error = %crate::error_chain(&err),
                "an outcome cannot be stored as it is; storing it without the provider's text");
            let (claim, outcome) = &**item;
            let reduced = reduced(outcome);
            let written = within(
                limit,
                store.write_set(&[], &[(claim, &reduced)], Utc::now()),
            )
            .await;
            answers[range.start] = Some(match written {
                Ok(written) => {
                    settled(&written.settled, sweep_now);
                    Ok(Written::Recorded(
                        written.recorded.into_iter().next().flatten(),
                    ))
                }
                Err(err) => Err(Arc::new(err)),
            });
            continue;
        }
        let err = Arc::new(err);
        for answer in &mut answers[range] {
            *answer = Some(Err(err.clone()));
        }
    }
    answers
        .into_iter()
        .map(|answer| {
            answer.unwrap_or_else(|| {
                Err(Arc::new(StorageError::Unstorable(
                    "no answer for a write of the set".into(),
                )))
            })
        })
        .collect()
}

/// What the outcomes of group members settled: the members aborted are
/// deliveries that ended, and the members released are due now.
fn settled(settled: &Settled, sweep_now: &Notify) {
    for (connection, accepted_at) in &settled.aborted {
        let latency = (Utc::now() - *accepted_at).to_std().ok();
        crate::metrics::record_delivery(connection, DeliveryStatus::Failed.as_str(), latency);
    }
    if !settled.released.is_empty() {
        sweep_now.notify_one();
    }
}

/// An outcome without what a provider said: no message id or status, and
/// a fixed text for its error and reason.
fn reduced(outcome: &Outcome) -> Outcome {
    const UNSTORABLE: &str = "the provider's answer could not be stored";
    Outcome {
        remote_id: None,
        provider_status: None,
        fail_reason: outcome.fail_reason.as_ref().map(|_| UNSTORABLE.to_owned()),
        attempt: outcome.attempt.as_ref().map(|attempt| AttemptRecord {
            error: attempt.error.as_ref().map(|_| UNSTORABLE.to_owned()),
            ..attempt.clone()
        }),
        ..outcome.clone()
    }
}

/// One statement for `writes`: an answer per write, in order.
async fn write_part(
    store: &Store,
    writes: &[Write],
    sweep_now: &Notify,
) -> Result<Vec<Written>, StorageError> {
    let mut sends = Vec::new();
    let mut records = Vec::new();
    for write in writes {
        match write {
            Write::Accept(send) => sends.push(send.clone()),
            Write::Record(item) => records.push((&item.0, &item.1)),
        }
    }
    let written = store.write_set(&sends, &records, Utc::now()).await?;
    settled(&written.settled, sweep_now);
    let mut accepted = written.accepted.into_iter();
    let mut recorded = written.recorded.into_iter();
    Ok(writes
        .iter()
        .filter_map(|write| match write {
            Write::Accept(..) => accepted.next().map(Written::Accepted),
            Write::Record(_) => recorded.next().map(Written::Recorded),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_may_wait_a_quarter_of_the_lease_and_never_more_than_ten_seconds() {
        assert_eq!(
            set_timeout(Duration::from_secs(60)),
            Duration::from_secs(10)
        );
        assert_eq!(
            set_timeout(Duration::from_secs(1)),
            Duration::from_millis(250)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_set_with_no_answer_fails_with_a_timeout_its_callers_retry() {
        let limit = Duration::from_secs(10);
        // Bounded from outside too, so that a `within` that waited forever
        // fails the test instead of hanging it.
        let hung = tokio::time::timeout(
            limit * 2,
            within(limit, std::future::pending::<Result<(), StorageError>>()),
        )
        .await;
        assert!(matches!(hung, Ok(Err(StorageError::Timeout(d))) if d == limit));
        let answered = within(limit, async { Ok::<_, StorageError>(7) }).await;
        assert!(matches!(answered, Ok(7)));
    }
}
