//! What the soak prints: a header, one line per interval, and the
//! accounting at the end; or, with `--json`, all of it as one object
//! (the lines then go to stderr as it runs).

use super::tally::{Accounting, Sample};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Report {
    pub rate: f64,
    pub workers: usize,
    pub seconds: f64,
    pub fault_every_seconds: u64,
    pub samples: Vec<Sample>,
    /// Every fault and unexpected exit, with its time in seconds.
    pub events: Vec<(f64, String)>,
    pub kills: u64,
    pub terms: u64,
    pub cuts: u64,
    pub outages: u64,
    pub unexpected_exits: u64,
    /// Seconds from the end of publishing until every delivery settled,
    /// or `null` when the drain's deadline came first.
    pub drained_in_seconds: Option<f64>,
    pub accounting: Accounting,
    /// Provider successes beyond each message's first, and calls that
    /// were retries, over the whole run.
    pub duplicate_calls: u64,
    pub retried_calls: u64,
    pub unconfirmed: u64,
}

pub fn header() -> String {
    format!(
        "{:>6} {:>9} {:>9} {:>7} {:>7} {:>6} {:>5} {:>6} {:>4} {:>7} {:>5} {:>6}  workers: RSS MB/fds    faults",
        "min",
        "published",
        "delivered",
        "waiting",
        "sending",
        "failed",
        "dead",
        "queued",
        "dup",
        "retried",
        "kills",
        "db MB"
    )
}

pub fn line(sample: &Sample) -> String {
    let workers: Vec<String> = sample
        .workers
        .iter()
        .map(|w| {
            let rss = w.rss_mb.map_or_else(|| "-".into(), |mb| format!("{mb:.0}"));
            let fds = w.open_fds.map_or_else(|| "-".into(), |n| n.to_string());
            format!("w{} {rss}/{fds}", w.slot)
        })
        .collect();
    format!(
        "{:>6.1} {:>9} {:>9} {:>7} {:>7} {:>6} {:>5} {:>6} {:>4} {:>7} {:>5} {:>6}  {}  {}",
        sample.at_seconds / 60.0,
        sample.published,
        sample.delivered,
        sample.waiting,
        sample.sending,
        sample.failed,
        sample.dead_lettered,
        sample.not_taken_in,
        sample.duplicate_calls,
        sample.retried_calls,
        sample.kills,
        sample
            .database_mb
            .map_or_else(|| "-".into(), |mb| format!("{mb:.0}")),
        workers.join("  "),
        sample.faults.join("; "),
    )
}

pub fn summary(report: &Report) -> String {
    let a = &report.accounting;
    let drained = report.drained_in_seconds.map_or_else(
        || "not drained by the deadline".into(),
        |s| format!("drained {s:.0}s after publishing stopped"),
    );
    format!(
        "soak: {published} published at {rate}/s over {minutes:.1} min with {workers} workers, {drained}\n\
         soak: delivered {delivered}, failed {failed}, unsettled {unsettled}, dead-lettered {dead}, \
         LOST {lost} (success with no provider call: {without})\n\
         soak: duplicate calls {dup} (kills {kills}, SIGTERMs {terms}), retried calls {retried}, \
         cuts {cuts}, outages {outages}, workers that exited on their own {exits}, unconfirmed publishes {unconfirmed}{examples}",
        published = a.published,
        rate = report.rate,
        minutes = report.seconds / 60.0,
        workers = report.workers,
        delivered = a.delivered,
        failed = a.failed,
        unsettled = a.unsettled,
        dead = a.dead_lettered,
        lost = a.lost,
        without = a.delivered_without_call,
        dup = report.duplicate_calls,
        kills = report.kills,
        terms = report.terms,
        retried = report.retried_calls,
        cuts = report.cuts,
        outages = report.outages,
        exits = report.unexpected_exits,
        unconfirmed = report.unconfirmed,
        examples = if a.lost_examples.is_empty() {
            String::new()
        } else {
            let ids: Vec<String> = a.lost_examples.iter().map(|id| id.to_string()).collect();
            format!("\nsoak: lost, for example: {}", ids.join(", "))
        },
    )
}
