//! The deploy stack against the real herald: its configurations parse as
//! a worker would parse them, with the secrets the examples give, and every
//! metric the dashboard and the alert rules name is one a running worker
//! exports (scripts/check-deploy runs the other tools' checks).

use crate::helpers::*;
use herald::config::Config;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// `NAME=value` lines of an env file, comments and blanks left out.
fn env_file(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Every `herald_*` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (start, _) in text.match_indices("herald_") {
        let name: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        names.insert(name);
    }
    names
}

#[test]
fn the_compose_configuration_parses_with_the_example_secrets() {
    let env = env_file(&repo_file(".env.example"));
    let config = Config::parse(&repo_file("herald.compose.toml"), &|name| {
        env.get(name).cloned()
    })
    .expect("herald.compose.toml parses with .env.example");
    let names: Vec<&str> = config.connections.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "konnek-wa",
            "onebox-fb",
            "chatwoot-support",
            "highq-legal",
            "comm100-tickets"
        ]
    );
    assert!(
        config
            .connections
            .iter()
            .all(|c| c.base_url.starts_with("http://simulator:9500")),
        "every connection is served by the compose simulator"
    );
    // Without the secrets it is refused, naming what is missing.
    let missing = Config::parse(&repo_file("herald.compose.toml"), &|_| None);
    assert!(missing.is_err(), "a missing secret is an error");
}

#[test]
fn the_kubernetes_configuration_parses_with_the_example_secret() {
    let manifest = repo_file("deploy/kubernetes/configmap.yaml");
    // The block scalar under `herald.toml: |`, indented by four spaces.
    let toml: String = manifest
        .split_once("herald.toml: |\n")
        .expect("the ConfigMap holds herald.toml")
        .1
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let secret = repo_file("deploy/kubernetes/secret.example.yaml");
    let env: HashMap<String, String> = secret
        .lines()
        .filter_map(|l| l.trim().split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect();
    let config = Config::parse(&toml, &|name| env.get(name).cloned())
        .expect("the ConfigMap's herald.toml parses with the example Secret");
    assert_eq!(config.http.listen, "0.0.0.0:9464");
    assert_eq!(
        config.database.url, env["HERALD_DATABASE_URL"],
        "the Secret's URL overrides the file's"
    );
}

#[tokio::test]
async fn every_metric_the_dashboard_and_the_alerts_name_is_exported() {
    // A rate of 1/s makes deferrals, a refusal a failure and an attempt of
    // each kind, a scheduled send a waiting one, a bad command a dead
    // letter: every family shows.
    let connection = unique_connection("konnek-deploy");
    let extra = format!(
        "{}\n[connection.limits]\nrate_per_second = 1\nburst = 1\n",
        konnek_connection(&connection)
    );
    let app = spawn_app_with(Options {
        extra_toml: extra,
        ..Options::default()
    })
    .await;
    app.sim.script(
        "628710000000",
        vec![herald::tools::simulator::Step::Http {
            status: 400,
            retry_after: None,
        }],
    );
    let mut ids = Vec::new();
    for n in 0..3 {
        let (id, command) = send_to(&connection, &format!("62871000000{n}"));
        app.publish(&command).await;
        ids.push(id);
    }
    // One scheduled an hour ahead waits: herald_waiting.
    let (_, mut later) = send_to(&connection, "628710000009");
    later["not_before"] = json!((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
    app.publish(&later).await;
    app.publish_raw(b"not a command").await;
    app.publish(&json!({"type": "send"})).await;
    for id in &ids {
        eventually(20, "the sends to end", || async {
            app.delivery(*id)
                .await
                .filter(|d| d.status == "success" || d.status == "failed")
        })
        .await;
    }
    let metrics = eventually(15, "every family in /metrics", || async {
        let metrics = app.metrics().await;
        let all = [
            "herald_waiting",
            "herald_deferrals_total",
            "herald_dead_letters_total",
            "herald_overdue_seconds",
        ];
        all.iter().all(|m| metrics.contains(m)).then_some(metrics)
    })
    .await;
    let exported = metric_names(&metrics);
    for file in [
        "deploy/grafana/dashboards/herald.json",
        "deploy/prometheus/rules/herald.yml",
    ] {
        let named = metric_names(&repo_file(file));
        assert!(!named.is_empty(), "{file} names no metric");
        let unknown: Vec<_> = named.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{file} names {unknown:?}, which herald does not export:\n{metrics}"
        );
    }
}
