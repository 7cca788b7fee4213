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

#[tokio::test]
async fn a_bulk_resend_run_twice_resends_once_and_a_dry_run_publishes_nothing() {
    let connection = unique_connection("konnek-bulk");
    let mut app = spawn_app_with(Options {
        extra_toml: konnek_connection(&connection),
        ..Options::default()
    })
    .await;
    let cli = Cli::new(&app);
    let mut failed = Vec::new();
    for i in 0..3 {
        let to = format!("62811100080{i}");
        app.sim.script(
            &to,
            vec![Step::MetaFalse {
                code: 400,
                message: "not opted in".into(),
            }],
        );
        let (id, command) = send_to(&connection, &to);
        app.publish(&command).await;
        failed.push(id);
    }
    for id in &failed {
        app.wait_for_status(*id, "failed").await;
    }
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
