//! `herald list` as operators use it: filters, `--json`, and paging with
//! the cursor hint it prints, run exactly as printed.

use crate::cli::Cli;
use crate::helpers::*;
use serde_json::{Value, json};
use std::process::Command;
use uuid::Uuid;

/// Deliveries of one connection: `done` delivered, `scheduled` waiting an
/// hour for their `not_before`, and one member of group `group`.
pub async fn some_deliveries(
    app: &TestApp,
    connection: &str,
    group: &str,
    done: usize,
    scheduled: usize,
) -> (Vec<Uuid>, Vec<Uuid>, Uuid) {
    let mut delivered = Vec::new();
    for n in 0..done {
        let (id, command) = send_to(connection, &format!("62811170{n:04}"));
        app.publish(&command).await;
        delivered.push(id);
    }
    let mut waiting = Vec::new();
    for n in 0..scheduled {
        let (id, mut command) = send_to(connection, &format!("62811171{n:04}"));
        command["not_before"] =
            json!((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
        app.publish(&command).await;
        waiting.push(id);
    }
    let (member, mut command) = send_to(connection, "628111729999");
    command["group"] = json!({"id": group, "order": 0});
    app.publish(&command).await;
    for &id in &delivered {
        app.wait_for_status(id, "success").await;
    }
    for &id in &waiting {
        app.wait_for_reason(id, "scheduled").await;
    }
    app.wait_for_status(member, "success").await;
    (delivered, waiting, member)
}

/// The ids of a `--json` page and its `next_cursor`.
fn json_page(text: &str) -> (Vec<(String, Uuid)>, Option<String>) {
    let page: Value = serde_json::from_str(text).expect("--json prints JSON");
    let rows = page["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| {
            let created = d["created_at"].as_str().expect("created_at").to_owned();
            let id = d["id"].as_str().and_then(|id| Uuid::parse_str(id).ok());
            (created, id.expect("an id"))
        })
        .collect();
    (rows, page["next_cursor"].as_str().map(str::to_owned))
}

/// Checks that `seen` holds each of `expected` once, newest first
/// (`created_at`, then id, descending).
pub fn assert_newest_first(seen: &[(chrono::DateTime<chrono::Utc>, Uuid)], expected: &[Uuid]) {
    let mut sorted = seen.to_vec();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted.as_slice(), "newest first");
    let mut ids: Vec<Uuid> = seen.iter().map(|(_, id)| *id).collect();
    ids.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(ids, want, "every row once");
}

#[tokio::test]
async fn list_pages_with_the_hint_it_prints_and_filters_by_reason_and_group() {
    let connection = unique_connection("konnek-list");
    let app = spawn_app_with(Options {
        extra_toml: konnek_connection(&connection),
        ..Options::default()
    })
    .await;
    let group = format!("order-{}", Uuid::new_v4().simple());
    let (delivered, waiting, member) = some_deliveries(&app, &connection, &group, 5, 2).await;
    let all: Vec<Uuid> = [delivered.clone(), waiting.clone(), vec![member]].concat();
    let cli = Cli::new(&app);

    // Three pages of 3, 3 and 2 rows; each ends with the next page's
    // command, which is run through a shell exactly as printed.
    let mut output = cli.ok(&["list", "--connection", &connection, "--limit", "3"]);
    let mut pages = 0;
    let mut listed = Vec::new();
    loop {
        pages += 1;
        listed.extend(
            all.iter()
                .filter(|id| output.contains(&id.to_string()))
                .copied(),
        );
        let Some(hint) = output.lines().find_map(|l| l.strip_prefix("next page: ")) else {
            assert!(output.ends_with("2 deliveries, newest first\n"), "{output}");
            break;
        };
        assert!(output.contains("3 deliveries, newest first\nnext page: "));
        assert!(hint.contains(&format!(
            "list --connection {connection} --limit 3 --cursor "
        )));
        let run = Command::new("sh").args(["-c", hint]).output().expect("sh");
        assert!(run.status.success(), "{hint}: {run:?}");
        output = String::from_utf8_lossy(&run.stdout).into_owned();
        assert!(pages < 5, "the pages never end: {output}");
    }
    assert_eq!(pages, 3);
    listed.sort();
    listed.dedup();
    assert_eq!(listed.len(), all.len(), "no row missed or twice");

    // The same through --json: the rows newest first, each once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec![
            "list",
            "--json",
            "--connection",
            &connection,
            "--limit",
            "3",
        ];
        if let Some(cursor) = &cursor {
            args.extend(["--cursor", cursor]);
        }
        let (rows, next) = json_page(&cli.ok(&args));
        seen.extend(rows.into_iter().map(|(created, id)| {
            let created = chrono::DateTime::parse_from_rfc3339(&created).expect("a time");
            (created.with_timezone(&chrono::Utc), id)
        }));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_newest_first(&seen, &all);

    let reason = ["list", "--json", "--connection", &connection];
    let (rows, next) = json_page(&cli.ok(&[&reason[..], &["--wait-reason", "scheduled"]].concat()));
    let mut ids: Vec<Uuid> = rows.into_iter().map(|(_, id)| id).collect();
    ids.sort();
    let mut want = waiting.clone();
    want.sort();
    assert_eq!((ids, next), (want, None));
    let (rows, _) = json_page(&cli.ok(&["list", "--json", "--group", &group]));
    assert_eq!(rows.iter().map(|(_, id)| *id).collect::<Vec<_>>(), [member]);
    let (rows, _) =
        json_page(&cli.ok(&[&reason[..], &["--status", "success", "--limit", "9"]].concat()));
    assert_eq!(rows.len(), delivered.len() + 1);

    // Bad filters name their flag and exit 2.
    for (args, flag) in [
        (vec!["list", "--wait-reason", "moon"], "--wait-reason"),
        (vec!["list", "--status", "lost"], "--status"),
        (
            vec!["list", "--status", "failed", "--wait-reason", "quota"],
            "--wait-reason",
        ),
        (vec!["list", "--since", "yesterday"], "--since"),
        (vec!["list", "--cursor", "not-a-cursor"], "--cursor"),
        (vec!["list", "--limit", "0"], "--limit"),
    ] {
        let run = cli.run(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}
