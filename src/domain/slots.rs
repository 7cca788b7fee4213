//! The send slots one worker holds for one connection's rate, and what it
//! knows of the others' (see [`super::rate`]). A pure book: the worker
//! keeps it behind a lock and feeds it PostgreSQL's answers and the clock.
//!
//! A delivery takes the earliest slot it can still use; a slot whose
//! lateness would run out before the call could leave is dropped, never
//! handed out. When PostgreSQL had no slot within [`NEAR`], the book says
//! so until a reservation could get one again, and spreads the deliveries
//! that wait meanwhile over the slots to come, a spacing apart.

use super::rate::{LATENESS, Micros, NEAR, Run, micros};

/// What a slot must have left of its lateness when it is taken: the
/// delivery still reaches its call (a quota, a token) in that time.
const MARGIN: std::time::Duration = std::time::Duration::from_millis(10);

/// One connection's slots in one worker.
#[derive(Debug, Default, Clone)]
pub struct SlotBook {
    runs: Vec<Held>,
    /// Until when PostgreSQL has no slot within [`NEAR`] to reserve.
    full_until: Option<Micros>,
    /// The earliest slot PostgreSQL could still grant, as last told.
    next_free: Micros,
    /// The slot expected for the last delivery sent to wait in the table.
    cursor: Micros,
}

#[derive(Debug, Clone)]
struct Held {
    run: Run,
    /// Its first slot not taken yet.
    next: u64,
}

impl SlotBook {
    /// Adds the slots of a reservation.
    pub fn add(&mut self, run: Run) {
        if run.count > 0 {
            self.runs.push(Held { run, next: 0 });
        }
    }

    /// Takes the earliest slot a call at `now` can still use (one with at
    /// least `MARGIN` (10 ms) of its lateness left) that is near (at most
    /// [`NEAR`] ahead). Slots that can no longer be used are dropped.
    pub fn take(&mut self, now: Micros) -> Option<Micros> {
        let earliest = now.saturating_sub(micros(LATENESS) - micros(MARGIN));
        self.runs
            .retain_mut(|held| match held.run.first_from(held.next, earliest) {
                Some(k) => {
                    held.next = k;
                    true
                }
                None => false,
            });
        let (i, at) = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, held)| (i, held.run.at(held.next)))
            .min_by_key(|(_, at)| *at)?;
        if at > now.saturating_add(micros(NEAR)) {
            return None;
        }
        let held = &mut self.runs[i];
        held.next += 1;
        if held.next >= held.run.count {
            self.runs.swap_remove(i);
        }
        Some(at)
    }

    /// Keeps for another call a slot taken and not used.
    pub fn give_back(&mut self, at: Micros) {
        self.add(Run::one(at));
    }

    /// How many slots the book holds, usable or not.
    pub fn held(&self) -> u64 {
        self.runs.iter().map(|h| h.run.count - h.next).sum()
    }

    /// Notes that PostgreSQL had no slot within [`NEAR`]: the next is at
    /// `next_free`, and a reservation gets nothing until it is near.
    pub fn note_full(&mut self, next_free: Micros) {
        self.full_until = Some(next_free.saturating_sub(micros(NEAR)));
        self.next_free = next_free;
    }

    /// Whether PostgreSQL is known to have no near slot at `now`.
    pub fn is_full(&self, now: Micros) -> bool {
        self.full_until.is_some_and(|until| now < until)
    }

    /// The slot to expect for a delivery sent at `now` to wait in the
    /// table: the first free one, or a `spacing` after the one the last
    /// such delivery expects.
    pub fn defer(&mut self, now: Micros, spacing: Micros) -> Micros {
        let at = self
            .cursor
            .saturating_add(spacing)
            .max(self.next_free)
            .max(now);
        self.cursor = at;
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Micros = 1_000;

    fn run(floor: Micros, first: Micros, spacing: Micros, count: u64) -> Run {
        Run {
            floor,
            first,
            spacing,
            count,
        }
    }

    #[test]
    fn slots_go_in_order_and_once() {
        let mut book = SlotBook::default();
        book.add(run(0, 0, 100 * MS, 3));
        assert_eq!(book.take(0), Some(0));
        assert_eq!(book.take(0), Some(100 * MS));
        assert_eq!(book.take(0), Some(200 * MS));
        assert_eq!(book.take(0), None);
        assert_eq!(book.held(), 0);
    }

    #[test]
    fn a_slot_too_late_to_use_is_dropped_and_a_far_one_kept() {
        let mut book = SlotBook::default();
        book.add(run(0, 0, 5 * MS, 4)); // 0, 5, 10, 15 ms
        // At 22 ms, 0, 5 and 10 have under 10 ms of their 20 left.
        assert_eq!(book.take(22 * MS), Some(15 * MS));
        let mut far = SlotBook::default();
        far.add(run(0, 0, 1, 1));
        far.give_back(2_000 * MS);
        far.take(0);
        assert_eq!(far.take(0), None, "two seconds ahead is not near");
        assert_eq!(far.held(), 1, "kept for later");
        assert_eq!(far.take(1_600 * MS), Some(2_000 * MS));
    }

    #[test]
    fn a_slot_given_back_is_taken_first_when_it_is_earliest() {
        let mut book = SlotBook::default();
        book.add(run(0, 0, 100 * MS, 2));
        let taken = book.take(0).expect("a slot");
        book.give_back(taken);
        assert_eq!(book.take(0), Some(0));
        assert_eq!(book.take(0), Some(100 * MS));
    }

    #[test]
    fn a_full_connection_defers_a_spacing_apart_from_its_next_free_slot() {
        let mut book = SlotBook::default();
        book.note_full(2_000 * MS);
        assert!(book.is_full(1_000 * MS));
        assert!(!book.is_full(1_500 * MS), "near again");
        assert_eq!(book.defer(1_000 * MS, 200 * MS), 2_000 * MS);
        assert_eq!(book.defer(1_000 * MS, 200 * MS), 2_200 * MS);
        // Long after, the cursor is behind the clock.
        assert_eq!(book.defer(9_000 * MS, 200 * MS), 9_000 * MS);
    }

    proptest! {
        /// Whatever is added and taken when, a slot is handed out once
        /// (unless given back), with at least the margin of its lateness
        /// left, and never more than NEAR ahead.
        #[test]
        fn every_slot_is_handed_out_once_and_in_time(
            steps in proptest::collection::vec(
                (0i64..40_000, 0u64..4, 1i64..30_000, 0i64..20_000, 0u8..4),
                1..60,
            ),
        ) {
            let mut book = SlotBook::default();
            let mut now: Micros = 0;
            let mut out = std::collections::HashSet::new();
            let mut added = Vec::new();
            for (dt, count, spacing, ahead, takes) in steps {
                now += dt;
                let r = run(now, now + ahead - 10_000, spacing, count);
                added.extend((0..count).map(|k| r.at(k)));
                book.add(r);
                for _ in 0..takes {
                    if let Some(at) = book.take(now) {
                        prop_assert!(at + micros(LATENESS) - micros(MARGIN) >= now);
                        prop_assert!(at <= now + micros(NEAR));
                        prop_assert!(added.contains(&at));
                        // Runs may share a time; count each handed out.
                        let n = out.len();
                        out.insert((at, n));
                        let same = out.iter().filter(|(t, _)| *t == at).count();
                        let avail = added.iter().filter(|t| **t == at).count();
                        prop_assert!(same <= avail, "slot {} handed out twice", at);
                    }
                }
            }
        }
    }
}
