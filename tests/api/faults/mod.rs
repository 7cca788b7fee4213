//! The fault suite: each of herald's promises under the fault that would
//! break it, against the real PostgreSQL and RabbitMQ on loopback, with the
//! real `herald` binary where a process must die. Services are never
//! stopped (other tests share them): a [`crate::proxy::Proxy`] between
//! herald and the service is severed instead.
//!
//! | fault | test |
//! | --- | --- |
//! | SIGKILL with hundreds in flight, restart | `kill::a_worker_killed_with_hundreds_in_flight_loses_nothing_and_repeats_only_those` |
//! | three workers, one killed, one stopped | `crew::three_workers_one_killed_one_stopped_lose_nothing_and_never_overlap` |
//! | PostgreSQL cut 10 s under load | `outage::postgresql_cut_for_ten_seconds_under_load`, and hung: `outage::postgresql_hung_for_ten_seconds_under_load` |
//! | RabbitMQ cut 10 s under load | `outage::rabbitmq_cut_for_ten_seconds_under_load` |
//! | providers that hang, are slow, reset, answer garbage or megabytes | `providers::faulty_providers_are_bounded_retried_on_schedule_and_hold_up_no_other` |
//! | limits and ordered groups under a kill | `limits::rate_quota_and_order_hold_through_a_kill` |
//! | bad input at volume, RSS flat | `bad_input::poison_at_volume_is_dead_lettered_and_memory_stays_flat` |
//! | command and answer parsers on any input | `src/domain/command_props.rs`, `src/adapters/answer_props.rs` (unit tests) |
//!
//! Faults proven elsewhere, not repeated here:
//! - a broker lost, gone silent, or absent at start; a database absent at
//!   start or hanging under `/readyz`; a call in flight when the broker
//!   goes: `broker.rs`;
//! - PostgreSQL away for longer than the lease does not resend; a hung
//!   connection leaves the others their share: `lease.rs`
//!   (`an_outage_of_postgresql_longer_than_the_lease_does_not_resend`,
//!   `one_hung_connection_leaves_the_others_their_share`);
//! - an endless answer is read up to 1 MiB: `robustness.rs`
//!   (`a_provider_answer_is_read_up_to_a_bound`);
//! - a killed worker's one delivery recovered; SIGTERM drains and exits 0:
//!   `lifecycle.rs`;
//! - NUL in every field, writes whose answer was lost, one bad row in a
//!   set: `poison.rs`; each kind of refusal's words: `bad_input.rs`;
//! - the rate, the quota and group order across a graceful restart and two
//!   workers: `rates.rs`, `quotas.rs`, `groups.rs`.

mod bad_input;
mod crew;
mod kill;
mod limits;
mod outage;
mod providers;

use crate::helpers::*;
use herald::tools::simulator::Call;
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The real `herald worker`, as a process of its own that a test can kill.
pub struct WorkerProcess {
    child: Child,
    dir: PathBuf,
    name: &'static str,
}

impl WorkerProcess {
    /// Starts `herald worker` with this configuration's text. Its log goes
    /// to a file, shown when the test fails.
    pub fn spawn(config_toml: &str, name: &'static str) -> WorkerProcess {
        let dir = std::env::temp_dir().join(format!("herald-fault-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("herald.toml");
        std::fs::write(&path, config_toml).expect("write config");
        let log = std::fs::File::create(dir.join("stderr.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["--config", path.to_str().expect("utf-8 path"), "worker"])
            .env("RUST_LOG", "herald=warn")
            // The file names the test's own database and broker; these
            // would override it.
            .env_remove("HERALD_DATABASE_URL")
            .env_remove("HERALD_AMQP_URL")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start herald worker");
        WorkerProcess { child, dir, name }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reaped: nothing of it runs once this returns.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM, then waits for the exit; its exit code.
    pub async fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.expect("kill -TERM").success());
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Its resident set (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            let mut log = String::new();
            if let Ok(mut file) = std::fs::File::open(self.dir.join("stderr.log")) {
                let _ = file.read_to_string(&mut log);
            }
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!("--- {} (last lines) ---\n{}", self.name, tail.join("\n"));
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// `toml` with each `(from, to)` replaced; each `from` must be in it.
pub fn tuned(toml: &str, changes: &[(&str, &str)]) -> String {
    let mut toml = toml.to_owned();
    for (from, to) in changes {
        assert!(toml.contains(from), "the configuration has {from}");
        toml = toml.replace(from, to);
    }
    toml
}

/// `count` sends of `connection`, each to its own recipient (`to` and a
/// number), published at once, in order.
pub async fn publish_sends(app: &TestApp, connection: &str, to: &str, count: usize) -> Vec<Uuid> {
    let (ids, bodies): (Vec<Uuid>, Vec<String>) = (0..count)
        .map(|i| {
            let (id, command) = send_to(connection, &format!("{to}{i:05}"));
            (id, command.to_string())
        })
        .unzip();
    // Confirmed as a batch: one at a time, a loaded broker's confirms
    // would make the publishing the slow part of a test.
    app.publisher
        .publish_many(&bodies)
        .await
        .expect("publish a batch");
    ids
}

/// How many of `ids` are in `status`.
pub async fn count_in(app: &TestApp, ids: &[Uuid], status: &str) -> usize {
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE id = ANY($1) AND status = $2")
            .bind(ids)
            .bind(status)
            .fetch_one(&app.store.pool)
            .await
            .expect("count deliveries");
    usize::try_from(count).expect("a count")
}

/// Waits until every one of `ids` is `success`.
pub async fn wait_all_success(app: &TestApp, ids: &[Uuid], secs: u64) {
    let what = format!("all {} deliveries to succeed", ids.len());
    eventually(secs, &what, || async {
        (count_in(app, ids, "success").await == ids.len()).then_some(())
    })
    .await;
}

/// The calls of each of `ids` (by the Konnek body id of its first round),
/// in the order they started.
pub fn calls_by_id(calls: &[Call], ids: &[Uuid]) -> HashMap<Uuid, Vec<Call>> {
    let wanted: HashMap<String, Uuid> = ids.iter().map(|id| (id.to_string(), *id)).collect();
    let mut by_id: HashMap<Uuid, Vec<Call>> = HashMap::new();
    for call in calls {
        if let Some(id) = wanted.get(&call.id) {
            by_id.entry(*id).or_default().push(call.clone());
        }
    }
    for calls in by_id.values_mut() {
        calls.sort_by_key(|c| c.started);
    }
    by_id
}

/// No two calls of one delivery were at the provider at the same time:
/// each started after the one before it ended.
pub fn assert_never_overlapping(calls: &HashMap<Uuid, Vec<Call>>) {
    for (id, calls) in calls {
        for pair in calls.windows(2) {
            assert!(
                pair[1].started >= pair[0].finished,
                "two calls of {id} at once: one from {} to {}, the next from {}",
                pair[0].started,
                pair[0].finished,
                pair[1].started
            );
        }
    }
}
