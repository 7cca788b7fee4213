//! What the bench reads off the machine: CPU seconds and peak RSS of
//! processes (from `/proc`), and PostgreSQL's own counters of transactions
//! and statements (read by [`super::sql`]). Where a figure cannot be read
//! (another OS, a server on another host, no `pg_stat_statements`) it is
//! `None`, never a guess.

use super::sql;
use sqlx::PgPool;

/// Clock ticks per second of `/proc/*/stat` times: `USER_HZ`, fixed at 100
/// in Linux's user-space ABI whatever the kernel's own tick rate.
const USER_HZ: f64 = 100.0;

/// RabbitMQ's processes: the Erlang VM and its helpers.
pub const RABBITMQ: &[&str] = &["beam.smp", "erl_child_setup", "epmd", "inet_gethost"];
pub const POSTGRES: &[&str] = &["postgres"];

/// CPU seconds of one process: user and system time of all its threads,
/// plus those of its children that have exited (PostgreSQL's postmaster
/// thus keeps the time of every backend that closed).
pub fn cpu_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    ticks(&stat).map(|t| t as f64 / USER_HZ)
}

/// utime + stime + cutime + cstime out of a `/proc/<pid>/stat` line. The
/// command name (field 2) may hold spaces and parentheses, so the fields are
/// counted from its closing parenthesis.
fn ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // rest: " S ppid ..." — field 3 (state) is index 0, utime (14) is 11.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let mut sum = 0u64;
    for i in 11..=14 {
        // cutime and cstime are signed in the kernel's format.
        sum += fields.get(i)?.parse::<i64>().ok()?.max(0) as u64;
    }
    Some(sum)
}

/// CPU seconds of every process whose command name is one of `names`, or
/// `None` when there is none (the server runs elsewhere).
pub fn cpu_by_name(names: &[&str]) -> Option<f64> {
    let entries = std::fs::read_dir("/proc").ok()?;
    let mut found = false;
    let mut total = 0.0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        if names.contains(&comm.trim_end())
            && let Some(cpu) = cpu_of(pid)
        {
            found = true;
            total += cpu;
        }
    }
    found.then_some(total)
}

/// Peak resident set size of a running process, in MB (`VmHWM`).
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    vm_hwm_kb(&status).map(|kb| kb as f64 / 1024.0)
}

/// Resident set size of a running process now, in MB (`VmRSS`).
pub fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_kb(&status, "VmRSS:").map(|kb| kb as f64 / 1024.0)
}

/// How many file descriptors a running process holds open (sockets
/// included): the entries of `/proc/<pid>/fd`.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

fn vm_hwm_kb(status: &str) -> Option<u64> {
    status_kb(status, "VmHWM:")
}

fn status_kb(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The CPU seconds of the three parts at one moment.
#[derive(Debug, Clone, Copy)]
pub struct CpuSnapshot {
    pub own: Option<f64>,
    pub postgres: Option<f64>,
    pub rabbitmq: Option<f64>,
}

impl CpuSnapshot {
    pub fn take() -> CpuSnapshot {
        CpuSnapshot {
            own: cpu_of(std::process::id()),
            postgres: cpu_by_name(POSTGRES),
            rabbitmq: cpu_by_name(RABBITMQ),
        }
    }
}

/// `after - before`, per 1,000 of `count`.
pub fn per_thousand(before: Option<f64>, after: Option<f64>, count: usize) -> Option<f64> {
    let (before, after) = (before?, after?);
    (count > 0).then(|| (after - before).max(0.0) * 1000.0 / count as f64)
}

/// PostgreSQL's counters for one database, read from another connection
/// (the bench's admin connection), so that reading them adds nothing.
#[derive(Debug, Clone, Copy)]
pub struct PgCounters {
    pub transactions: i64,
    /// Every statement the server ran, transaction control included: with
    /// the extended protocol as herald uses it, one round trip each.
    pub round_trips: Option<i64>,
    /// The same without BEGIN / COMMIT / ROLLBACK.
    pub statements: Option<i64>,
}

impl PgCounters {
    pub async fn read(admin: &PgPool, database: &str) -> anyhow::Result<PgCounters> {
        let transactions = sql::transactions(admin, database).await?;
        let calls = sql::statement_calls(admin, database).await;
        Ok(PgCounters {
            transactions,
            round_trips: calls.map(|c| c.0),
            statements: calls.map(|c| c.1),
        })
    }

    /// Reads the counters once they stop moving: a backend that has just
    /// closed may still be adding its last transactions.
    pub async fn settled(admin: &PgPool, database: &str) -> anyhow::Result<PgCounters> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut last = PgCounters::read(admin, database).await?;
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let now = PgCounters::read(admin, database).await?;
            let still =
                now.transactions == last.transactions && now.round_trips == last.round_trips;
            if still || std::time::Instant::now() > deadline {
                return Ok(now);
            }
            last = now;
        }
    }
}

/// Per delivery, of the difference between two readings.
pub fn per_delivery(
    before: Option<i64>,
    after: Option<i64>,
    own: i64,
    count: usize,
) -> Option<f64> {
    let (before, after) = (before?, after?);
    (count > 0).then(|| (after - before - own).max(0) as f64 / count as f64)
}

/// The value at quantile `q` of sorted samples (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_read_past_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 50 7 3 20 0 4 0 1000 0 0";
        assert_eq!(ticks(stat), Some(250 + 50 + 7 + 3));
        assert_eq!(ticks("4242 (short) S 1"), None);
    }

    #[test]
    fn vm_hwm_is_read_in_kilobytes() {
        let status = "Name:\therald\nVmPeak:\t  900 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n";
        assert_eq!(vm_hwm_kb(status), Some(51200));
        assert_eq!(vm_hwm_kb("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_has_a_resident_size_and_open_files() {
        let pid = std::process::id();
        assert!(rss_mb(pid).is_some_and(|mb| mb > 0.0));
        // At least stdin, stdout and stderr, and the directory being read.
        assert!(open_fds(pid).is_some_and(|n| n >= 3));
        assert_eq!(open_fds(u32::MAX), None);
    }

    #[test]
    fn this_process_has_cpu_time_and_a_peak_rss() {
        let pid = std::process::id();
        assert!(cpu_of(pid).is_some_and(|s| s >= 0.0));
        assert!(peak_rss_mb(pid).is_some_and(|mb| mb > 0.0));
        assert_eq!(cpu_by_name(&["no-such-process-name"]), None);
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&samples, 0.5), Some(50.0));
        assert_eq!(quantile(&samples, 0.99), Some(99.0));
        assert_eq!(quantile(&samples, 1.0), Some(100.0));
        assert_eq!(quantile(&[7.0], 0.99), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn differences_are_per_delivery_and_per_thousand() {
        assert_eq!(per_delivery(Some(10), Some(110), 20, 40), Some(2.0));
        assert_eq!(per_delivery(None, Some(110), 0, 40), None);
        assert_eq!(per_thousand(Some(1.0), Some(3.0), 4000), Some(0.5));
        assert_eq!(per_thousand(Some(1.0), Some(3.0), 0), None);
    }
}
