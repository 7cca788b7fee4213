//! The rate's arithmetic: the slots' parameters, what a reservation
//! grants, and the rule itself over random workers, reservations and
//! lateness.

use super::*;
use proptest::prelude::*;

const MS: Micros = 1_000;
const EPS: Micros = 20 * MS;

/// Whether the calls (sorted) keep the rule: every window that starts and
/// ends at a call (the fullest ones) holds at most `burst + rate × T`.
fn keeps_the_rule(calls: &[Micros], rate: f64, burst: u32) -> Result<(), String> {
    for (i, start) in calls.iter().enumerate() {
        for (j, end) in calls.iter().enumerate().skip(i) {
            let count = (j - i + 1) as f64;
            let t = (end - start) as f64 / 1e6;
            if count > f64::from(burst) + rate * t + 1e-9 {
                return Err(format!("{count} calls in {t} s at {start}"));
            }
        }
    }
    Ok(())
}

#[test]
fn the_lateness_comes_out_of_the_burst() {
    // 5/s, burst 1: 200 ms + 20 ms apart, no tolerance.
    let g = Gcra::new(5.0, 1, EPS);
    assert_eq!(
        g,
        Gcra {
            spacing: 220 * MS,
            tolerance: 0
        }
    );
    assert!((g.sustained() - 4.545).abs() < 0.01);
    // 5/s, burst 3: the burst pays the lateness.
    assert_eq!(
        Gcra::new(5.0, 3, EPS),
        Gcra {
            spacing: 200 * MS,
            tolerance: 380 * MS
        }
    );
    // The bench's far limits: 1,000,000/s, burst 1,000 cannot pay 20 ms
    // (it would need 20,001): about 48,000/s.
    let far = Gcra::new(1e6, 1000, EPS);
    assert_eq!(
        far,
        Gcra {
            spacing: 21,
            tolerance: 0
        }
    );
    assert_eq!(far.block(), MAX_BLOCK);
    assert_eq!(
        Gcra::new(1e6, 30_000, EPS),
        Gcra {
            spacing: 1,
            tolerance: 9_999
        }
    );
    // A rate below one a year is taken as one a year.
    assert_eq!(Gcra::new(1e-12, 1, EPS).spacing, 366 * 86_400 * 1_000_000);
}

#[test]
fn low_rates_reserve_a_slot_at_a_time_and_high_ones_in_blocks() {
    assert_eq!(Gcra::new(5.0, 1, EPS).block(), 1);
    assert_eq!(Gcra::new(20.0, 1, EPS).block(), 1);
    assert_eq!(Gcra::new(1000.0, 50, EPS).block(), 50);
}

#[test]
fn a_reservation_takes_the_burst_at_once_then_spaces_its_slots() {
    let g = Gcra::new(5.0, 3, EPS); // 200 ms apart, 380 ms of tolerance
    let now = 1_000_000 * MS;
    let r = g.reserve(0, now, 5, micros(NEAR));
    // 0, 0 (−180 ms, floored), 20, 220, 420 ms after now.
    let at: Vec<Micros> = (0..r.run.count).map(|k| r.run.at(k) - now).collect();
    assert_eq!(at, [0, 0, 20 * MS, 220 * MS, 420 * MS]);
    assert_eq!(r.tat, now + 1000 * MS);
    assert_eq!(r.next_free, now + 620 * MS);
    // Nothing left within 500 ms: none granted, the state unchanged.
    let again = g.reserve(r.tat, now + MS, 5, micros(NEAR));
    assert_eq!((again.run.count, again.tat), (0, r.tat));
    assert_eq!(again.next_free, now + 620 * MS);
    // Idle for long: the whole burst again.
    let later = g.reserve(r.tat, now + 10_000 * MS, 3, micros(NEAR));
    assert_eq!(later.run.at(0), later.run.at(1));
}

#[test]
fn a_slot_is_used_never_before_it_and_at_most_epsilon_after() {
    assert!(!may_use(100, 99, EPS));
    assert!(may_use(100, 100, EPS));
    assert!(may_use(100, 100 + EPS, EPS));
    assert!(!may_use(100, 101 + EPS, EPS));
}

#[test]
fn a_slot_spent_late_can_break_the_rule_over_a_short_interval() {
    // Why the gate checks the lateness: 5/s, burst 1, slots 220 ms apart;
    // the first used 150 ms late meets the second 70 ms later.
    let g = Gcra::new(5.0, 1, EPS);
    let r = g.reserve(0, 0, 2, micros(NEAR));
    let (a, b) = (r.run.at(0), r.run.at(1));
    assert!(keeps_the_rule(&[a + EPS, b], 5.0, 1).is_ok());
    assert!(keeps_the_rule(&[a + 150 * MS, b], 5.0, 1).is_err());
}

#[test]
fn a_deferred_delivery_waits_for_the_rate_using_no_attempt() {
    let now = 1_000_000 * MS;
    let until = due_before(now + 2_000 * MS, now);
    assert_eq!(until, time_of(now + 1_750 * MS));
    assert_eq!(
        due_before(now + 100 * MS, now),
        time_of(now),
        "not before now"
    );
    let o = deferred(until);
    assert_eq!(o.wait_reason, Some(WaitReason::Rate));
    assert_eq!(o.next_attempt_at, Some(until));
    assert!(o.refund_attempt && o.attempt.is_none());
}

/// One step of a worker: after `dt`, worker `worker` reserves up to
/// `want` slots into its book (when `reserve`), then takes `takes` slots
/// from its book and calls at each between its time (or now, if later)
/// and ε after it, `late` (a fraction) of the way.
#[derive(Debug, Clone)]
struct Step {
    dt: Micros,
    worker: usize,
    reserve: bool,
    want: u64,
    takes: usize,
    late: Vec<u16>,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0i64..300_000,
        0usize..3,
        proptest::bool::weighted(0.7),
        1u64..8,
        0usize..8,
        proptest::collection::vec(0u16..=1000, 8),
    )
        .prop_map(|(dt, worker, reserve, want, takes, late)| Step {
            dt,
            worker,
            reserve,
            want,
            takes,
            late,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Three workers reserve runs from the shared state at random times
    /// and call at the slots their books hand out, each between its time
    /// and ε after it: every interval holds at most `burst + rate × T`
    /// calls.
    #[test]
    fn every_interval_keeps_the_rule(
        rate in prop_oneof![0.5f64..20.0, 20.0f64..2_000.0, 2_000.0f64..200_000.0],
        burst in prop_oneof![Just(1u32), 1u32..5, 5u32..200],
        lateness in 1i64..=50_000,
        horizon in prop_oneof![Just(micros(NEAR)), 0i64..5_000_000],
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let g = Gcra::new(rate, burst, lateness);
        prop_assert!(g.sustained() <= rate * (1.0 + 1e-9) + 1e-9);
        let (mut tat, mut now) = (0, 1_000_000_000);
        let mut books = vec![crate::domain::slots::SlotBook::default(); 3];
        let mut calls = Vec::new();
        for s in &steps {
            now += s.dt;
            let book = &mut books[s.worker];
            if s.reserve {
                let r = g.reserve(tat, now, s.want, horizon);
                prop_assert!(r.tat >= tat, "the state never goes back");
                tat = r.tat;
                book.add(r.run);
            }
            for i in 0..s.takes {
                let Some(slot) = book.take(now) else { break };
                // The gate: from the slot's time (or now), at most ε after it.
                let from = slot.max(now);
                let last = slot + lateness;
                if from > last {
                    continue; // missed: given up, not spent late
                }
                let call = from + (last - from) * i64::from(s.late[i]) / 1000;
                prop_assert!(may_use(slot, call, lateness));
                calls.push(call);
            }
        }
        calls.sort_unstable();
        if let Err(why) = keeps_the_rule(&calls, rate, burst) {
            prop_assert!(false, "{} (rate {}, burst {}, {:?})", why, rate, burst, g);
        }
    }

    /// Slots are granted within the horizon and never before the
    /// reservation.
    #[test]
    fn a_run_stays_within_its_horizon(
        rate in 0.5f64..100_000.0, burst in 1u32..100,
        tat in 0i64..3_000_000, now in 0i64..3_000_000, want in 1u64..2000,
    ) {
        let g = Gcra::new(rate, burst, EPS);
        let r = g.reserve(tat, now, want, micros(NEAR));
        prop_assert!(r.run.count <= want);
        for k in 0..r.run.count {
            prop_assert!(r.run.at(k) >= now && r.run.at(k) <= now + micros(NEAR));
        }
        prop_assert!(r.next_free >= now);
        if r.run.count < want {
            prop_assert!(r.next_free > now + micros(NEAR) - g.spacing);
        }
    }
}
