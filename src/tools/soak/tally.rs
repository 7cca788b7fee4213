//! What the soak counts: a sample each reporting interval, and the final
//! accounting of every command it published. Pure: the numbers come in,
//! the verdict goes out, so that the counting itself is tested.

use serde::Serialize;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// One worker slot at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerSample {
    pub slot: usize,
    pub pid: Option<u32>,
    pub rss_mb: Option<f64>,
    pub open_fds: Option<usize>,
}

/// The state of the run at the end of one reporting interval; counts are
/// totals since the start.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since publishing started.
    pub at_seconds: f64,
    /// Commands the broker confirmed.
    pub published: u64,
    /// Deliveries `success`.
    pub delivered: i64,
    /// Deliveries `waitForSending` (a retry, or taken in without room).
    pub waiting: i64,
    /// Deliveries `sending`: in a worker's hands, or left by a killed one
    /// until the lease takes them back.
    pub sending: i64,
    pub failed: i64,
    /// Commands in the dead-letter queue.
    pub dead_lettered: u32,
    /// Published with no delivery row yet: in RabbitMQ or being accepted.
    pub not_taken_in: i64,
    /// Provider successes beyond each message's first: the message reached
    /// the provider twice.
    pub duplicate_calls: u64,
    /// Provider calls beyond each message's first that did not succeed:
    /// retries after a 503, a hang, a cut.
    pub retried_calls: u64,
    pub kills: u64,
    /// The size of the soak's database on disk.
    pub database_mb: Option<f64>,
    /// The faults that started in this interval.
    pub faults: Vec<String>,
    pub workers: Vec<WorkerSample>,
}

/// How a delivery row stands at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Delivered,
    Failed,
    /// `waitForSending` or `sending`: not settled by the drain's deadline.
    Unsettled,
}

/// The verdict on every published command, after the drain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Accounting {
    pub published: u64,
    pub delivered: u64,
    pub failed: u64,
    pub unsettled: u64,
    pub dead_lettered: u64,
    /// Published, confirmed, and in no delivery row and not dead-lettered.
    pub lost: u64,
    /// Up to ten of them, to look for in the logs.
    pub lost_examples: Vec<Uuid>,
    /// `success` in PostgreSQL, but the provider never answered a call
    /// for it with success: lost just the same.
    pub delivered_without_call: u64,
}

impl Accounting {
    /// Something was lost: the run fails.
    pub fn lost_any(&self) -> bool {
        self.lost > 0 || self.delivered_without_call > 0
    }
}

/// Accounts for each of `published`: its delivery row's standing in
/// `rows`, else whether it is among `dead` (the ids read from the
/// dead-letter queue), else lost. `reached(id)` says whether the provider
/// took the message at least once.
pub fn account(
    published: &[Uuid],
    rows: &HashMap<Uuid, Standing>,
    dead: &HashSet<Uuid>,
    reached: &dyn Fn(&Uuid) -> bool,
) -> Accounting {
    let mut tally = Accounting {
        published: published.len() as u64,
        ..Accounting::default()
    };
    for id in published {
        match rows.get(id) {
            Some(Standing::Delivered) => {
                tally.delivered += 1;
                if !reached(id) {
                    tally.delivered_without_call += 1;
                }
            }
            Some(Standing::Failed) => tally.failed += 1,
            Some(Standing::Unsettled) => tally.unsettled += 1,
            None if dead.contains(id) => tally.dead_lettered += 1,
            None => {
                tally.lost += 1;
                if tally.lost_examples.len() < 10 {
                    tally.lost_examples.push(*id);
                }
            }
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<Uuid> {
        (0..n).map(|_| Uuid::new_v4()).collect()
    }

    #[test]
    fn a_published_id_with_no_row_and_no_dead_letter_is_lost() {
        let published = ids(6);
        let rows = HashMap::from([
            (published[0], Standing::Delivered),
            (published[1], Standing::Failed),
            (published[2], Standing::Unsettled),
            // A row of a command that was not confirmed counts for nothing.
            (Uuid::new_v4(), Standing::Delivered),
        ]);
        let dead = HashSet::from([published[3]]);
        let tally = account(&published, &rows, &dead, &|_| true);
        assert_eq!(
            tally,
            Accounting {
                published: 6,
                delivered: 1,
                failed: 1,
                unsettled: 1,
                dead_lettered: 1,
                lost: 2,
                lost_examples: vec![published[4], published[5]],
                delivered_without_call: 0,
            }
        );
        assert!(tally.lost_any());
    }

    #[test]
    fn nothing_is_lost_when_every_id_is_accounted_for() {
        let published = ids(3);
        let rows: HashMap<_, _> = published
            .iter()
            .map(|id| (*id, Standing::Delivered))
            .collect();
        let tally = account(&published, &rows, &HashSet::new(), &|_| true);
        assert_eq!((tally.delivered, tally.lost), (3, 0));
        assert!(!tally.lost_any());
    }

    #[test]
    fn a_success_the_provider_never_took_is_lost_too() {
        let published = ids(2);
        let rows: HashMap<_, _> = published
            .iter()
            .map(|id| (*id, Standing::Delivered))
            .collect();
        let first = published[0];
        let tally = account(&published, &rows, &HashSet::new(), &|id| *id != first);
        assert_eq!((tally.delivered, tally.delivered_without_call), (2, 1));
        assert!(tally.lost_any());
    }
}
