//! A connection's rate (`rate_per_second`, `burst`), as send slots. The
//! rule (contract §2): over any interval of T seconds at most
//! `burst + rate × T` calls reach the provider, all workers together.
//!
//! Calls are made at slots that follow one generic cell rate algorithm
//! (GCRA) per connection, shared in PostgreSQL: its state is the
//! theoretical arrival time (`tat`) of the next slot, and a worker
//! reserves a [`Run`] of slots from it in one statement ([`Gcra::reserve`]
//! is that statement's arithmetic). A slot is used never before its time
//! and at most [`LATENESS`] after it ([`may_use`]); a slot missed is given
//! up, never spent late. The lateness comes out of the burst: with slots
//! `I` apart and a tolerance `τ`, a window of T seconds of calls holds the
//! slots of a window of `T + ε`, at most `1 + ⌊(T + ε + τ) / I⌋` of them,
//! and [`Gcra::new`] picks `I` and `τ` that keep that within the rule.
//!
//! Times are whole microseconds since the Unix epoch ([`Micros`]),
//! PostgreSQL's resolution, rounded so that the rule holds.

use super::outcome::Outcome;
use super::reasons::WaitReason;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Microseconds since the Unix epoch (a time) or a span of them.
pub type Micros = i64;

/// ε: how long after its time a slot may still be used. It covers what
/// comes after the check: a timer waking late, the request on its way.
pub const LATENESS: Duration = Duration::from_millis(20);
/// How far ahead a slot is near: a delivery waits for a near slot in
/// memory, and only reserves slots this near (the reservation's horizon).
/// Farther off, it waits in the table. It is longer than the sweeper's
/// tick (250 ms), so a delivery due [`LEAD`] before its slot is claimed
/// while the slot is still near.
pub const NEAR: Duration = Duration::from_millis(500);
/// How long before its expected slot a delivery that waits in the table is
/// due again: the sweeper's tick, so that it is claimed before the slot.
pub const LEAD: Duration = Duration::from_millis(250);
/// The longest span of slots one reservation asks for.
const BLOCK_SPAN: Micros = 50_000;
/// The most slots one reservation asks for.
pub const MAX_BLOCK: u64 = 1024;
/// The longest spacing or tolerance kept (a year): a rate slower than one
/// call a year is taken as one a year, which is stricter.
const LONGEST: Micros = 366 * 86_400 * 1_000_000;

/// A span as [`Micros`].
pub fn micros(span: Duration) -> Micros {
    Micros::try_from(span.as_micros()).unwrap_or(Micros::MAX)
}

/// A time as [`Micros`].
pub fn micros_of(time: DateTime<Utc>) -> Micros {
    time.timestamp_micros()
}

/// [`Micros`] as a time.
pub fn time_of(at: Micros) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The slots' parameters: slots at least `spacing` apart, with a burst of
/// `tolerance` (both in microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    pub spacing: Micros,
    pub tolerance: Micros,
}

impl Gcra {
    /// The slots for `rate` calls a second with `burst`, each used at most
    /// `lateness` after its time. Where the burst can pay the lateness
    /// (`(burst - 1) / rate ≥ ε`): spacing `1 / rate`, tolerance
    /// `(burst - 1) / rate - ε`. Where it cannot: no tolerance, and a
    /// spacing of `(1 / rate + ε) / burst` (`1 / rate + ε` for a burst of
    /// 1), the least that keeps the rule for every T; the sustained rate
    /// is then below `rate`. Spacing rounds up and tolerance down.
    pub fn new(rate: f64, burst: u32, lateness: Micros) -> Gcra {
        let interval = 1e6 / rate;
        let burst = f64::from(burst.max(1));
        let lateness_f = lateness as f64;
        let slack = (burst - 1.0) * interval - lateness_f;
        let (spacing, tolerance) = if slack >= 0.0 {
            (interval.ceil(), slack.floor())
        } else {
            (((interval + lateness_f) / burst).ceil(), 0.0)
        };
        // `as` saturates; a year is the most either may be.
        Gcra {
            spacing: (spacing as Micros).clamp(1, LONGEST),
            tolerance: (tolerance as Micros).clamp(0, LONGEST),
        }
    }

    /// The slots of a connection's limits, if it has a rate.
    pub fn of(limits: &super::Limits) -> Option<Gcra> {
        let rate = limits.rate_per_second?;
        Some(Gcra::new(rate, limits.burst, micros(LATENESS)))
    }

    /// The sustained rate the slots allow, per second.
    pub fn sustained(&self) -> f64 {
        1e6 / self.spacing as f64
    }

    /// How many slots one reservation asks for: those of
    /// `BLOCK_SPAN` (50 ms), at least one, at most [`MAX_BLOCK`]. One
    /// at a time up to 20/s (a slot reserved and not used is rate lost,
    /// not more), so that a statement serves up to 1,024 calls at high
    /// rates.
    pub fn block(&self) -> u64 {
        u64::try_from(BLOCK_SPAN / self.spacing)
            .unwrap_or(1)
            .clamp(1, MAX_BLOCK)
    }

    /// A reservation of up to `want` slots at `now` from the shared state
    /// `tat`, none later than `now + horizon`: the arithmetic of
    /// `reserve_rate_slots` (the migration `connection_rate`). Slot k
    /// (from 0) is at `max(now, max(tat, now) - τ + k × spacing)`: the
    /// GCRA's answer to k + 1 calls asked for at `now`.
    pub fn reserve(&self, tat: Micros, now: Micros, want: u64, horizon: Micros) -> Reservation {
        let start = tat.max(now);
        let first = start.saturating_sub(self.tolerance);
        let reach = now.saturating_add(horizon);
        let within = if first > reach {
            0
        } else {
            u64::try_from((reach - first) / self.spacing).map_or(0, |n| n.saturating_add(1))
        };
        let count = want.min(within);
        let count_us = Micros::try_from(count).unwrap_or(Micros::MAX);
        let tat = start.saturating_add(count_us.saturating_mul(self.spacing));
        Reservation::new(self, now, first, count, tat)
    }
}

/// What one reservation granted, and what it says of the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub run: Run,
    /// The shared state after it.
    pub tat: Micros,
    /// The earliest a slot not reserved yet can be.
    pub next_free: Micros,
}

impl Reservation {
    /// A reservation at `now` of `count` slots from `first`, which left
    /// the state at `tat`.
    pub fn new(gcra: &Gcra, now: Micros, first: Micros, count: u64, tat: Micros) -> Self {
        Reservation {
            run: Run {
                floor: now,
                first,
                spacing: gcra.spacing,
                count,
            },
            tat,
            next_free: tat.saturating_sub(gcra.tolerance).max(now),
        }
    }
}

/// Slots reserved together: slot k (from 0) is at
/// `max(floor, first + k × spacing)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub floor: Micros,
    pub first: Micros,
    pub spacing: Micros,
    pub count: u64,
}

impl Run {
    /// A single slot.
    pub fn one(at: Micros) -> Run {
        Run {
            floor: at,
            first: at,
            spacing: 1,
            count: 1,
        }
    }

    /// The time of slot `k`.
    pub fn at(&self, k: u64) -> Micros {
        let k = Micros::try_from(k).unwrap_or(Micros::MAX);
        self.floor
            .max(self.first.saturating_add(k.saturating_mul(self.spacing)))
    }

    /// The first slot from `from` on whose time is `earliest` or later.
    pub fn first_from(&self, from: u64, earliest: Micros) -> Option<u64> {
        let k = if self.at(from) >= earliest {
            from
        } else {
            // at(k) = first + k × spacing here (the floor is behind).
            let behind = earliest.saturating_sub(self.first);
            let k = behind.saturating_add(self.spacing - 1) / self.spacing;
            u64::try_from(k).unwrap_or(u64::MAX).max(from)
        };
        (k < self.count).then_some(k)
    }
}

/// Whether a call at `now` may use the slot at `slot`: never before its
/// time, never later than `lateness` after it.
pub fn may_use(slot: Micros, now: Micros, lateness: Micros) -> bool {
    now >= slot && now - slot <= lateness
}

/// When a delivery whose slot is expected at `slot` is due again: [`LEAD`]
/// before it, not before `now`.
pub fn due_before(slot: Micros, now: Micros) -> DateTime<Utc> {
    time_of(slot.saturating_sub(micros(LEAD)).max(now))
}

/// A delivery that got no near slot of its connection's rate: it waits,
/// with `wait_reason` `rate`, until `until`, using no attempt.
pub fn deferred(until: DateTime<Utc>) -> Outcome {
    Outcome::wait(until, Some(WaitReason::Rate)).refunded()
}

#[cfg(test)]
#[path = "rate_tests.rs"]
mod tests;
