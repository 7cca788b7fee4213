//! Every metric herald exports: names, descriptions and `record_*` helpers
//! live here, so the contract's names (§7) are written once. Labels stay of
//! low cardinality: a connection, an outcome, a reason; never an id.

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

const WRITE_SET_SECONDS: &str = "herald_write_set_duration_seconds";
const WRITE_SET_ROWS: &str = "herald_write_set_rows";
const OVERDUE: &str = "herald_overdue_seconds";
const STUCK: &str = "herald_stuck_sending";
const PAUSED: &str = "herald_connection_paused";

/// Installs the Prometheus recorder once per process and returns its handle.
/// `max_set`: the most rows one set of the hot path's writes carries, the
/// top bucket of `herald_write_set_rows`.
pub fn install(max_set: usize) -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let latency_buckets = [
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                1800.0,
            ];
            // A write set takes milliseconds and carries up to `max_set`
            // rows: buckets of their own.
            let set_buckets = [
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 10.0,
            ];
            let row_buckets = [
                1.0,
                2.0,
                5.0,
                10.0,
                20.0,
                50.0,
                100.0,
                200.0,
                max_set as f64,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets(&latency_buckets)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(WRITE_SET_SECONDS.into()), &set_buckets)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(WRITE_SET_ROWS.into()), &row_buckets)
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (a host application):
            // then this handle renders nothing, which is all we can do.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "herald_commands_total",
        "Commands consumed, by type and result"
    );
    describe_counter!(
        "herald_deliveries_total",
        "Deliveries that reached a terminal state"
    );
    describe_counter!("herald_attempts_total", "Provider calls, by result");
    describe_histogram!(
        "herald_attempt_duration_seconds",
        Unit::Seconds,
        "Duration of one provider call"
    );
    describe_histogram!(
        "herald_delivery_latency_seconds",
        Unit::Seconds,
        "From command accepted to terminal state"
    );
    describe_counter!(
        "herald_deferrals_total",
        "Deliveries put back by a limit or a provider quota"
    );
    describe_gauge!(
        "herald_inflight",
        "Provider calls in flight in this process"
    );
    describe_gauge!(
        "herald_waiting",
        "Deliveries waiting, read from the database"
    );
    describe_gauge!(
        OVERDUE,
        Unit::Seconds,
        "Per connection, how long ago the oldest delivery that is due fell due without being taken, read from the database"
    );
    describe_gauge!(
        STUCK,
        "Per connection, deliveries in sending whose claim is older than the sending lease, read from the database"
    );
    describe_gauge!(
        PAUSED,
        "1 while a provider's quota refusal pauses the connection for every worker, else 0"
    );
    describe_gauge!(
        "herald_ready",
        "1 while this worker is ready (as /readyz answers: database, broker, consumer, dead letters), else 0; read at each scrape"
    );
    describe_counter!(
        "herald_dead_letters_total",
        "Commands dead-lettered, by reason"
    );
    describe_histogram!(
        WRITE_SET_SECONDS,
        Unit::Seconds,
        "One statement of the hot path's writes (accepts and outcomes), round trip and commit"
    );
    describe_histogram!(
        WRITE_SET_ROWS,
        "Accepts and outcomes carried by one statement of the hot path's writes"
    );
    describe_counter!(
        "herald_callbacks_total",
        "Provider status callbacks received, by result"
    );
}

/// One set of the hot path's writes: how many it carried and how long its
/// statement took, answered or failed.
pub fn record_write_set(rows: usize, duration: Duration) {
    histogram!(WRITE_SET_ROWS).record(rows as f64);
    histogram!(WRITE_SET_SECONDS).record(duration.as_secs_f64());
}

/// `result`: `accepted`, `duplicate` or `rejected`.
pub fn record_command(command_type: &'static str, result: &'static str) {
    counter!("herald_commands_total", "type" => command_type, "result" => result).increment(1);
}

pub fn record_dead_letter(reason: &'static str) {
    counter!("herald_dead_letters_total", "reason" => reason).increment(1);
}

/// `outcome`: `success` or `failed`; `latency` from acceptance.
pub fn record_delivery(connection: &str, outcome: &'static str, latency: Option<Duration>) {
    counter!("herald_deliveries_total", "connection" => connection.to_owned(), "outcome" => outcome)
        .increment(1);
    if let Some(latency) = latency {
        histogram!("herald_delivery_latency_seconds", "connection" => connection.to_owned())
            .record(latency.as_secs_f64());
    }
}

/// `result`: `success`, `retryable`, `permanent` or `deferred`.
pub fn record_attempt(connection: &str, result: &'static str, duration: Duration) {
    counter!("herald_attempts_total", "connection" => connection.to_owned(), "result" => result)
        .increment(1);
    histogram!("herald_attempt_duration_seconds", "connection" => connection.to_owned())
        .record(duration.as_secs_f64());
}

/// A call whose worker was lost: counted, but it has no duration.
pub fn record_lost_attempt(connection: &str) {
    counter!("herald_attempts_total", "connection" => connection.to_owned(), "result" => crate::domain::AttemptOutcome::Retryable.as_str())
        .increment(1);
}

pub fn record_deferral(connection: &str, reason: &'static str) {
    counter!("herald_deferrals_total", "connection" => connection.to_owned(), "reason" => reason)
        .increment(1);
}

/// `herald_deferrals_total` of a connection, every reason together, as this
/// process counted it (the demo's summary; deferrals of a paused connection
/// leave no attempt row to count); none before [`install`].
pub fn deferrals_of(connection: &str) -> u64 {
    let label = format!("connection=\"{connection}\"");
    let rendered = HANDLE.get().map(PrometheusHandle::render);
    let total: f64 = rendered
        .unwrap_or_default()
        .lines()
        .filter(|line| line.starts_with("herald_deferrals_total{") && line.contains(&label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    total as u64
}

/// `result`: `updated`, `unchanged`, `ignored`, `malformed`,
/// `unauthorized` or `error`; only for configured connections.
pub fn record_callback(connection: &str, result: &'static str) {
    counter!("herald_callbacks_total", "connection" => connection.to_owned(), "result" => result)
        .increment(1);
}

/// Tracks one provider call in `herald_inflight` for as long as it lives.
pub struct InFlight(String);

impl InFlight {
    pub fn start(connection: &str) -> InFlight {
        gauge!("herald_inflight", "connection" => connection.to_owned()).increment(1.0);
        InFlight(connection.to_owned())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!("herald_inflight", "connection" => self.0.clone()).decrement(1.0);
    }
}

pub fn set_waiting(connection: &str, reason: &str, count: i64) {
    gauge!("herald_waiting", "connection" => connection.to_owned(), "wait_reason" => reason.to_owned())
        .set(count as f64);
}

/// `seconds`: how long ago the connection's oldest due delivery fell due, 0
/// when none is due.
pub fn set_overdue(connection: &str, seconds: f64) {
    gauge!(OVERDUE, "connection" => connection.to_owned()).set(seconds);
}

/// Deliveries of `connection` in `sending` past the sending lease.
pub fn set_stuck_sending(connection: &str, count: i64) {
    gauge!(STUCK, "connection" => connection.to_owned()).set(count as f64);
}

/// Whether a provider's quota refusal pauses `connection` now.
pub fn set_paused(connection: &str, paused: bool) {
    gauge!(PAUSED, "connection" => connection.to_owned()).set(if paused { 1.0 } else { 0.0 });
}

/// Whether this worker is ready, as `/readyz` answers.
pub fn set_ready(ready: bool) {
    gauge!("herald_ready").set(if ready { 1.0 } else { 0.0 });
}
