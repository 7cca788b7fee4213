//! What the simulator received: the recent requests in order, per body
//! `id` how many sends arrived and how many were answered with success, and
//! the span of each call (its arrival and the end of its answer), so that a
//! test can tell whether two calls of one message overlapped.
//!
//! The request log and the spans are bounded (a benchmark sends millions);
//! the counters are kept for every id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

/// Requests kept in the log by default; older ones are dropped first.
pub const DEFAULT_RECORD_LIMIT: usize = 100_000;

/// One send request as the simulator received it (faulted ones included).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Received {
    pub provider: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The JSON body; a body that is not JSON is kept as a string.
    pub body: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// One call of a message, from its request's arrival to the end of its
/// answer, or to the moment its caller went away (the server then drops the
/// handler) when that came first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// The body's message id.
    pub id: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
}

/// A request's headers, as [`Received`] keeps them.
pub fn header_pairs(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// Totals since start (or the last reset), as `GET /_sim/stats` gives them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Send requests received.
    pub requests: u64,
    /// Send requests answered with success.
    pub accepted: u64,
}

/// Over every id counted: how many ids, and the calls and successes beyond
/// each one's first. A success beyond the first is a message that reached
/// the provider twice (for Konnek, one it took as a duplicate and did not
/// send again); a call beyond the first that did not succeed was a retry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Repeats {
    pub ids: u64,
    pub calls_beyond_first: u64,
    pub successes_beyond_first: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    sends: usize,
    accepted: usize,
    /// Sends a provider that holds one message per id did not send again.
    duplicates: usize,
}

#[derive(Debug)]
pub struct Journal {
    recent: VecDeque<Received>,
    calls: VecDeque<Call>,
    limit: usize,
    by_id: HashMap<String, Counts>,
    stats: Stats,
}

impl Default for Journal {
    fn default() -> Self {
        Journal {
            recent: VecDeque::new(),
            calls: VecDeque::new(),
            limit: DEFAULT_RECORD_LIMIT,
            by_id: HashMap::new(),
            stats: Stats::default(),
        }
    }
}

impl Journal {
    /// Logs one request; `id` is its body's message id, when it has one.
    /// `received` is only built when the log keeps requests.
    pub fn record(&mut self, id: Option<&str>, received: impl FnOnce() -> Received) {
        self.stats.requests += 1;
        if let Some(id) = id {
            self.bump(id, |c| c.sends += 1);
        }
        if self.limit == 0 {
            return;
        }
        if self.recent.len() >= self.limit {
            self.recent.pop_front();
        }
        self.recent.push_back(received());
    }

    /// Whether requests and calls are logged (a limit above 0).
    pub fn keeps_log(&self) -> bool {
        self.limit > 0
    }

    /// Logs a call that ended (answered, or its caller gone).
    pub fn end_call(&mut self, call: Call) {
        if self.limit == 0 {
            return;
        }
        if self.calls.len() >= self.limit {
            self.calls.pop_front();
        }
        self.calls.push_back(call);
    }

    /// The calls that ended, in the order they ended.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.iter().cloned().collect()
    }

    /// Counts a success answered to the request carrying `id`.
    pub fn accept(&mut self, id: Option<&str>) {
        self.stats.accepted += 1;
        if let Some(id) = id {
            self.bump(id, |c| c.accepted += 1);
        }
    }

    /// Counts a send of `id` answered but not sent again: the provider holds
    /// a message of that id already.
    pub fn drop_duplicate(&mut self, id: &str) {
        self.bump(id, |c| c.duplicates += 1);
    }

    /// Updates the counters of `id`, allocating its key only the first time.
    fn bump(&mut self, id: &str, change: impl FnOnce(&mut Counts)) {
        match self.by_id.get_mut(id) {
            Some(counts) => change(counts),
            None => {
                let mut counts = Counts::default();
                change(&mut counts);
                self.by_id.insert(id.to_owned(), counts);
            }
        }
    }

    pub fn sends_of(&self, id: &str) -> usize {
        self.by_id.get(id).map_or(0, |c| c.sends)
    }

    pub fn accepted_of(&self, id: &str) -> usize {
        self.by_id.get(id).map_or(0, |c| c.accepted)
    }

    pub fn duplicates_of(&self, id: &str) -> usize {
        self.by_id.get(id).map_or(0, |c| c.duplicates)
    }

    pub fn repeats(&self) -> Repeats {
        let mut repeats = Repeats::default();
        for counts in self.by_id.values() {
            repeats.ids += 1;
            repeats.calls_beyond_first += counts.sends.saturating_sub(1) as u64;
            let successes = counts.accepted + counts.duplicates;
            repeats.successes_beyond_first += successes.saturating_sub(1) as u64;
        }
        repeats
    }

    pub fn requests(&self) -> Vec<Received> {
        self.recent.iter().cloned().collect()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Keeps at most `limit` requests in the log (0: log none).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
        while self.recent.len() > limit {
            self.recent.pop_front();
        }
        while self.calls.len() > limit {
            self.calls.pop_front();
        }
    }

    pub fn clear(&mut self) {
        self.recent.clear();
        self.calls.clear();
        self.by_id.clear();
        self.stats = Stats::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_count_calls_and_successes_beyond_each_ids_first() {
        let mut journal = Journal::default();
        journal.set_limit(0);
        let unused = || unreachable!("the log keeps nothing");
        // a: called once, accepted. b: a failed call, then one accepted
        // (a retry). c: accepted, then a duplicate dropped, then accepted
        // again by a provider that does not deduplicate.
        journal.record(Some("a"), unused);
        journal.accept(Some("a"));
        journal.record(Some("b"), unused);
        journal.record(Some("b"), unused);
        journal.accept(Some("b"));
        for _ in 0..3 {
            journal.record(Some("c"), unused);
        }
        journal.accept(Some("c"));
        journal.drop_duplicate("c");
        journal.accept(Some("c"));
        assert_eq!(
            journal.repeats(),
            Repeats {
                ids: 3,
                calls_beyond_first: 1 + 2,
                successes_beyond_first: 2,
            }
        );
    }
}
