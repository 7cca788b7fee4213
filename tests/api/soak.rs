//! `herald soak`, shortened: a smoke run with a fault every few seconds
//! must lose nothing, and a soak killed with SIGKILL must leave no worker
//! behind. The soak itself, for half an hour, is run by hand
//! (`docs/reliability.md`).

use crate::helpers::{admin_url, amqp_url};
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `herald soak` with the tests' PostgreSQL and RabbitMQ and no file.
fn soak(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .args(["--config", "/nonexistent/herald.toml", "soak"])
        .args(args)
        .env("HERALD_DATABASE_URL", admin_url())
        .env("HERALD_AMQP_URL", amqp_url())
        .env_remove("RUST_LOG");
    command
}

#[test]
fn a_short_soak_with_a_fault_every_four_seconds_loses_nothing() {
    let output = soak(&[
        "--minutes",
        "0.4",
        "--rate",
        "100",
        "--workers",
        "2",
        "--fault-every",
        "4",
        "--cut-seconds",
        "2",
        "--outage-seconds",
        "3",
        "--report-every",
        "6",
        "--lease-seconds",
        "8",
        "--drain-seconds",
        "90",
        "--queue-prefix",
        "herald.soak-smoke",
        "--json",
    ])
    .stderr(Stdio::piped())
    .output()
    .expect("run herald soak");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "herald soak failed: {stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the soak prints JSON");
    let accounting = &report["accounting"];
    assert_eq!(accounting["lost"], 0, "{stderr}");
    assert_eq!(accounting["delivered_without_call"], 0);
    let published = accounting["published"].as_u64().expect("published");
    assert!(published >= 1_500, "published {published}");
    assert_eq!(accounting["delivered"], published, "{accounting}");
    assert!(
        report["drained_in_seconds"].is_number(),
        "drained: {report}"
    );
    // Every kind of fault came at least once.
    for kind in ["kills", "terms", "outages"] {
        assert!(report[kind].as_u64() >= Some(1), "{kind}: {report}");
    }
    assert!(report["cuts"].as_u64() >= Some(2), "{report}");
    assert_eq!(report["unexpected_exits"], 0, "{stderr}");
    let samples = report["samples"].as_array().expect("samples");
    assert!(samples.len() >= 4, "{samples:?}");
    let last = &samples[samples.len() - 1];
    assert_eq!(last["published"], published);
    for worker in last["workers"].as_array().expect("workers") {
        assert!(worker["rss_mb"].as_f64() > Some(0.0), "{worker}");
        assert!(worker["open_fds"].as_u64() > Some(3), "{worker}");
    }
}

/// Whether `pid` is still a live process (a zombie is not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let listed = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

#[tokio::test]
async fn a_soak_killed_with_sigkill_leaves_no_worker_behind() {
    let mut child = soak(&[
        "--minutes",
        "5",
        "--rate",
        "20",
        "--workers",
        "2",
        "--fault-every",
        "1000",
        "--queue-prefix",
        "herald.soak-killed",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start herald soak");
    // Its first lines name its database and its workers' configuration
    // file, which this test removes after. The pipe is read until the
    // kill, so that nothing the soak writes meets a closed pipe.
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut named = |prefix: &str| {
        let mut line = String::new();
        stderr.read_line(&mut line).expect("read stderr");
        line.trim()
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}"))
            .to_owned()
    };
    let database = named("soak: database ");
    let config_file = named("soak: workers' configuration ");
    let deadline = Instant::now() + Duration::from_secs(60);
    let workers = loop {
        let workers = children(child.id());
        if workers.len() >= 2 {
            break workers;
        }
        assert!(Instant::now() < deadline, "the soak started no workers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    child.kill().expect("SIGKILL the soak");
    child.wait().expect("reap the soak");
    let deadline = Instant::now() + Duration::from_secs(10);
    while workers.iter().any(|&pid| alive(pid)) {
        assert!(
            Instant::now() < deadline,
            "workers left behind by a killed soak: {workers:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(stderr);
    // What the killed soak could not remove.
    std::fs::remove_file(&config_file).expect("remove the killed soak's configuration file");
    use sqlx::Connection as _;
    let mut admin = sqlx::PgConnection::connect(&admin_url())
        .await
        .expect("connect to PostgreSQL");
    let sql = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut admin)
        .await
        .expect("drop the killed soak's database");
}
