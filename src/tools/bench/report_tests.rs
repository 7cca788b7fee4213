//! The bench's tables rendered from a report built here: at most 120
//! columns, no `|`, numbers right-aligned, and one mark for a missing value.

use super::*;
use crate::tools::bench::ceiling::{CeilingReport, SteadyCeiling};
use crate::tools::bench::herald::{DrainReport, Stage, Stages, SteadyReport};
use crate::tools::bench::{Cpu, Report};

fn cpu(herald: Option<f64>) -> Cpu {
    Cpu {
        herald,
        postgres: Some(12.345),
        rabbitmq: None,
    }
}

fn latency(percent: u32, p50: Option<f64>) -> SteadyLatency {
    SteadyLatency {
        percent,
        offered_per_second: 12_345.0,
        published_per_second: 12_001.4,
        count: 123_456,
        p50_ms: p50,
        p99_ms: Some(1_234.5),
        max_ms: Some(123_456.7),
    }
}

fn stage(p50: Option<f64>) -> Stage {
    Stage {
        p50_ms: p50,
        p99_ms: Some(9_999.9),
    }
}

/// A report with figures wider than a run on this machine gives, and some
/// that could not be read.
fn report() -> Report {
    let drain = |workers: usize, rss: Option<f64>| DrainReport {
        workers,
        per_second: 23_456.7,
        statements_per_delivery: Some(2.5),
        round_trips_per_delivery: None,
        transactions_per_delivery: Some(10.25),
        cpu_seconds_per_1000: cpu(Some(1.5)),
        peak_rss_mb: rss,
    };
    let steady = |percent: u32| SteadyReport {
        latency: latency(percent, Some(18.7)),
        workers: 1,
        stages: Stages {
            to_accept: stage(Some(105.7)),
            to_call: stage(None),
            call: stage(Some(2.8)),
            to_record: stage(Some(1_234.5)),
        },
        cpu_seconds_per_1000: SteadyCpu {
            parts: cpu(Some(2.477)),
            bench: Some(1.355),
        },
    };
    let ceiling_steady = |percent: u32| SteadyCeiling {
        latency: latency(percent, None),
        cpu_seconds_per_1000: SteadyCpu {
            parts: cpu(None),
            bench: Some(0.935),
        },
    };
    Report {
        count: 50_000,
        concurrency: 1024,
        prefetch: 1024,
        ceiling: CeilingReport {
            per_second: 34_567.8,
            cpu_seconds_per_1000: cpu(Some(0.733)),
        },
        backlog: vec![drain(1, Some(1_234.5)), drain(2, None)],
        steady: [25, 50, 75].map(steady).into(),
        ceiling_steady: [25, 50, 75].map(ceiling_steady).into(),
        ratio: 0.625,
        ratio_workers: 1,
    }
}

/// The column where the header cell holding `name` ends: its right edge.
fn right_edge(text: &str, name: &str) -> usize {
    text.lines()
        .find_map(|line| {
            let start = line.find(name)?;
            Some(line[..start].chars().count() + name.chars().count())
        })
        .unwrap_or_else(|| panic!("no {name:?} in:\n{text}"))
}

/// The data rows of a rendered table: the lines after its header's line.
fn rows(text: &str) -> Vec<&str> {
    text.lines()
        .skip_while(|line| !line.starts_with("---"))
        .skip(1)
        .collect()
}

/// Each row's cell ending at `edge`: the row's character there is not a
/// space, and the one after it is (or the row ends).
fn ends_at(text: &str, edge: usize) -> bool {
    rows(text).iter().all(|row| {
        let chars: Vec<char> = row.chars().collect();
        chars.get(edge - 1).is_some_and(|c| *c != ' ') && chars.get(edge).is_none_or(|c| *c == ' ')
    })
}

#[test]
fn every_line_fits_in_120_columns_without_a_bar() {
    let text = render(&report());
    for line in text.lines() {
        assert!(
            line.chars().count() <= 120,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    assert!(!text.contains('|'), "{text}");
    assert!(
        text.contains("herald with 2 workers / ceiling: 67.9%"),
        "{text}"
    );
    assert!(
        text.contains("herald / ceiling (best, 1 worker): 62.5%"),
        "{text}"
    );
}

#[test]
fn numbers_are_right_aligned() {
    let report = report();
    let drain = print::render(&drain_table(&report));
    for name in [
        "deliveries/s",
        "postgres",
        "statements",
        "transactions",
        "MB",
    ] {
        assert!(
            ends_at(&drain, right_edge(&drain, name)),
            "{name}:\n{drain}"
        );
    }
    let steady = print::render(&steady_table(&report));
    for name in [
        "offered/s",
        "deliveries",
        "p50 ms",
        "max ms",
        "bench",
        "rabbitmq",
    ] {
        assert!(
            ends_at(&steady, right_edge(&steady, name)),
            "{name}:\n{steady}"
        );
    }
    let stages = print::render(&stages_table(&report));
    assert!(
        ends_at(&stages, right_edge(&stages, "to record")),
        "{stages}"
    );
    // The ceiling and herald side by side at each rate.
    let labels: Vec<&str> = rows(&steady)
        .iter()
        .map(|row| row.trim_start().split("  ").next().unwrap_or_default())
        .collect();
    assert_eq!(
        labels,
        [
            "25%, ceiling",
            "25%, herald",
            "50%, ceiling",
            "50%, herald",
            "75%, ceiling",
            "75%, herald"
        ]
    );
}

/// The cells of a row: no cell holds two spaces running.
fn cells(row: &str) -> Vec<&str> {
    row.split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .collect()
}

#[test]
fn a_missing_figure_has_one_mark() {
    let report = report();
    assert!(!render(&report).contains("n/a"));
    let drain = print::render(&drain_table(&report));
    let drain: Vec<Vec<&str>> = rows(&drain).into_iter().map(cells).collect();
    // The ceiling has no statements and no RSS; no drain its round trips
    // or RabbitMQ's CPU; the second drain no RSS.
    assert_eq!(
        drain[0],
        [
            "ceiling, no database",
            "34568",
            "0.733",
            "12.345",
            "–",
            "–",
            "–",
            "–",
            "–"
        ]
    );
    assert_eq!(
        drain[2],
        [
            "herald, 2 workers",
            "23457",
            "1.500",
            "12.345",
            "–",
            "2.50",
            "–",
            "10.25",
            "–"
        ]
    );
    let steady = print::render(&steady_table(&report));
    let steady: Vec<Vec<&str>> = rows(&steady).into_iter().map(cells).collect();
    // The bare pipeline: no p50 read here, and no herald.
    assert_eq!((steady[0][4], steady[0][7]), (MISSING, MISSING));
    assert_eq!((steady[1][4], steady[1][7]), ("18.7", "2.477"));
    let stages = print::render(&stages_table(&report));
    let stages: Vec<Vec<&str>> = rows(&stages).into_iter().map(cells).collect();
    assert_eq!(stages[0][1..5], ["105.7", "9999.9", MISSING, "9999.9"]);
    assert_eq!(MISSING, "–");
}

#[test]
fn the_json_keeps_the_names_scripts_read() {
    let json = serde_json::to_value(report()).expect("JSON");
    let keys = |value: &serde_json::Value| -> Vec<String> {
        let mut keys: Vec<String> = value
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    };
    assert_eq!(
        keys(&json),
        [
            "backlog",
            "ceiling",
            "ceiling_steady",
            "concurrency",
            "count",
            "prefetch",
            "ratio",
            "ratio_workers",
            "steady"
        ]
    );
    assert_eq!(
        keys(&json["steady"][0]),
        [
            "count",
            "cpu_seconds_per_1000",
            "max_ms",
            "offered_per_second",
            "p50_ms",
            "p99_ms",
            "percent",
            "published_per_second",
            "stages",
            "workers"
        ]
    );
    assert_eq!(
        keys(&json["steady"][0]["cpu_seconds_per_1000"]),
        ["bench", "herald", "postgres", "rabbitmq"]
    );
    assert_eq!(json["backlog"][1]["peak_rss_mb"], serde_json::Value::Null);
}
