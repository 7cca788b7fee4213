//! The bench's report: one JSON object (`--json`, which scripts read), or
//! tables for a person, each at most 120 columns wide: the drains, the
//! steady rates' latency and CPU, and where herald's latency goes stage by
//! stage. Numbers are right-aligned and a figure that could not be read is
//! `–`.

use super::publish::SteadyLatency;
use super::{Report, SteadyCpu};
use crate::print::{self, MISSING};
use crate::startup::Failure;
use anyhow::Context as _;
use comfy_table::Table;

pub fn print(report: &Report, json: bool) -> Result<(), Failure> {
    if json {
        println!(
            "{}",
            serde_json::to_string(report).context("formatting the report")?
        );
    } else {
        println!("{}", render(report));
    }
    Ok(())
}

/// `value` to `digits` decimals, or the missing mark.
fn figure(value: Option<f64>, digits: usize) -> String {
    print::or_missing(value.map(|v| format!("{v:.digits$}")))
}

fn workers(n: usize) -> String {
    print::count(n, "worker", "workers")
}

/// The tables, their legends, and herald's drain rates over the ceiling.
pub fn render(report: &Report) -> String {
    let mut out = vec![
        format!(
            "Draining a backlog of {} sends (concurrency {}, prefetch {})",
            report.count, report.concurrency, report.prefetch
        ),
        print::render(&drain_table(report)),
        "CPU: seconds per 1,000 deliveries (the ceiling's herald is the bare pipeline, this process).".into(),
        "statements, round trips, transactions: per delivery, from PostgreSQL's own counters.".into(),
    ];
    if let Some(first) = report.backlog.first() {
        out.extend([
            String::new(),
            format!(
                "Steady rates, as % of herald's drain with {}: from due to done",
                workers(first.workers)
            ),
            print::render(&steady_table(report)),
            "ceiling: the bare pipeline, no database. CPU: seconds per 1,000 deliveries; bench: this process.".into(),
        ]);
    }
    if !report.steady.is_empty() {
        out.extend([
            String::new(),
            "Where herald's latency goes, ms: p50 and p99 of each stage".into(),
            print::render(&stages_table(report)),
            "to accept: due → accepting statement started; to call: → provider call started;"
                .into(),
            "call: the provider call; to record: → the statement recording success started.".into(),
        ]);
    }
    out.push(String::new());
    for run in &report.backlog {
        out.push(format!(
            "herald with {} / ceiling: {:.1}%",
            workers(run.workers),
            run.per_second * 100.0 / report.ceiling.per_second.max(f64::MIN_POSITIVE)
        ));
    }
    out.push(format!(
        "herald / ceiling (best, {}): {:.1}%",
        workers(report.ratio_workers),
        report.ratio * 100.0
    ));
    out.join("\n")
}

/// The ceiling's drain and herald's, one row per worker count.
fn drain_table(report: &Report) -> Table {
    let mut table = print::table(
        &[
            "measurement",
            "deliveries/s",
            "CPU\nherald",
            "CPU\npostgres",
            "CPU\nrabbitmq",
            "statements",
            "round\ntrips",
            "transactions",
            "peak RSS\nMB",
        ],
        &[1, 2, 3, 4, 5, 6, 7, 8],
    );
    let cpu = &report.ceiling.cpu_seconds_per_1000;
    table.add_row([
        "ceiling, no database".to_owned(),
        format!("{:.0}", report.ceiling.per_second),
        figure(cpu.herald, 3),
        figure(cpu.postgres, 3),
        figure(cpu.rabbitmq, 3),
        MISSING.into(),
        MISSING.into(),
        MISSING.into(),
        MISSING.into(),
    ]);
    for run in &report.backlog {
        let cpu = &run.cpu_seconds_per_1000;
        table.add_row([
            format!("herald, {}", workers(run.workers)),
            format!("{:.0}", run.per_second),
            figure(cpu.herald, 3),
            figure(cpu.postgres, 3),
            figure(cpu.rabbitmq, 3),
            figure(run.statements_per_delivery, 2),
            figure(run.round_trips_per_delivery, 2),
            figure(run.transactions_per_delivery, 2),
            figure(run.peak_rss_mb, 1),
        ]);
    }
    table
}

/// Each steady rate: the bare pipeline's run, then herald's, with their
/// latency and CPU.
fn steady_table(report: &Report) -> Table {
    let mut table = print::table(
        &[
            "run",
            "offered/s",
            "published/s",
            "deliveries",
            "p50 ms",
            "p99 ms",
            "max ms",
            "CPU\nherald",
            "CPU\nbench",
            "CPU\npostgres",
            "CPU\nrabbitmq",
        ],
        &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    let mut rows: Vec<(u32, Vec<String>)> = Vec::new();
    for run in &report.ceiling_steady {
        rows.push((
            run.latency.percent,
            steady_cells(&run.latency, "ceiling", &run.cpu_seconds_per_1000),
        ));
    }
    for run in &report.steady {
        rows.push((
            run.latency.percent,
            steady_cells(&run.latency, "herald", &run.cpu_seconds_per_1000),
        ));
    }
    // The ceiling and herald side by side at each rate.
    rows.sort_by_key(|row| row.0);
    for (_, cells) in rows {
        table.add_row(cells);
    }
    table
}

/// A steady run's cells; the bare pipeline has no herald, so its herald
/// CPU is missing.
fn steady_cells(run: &SteadyLatency, what: &str, cpu: &SteadyCpu) -> Vec<String> {
    vec![
        format!("{}%, {what}", run.percent),
        format!("{:.0}", run.offered_per_second),
        format!("{:.0}", run.published_per_second),
        run.count.to_string(),
        figure(run.p50_ms, 1),
        figure(run.p99_ms, 1),
        figure(run.max_ms, 1),
        figure(cpu.parts.herald, 3),
        figure(cpu.bench, 3),
        figure(cpu.parts.postgres, 3),
        figure(cpu.parts.rabbitmq, 3),
    ]
}

/// herald's steady runs, stage by stage.
fn stages_table(report: &Report) -> Table {
    let mut table = print::table(
        &[
            "run",
            "to accept\np50",
            "to accept\np99",
            "to call\np50",
            "to call\np99",
            "call\np50",
            "call\np99",
            "to record\np50",
            "to record\np99",
        ],
        &[1, 2, 3, 4, 5, 6, 7, 8],
    );
    for run in &report.steady {
        let mut cells = vec![format!("{}%, herald", run.latency.percent)];
        for stage in run.stages.in_order() {
            cells.push(figure(stage.p50_ms, 1));
            cells.push(figure(stage.p99_ms, 1));
        }
        table.add_row(cells);
    }
    table
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
