//! The bench's report: tables for a reader, or one JSON object.

use super::publish::SteadyLatency;
use super::{Report, SteadyCpu};
use crate::startup::Failure;
use anyhow::Context as _;

pub fn print(report: &Report, json: bool) -> Result<(), Failure> {
    if json {
        println!(
            "{}",
            serde_json::to_string(report).context("formatting the report")?
        );
        return Ok(());
    }
    let figure = |value: Option<f64>, digits: usize| match value {
        Some(v) => format!("{v:.digits$}"),
        None => "n/a".into(),
    };
    let mut table = comfy_table::Table::new();
    table.set_header([
        "measurement",
        "deliveries/s",
        "CPU s/1000: herald",
        "postgres",
        "rabbitmq",
        "statements",
        "round trips",
        "transactions",
        "peak RSS MB",
    ]);
    let cpu = &report.ceiling.cpu_seconds_per_1000;
    table.add_row([
        "ceiling (no database)".to_owned(),
        format!("{:.0}", report.ceiling.per_second),
        figure(cpu.herald, 3),
        figure(cpu.postgres, 3),
        figure(cpu.rabbitmq, 3),
        "-".into(),
        "-".into(),
        "-".into(),
        "-".into(),
    ]);
    for run in &report.backlog {
        let cpu = &run.cpu_seconds_per_1000;
        table.add_row([
            format!("herald, backlog drain, {} worker(s)", run.workers),
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
    println!("{table}");
    let mut latency = comfy_table::Table::new();
    latency.set_header([
        "steady rate",
        "offered/s",
        "published/s",
        "deliveries",
        "p50 ms",
        "p99 ms",
        "max ms",
        "p50 / p99 ms: to accept | to call | call | to record",
        "CPU s/1000: herald | bench | postgres | rabbitmq",
    ]);
    // The cells both kinds of steady run have: its name, rate, size and
    // latency.
    let steady_cells = |run: &SteadyLatency, what: String| {
        vec![
            format!("{}% of max, {what}", run.percent),
            format!("{:.0}", run.offered_per_second),
            format!("{:.0}", run.published_per_second),
            run.count.to_string(),
            figure(run.p50_ms, 1),
            figure(run.p99_ms, 1),
            figure(run.max_ms, 1),
        ]
    };
    // herald's cell is given: the bare pipeline has no herald to measure.
    let cpu_cells = |cpu: &SteadyCpu, herald: String| {
        [
            herald,
            figure(cpu.bench, 3),
            figure(cpu.parts.postgres, 3),
            figure(cpu.parts.rabbitmq, 3),
        ]
        .join(" | ")
    };
    for run in &report.ceiling_steady {
        let mut cells = steady_cells(&run.latency, "ceiling (no database)".into());
        cells.push("-".into());
        cells.push(cpu_cells(&run.cpu_seconds_per_1000, "-".into()));
        latency.add_row(cells);
    }
    for run in &report.steady {
        let mut cells = steady_cells(&run.latency, format!("{} worker(s)", run.workers));
        cells.extend([
            run.stages
                .in_order()
                .iter()
                .map(|stage| format!("{}/{}", figure(stage.p50_ms, 1), figure(stage.p99_ms, 1)))
                .collect::<Vec<_>>()
                .join(" | "),
            cpu_cells(
                &run.cpu_seconds_per_1000,
                figure(run.cpu_seconds_per_1000.parts.herald, 3),
            ),
        ]);
        latency.add_row(cells);
    }
    println!("{latency}");
    for run in &report.backlog {
        println!(
            "herald with {} worker(s) / ceiling: {:.1}%",
            run.workers,
            run.per_second * 100.0 / report.ceiling.per_second.max(f64::MIN_POSITIVE)
        );
    }
    println!(
        "herald / ceiling (best, {} worker(s)): {:.1}%",
        report.ratio_workers,
        report.ratio * 100.0
    );
    Ok(())
}
