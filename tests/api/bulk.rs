//! `herald resend` and `herald cancel` in bulk: by the filters of `herald
//! list`, through the queue, with `--dry-run`, and applied once however
//! often the same command runs.

use crate::cli::Cli;
use crate::helpers::*;
use herald::tools::simulator::Step;
use serde_json::json;
use uuid::Uuid;

/// The commands waiting in the queue, body and `message_id`, read without
/// taking them (the channel's close hands them back).
async fn published_keys(app: &TestApp) -> Vec<(String, String)> {
    use lapin::options::BasicGetOptions;
    let channel = app.amqp.create_channel().await.expect("channel");
    let mut keys = Vec::new();
    while let Some(message) = channel
        .basic_get(
            app.config.amqp.queue.as_str().into(),
            BasicGetOptions::default(),
        )
        .await
        .expect("basic_get")
    {
        let body = String::from_utf8_lossy(&message.data).into_owned();
        let key = message
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default();
        keys.push((body, key));
    }
    herald::queue::close_channel(&channel, "read").await;
    keys
}

/// Publishes `n` sends of `connection` to `{prefix}0`, `{prefix}1`, …,
/// each refused by the provider for good, and waits until all have failed.
async fn refused_sends(app: &TestApp, connection: &str, n: usize, prefix: &str) -> Vec<Uuid> {
    let mut failed = Vec::new();
    for i in 0..n {
        let to = format!("{prefix}{i}");
        app.sim.script(
            &to,
            vec![Step::MetaFalse {
                code: 400,
                message: "not opted in".into(),
            }],
        );
        let (id, command) = send_to(connection, &to);
        app.publish(&command).await;
        failed.push(id);
    }
    for id in &failed {
        app.wait_for_status(*id, "failed").await;
    }
    failed
}

#[tokio::test]
async fn a_bulk_resend_run_twice_resends_once_and_a_dry_run_publishes_nothing() {
    let connection = unique_connection("konnek-bulk");
    let mut app = spawn_app_with(Options {
        extra_toml: konnek_connection(&connection),
        ..Options::default()
    })
    .await;
    let cli = Cli::new(&app);
    let failed = refused_sends(&app, &connection, 3, "62811100080").await;
    let filters = ["--status", "failed", "--connection", connection.as_str()];
    // Stopped, so that what is published stays in the queue to be counted.
    app.stop_worker().await;

    let dry = cli.ok(&[&["resend", "--dry-run"][..], &filters[..]].concat());
    assert!(
        dry.ends_with(
            "resend would be published for 3 deliveries (--dry-run: nothing published)\n"
        ),
        "{dry}"
    );
    assert!(
        failed.iter().all(|id| dry.contains(&id.to_string())),
        "{dry}"
    );
    assert_eq!(queue_depth(&app).await, 0, "nothing published");

    // The same bulk resend twice in a row, before the first is applied.
    let args = [&["resend", "--as", "alice"][..], &filters[..]].concat();
    for _ in 0..2 {
        let out = cli.ok(&args);
        assert!(
            out.ends_with("resend published for 3 deliveries\n"),
            "{out}"
        );
    }
    assert_eq!(queue_depth(&app).await, 6);
    // Each delivery's two resends carry one key (the round they start):
    // a worker applies the second as the first again.
    let keys = published_keys(&app).await;
    for id in &failed {
        let of: Vec<&(String, String)> = keys
            .iter()
            .filter(|(body, _)| body.contains(&id.to_string()))
            .collect();
        assert_eq!(of.len(), 2, "{keys:?}");
        assert_eq!(of[0].1, of[1].1, "one key for both runs");
    }
    app.start_worker().await;
    for id in &failed {
        let d = eventually(20, "the resend's round to end", || async {
            app.delivery(*id).await.filter(|d| d.status == "success")
        })
        .await;
        assert_eq!(d.resends, 1, "resent once");
        assert_eq!(konnek_calls(&app, *id), 2, "one call per round");
    }
}

#[tokio::test]
async fn a_bulk_cancel_by_filter_fails_only_the_waiting_deliveries_it_matches() {
    let app = spawn_app().await;
    let cli = Cli::new(&app);
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let mut waiting = Vec::new();
    for i in 0..2 {
        let id = Uuid::new_v4();
        let mut command = send(id, &format!("62811100081{i}"));
        command["not_before"] = json!(later);
        app.publish(&command).await;
        waiting.push(id);
    }
    let sent = Uuid::new_v4();
    app.publish(&send(sent, "628111000819")).await;
    app.wait_for_status(sent, "success").await;
    for id in &waiting {
        app.wait_for_reason(*id, "scheduled").await;
    }
    let refused = cli.run(&["cancel", "--status", "success", "--connection", CONNECTION]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("waitForSending"), "{stderr}");

    let out = cli.ok(&[
        "cancel",
        "--connection",
        CONNECTION,
        "--wait-reason",
        "scheduled",
        "--as",
        "bob",
    ]);
    assert!(
        out.ends_with("cancel published for 2 deliveries\n"),
        "{out}"
    );
    for id in &waiting {
        let d = app.wait_for_status(*id, "failed").await;
        assert_eq!(d.fail_reason.as_deref(), Some("cancelled"));
        let events = app.store.events(*id).await.expect("the audit trail");
        let cancelled = events.last().expect("an event");
        assert_eq!(
            (
                cancelled.kind.as_str(),
                cancelled.actor.as_str(),
                cancelled.operator.as_deref()
            ),
            ("cancelled", "cli", Some("bob"))
        );
    }
    let d = app.delivery(sent).await.expect("the sent one");
    assert_eq!(d.status, "success", "left alone");
}

/// Runs `herald --config CONFIG ARGS` on a terminal (util-linux `script`),
/// its stdout and stderr as one text; `None` where there is no `script`.
fn on_terminal(cli: &Cli, args: &[&str]) -> Option<String> {
    let line = format!(
        "{} --config {} {}",
        env!("CARGO_BIN_EXE_herald"),
        cli.config,
        args.join(" ")
    );
    let output = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{text}");
    Some(text)
}

#[tokio::test]
async fn a_bulk_resend_pages_through_its_matches_while_the_worker_resends_them() {
    let connection = unique_connection("konnek-pages");
    let app = spawn_app_with(Options {
        extra_toml: konnek_connection(&connection),
        ..Options::default()
    })
    .await;
    let cli = Cli::new(&app);
    let failed = refused_sends(&app, &connection, 7, "62811100082").await;
    let args = [
        "resend",
        "--status",
        "failed",
        "--connection",
        connection.as_str(),
        "--batch",
        "2",
    ];
    let dry = cli.ok(&[&args[..], &["--dry-run"]].concat());
    assert_eq!(dry.matches("would resend ").count(), 7, "{dry}");
    assert!(
        dry.ends_with(
            "resend would be published for 7 deliveries (--dry-run: nothing published)\n"
        ),
        "{dry}"
    );

    // Four pages of 2, the worker running: each page's deliveries leave
    // `failed` while the next pages are read, and none is skipped or
    // published twice.
    let out = match on_terminal(&cli, &args) {
        Some(text) => {
            assert!(text.contains("resend: 6 of 7 published"), "{text}");
            text
        }
        None => cli.ok(&args),
    };
    assert!(out.contains("resend published for 7 deliveries"), "{out}");
    for id in &failed {
        let d = eventually(20, "the resend's round to end", || async {
            app.delivery(*id).await.filter(|d| d.status == "success")
        })
        .await;
        assert_eq!(d.resends, 1, "resent once");
    }

    // The same, step by step: the rows of a page leave the filter before
    // the next page is read, which starts after them all the same.
    let filter = herald::domain::filter::Filter {
        status: Some(herald::domain::DeliveryStatus::Success),
        connection: Some(connection.clone()),
        ..Default::default()
    };
    let all = app.store.page(&filter, None, 100).await.expect("all");
    let order: Vec<Uuid> = all.deliveries.iter().map(|d| d.id).collect();
    assert_eq!(order.len(), 7);
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = app
            .store
            .page(&filter, after.as_ref(), 2)
            .await
            .expect("page");
        let ids: Vec<String> = page
            .deliveries
            .iter()
            .map(|d| format!("'{}'", d.id))
            .collect();
        app.run_sql(&[format!(
            "UPDATE deliveries SET status = 'failed', fail_reason = 'x' WHERE id IN ({})",
            ids.join(", ")
        )])
        .await;
        seen.extend(page.deliveries.iter().map(|d| d.id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, order, "every row once, in order");
}
